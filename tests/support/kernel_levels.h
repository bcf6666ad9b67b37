// Compares two kernel tables (engine/cpu/kernel_table.h), e.g. AVX-512 against generic, on shapes
// that reach every path: sgemm edge tiles and transposes, Winograd forward/backward, the direct stem
// convs, batch norm (+ ReLU) forward and backward. doctest CHECKs, relative to the values' size.
#pragma once
#include "engine/cpu/kernel_table.h"

namespace tg::test {

void check_kernels_agree(const cpu::KernelTable& tested, const cpu::KernelTable& reference);

}  // namespace tg::test
