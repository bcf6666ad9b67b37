#!/usr/bin/env bash
# `make bench`: trustgrad's benchmarks and the PyTorch reference (bench/torch_reference.py: the same
# networks, protocol and JSON fields as bench_train_step) one after the other, model by model, in one
# invocation on one machine, then the ratio table (trustgrad / PyTorch; above 1 = trustgrad faster).
#   bash bench/run_bench.sh [build_dir] [batch] [steps]
# MODELS="small small28" limits the models (default: small small28 resnet18 airbench; ResNet-18 runs at
# most 3 steps). TORCH_BENCH=path/to/script.py replaces the reference (same flags and JSON fields).
# Without Debian's python3-torch (bash scripts/setup.sh --with-torch) it prints trustgrad's figures only.
set -euo pipefail
build=${1:-build}
batch=${2:-256}
steps=${3:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
python=/usr/bin/python3
torch_bench="${TORCH_BENCH:-$here/bench/torch_reference.py}"
have_torch=0
if [ ! -f "$torch_bench" ]; then
  echo "note: PyTorch reference $torch_bench not found; printing trustgrad figures only"
elif "$python" -c "import torch" 2>/dev/null; then have_torch=1; else
  echo "note: $python has no torch (bash scripts/setup.sh --with-torch); printing trustgrad figures only"
fi

isa=$(grep -m1 '^flags' /proc/cpuinfo | grep -oE '\b(avx512f|avx512_bf16|amx_tile|avx2|fma)\b' | sort -u | paste -sd ' ')
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) (${isa:-no AVX})"
echo "== GEMM ceiling"
"$build/bench/bench_gemm" --threads 1
"$build/bench/bench_gemm" --threads 2

printf "\n%-9s %4s %3s | %12s %12s %6s | %12s %12s %6s | %9s %9s | %s\n" model batch thr "tg train/s" "torch train/s" ratio \
  "tg infer/s" "torch infer/s" ratio "tg MiB" "torch MiB" params
for model in ${MODELS:-small small28 resnet18 airbench}; do
  for threads in 1 2; do
    s=$steps
    if [ "$model" = resnet18 ]; then s=$(( steps < 3 ? steps : 3 )); fi
    tg=$("$build/bench/bench_train_step" --model "$model" --batch "$batch" --threads $threads --steps $s --json)
    pt=null
    if [ $have_torch = 1 ]; then
      pt=$("$python" "$torch_bench" --model "$model" --batch "$batch" --threads $threads --steps $s --json)
    fi
    "$python" - "$tg" "$pt" <<'PY'
import json, sys
tg, pt = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ratio = lambda key: f"{tg[key] / pt[key]:6.2f}" if pt and pt[key] else "   n/a"
theirs = lambda key, fmt: format(pt[key], fmt) if pt else "-"
same = not pt or "params" not in pt or pt["params"] == tg["params"]
params = f"{tg['params']}" + ("" if same else f" (PyTorch {pt['params']}: not the same net)")
print(f"{tg['model']:<9} {tg['batch']:>4} {tg['threads']:>3} | {tg['train_img_per_s']:12.1f} {theirs('train_img_per_s', '12.1f'):>12} "
      f"{ratio('train_img_per_s')} | {tg['infer_img_per_s']:12.1f} {theirs('infer_img_per_s', '12.1f'):>12} "
      f"{ratio('infer_img_per_s')} | {tg['peak_rss_mib']:9.0f} {theirs('peak_rss_mib', '9.0f'):>9} | {params}")
PY
  done
done
if [ $have_torch = 1 ]; then echo "PyTorch: $("$python" -c 'import torch; print(torch.__version__)') ($torch_bench)"; fi
for extra in bench_conv bench_optim bench_loader; do
  if [ -x "$build/bench/$extra" ]; then echo; echo "== $extra"; "$build/bench/$extra" || true; fi
done
