// The optimizers' update kernels on the CPU: raw pointers, one range of one tensor per call.
// The CUDA twins in cuda/lamb.h and cuda/momentum.h have the same names and signatures (`parallel`
// is ignored there); engine/optimizer_kernels.h picks one by device. The element math of both is
// engine/kernel_params/optimizer_math.h; the coefficients are engine/kernel_params/optimizer.h.
//
// LAMB family (Adam, AdamW, LAMB, LAMBC), per tensor: Adam moments -> direction u -> norms ->
// w <- decay w - step u, with step = lr r (r the trust ratio) and decay = 1 - lr wd for decoupled
// weight decay (1 otherwise). Three CPU orders of the same bits (see optim/lamb_core.h):
//   two-pass:       adam_direction_norms (read-only), then adam_update
//   staged:         adam_direction_norms_staged (new m, v to scratch), then adam_update_staged
//   cache-blocked:  adam_moments_and_direction (m, v in place, u to scratch), then apply_direction
#pragma once
#include <cstdint>

#include "engine/kernel_params/optimizer.h"

namespace tg::cpu {

// Pass 1, read-only: w (n), g (n), m (n), v (n) -> sum w^2, sum u^2, sum g^2.
DirectionNorms adam_direction_norms(const float* w, const float* g, const float* m, const float* v, int64_t n,
                                    const AdamCoeffs& c, bool parallel);

// Pass 2: m, v <- new moments; w <- decay * w - step * u.
void adam_update(float* w, const float* g, float* m, float* v, int64_t n, const AdamCoeffs& c, float decay,
                 float step, bool parallel);

// Staged pass 1 (the CPU two-pass default for adapted tensors): also writes the new moments to
// m_out, v_out (separate buffers, with streaming stores), so pass 2 reads them back instead of
// recomputing them from g, m, v:
//   pass 1: w g m v -> norms, m_out v_out      (16 bytes read + 8 written per element)
//   pass 2: w m_out v_out -> w                 (12 read + 4 written)
// 40 bytes per element instead of 44; the same u bit for bit. The old m, v are untouched, so a
// refused step (NaN) still modifies no state: the caller swaps m_out, v_out in only after pass 2.
// Sequential over the range (the optimizer's chunk loops call it per chunk, in parallel).
DirectionNorms adam_direction_norms_staged(const float* w, const float* g, const float* m, const float* v,
                                           float* m_out, float* v_out, int64_t n, const AdamCoeffs& c);
// Staged pass 2: w <- decay * w - step * u(w, m_new, v_new).
void adam_update_staged(float* w, const float* m_new, const float* v_new, int64_t n, const AdamCoeffs& c, float decay,
                        float step);

// Cache-blocked pass 1 (the CPU default). It runs only after every gradient of the step was found
// finite, so it may already write the state: w g m v -> m v (new moments, in place), u_out;
// returns ||w||^2, ||u||^2 (g_sq = 0). u_out is a group-sized scratch buffer that stays in the
// cache until pass 2, so DRAM sees about 16 + 8 bytes per element here and 4 in pass 2.
DirectionNorms adam_moments_and_direction(const float* w, const float* g, float* m, float* v, float* u_out, int64_t n,
                                          const AdamCoeffs& c);
// Cache-blocked pass 2: w <- decay * w - step * u.
void apply_direction(float* w, const float* u, int64_t n, float decay, float step);

// SGD / LARS: d = (g + wd w) ratio; buf = first ? d : mu buf + (1 - dampening) d;
// d = nesterov ? d + mu buf : buf; w -= lr d. buf may be null when momentum == 0.
void momentum_update(float* w, const float* g, float* buf, int64_t n, const MomentumCoeffs& c, bool parallel);

// sum x^2 over one chunk (sequential, vectorised), in double.
double chunk_sum_squares(const float* x, int64_t n);
// sum x^2 over a whole tensor, deterministic (chunked_sum.h: the same bits at any thread count).
double tensor_sum_squares(const float* x, int64_t n, bool parallel);

}  // namespace tg::cpu
