// Reference dropout (dropout.h): the elementwise product with the mask.
#include "engine/cpu/reference/dropout.h"

namespace tg::cpu::reference {

void dropout_apply(float* y, const float* x, const float* mask, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * mask[i];
}

}  // namespace tg::cpu::reference
