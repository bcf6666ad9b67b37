// CUDA kernels of the LAMB family (Adam, AdamW, LAMB, LAMBC), three ways:
//  1. adam_direction_norms / adam_update: the CUDA twins of engine/cpu/optimizer_kernels.h, same
//     names and signatures (the norms pass returns to the host, so it synchronises once per tensor);
//  2. lamb_step: one tensor, fused, the trust ratio computed ON THE DEVICE (no host sync);
//  3. lamb_step_multi: every tensor of a LambMultiTensorPlan in 2 launches (4 with global gradient
//     clipping), norms and trust ratios still PER TENSOR, no host sync.
// Per tensor (see optim/lamb_core.cpp for the full rule; the element math is
// engine/kernel_params/optimizer_math.h, shared with the CPU kernels):
//   m = b1 m + (1-b1) g,  v = b2 v + (1-b2) g^2,  u = m_hat / (sqrt(v_hat) + eps) + wd w
//   r = ||w|| / ||u|| (1 if either is 0), r = clamp(r, clip_min, clip_max) (adapted tensors; else 1)
//   w = decay w - lr r u      (decay = 1 - lr wd for decoupled weight decay, else 1)
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/kernel_params/optimizer.h"  // AdamCoeffs, DirectionNorms: shared with the CPU kernels

namespace tg::cuda {

// ---- 1. twins of engine/cpu/optimizer_kernels.h (`parallel` is ignored: the GPU is always parallel) ----
DirectionNorms adam_direction_norms(const float* w, const float* g, const float* m, const float* v, int64_t n,
                                    const AdamCoeffs& c, bool parallel);
void adam_update(float* w, const float* g, float* m, float* v, int64_t n, const AdamCoeffs& c, float decay,
                 float step, bool parallel);

// ---- 2. one tensor, fused, ratio on the device ----
struct TrustRatioOptions {
  float lr = 1e-3f;
  float decay = 1.f;   // 1 - lr wd for decoupled weight decay, else 1; ||w|| is taken after it
  bool adapt = true;   // false: r = 1 (Adam, AdamW, tensors outside layer adaptation)
  float clip_min = 0.f, clip_max = INFINITY;  // LAMB: [0, inf); LAMBC: clip_max = 1
};

// Telemetry per tensor, on the device: [r (clipped), r before clipping, ||w|| (after decay), ||u||, ||g||].
// For a tensor that is not adapted, r = r_raw = 1.
constexpr int kLambTelemetry = 5;

// grad_scale: optional device scalar multiplying g (e.g. a global-norm clip factor computed on the device).
void lamb_step(float* w, const float* g, float* m, float* v, int64_t n, const AdamCoeffs& c,
               const TrustRatioOptions& t, float* telemetry /* (5) or nullptr */, const float* grad_scale = nullptr);

// ---- 3. many tensors ----
enum class LambWeightDecay : int { kL2Gradient = 0, kL2Update = 1, kDecoupled = 2 };  // = optim::WeightDecayMode

struct LambTensor {
  float* w;
  const float* g;
  float* m;
  float* v;
  int64_t n;
  float weight_decay = 0.f;
  float lr_mult = 1.f;  // this tensor's lr / the step's lr (parameter groups with their own lr)
  bool adapt = true;
};

struct LambStepOptions {
  float lr = 1e-3f;
  LambWeightDecay weight_decay_mode = LambWeightDecay::kL2Update;
  float clip_min = 0.f, clip_max = INFINITY;
  float max_grad_norm = 0.f;  // > 0: g /= max(||G|| / max_grad_norm, 1) with ||G|| over all tensors, on the device
};

// The device-side tables for a fixed list of tensors (pointers, sizes, chunk -> tensor map) and the
// reduction workspace, uploaded once; each step then launches without copying or allocating.
class LambMultiTensorPlan {
 public:
  static constexpr int64_t kChunk = 16384;  // elements per block in both passes

  LambMultiTensorPlan(const std::vector<LambTensor>& tensors, int device);
  ~LambMultiTensorPlan();
  LambMultiTensorPlan(const LambMultiTensorPlan&) = delete;
  LambMultiTensorPlan& operator=(const LambMultiTensorPlan&) = delete;

  int64_t tensors() const { return num_tensors_; }
  int64_t chunks() const { return num_chunks_; }

  friend void lamb_step_multi(const LambMultiTensorPlan& plan, const AdamCoeffs& c, const LambStepOptions& o,
                              float* telemetry);

 private:
  void* entries_ = nullptr;      // device TensorEntry[num_tensors_]
  int* chunk_tensor_ = nullptr;  // device int[num_chunks_]
  double* partial_ = nullptr;    // device double[4 * num_chunks_]: w^2, u^2, g^2 per chunk, then g^2 of pass 0
  float* scale_ = nullptr;       // device float: this step's global gradient-clip factor
  int64_t num_tensors_ = 0, num_chunks_ = 0;
  int device_ = 0;
};

// c supplies betas, bias corrections and eps (its l2_* and grad_scale should be 0/1: weight decay
// comes per tensor from the plan). telemetry: (tensors, 5) floats on the device, or nullptr.
void lamb_step_multi(const LambMultiTensorPlan& plan, const AdamCoeffs& c, const LambStepOptions& o,
                     float* telemetry);

}  // namespace tg::cuda
