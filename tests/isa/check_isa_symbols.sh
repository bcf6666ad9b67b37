#!/usr/bin/env bash
# Checks that only the dispatched kernel copies contain AVX instructions (runtime dispatch, isa.h).
#   tests/isa/check_isa_symbols.sh <objdump> <libtrustgrad.a or .so>
# Every function in the library whose code uses a VEX/EVEX instruction (a mnemonic starting with v,
# an opmask k-instruction, a ymm/zmm/k register) must live in tg::cpu::avx2, tg::cpu::avx512 or
# tg::cpu::bf16 (the bf16 GEMM kernels, built with the AVX-512 flags and more), and
# the avx2 copies must not touch zmm or opmask registers. That catches what the linker could do to
# an inline function or template (std::, Eigen) instantiated in a kernel source compiled with
# -mavx2/-mavx512f: keep that copy (COMDAT) for the generic callers too, and run AVX on a CPU
# without it. The rest of the library is built for the baseline, so it must have no VEX at all
# (not meaningful with -DTRUSTGRAD_NATIVE=ON, where CMake does not register this test).
set -euo pipefail
objdump=$1
lib=$2
"$objdump" -d -C --no-show-raw-insn -w "$lib" | awk '
  /^[0-9a-f]+ <.*>:$/ {
    fn = substr($0, index($0, "<") + 1); fn = substr(fn, 1, length(fn) - 2)
    isa = fn ~ /tg::cpu::(avx512|bf16)::/ ? "avx512" : (fn ~ /tg::cpu::avx2::/ ? "avx2" : "base")
    next
  }
  /^ +[0-9a-f]+:\t/ {
    split($0, parts, "\t"); insn = parts[2]
    split(insn, words, " "); op = words[1]
    vex = op ~ /^(v|k)/ || insn ~ /%(y|z)mm|%k[0-7]/
    if (isa == "base" && vex && !(fn in bad)) { bad[fn] = insn; nbad++ }
    if (isa == "avx2" && insn ~ /%zmm|%k[0-7]/ && !(fn in bad)) { bad[fn] = insn; nbad++ }
    if (isa == "avx512") n512++
    if (isa == "avx2") n2++
  }
  END {
    for (f in bad) printf("AVX code outside its ISA namespace: %s\n    e.g. %s\n", f, bad[f])
    if (nbad > 0) { printf("%d function(s) would run AVX instructions whatever the dispatch chose\n", nbad); exit 1 }
    printf("ok: AVX instructions only in tg::cpu::avx2 (%d insns) and tg::cpu::avx512 (%d insns)\n", n2, n512)
  }'
