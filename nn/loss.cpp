// Cross-entropy (wrapping the fused tg::cross_entropy) and top-k accuracy on the host.
#include "nn/loss.h"

#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/ops.h"

namespace tg::nn {

namespace {
void check_logits_targets(const Tensor& logits, const Tensor& targets, const char* who) {
  TG_CHECK(logits.defined() && logits.dim() == 2, who << ": logits must be (N, C), got "
                                                      << (logits.defined() ? shape_str(logits.shape()) : "undefined"));
  TG_CHECK(targets.defined() && targets.dim() == 1 && targets.size(0) == logits.size(0),
           who << ": targets must be (N) = (" << logits.size(0) << "), got "
               << (targets.defined() ? shape_str(targets.shape()) : "undefined"));
}
}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, float label_smoothing) {
  check_logits_targets(logits, targets, "cross_entropy");
  TG_CHECK(label_smoothing >= 0.f && label_smoothing <= 1.f,
           "cross_entropy: label_smoothing must be in [0, 1], got " << label_smoothing);
  return tg::cross_entropy(logits, targets, label_smoothing);
}

int64_t topk_correct(const Tensor& logits, const Tensor& targets, int k) {
  check_logits_targets(logits, targets, "topk_correct");
  const int64_t n = logits.size(0), c = logits.size(1);
  TG_CHECK(k >= 1, "topk_correct: k must be >= 1, got " << k);
  const std::vector<float> l = logits.to_vector();   // (N, C)
  const std::vector<float> y = targets.to_vector();  // (N)
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float tf = y[static_cast<size_t>(i)];
    TG_CHECK(tf >= 0.f && tf < static_cast<float>(c) && std::floor(tf) == tf,
             "topk_correct: target " << tf << " at row " << i << " is not a class index in [0, " << c << ")");
    const int64_t t = static_cast<int64_t>(tf);
    const float* row = l.data() + i * c;
    int64_t rank = 0;
    for (int64_t j = 0; j < c; ++j) rank += (row[j] > row[t]) || (row[j] == row[t] && j < t);
    correct += rank < k;
  }
  return correct;
}

double topk_accuracy(const Tensor& logits, const Tensor& targets, int k) {
  const int64_t correct = topk_correct(logits, targets, k);
  return logits.size(0) == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(logits.size(0));
}

double accuracy(const Tensor& logits, const Tensor& targets) { return topk_accuracy(logits, targets, 1); }

}  // namespace tg::nn
