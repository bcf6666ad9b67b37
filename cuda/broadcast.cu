// Host-side construction of BroadcastIndexer: NumPy trailing alignment, stride 0 on stretched dims,
// then merging of adjacent dims that are contiguous for every operand.
#include "cuda/broadcast.h"

#include <sstream>

#include "engine/error.h"

namespace tg::cuda {

namespace {

std::string shape_text(const Shape& s) {
  std::ostringstream o;
  o << "(";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << (s.size() == 1 ? ",)" : ")");
  return o.str();
}

// Strides of `in` seen from an output of rank `rank` (trailing alignment): 0 where `in` has size 1.
void aligned_strides(const Shape& out, const Shape& in, int64_t* stride, const Shape& a, const Shape& b) {
  const int rank = static_cast<int>(out.size()), offset = rank - static_cast<int>(in.size());
  TG_CHECK(offset >= 0, "broadcast: " << shape_text(in) << " has more dims than the output " << shape_text(out));
  int64_t running = 1;
  for (int d = rank - 1; d >= 0; --d) {
    const int64_t size = d >= offset ? in[d - offset] : 1;
    TG_CHECK(size == out[d] || size == 1, "broadcast: shapes " << shape_text(a) << " and " << shape_text(b)
                                                               << " do not broadcast to " << shape_text(out)
                                                               << " (dim " << d << ")");
    stride[d] = size == 1 ? 0 : running;
    running *= size;
  }
}

}  // namespace

BroadcastIndexer BroadcastIndexer::from_strides(int ndim, const int64_t* out, const int64_t* a_stride,
                                                const int64_t* b_stride) {
  TG_CHECK(ndim >= 0 && ndim <= kMaxBroadcastDims,
           "broadcast: at most " << kMaxBroadcastDims << " dims are supported, got " << ndim);
  BroadcastIndexer ix;
  // Walk from the innermost dim outwards, merging dim d into the current merged dim when both
  // operands step through it contiguously (stride[d] == stride[inner] * size[inner]).
  int64_t msize[kMaxBroadcastDims], ma[kMaxBroadcastDims], mb[kMaxBroadcastDims];
  int m = 0;
  for (int d = ndim - 1; d >= 0; --d) {
    ix.numel *= out[d];
    if (out[d] == 1) continue;  // a size-1 output dim contributes nothing to any offset
    if (m > 0 && a_stride[d] == ma[m - 1] * msize[m - 1] && b_stride[d] == mb[m - 1] * msize[m - 1]) {
      msize[m - 1] *= out[d];
      continue;
    }
    msize[m] = out[d];
    ma[m] = a_stride[d];
    mb[m] = b_stride[d];
    ++m;
  }
  ix.ndim = m;
  for (int i = 0; i < m; ++i) {  // back to outermost-first order
    ix.out[i] = msize[m - 1 - i];
    ix.a_stride[i] = ma[m - 1 - i];
    ix.b_stride[i] = mb[m - 1 - i];
  }
  return ix;
}

BroadcastIndexer BroadcastIndexer::make(const Shape& out, const Shape& a, const Shape& b) {
  const int rank = static_cast<int>(out.size());
  TG_CHECK(rank <= kMaxBroadcastDims, "broadcast: at most " << kMaxBroadcastDims << " dims are supported, got "
                                                            << shape_text(out));
  int64_t sa[kMaxBroadcastDims] = {}, sb[kMaxBroadcastDims] = {};
  aligned_strides(out, a, sa, a, b);
  aligned_strides(out, b, sb, a, b);
  return from_strides(rank, out.data(), sa, sb);
}

}  // namespace tg::cuda
