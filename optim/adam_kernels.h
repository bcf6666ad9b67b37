// Raw-pointer CPU kernels of the LAMB family: Adam moments -> direction u -> in-place update,
// split into a read-only norms pass and an update pass (two passes per tensor at most).
// The CUDA backend mirrors these signatures.
#pragma once
#include <cmath>
#include <cstdint>

namespace tg::optim {

// Scalars of one tensor's step (float, as the element math runs in float32 like PyTorch's).
struct AdamCoeffs {
  float beta1 = 0.9f, beta3 = 0.1f;             // m = beta1 m + beta3 g  (beta3 = 1-beta1, or 1 without grad averaging)
  float beta2 = 0.999f, one_minus_beta2 = 0.001f;  // v = beta2 v + (1-beta2) g^2
  float inv_bc1 = 1.f, inv_sqrt_bc2 = 1.f;      // 1/(1-beta1^t), 1/sqrt(1-beta2^t); 1 without bias correction
  float eps = 1e-6f;
  float grad_scale = 1.f;  // 1/s of global gradient-norm clipping (1 when off)
  float l2_grad = 0.f;     // Adam's L2: g += l2_grad w, before the moments
  float l2_update = 0.f;   // LAMB's L2: u += l2_update w, inside ||u||
};

// The moments for one element: m, v <- new values.
inline void adam_moments(float w, float g, float& m, float& v, const AdamCoeffs& c) {
  g = g * c.grad_scale + c.l2_grad * w;            // g <- g/s + wd w   (Adam's L2 only)
  m = c.beta1 * m + c.beta3 * g;                   // m = b1 m + (1-b1) g
  v = c.beta2 * v + c.one_minus_beta2 * (g * g);   // v = b2 v + (1-b2) g^2
}

// u from the new moments, given sqrt(v):  u = m_hat / (sqrt(v_hat) + eps) + wd w  (LAMB's L2 only).
inline float adam_direction_from(float w, float m, float sqrt_v, const AdamCoeffs& c) {
  return (m * c.inv_bc1) / (sqrt_v * c.inv_sqrt_bc2 + c.eps) + c.l2_update * w;
}

// u for one element; m and v receive the new moments.
inline float adam_direction(float w, float g, float& m, float& v, const AdamCoeffs& c) {
  adam_moments(w, g, m, v, c);
  return adam_direction_from(w, m, std::sqrt(v), c);
}

struct DirectionNorms {
  double w_sq = 0.0;  // sum w^2
  double u_sq = 0.0;  // sum u^2 with u as adam_update will compute it
  double g_sq = 0.0;  // sum g^2 (finite iff the gradient is)
};

// Pass 1, read-only: w (n), g (n), m (n), v (n).
DirectionNorms adam_direction_norms(const float* w, const float* g, const float* m, const float* v, int64_t n,
                                    const AdamCoeffs& c, bool parallel);

// Pass 2: m, v <- new moments; w <- decay * w - step * u, with step = lr * r and
// decay = 1 - lr * wd for decoupled weight decay (1 otherwise).
void adam_update(float* w, const float* g, float* m, float* v, int64_t n, const AdamCoeffs& c, float decay,
                 float step, bool parallel);

// Staged variant (the CPU default for adapted tensors; see lamb_core.h): pass 1 also writes the
// new moments to m_out, v_out (separate buffers, with streaming stores), so pass 2 reads them back
// instead of recomputing them from g, m, v:
//   pass 1: w g m v -> norms, m_out v_out      (16 bytes read + 8 written per element)
//   pass 2: w m_out v_out -> w                 (12 read + 4 written)
// 40 bytes per element instead of 44; the same u bit for bit. The old m, v are untouched, so a
// refused step (NaN) still modifies no state: the caller swaps m_out, v_out in only after pass 2.
DirectionNorms adam_direction_norms_staged(const float* w, const float* g, const float* m, const float* v,
                                           float* m_out, float* v_out, int64_t n, const AdamCoeffs& c);
// Pass 2 from the staged moments: w <- decay * w - step * u(w, m_new, v_new).
void adam_update_staged(float* w, const float* m_new, const float* v_new, int64_t n, const AdamCoeffs& c, float decay,
                        float step);

// Cache-blocked variant (the CPU default; see lamb_core.h). It runs only after every gradient of
// the step was found finite, so pass 1 may already write the state:
//   pass 1: w g m v -> m v (new moments, in place), u_out; returns ||w||^2, ||u||^2 (g_sq = 0)
//   pass 2: w u -> w   (w <- decay * w - step * u)
// u_out is a group-sized scratch buffer that stays in the cache between the two passes, so DRAM
// sees about 16 + 8 bytes per element in pass 1 and 4 (the write of w) in pass 2. The same u, bit
// for bit, as the other variants.
DirectionNorms adam_moments_and_direction(const float* w, const float* g, float* m, float* v, float* u_out, int64_t n,
                                          const AdamCoeffs& c);
void apply_direction(float* w, const float* u, int64_t n, float decay, float step);

}  // namespace tg::optim
