// Loops shared by the optimizers: deterministic per-tensor sums (fixed chunks, so the result does
// not depend on the thread count) and a scheduler that runs big tensors with threads inside and
// spreads small tensors across threads. Norms are always per parameter tensor, whichever path runs.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace tg::optim {

// Elements per reduction chunk. Chunk partial sums are added in chunk order.
constexpr int64_t kReduceChunk = 8192;

// Tensors with at least this many elements are processed one at a time with OpenMP threads
// inside; smaller ones are processed one tensor per thread. Tests lower it to force one path.
int64_t parallel_min_numel();
void set_parallel_min_numel(int64_t n);  // n >= 1

// Sums K quantities over [0, n): fn(begin, end) returns the K sums of one chunk (in double).
// Same inputs give the same bits whether `parallel` is on or off and for any thread count.
template <int K, class ChunkFn>
std::array<double, K> chunked_sum(int64_t n, bool parallel, ChunkFn&& fn) {
  const int64_t chunks = (n + kReduceChunk - 1) / kReduceChunk;
  std::array<double, K> total{};
  if (chunks == 1) return fn(int64_t{0}, n);
  if (chunks == 0) return total;
  std::vector<std::array<double, K>> partial(static_cast<size_t>(chunks));
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t c = 0; c < chunks; ++c) {
    partial[static_cast<size_t>(c)] = fn(c * kReduceChunk, std::min(n, (c + 1) * kReduceChunk));
  }
  for (const auto& p : partial) {
    for (int k = 0; k < K; ++k) total[k] += p[k];
  }
  return total;
}

// Calls fn(i, parallel_inside) once for every i in [0, numels.size()). fn must not throw.
template <class Fn>
void for_each_tensor(const std::vector<int64_t>& numels, Fn&& fn) {
  const int64_t big = parallel_min_numel();
  std::vector<int64_t> small;
  for (size_t i = 0; i < numels.size(); ++i) {
    if (numels[i] >= big) {
      fn(i, true);
    } else {
      small.push_back(static_cast<int64_t>(i));
    }
  }
  const int64_t count = static_cast<int64_t>(small.size());
#pragma omp parallel for schedule(dynamic, 1) if (count > 1)
  for (int64_t k = 0; k < count; ++k) fn(static_cast<size_t>(small[static_cast<size_t>(k)]), false);
}

// sum(x^2) over n floats, deterministic as chunked_sum.
double sum_squares(const float* x, int64_t n, bool parallel);

}  // namespace tg::optim
