// Classification loss and metrics: cross-entropy with label smoothing (mean over the batch),
// top-1 and top-k accuracy. Targets are class indices stored as float, shape (N).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace tg::nn {

// loss = mean_n [ -(1 - eps) * log p[n, y_n] - eps/C * sum_c log p[n, c] ],  p = softmax(logits)
// (PyTorch's F.cross_entropy(logits, y, label_smoothing=eps)). logits (N, C), targets (N).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, float label_smoothing = 0.f);

// Number of rows whose target is among the k highest logits. Ranking is deterministic:
// rank(t) = #{c : l_c > l_t} + #{c < t : l_c == l_t}  (ties go to the lower index, like argmax),
// and a row is correct iff rank(target) < k.
int64_t topk_correct(const Tensor& logits, const Tensor& targets, int k);
double topk_accuracy(const Tensor& logits, const Tensor& targets, int k);  // topk_correct / N
double accuracy(const Tensor& logits, const Tensor& targets);              // top-1

}  // namespace tg::nn
