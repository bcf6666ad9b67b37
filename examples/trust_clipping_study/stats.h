// Small-sample statistics for the study: mean, sample standard deviation, Student's t quantile and
// the paired-difference confidence interval used to compare LAMBC with LAMB seed by seed.
#pragma once
#include <vector>

namespace tg::study {

double mean_of(const std::vector<double>& v);  // 0 for an empty vector
// Sample standard deviation s = sqrt(sum (x_i - mean)^2 / (n - 1)); 0 when n < 2.
double sample_sd(const std::vector<double>& v);

// The p-quantile of Student's t distribution with `df` degrees of freedom (df >= 1, 0 < p < 1):
// the t with P(T <= t) = p. Computed from the density
//   f(x) = Gamma((df+1)/2) / (sqrt(df pi) Gamma(df/2)) (1 + x^2/df)^(-(df+1)/2)
// integrated by Simpson's rule on x = tan(theta) (a finite interval) and inverted by bisection;
// accurate to about 1e-6 (e.g. df = 4, p = 0.975 -> 2.776445).
double student_t_quantile(double p, int df);

// The mean of paired differences d_i = a_i - b_i with its two-sided (1 - alpha) t-interval
//   mean(d) +- t_{1 - alpha/2, n-1} * sd(d) / sqrt(n).
// With n < 2 the interval is undefined: lo = hi = NaN.
struct PairedInterval {
  int n = 0;
  double mean = 0, sd = 0, lo = 0, hi = 0;
  std::vector<double> diffs;
};
PairedInterval paired_interval(const std::vector<double>& a, const std::vector<double>& b, double alpha = 0.05);

}  // namespace tg::study
