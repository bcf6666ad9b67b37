#!/usr/bin/env bash
# GPU checks in one go, for a machine with an NVIDIA GPU: builds the CUDA backend (sm_90 unless
# ARCH is set), runs every CUDA test (kernel parity, op-layer parity, model parity, optimizers),
# trains the offline Fashion-MNIST recipe on the GPU, and benchmarks the training step against
# PyTorch on the same GPU. Everything is logged to $LOG_DIR (default build-gpu/logs).
#   bash scripts/gpu_check.sh [--data-dir DIR] [--torch-ref path/to/torch_bench.py]
# Without a data dir holding fashion-mnist/ (or Debian's dataset), the training run is skipped;
# without --torch-ref (or python3 with torch), the PyTorch side of the bench is skipped.
set -uo pipefail
data_dir=""
torch_ref=""
while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) data_dir=$2; shift 2 ;;
    --torch-ref) torch_ref=$2; shift 2 ;;
    *) echo "gpu_check.sh: unknown flag $1 (known: --data-dir DIR, --torch-ref FILE)" >&2; exit 2 ;;
  esac
done
B=${BUILD:-build-gpu}
ARCH=${ARCH:-90}
JOBS=${JOBS:-$(nproc)}
LOG_DIR=${LOG_DIR:-$B/logs}
mkdir -p "$LOG_DIR"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$LOG_DIR/gpu.txt"

step() { echo; echo "== $*"; }
status=0

step "configure + build ($JOBS jobs, sm_$ARCH)"
t0=$(date +%s)
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DTRUSTGRAD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
  -DTRUSTGRAD_BUILD_EXAMPLES=ON > "$LOG_DIR/configure.log" 2>&1 || { tail -30 "$LOG_DIR/configure.log"; exit 1; }
grep "trustgrad backends" "$LOG_DIR/configure.log"
cmake --build "$B" -j "$JOBS" --target test_cuda test_engine test_nn test_optim bench_train_step bench_cuda trustgrad_train \
  > "$LOG_DIR/build.log" 2>&1 || { grep -E "error|Error" "$LOG_DIR/build.log" | head -40; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s"

step "tests"
for t in "test_cuda" "test_engine -sf=*cuda*" "test_nn -sf=*cuda*" "test_optim -sf=*cuda*"; do
  name=${t%% *}
  # shellcheck disable=SC2086
  if "$B/tests/$name" ${t#"$name"} --force-colors=0 > "$LOG_DIR/$name.log" 2>&1; then
    echo "$t: $(grep -E '^\[doctest\] (test cases|assertions)' "$LOG_DIR/$name.log" | tr -s ' ' | paste -sd ' ')"
  else
    status=1
    echo "$t: FAILED"; grep -B2 -A8 "ERROR\|FATAL" "$LOG_DIR/$name.log" | head -60
  fi
done

if [ -n "$data_dir" ]; then
  step "train: Fashion-MNIST recipe (small CNN, LAMBC paper preset, 2 epochs) on cuda:0"
  t0=$(date +%s)
  timeout 300 "$B/examples/train/train" --config examples/train/recipes/fashion_mnist_lambc.json --data-dir "$data_dir" \
    --device cuda --progress plain --log-dir "$B/runs" --run-name gpu --no-report > "$LOG_DIR/train.log" 2>&1
  rc=$?
  grep -iE "epoch|test|error|accuracy" "$LOG_DIR/train.log" | tail -12
  echo "train exit $rc after $(( $(date +%s) - t0 )) s"
  [ $rc = 0 ] || status=1
fi

step "bench: training step and inference, batch 256, trustgrad vs PyTorch on the same GPU"
for model in small small28 resnet18; do
  "$B/bench/bench_train_step" --device cuda --model $model --batch 256 --steps 20 --json | tee -a "$LOG_DIR/bench.jsonl"
  if [ -n "$torch_ref" ]; then
    python3 bench/torch_gpu_bench.py --ref "$torch_ref" --model $model --batch 256 --steps 20 --json | tee -a "$LOG_DIR/bench.jsonl"
  fi
done
exit $status
