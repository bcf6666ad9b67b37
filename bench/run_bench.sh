#!/usr/bin/env bash
# Runs trustgrad's benchmarks and the PyTorch reference (../shared/reference/torch_bench.py, or
# bench/torch_bench.py when that is absent) one after the other, in the same invocation on the same
# machine, and prints the ratio table. Usage: bash bench/run_bench.sh [build_dir] [batch] [steps]
# MODELS="small small28" limits the models (default: small small28 resnet18).
set -euo pipefail
build=${1:-build}
batch=${2:-256}
steps=${3:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
# The PyTorch reference: $TORCH_BENCH, else the project's shared copy next to the checkout.
torch_bench="${TORCH_BENCH:-$here/../shared/reference/torch_bench.py}"
have_torch=0
if [ ! -f "$torch_bench" ]; then
  echo "note: PyTorch reference $torch_bench not found (set TORCH_BENCH=path/to/torch_bench.py); printing trustgrad figures only"
elif /usr/bin/python3 -c "import torch" 2>/dev/null; then have_torch=1; else
  echo "note: Debian's python3-torch is missing (bash scripts/setup.sh --with-torch); printing trustgrad figures only"
fi

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== GEMM ceiling"
"$build/bench/bench_gemm" --threads 1
"$build/bench/bench_gemm" --threads 2

printf "\n%-9s %4s %3s | %12s %12s %6s | %12s %12s %6s | %9s %9s\n" model batch thr "tg train/s" "torch train/s" ratio \
  "tg infer/s" "torch infer/s" ratio "tg MiB" "torch MiB"
for model in ${MODELS:-small small28 resnet18}; do
  for threads in 1 2; do
    b=$batch; s=$steps
    if [ "$model" = resnet18 ]; then s=$(( steps < 3 ? steps : 3 )); fi
    tg=$("$build/bench/bench_train_step" --model $model --batch $b --threads $threads --steps $s --json)
    if [ $have_torch = 1 ]; then
      pt=$(/usr/bin/python3 "$torch_bench" --model $model --batch $b --threads $threads --steps $s --json)
    else
      pt='{"train_img_per_s": 0, "infer_img_per_s": 0, "peak_rss_mib": 0}'
    fi
    /usr/bin/python3 - "$model" "$b" "$threads" "$tg" "$pt" <<'PY'
import json, sys
m, b, t, tg, pt = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), json.loads(sys.argv[5])
r = lambda a, c: f"{a / c:6.2f}" if c else "   n/a"
print(f"{m:<9} {b:>4} {t:>3} | {tg['train_img_per_s']:12.1f} {pt['train_img_per_s']:12.1f} {r(tg['train_img_per_s'], pt['train_img_per_s'])} | "
      f"{tg['infer_img_per_s']:12.1f} {pt['infer_img_per_s']:12.1f} {r(tg['infer_img_per_s'], pt['infer_img_per_s'])} | "
      f"{tg['peak_rss_mib']:9.0f} {pt['peak_rss_mib']:9.0f}")
PY
  done
done
for extra in bench_conv bench_optim bench_loader; do
  if [ -x "$build/bench/$extra" ]; then echo; echo "== $extra"; "$build/bench/$extra" || true; fi
done
