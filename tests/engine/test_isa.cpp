// Runtime CPU dispatch (engine/cpu/isa.h): the level names, TG_CPU_ISA, and every level this CPU
// runs against generic on the same inputs (the suites themselves are rerun per level by CTest).
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/cpu/isa.h"
#include "engine/cpu/kernel_table.h"
#include "engine/error.h"
#include "support/kernel_levels.h"

using tg::CpuIsa;

TEST_CASE("cpu isa: names round-trip, a bad name is a clear error") {
  for (CpuIsa isa : {CpuIsa::Generic, CpuIsa::Avx2, CpuIsa::Avx512}) CHECK(tg::parse_cpu_isa(tg::cpu_isa_name(isa)) == isa);
  try {
    tg::parse_cpu_isa("avx9000");
    FAIL("no error");
  } catch (const tg::Error& e) {
    CHECK(std::string(e.what()).find("TG_CPU_ISA='avx9000'") != std::string::npos);
  }
}

TEST_CASE("cpu isa: the level in use is what TG_CPU_ISA asks for, clamped to what the CPU supports") {
  const CpuIsa best = tg::cpu_isa_supported();
  const char* env = std::getenv("TG_CPU_ISA");
  CHECK(tg::cpu_isa() <= best);
  if (env == nullptr || *env == '\0') {
    CHECK(tg::cpu_isa() == best);
  } else {
    const CpuIsa asked = tg::parse_cpu_isa(env);
    CHECK(tg::cpu_isa() == (asked < best ? asked : best));
  }
  CHECK(tg::cpu::kernels().isa == tg::cpu_isa());
  MESSAGE("cpu isa in use: " << tg::cpu_isa_name(tg::cpu_isa()) << " (supported: " << tg::cpu_isa_name(best) << ")");
}

TEST_CASE("cpu isa: kernels for a level above the CPU's are refused") {
  if (tg::cpu_isa_supported() == CpuIsa::Avx512) return;
  CHECK_THROWS_AS(tg::cpu::kernels_for(CpuIsa::Avx512), tg::Error);
}

TEST_CASE("cpu isa: every level this CPU runs agrees with generic (and AVX-512 with AVX2)") {
  const auto& generic = tg::cpu::kernels_for(CpuIsa::Generic);
  CHECK(generic.isa == CpuIsa::Generic);
  for (CpuIsa isa : {CpuIsa::Avx2, CpuIsa::Avx512}) {
    if (isa > tg::cpu_isa_supported()) break;
    CAPTURE(tg::cpu_isa_name(isa));
    const auto& tested = tg::cpu::kernels_for(isa);
    CHECK(tested.isa == isa);
    tg::test::check_kernels_agree(tested, generic);
    if (isa == CpuIsa::Avx512) tg::test::check_kernels_agree(tested, tg::cpu::kernels_for(CpuIsa::Avx2));
  }
}
