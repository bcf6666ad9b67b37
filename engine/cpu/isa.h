// The CPU instruction-set level the hot kernels run at (runtime dispatch).
//
// The hot CPU kernels (engine/cpu/kernels/*.cpp: packed sgemm, Winograd, direct stem convs, batch
// norm) are compiled once per level, each copy in its own namespace (tg::cpu::generic, ::avx2,
// ::avx512); the rest of the library is built for the baseline x86-64 (SSE2). At the first kernel
// call one level is chosen from cpuid, with the OS's XSAVE support checked (xgetbv: YMM state for
// AVX2, opmask + ZMM state for AVX-512):
//   generic  portable loops, any CPU
//   avx2     AVX2 + FMA
//   avx512   AVX-512 F + BW + VL + DQ
// The environment variable TG_CPU_ISA=generic|avx2|avx512 asks for a level; a level above what the
// machine supports is clamped to the best supported one with a warning on stderr (so a test run
// forcing avx512 still runs on an AVX2 host); any other value throws tg::Error at the first call.
#pragma once

namespace tg {

enum class CpuIsa { Generic = 0, Avx2 = 1, Avx512 = 2 };

// The level the kernels run at: the best supported, or lower when TG_CPU_ISA asks for it.
CpuIsa cpu_isa();

// The best level this CPU and OS support (and this build compiled: generic only off x86-64).
CpuIsa cpu_isa_supported();

// The bf16 GEMMs of --precision bf16 (engine/cpu/gemm_bf16.h) have two hardware kernels beside
// an emulation. Whether this CPU and OS can run them (independent of TG_CPU_ISA):
//   amx          AMX-TILE, AMX-BF16 and AVX512-BF16 in cpuid, the tile state in XCR0, and the tile
//                data granted to this process (Linux arch_prctl ARCH_REQ_XCOMP_PERM, asked once)
//   avx512_bf16  AVX-512 (as for avx512) and AVX512-BF16 in cpuid
bool cpu_amx_bf16_supported();
bool cpu_avx512_bf16_supported();

// The one the bf16 GEMMs use here: "amx", else "avx512_bf16", else "emulated". A hardware kernel
// needs cpu_isa() at avx512 (TG_CPU_ISA=avx2 or generic gives "emulated") and a build that
// compiled it (a compiler with -mamx-tile -mavx512bf16).
const char* cpu_bf16_gemm();

// "generic", "avx2" or "avx512".
const char* cpu_isa_name(CpuIsa isa);

// The level named by `name` ("generic", "avx2", "avx512"); throws tg::Error naming the bad value.
CpuIsa parse_cpu_isa(const char* name);

}  // namespace tg
