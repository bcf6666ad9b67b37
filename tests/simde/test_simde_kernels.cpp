// The AVX-512 kernel sources built against SIMDe (tg::cpu::avx512_simde: the intrinsics emulated in
// portable code, no -mavx512 flags) against the generic kernels: correctness of the AVX-512 paths on
// any host. Speed means nothing here; only real AVX-512 hardware measures it.
#include <doctest/doctest.h>

#include "engine/cpu/kernel_table.h"
#include "support/kernel_levels.h"

namespace tg::cpu::avx512_simde {
const KernelTable& kernel_table();
}

TEST_CASE("AVX-512 kernels under SIMDe emulation agree with generic") {
  const auto& emulated = tg::cpu::avx512_simde::kernel_table();
  CHECK(emulated.isa == tg::CpuIsa::Avx512);
  tg::test::check_kernels_agree(emulated, tg::cpu::kernels_for(tg::CpuIsa::Generic));
}
