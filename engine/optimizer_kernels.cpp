// Device switch for the optimizers' update kernels (see optimizer_kernels.h).
#include "engine/optimizer_kernels.h"

#include "engine/dispatch.h"
#include "engine/cpu/optimizer_kernels.h"
#ifdef TRUSTGRAD_WITH_CUDA
#include "cuda/lamb.h"
#include "cuda/momentum.h"
#include "cuda/reduce.h"
#endif

namespace tg {

double device_sum_squares(Device device, const float* x, int64_t n) {
  switch (device.type) {
    case DeviceType::CPU: return cpu::tensor_sum_squares(x, n, /*parallel=*/true);
    case DeviceType::CUDA: return TG_CUDA_CALL(cuda::sum_squares(x, n));
  }
  throw_no_kernel("optimizer sum_squares", device);
}

DirectionNorms device_adam_direction_norms(Device device, const float* w, const float* g, const float* m,
                                           const float* v, int64_t n, const AdamCoeffs& c) {
  switch (device.type) {
    case DeviceType::CPU: return cpu::adam_direction_norms(w, g, m, v, n, c, /*parallel=*/true);
#ifdef TRUSTGRAD_WITH_CUDA
    case DeviceType::CUDA: return cuda::adam_direction_norms(w, g, m, v, n, c, /*parallel=*/true);
#else
    case DeviceType::CUDA: throw_no_cuda_build("optimizer adam_direction_norms");
#endif
  }
  throw_no_kernel("optimizer adam_direction_norms", device);
}

void device_adam_update(Device device, float* w, const float* g, float* m, float* v, int64_t n, const AdamCoeffs& c,
                        float decay, float step) {
  switch (device.type) {
    case DeviceType::CPU: cpu::adam_update(w, g, m, v, n, c, decay, step, /*parallel=*/true); return;
    case DeviceType::CUDA: TG_CUDA_CALL(cuda::adam_update(w, g, m, v, n, c, decay, step, /*parallel=*/true)); return;
  }
  throw_no_kernel("optimizer adam_update", device);
}

void device_momentum_update(Device device, float* w, const float* g, float* buf, int64_t n, const MomentumCoeffs& c) {
  switch (device.type) {
    case DeviceType::CPU: cpu::momentum_update(w, g, buf, n, c, /*parallel=*/true); return;
    case DeviceType::CUDA: TG_CUDA_CALL(cuda::momentum_update(w, g, buf, n, c, /*parallel=*/true)); return;
  }
  throw_no_kernel("optimizer momentum_update", device);
}

}  // namespace tg
