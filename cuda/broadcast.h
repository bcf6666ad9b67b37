// BroadcastIndexer: the device-side form of a broadcast (output shape + per-input element strides,
// 0 on stretched dims, up to 8 dims). Adjacent dims that are contiguous for every operand are merged
// on the host, so the common cases (same shape, bias over channels, scalar) index with 1-3 divisions.
#pragma once
#include <cstdint>

#include "engine/kernel_params/host_device.h"
#include "engine/shape.h"

namespace tg::cuda {

constexpr int kMaxBroadcastDims = 8;

struct BroadcastIndexer {
  int ndim = 0;
  int64_t numel = 1;
  int64_t out[kMaxBroadcastDims] = {};       // output sizes (after merging)
  int64_t a_stride[kMaxBroadcastDims] = {};  // element strides of a in the output index space
  int64_t b_stride[kMaxBroadcastDims] = {};

  // Builds the indexer for out = f(a, b); a and b must broadcast to `out` (NumPy rules, trailing
  // alignment). Throws tg::Error naming the shapes otherwise, or when more than 8 dims are needed.
  static BroadcastIndexer make(const Shape& out, const Shape& a, const Shape& b);
  // From raw arrays (what tg::BroadcastShape holds): sizes and strides per output dim.
  static BroadcastIndexer from_strides(int ndim, const int64_t* out, const int64_t* a_stride, const int64_t* b_stride);

  // Element offsets of a and b for flat output index i.
  TG_HOST_DEVICE void offsets(int64_t i, int64_t& oa, int64_t& ob) const {
    oa = 0;
    ob = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t c = i % out[d];
      i /= out[d];
      oa += c * a_stride[d];
      ob += c * b_stride[d];
    }
  }
};

}  // namespace tg::cuda
