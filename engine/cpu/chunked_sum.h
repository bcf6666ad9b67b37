// Deterministic sums over a tensor: the tensor is cut into chunks of kReduceChunk elements, each
// chunk summed on its own (in any thread), and the chunk partials added in chunk order, so the
// result depends neither on the thread count nor on the schedule that ran the chunks.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace tg::cpu {

// Elements per chunk (a multiple of every optimizer kernel's block size).
constexpr int64_t kReduceChunk = 8192;

// Sums K quantities over [0, n): fn(begin, end) returns the K sums of one chunk (in double).
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
  total = partial[0];
  for (size_t c = 1; c < partial.size(); ++c) {
    for (int k = 0; k < K; ++k) total[k] += partial[c][k];
  }
  return total;
}

}  // namespace tg::cpu
