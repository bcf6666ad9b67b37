#!/usr/bin/env bash
# Runs every libFuzzer target of fuzz/ for a bounded time and prints executions per target.
#   fuzz/run_fuzz.sh BUILD_DIR SECONDS [TARGET...]    (make fuzz; FUZZ_SECONDS sets SECONDS)
# Each target starts from its committed seeds (fuzz/corpus/<target>) plus what earlier runs found
# (BUILD_DIR/fuzz/work/<target>, created here on the first run, never committed). A crash, leak, sanitizer report or timeout
# stops that target, keeps the input as BUILD_DIR/fuzz/artifacts/<target>-crash-*, and makes the
# script exit 1 after the others have run. Reproduce one with: BUILD_DIR/fuzz/fuzz_<target> FILE
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: fuzz/run_fuzz.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: fuzz/run_fuzz.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(idx idx_gz cifar cifar_targz safetensors checkpoint config)

mkdir -p "$build/fuzz/artifacts" "$build/fuzz/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1  # the parsers are single-threaded; no OpenMP pool per fuzz process
failed=()
printf '%-12s %10s %12s %8s %s\n' target "exec/s" executions "corpus" result
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "run_fuzz: $bin not built (make fuzz-build)" >&2; exit 2; }
  work="$build/fuzz/work/$t"
  mkdir -p "$work"
  log="$build/fuzz/logs/$t.log"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: growing past 2 GiB is a bug
  # (every loader must refuse an absurd size before allocating it).
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/fuzz/artifacts/$t-" "$work" "fuzz/corpus/$t" > "$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(ls "$work" | wc -l)
  if [ $rc -eq 0 ]; then
    result=ok
  else
    result="FAILED (rc $rc; see $log)"
    failed+=("$t")
  fi
  printf '%-12s %10s %12s %8s %s\n' "$t" "${rate:-?}" "${execs:-?}" "$corpus" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "run_fuzz: crashes in: ${failed[*]}" >&2
  for t in "${failed[@]}"; do grep -E "ERROR|runtime error|fuzz:|Test unit written" "$build/fuzz/logs/$t.log" | head -5 >&2; done
  exit 1
fi
