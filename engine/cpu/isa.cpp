// CPU feature detection (cpuid + xgetbv) and the TG_CPU_ISA override (see isa.h).
#include "engine/cpu/isa.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/error.h"

#if defined(TG_ISA_X86)
#include <cpuid.h>
#endif
#if defined(TG_ISA_X86) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace tg {
namespace {

#if defined(TG_ISA_X86)
// XCR0: which register state the OS saves on a context switch (only valid when CPUID says OSXSAVE).
uint64_t read_xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

constexpr uint64_t kXcr0Ymm = (1u << 1) | (1u << 2);                          // SSE + AVX state
constexpr uint64_t kXcr0Zmm = kXcr0Ymm | (1u << 5) | (1u << 6) | (1u << 7);  // + opmask, ZMM0-15 hi, ZMM16-31

CpuIsa detect() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_max(0, nullptr) < 7 || !__get_cpuid(1, &a, &b, &c, &d)) return CpuIsa::Generic;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12);
  if (!osxsave || !avx || !fma) return CpuIsa::Generic;
  const uint64_t xcr0 = read_xcr0();
  if ((xcr0 & kXcr0Ymm) != kXcr0Ymm) return CpuIsa::Generic;
  __get_cpuid_count(7, 0, &a, &b, &c, &d);
  const bool avx2 = b & (1u << 5);
  if (!avx2) return CpuIsa::Generic;
  const bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
  if (f && dq && bw && vl && (xcr0 & kXcr0Zmm) == kXcr0Zmm) return CpuIsa::Avx512;
  return CpuIsa::Avx2;
}

// AVX512-BF16: cpuid leaf 7 subleaf 1 EAX bit 5 (VDPBF16PS, and the fp32 -> bf16 conversion both
// kernels pack with). AMX: that, leaf 7 EDX bits 22 (AMX-BF16) and 24 (AMX-TILE); XCR0 bits 17, 18 (tile config and
// data state); then Linux's permission for the 8 KiB of tile data per thread (ARCH_REQ_XCOMP_PERM
// 0x1023, XFEATURE_XTILEDATA 18), which a process must ask for before its first tile instruction.
bool detect_avx512_bf16() {
  if (detect() != CpuIsa::Avx512) return false;
  unsigned a = 0, b = 0, c = 0, d = 0;
  __get_cpuid_count(7, 0, &a, &b, &c, &d);
  if (a < 1) return false;  // no subleaf 1
  __get_cpuid_count(7, 1, &a, &b, &c, &d);
  return a & (1u << 5);
}

bool detect_amx_bf16() {
#if defined(__linux__)
  if (!detect_avx512_bf16()) return false;
  unsigned a = 0, b = 0, c = 0, d = 0;
  __get_cpuid_count(7, 0, &a, &b, &c, &d);
  const bool amx_bf16 = d & (1u << 22), amx_tile = d & (1u << 24);
  if (!amx_bf16 || !amx_tile) return false;
  constexpr uint64_t kXcr0Tiles = (1ull << 17) | (1ull << 18);
  if ((read_xcr0() & kXcr0Tiles) != kXcr0Tiles) return false;
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}
#else
CpuIsa detect() { return CpuIsa::Generic; }
bool detect_avx512_bf16() { return false; }
bool detect_amx_bf16() { return false; }
#endif

CpuIsa choose() {
  const CpuIsa best = cpu_isa_supported();
  const char* env = std::getenv("TG_CPU_ISA");
  if (env == nullptr || *env == '\0') return best;
  const CpuIsa asked = parse_cpu_isa(env);
  if (asked <= best) return asked;
  std::fprintf(stderr, "trustgrad: TG_CPU_ISA=%s is more than this CPU supports; using %s\n", env,
               cpu_isa_name(best));
  return best;
}

}  // namespace

CpuIsa cpu_isa_supported() {
  static const CpuIsa best = detect();
  return best;
}

bool cpu_amx_bf16_supported() {
  static const bool amx = detect_amx_bf16();
  return amx;
}

bool cpu_avx512_bf16_supported() {
  static const bool bf16 = detect_avx512_bf16();
  return bf16;
}

const char* cpu_bf16_gemm() {
#if defined(TG_WITH_BF16_KERNELS)
  if (cpu_isa() == CpuIsa::Avx512 && cpu_amx_bf16_supported()) return "amx";
  if (cpu_isa() == CpuIsa::Avx512 && cpu_avx512_bf16_supported()) return "avx512_bf16";
#endif
  return "emulated";
}

CpuIsa cpu_isa() {
  static const CpuIsa isa = choose();  // a throw (bad TG_CPU_ISA) leaves it unset: the next call throws again
  return isa;
}

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::Avx2: return "avx2";
    case CpuIsa::Avx512: return "avx512";
    default: return "generic";
  }
}

CpuIsa parse_cpu_isa(const char* name) {
  for (CpuIsa isa : {CpuIsa::Generic, CpuIsa::Avx2, CpuIsa::Avx512})
    if (std::strcmp(name, cpu_isa_name(isa)) == 0) return isa;
  throw Error(std::string("TG_CPU_ISA='") + name + "' is not a CPU level; use generic, avx2 or avx512");
}

}  // namespace tg
