// CUDA elementwise kernels: broadcasting binary ops, scalar ops, unary forward/backward (the element
// math is engine/kernel_params/elementwise_math.h, the CPU kernels' own), sum_to_shape (deterministic,
// double accumulation) and broadcast_to.
#include "cuda/elementwise.h"

#include "cuda/broadcast.h"
#include "cuda/launch.h"
#include "engine/kernel_params/elementwise_math.h"  // binary_value, unary_value, unary_gradient

namespace tg::cuda {

namespace {

__global__ void fill_kernel(float* out, float value, int64_t n) {
  TG_GRID_STRIDE_LOOP(i, n) out[i] = value;
}

template <BinaryOp Op>
__global__ void binary_same_kernel(float* out, const float* a, const float* b, int64_t n) {
  TG_GRID_STRIDE_LOOP(i, n) out[i] = binary_value(Op, a[i], b[i]);
}

template <BinaryOp Op>
__global__ void binary_broadcast_kernel(float* out, const float* a, const float* b, BroadcastIndexer ix) {
  TG_GRID_STRIDE_LOOP(i, ix.numel) {
    int64_t oa, ob;
    ix.offsets(i, oa, ob);
    out[i] = binary_value(Op, a[oa], b[ob]);
  }
}

template <BinaryOp Op>
void launch_binary(float* out, const float* a, const float* b, const BroadcastIndexer& ix) {
  const bool flat = ix.ndim == 1 && ix.a_stride[0] == 1 && ix.b_stride[0] == 1;
  if (flat)
    binary_same_kernel<Op><<<grid_for(ix.numel), kBlock>>>(out, a, b, ix.numel);
  else
    binary_broadcast_kernel<Op><<<grid_for(ix.numel), kBlock>>>(out, a, b, ix);
  TG_CUDA_CHECK_LAUNCH();
}

__global__ void binary_scalar_kernel(float* out, const float* a, float s, BinaryOp op, bool scalar_first, int64_t n) {
  TG_GRID_STRIDE_LOOP(i, n) out[i] = scalar_first ? binary_value(op, s, a[i]) : binary_value(op, a[i], s);
}

__global__ void add_inplace_kernel(float* acc, const float* x, int64_t n) {
  TG_GRID_STRIDE_LOOP(i, n) acc[i] += x[i];
}

template <UnaryOp Op>
__global__ void unary_forward_kernel(float* y, const float* x, float param, int64_t n) {
  TG_GRID_STRIDE_LOOP(i, n) y[i] = unary_value(Op, x[i], param);
}

template <UnaryOp Op>
__global__ void unary_backward_kernel(float* dx, const float* dout, const float* x, const float* y, float param,
                                      int64_t n) {
  TG_GRID_STRIDE_LOOP(i, n) {
    // Ops whose derivative needs only x never read y (one load fewer per element).
    const float yi = unary_gradient_reads_output(Op) ? y[i] : 0.f;
    dx[i] = unary_gradient(Op, dout[i], x[i], yi, param);
  }
}

template <UnaryOp Op>
struct UnaryForward {
  static void run(float* y, const float* x, float param, int64_t n) {
    unary_forward_kernel<Op><<<grid_for(n), kBlock>>>(y, x, param, n);
  }
};

template <UnaryOp Op>
struct UnaryBackward {
  static void run(float* dx, const float* dout, const float* x, const float* y, float param, int64_t n) {
    unary_backward_kernel<Op><<<grid_for(n), kBlock>>>(dx, dout, x, y, param, n);
  }
};

// ---- sum_to_shape: every output element sums the input elements that map onto it ----

// Output index o decomposes over the kept dims; the reduced index j over the summed dims.
struct ReduceIndexer {
  int nk = 0, nr = 0;
  int64_t ksize[kMaxBroadcastDims], kstride[kMaxBroadcastDims];
  int64_t rsize[kMaxBroadcastDims], rstride[kMaxBroadcastDims];
  int64_t n_out = 1, n_red = 1;

  __device__ int64_t base(int64_t o) const {
    int64_t off = 0;
    for (int d = nk - 1; d >= 0; --d) {
      off += (o % ksize[d]) * kstride[d];
      o /= ksize[d];
    }
    return off;
  }
  __device__ int64_t reduced(int64_t j) const {
    int64_t off = 0;
    for (int d = nr - 1; d >= 0; --d) {
      off += (j % rsize[d]) * rstride[d];
      j /= rsize[d];
    }
    return off;
  }
};

__global__ void sum_thread_per_output_kernel(float* out, const float* in, ReduceIndexer r) {
  TG_GRID_STRIDE_LOOP(o, r.n_out) {
    const int64_t base = r.base(o);
    double acc = 0.0;
    for (int64_t j = 0; j < r.n_red; ++j) acc += in[base + r.reduced(j)];
    out[o] = static_cast<float>(acc);
  }
}

__global__ void sum_block_per_output_kernel(float* out, const float* in, ReduceIndexer r) {
  __shared__ double shared[32];
  for (int64_t o = blockIdx.x; o < r.n_out; o += gridDim.x) {
    const int64_t base = r.base(o);
    double acc = 0.0;
    for (int64_t j = threadIdx.x; j < r.n_red; j += blockDim.x) acc += in[base + r.reduced(j)];
    acc = block_sum(acc, shared);
    if (threadIdx.x == 0) out[o] = static_cast<float>(acc);
  }
}

__global__ void gather_kernel(float* out, const float* in, BroadcastIndexer ix) {
  TG_GRID_STRIDE_LOOP(i, ix.numel) {
    int64_t oa, ob;
    ix.offsets(i, oa, ob);
    out[i] = in[oa];
  }
}

}  // namespace

void fill(float* out, float value, int64_t n) {
  if (n <= 0) return;
  fill_kernel<<<grid_for(n), kBlock>>>(out, value, n);
  TG_CUDA_CHECK_LAUNCH();
}

void binary_forward(float* out, const float* a, const float* b, BinaryOp op, const BroadcastShape& s) {
  const BroadcastIndexer ix = BroadcastIndexer::from_strides(s.ndim, s.out, s.a_stride, s.b_stride);
  if (ix.numel == 0) return;
  switch (op) {
    case BinaryOp::Add: launch_binary<BinaryOp::Add>(out, a, b, ix); break;
    case BinaryOp::Sub: launch_binary<BinaryOp::Sub>(out, a, b, ix); break;
    case BinaryOp::Mul: launch_binary<BinaryOp::Mul>(out, a, b, ix); break;
    case BinaryOp::Div: launch_binary<BinaryOp::Div>(out, a, b, ix); break;
  }
}

void binary_scalar(float* out, const float* a, float s, BinaryOp op, bool scalar_first, int64_t n) {
  if (n <= 0) return;
  binary_scalar_kernel<<<grid_for(n), kBlock>>>(out, a, s, op, scalar_first, n);
  TG_CUDA_CHECK_LAUNCH();
}

void add_inplace(float* acc, const float* x, int64_t n) {
  if (n <= 0) return;
  add_inplace_kernel<<<grid_for(n), kBlock>>>(acc, x, n);
  TG_CUDA_CHECK_LAUNCH();
}

void unary_forward(float* y, const float* x, UnaryOp op, float param, int64_t n) {
  if (n <= 0) return;
  dispatch_unary<UnaryForward>(op, y, x, param, n);
  TG_CUDA_CHECK_LAUNCH();
}

void unary_backward(float* dx, const float* dout, const float* x, const float* y, UnaryOp op, float param, int64_t n) {
  if (n <= 0) return;
  dispatch_unary<UnaryBackward>(op, dx, dout, x, y, param, n);
  TG_CUDA_CHECK_LAUNCH();
}

void sum_to_shape(float* out, const Shape& to, const float* in, const Shape& from) {
  // a = the target's strides seen from `from` (0 on summed dims), b = from's own contiguous strides.
  const BroadcastIndexer ix = BroadcastIndexer::make(from, to, from);
  ReduceIndexer r;
  for (int d = 0; d < ix.ndim; ++d) {
    if (ix.a_stride[d] == 0) {
      r.rsize[r.nr] = ix.out[d];
      r.rstride[r.nr++] = ix.b_stride[d];
      r.n_red *= ix.out[d];
    } else {
      r.ksize[r.nk] = ix.out[d];
      r.kstride[r.nk++] = ix.b_stride[d];
      r.n_out *= ix.out[d];
    }
  }
  if (ix.numel == 0) {  // empty input: the sums are all zero
    int64_t n_out = 1;
    for (int64_t v : to) n_out *= v;
    fill(out, 0.f, n_out);
    return;
  }
  // Few outputs with long sums: a block per output; otherwise a thread per output (coalesced when
  // the innermost kept dim is contiguous).
  if (r.n_out < 4096 && r.n_red >= 256)
    sum_block_per_output_kernel<<<static_cast<unsigned>(std::min<int64_t>(r.n_out, kMaxGrid)), kBlock>>>(out, in, r);
  else
    sum_thread_per_output_kernel<<<grid_for(r.n_out), kBlock>>>(out, in, r);
  TG_CUDA_CHECK_LAUNCH();
}

void broadcast_to(float* out, const Shape& to, const float* in, const Shape& from) {
  const BroadcastIndexer ix = BroadcastIndexer::make(to, from, to);
  if (ix.numel == 0) return;
  gather_kernel<<<grid_for(ix.numel), kBlock>>>(out, in, ix);
  TG_CUDA_CHECK_LAUNCH();
}

}  // namespace tg::cuda
