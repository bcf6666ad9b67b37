// CUDA conv2d via im2col + our SGEMM, a chunk of nb images at a time (the column buffer stays under
// kMaxColumnBytes), one batched GEMM per (chunk, group):
//   forward:      out_n,g (Kg, PQ)   = W_g (Kg, CRSg) x col_n,g (CRSg, PQ)           (+ bias)
//   weight grad:  dW_g (Kg, CRSg)   = sum_n dout_n,g (Kg, PQ) x col_n,g^T (PQ, CRSg)  (batch-reduced GEMM)
//   input grad:   dcol_n,g (CRSg, PQ) = W_g^T (CRSg, Kg) x dout_n,g (Kg, PQ), then col2im (a gather).
// 1x1 stride-1 unpadded convs use the input itself as the column matrix.
#include "cuda/conv2d.h"

#include "cuda/gemm.h"
#include "cuda/launch.h"
#include "cuda/scratch.h"

namespace tg::cuda {

namespace {

constexpr int64_t kMaxColumnBytes = int64_t(256) << 20;

__global__ void im2col_kernel(float* col, const float* in, int64_t nb, int64_t C, int64_t H, int64_t W, int64_t R,
                              int64_t S, int64_t P, int64_t Q, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  // One thread per column entry, q fastest: (n, c, r, s, p, q).
  TG_GRID_STRIDE_LOOP(i, nb * C * R * S * P * Q) {
    int64_t t = i;
    const int64_t q = t % Q; t /= Q;
    const int64_t p = t % P; t /= P;
    const int64_t s = t % S; t /= S;
    const int64_t r = t % R; t /= R;
    const int64_t c = t % C;
    const int64_t n = t / C;
    const int64_t h = p * sh - ph + r, w = q * sw - pw + s;
    col[i] = (h >= 0 && h < H && w >= 0 && w < W) ? in[((n * C + c) * H + h) * W + w] : 0.f;
  }
}

__global__ void col2im_kernel(float* din, const float* col, int64_t nb, int64_t C, int64_t H, int64_t W, int64_t R,
                              int64_t S, int64_t P, int64_t Q, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  // One thread per input pixel, gathering from every (r, s) whose window covers it: h = p*sh - ph + r.
  TG_GRID_STRIDE_LOOP(i, nb * C * H * W) {
    int64_t t = i;
    const int64_t w = t % W; t /= W;
    const int64_t h = t % H; t /= H;
    const int64_t c = t % C;
    const int64_t n = t / C;
    const float* col_n = col + n * C * R * S * P * Q;
    float acc = 0.f;
    for (int64_t r = 0; r < R; ++r) {
      const int64_t hp = h + ph - r;
      if (hp < 0 || hp % sh != 0) continue;
      const int64_t p = hp / sh;
      if (p >= P) continue;
      for (int64_t s = 0; s < S; ++s) {
        const int64_t wq = w + pw - s;
        if (wq < 0 || wq % sw != 0) continue;
        const int64_t q = wq / sw;
        if (q >= Q) continue;
        acc += col_n[((c * R + r) * S + s) * P * Q + p * Q + q];
      }
    }
    din[i] = acc;
  }
}

// out (N, K, PQ) += b[k]
__global__ void add_bias_kernel(float* out, const float* b, int64_t total, int64_t K, int64_t PQ) {
  TG_GRID_STRIDE_LOOP(i, total) out[i] += b[(i / PQ) % K];
}

// db[k] = sum over n, pq of dout (N, K, PQ): one block per channel, double accumulation.
__global__ void bias_grad_kernel(float* db, const float* dout, int64_t N, int64_t K, int64_t PQ) {
  __shared__ double shared[32];
  for (int64_t k = blockIdx.x; k < K; k += gridDim.x) {
    double acc = 0.0;
    for (int64_t j = threadIdx.x; j < N * PQ; j += blockDim.x) acc += dout[((j / PQ) * K + k) * PQ + j % PQ];
    acc = block_sum(acc, shared);
    if (threadIdx.x == 0) db[k] = static_cast<float>(acc);
  }
}

bool is_pointwise(const ConvShape& s) {
  return s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// Images per chunk so that the column buffer (nb, CRS, PQ) stays under kMaxColumnBytes.
int64_t chunk_images(const ConvShape& s) {
  const int64_t per_image = s.C * s.R * s.S * s.P() * s.Q() * static_cast<int64_t>(sizeof(float));
  return std::max<int64_t>(1, std::min<int64_t>(s.N, kMaxColumnBytes / std::max<int64_t>(per_image, 1)));
}

}  // namespace

void im2col(float* col, const float* in, int64_t nb, const ConvShape& s) {
  const int64_t total = nb * s.C * s.R * s.S * s.P() * s.Q();
  if (total == 0) return;
  im2col_kernel<<<grid_for(total), kBlock>>>(col, in, nb, s.C, s.H, s.W, s.R, s.S, s.P(), s.Q(), s.stride_h,
                                             s.stride_w, s.pad_h, s.pad_w);
  TG_CUDA_CHECK_LAUNCH();
}

void col2im(float* din, const float* col, int64_t nb, const ConvShape& s) {
  const int64_t total = nb * s.C * s.H * s.W;
  if (total == 0) return;
  col2im_kernel<<<grid_for(total), kBlock>>>(din, col, nb, s.C, s.H, s.W, s.R, s.S, s.P(), s.Q(), s.stride_h,
                                             s.stride_w, s.pad_h, s.pad_w);
  TG_CUDA_CHECK_LAUNCH();
}

void conv2d_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s) {
  const int64_t PQ = s.P() * s.Q(), G = s.groups, Kg = s.K / G, Cg = s.C / G;
  const int64_t crs = s.C * s.R * s.S, crs_g = Cg * s.R * s.S, chw = s.C * s.H * s.W;
  if (s.N * s.K * PQ == 0) return;
  const bool pointwise = is_pointwise(s);
  const int64_t nb_max = chunk_images(s);
  Scratch col_buf(pointwise ? 0 : static_cast<size_t>(nb_max * crs * PQ) * sizeof(float));
  for (int64_t n0 = 0; n0 < s.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, s.N - n0);
    const float* col = in + n0 * chw;  // pointwise: the input is already (nb, C, HW) = (nb, CRS, PQ)
    if (!pointwise) {
      im2col(col_buf.get<float>(), in + n0 * chw, nb, s);
      col = col_buf.get<float>();
    }
    for (int64_t g = 0; g < G; ++g)
      gemm_strided_batched(false, false, Kg, PQ, crs_g, 1.f, w + g * Kg * crs_g, crs_g, 0, col + g * crs_g * PQ, PQ,
                           crs * PQ, 0.f, out + n0 * s.K * PQ + g * Kg * PQ, PQ, s.K * PQ, nb);
  }
  if (b != nullptr) {
    add_bias_kernel<<<grid_for(s.N * s.K * PQ), kBlock>>>(out, b, s.N * s.K * PQ, s.K, PQ);
    TG_CUDA_CHECK_LAUNCH();
  }
}

void conv2d_backward(float* din, float* dw, float* db, const float* dout, const float* in, const float* w,
                     const ConvShape& s) {
  const int64_t PQ = s.P() * s.Q(), G = s.groups, Kg = s.K / G, Cg = s.C / G;
  const int64_t crs = s.C * s.R * s.S, crs_g = Cg * s.R * s.S, chw = s.C * s.H * s.W;
  if (db != nullptr) {
    bias_grad_kernel<<<static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(s.K, 1), kMaxGrid)), kBlock>>>(
        db, dout, s.N, s.K, PQ);
    TG_CUDA_CHECK_LAUNCH();
  }
  if (din == nullptr && dw == nullptr) return;
  const bool pointwise = is_pointwise(s);
  const int64_t nb_max = chunk_images(s);
  Scratch col_buf(pointwise ? 0 : static_cast<size_t>(nb_max * crs * PQ) * sizeof(float));
  for (int64_t n0 = 0; n0 < s.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, s.N - n0);
    const float* dout_chunk = dout + n0 * s.K * PQ;
    if (dw != nullptr) {
      const float* col = in + n0 * chw;
      if (!pointwise) {
        im2col(col_buf.get<float>(), in + n0 * chw, nb, s);
        col = col_buf.get<float>();
      }
      // dW_g (+)= sum_n dout_n,g x col_n,g^T; the first chunk overwrites (beta = 0).
      const float beta = n0 == 0 ? 0.f : 1.f;
      for (int64_t g = 0; g < G; ++g)
        gemm_batch_reduce(false, true, Kg, crs_g, PQ, 1.f, dout_chunk + g * Kg * PQ, PQ, s.K * PQ,
                          col + g * crs_g * PQ, PQ, crs * PQ, beta, dw + g * Kg * crs_g, crs_g, nb);
    }
    if (din != nullptr) {
      // pointwise: dcol is din itself.
      float* dcol = pointwise ? din + n0 * chw : col_buf.get<float>();
      for (int64_t g = 0; g < G; ++g)
        gemm_strided_batched(true, false, crs_g, PQ, Kg, 1.f, w + g * Kg * crs_g, crs_g, 0, dout_chunk + g * Kg * PQ,
                             PQ, s.K * PQ, 0.f, dcol + g * crs_g * PQ, PQ, crs * PQ, nb);
      if (!pointwise) col2im(din + n0 * chw, dcol, nb, s);
    }
  }
  if (dw != nullptr && s.N == 0) {  // no images: the weight gradient is zero
    TG_CUDA_CHECK(cudaMemsetAsync(dw, 0, static_cast<size_t>(s.K * crs_g) * sizeof(float)));
  }
}

}  // namespace tg::cuda
