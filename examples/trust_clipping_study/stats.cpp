// Mean, standard deviation, Student's t quantile and paired t-intervals (see stats.h).
#include "examples/trust_clipping_study/stats.h"

#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>

namespace tg::study {

double mean_of(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double sample_sd(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean_of(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

namespace {

// P(0 <= T <= t) for t >= 0. Substituting x = sqrt(df) tan(theta) turns the density into
//   c sqrt(df) cos(theta)^(df-1),  c = Gamma((df+1)/2) / (sqrt(df pi) Gamma(df/2)),
// a smooth integrand on the finite interval [0, atan(t / sqrt(df))].
double t_central_mass(double t, int df) {
  const double nu = df;
  const double log_c = std::lgamma((nu + 1) / 2) - std::lgamma(nu / 2) - 0.5 * std::log(nu * std::numbers::pi);
  const double c = std::exp(log_c) * std::sqrt(nu);
  const double end = std::atan(t / std::sqrt(nu));
  const int n = 2000;  // even: Simpson's rule
  const double h = end / n;
  double s = 0;
  for (int i = 0; i <= n; ++i) {
    const double w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
    s += w * std::pow(std::cos(i * h), nu - 1);
  }
  return c * s * h / 3;
}

}  // namespace

double student_t_quantile(double p, int df) {
  if (!(p > 0 && p < 1)) throw std::invalid_argument("student_t_quantile: p must be in (0, 1), got " + std::to_string(p));
  if (df < 1) throw std::invalid_argument("student_t_quantile: df must be >= 1, got " + std::to_string(df));
  if (p < 0.5) return -student_t_quantile(1 - p, df);
  const double target = p - 0.5;  // P(0 <= T <= t)
  double lo = 0, hi = 1;
  while (t_central_mass(hi, df) < target) hi *= 2;  // df = 1, p = 0.9995 needs ~637
  for (int i = 0; i < 100 && hi - lo > 1e-10 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (t_central_mass(mid, df) < target ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

PairedInterval paired_interval(const std::vector<double>& a, const std::vector<double>& b, double alpha) {
  if (a.size() != b.size())
    throw std::invalid_argument("paired_interval: " + std::to_string(a.size()) + " values vs " + std::to_string(b.size()) +
                                "; pairs need the same seeds on both sides");
  PairedInterval r;
  for (size_t i = 0; i < a.size(); ++i) r.diffs.push_back(a[i] - b[i]);
  r.n = static_cast<int>(r.diffs.size());
  r.mean = mean_of(r.diffs);
  r.sd = sample_sd(r.diffs);
  if (r.n < 2) {
    r.lo = r.hi = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  const double half = student_t_quantile(1 - alpha / 2, r.n - 1) * r.sd / std::sqrt(static_cast<double>(r.n));
  r.lo = r.mean - half;
  r.hi = r.mean + half;
  return r;
}

}  // namespace tg::study
