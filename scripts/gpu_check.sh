#!/usr/bin/env bash
# GPU checks in one go, for a machine with an NVIDIA GPU: builds the CUDA backend (sm_90 unless
# ARCH is set), runs every CUDA test (kernel parity, op-layer parity, model parity, optimizers, the
# NCCL collectives in a world of one),
# trains the offline Fashion-MNIST recipe on the GPU, and benchmarks the training step against
# PyTorch on the same GPU (bench/torch_reference.py --device cuda: the same networks and protocol).
# Everything is logged to $LOG_DIR (default build-gpu/logs).
#   bash scripts/gpu_check.sh [--data-dir DIR] [--study | --study-only] [--prebuilt DIR]
# --study (with --data-dir) adds the GPU arm of the clipping study (docs/results.md): Fashion-MNIST,
# the small CNN, batch 1000/2000/3000 x {LAMB, LAMBC clip 1} x seeds 0-4, the `paper` preset and the
# authors' lr, 2 epochs per run, STUDY_JOBS runs at once on the one GPU (default 4), capped at
# STUDY_SECONDS (default 420); resumable: rerunning the command skips finished runs.
# --study-only runs the study alone (no tests, training run or bench), so the checks and the study can
# go in two commands of a GPU machine's limited time. --prebuilt DIR skips configure and build and runs
# the programs scripts/gpu_prebuild.sh put in DIR (built without a GPU, carried to this machine): their
# missing shared libraries (the CUDA runtime, NCCL) are looked for beside CUDA and in PyTorch's wheels,
# and the tests read this repository's fixtures (TG_FIXTURE_DIR).
# Without a data dir holding fashion-mnist/ (or Debian's dataset), the training run is skipped;
# without a python3 that has torch (PYTHON=..., default python3), the PyTorch side of the bench is.
# TORCH_BENCH=path/to/script.py replaces the PyTorch reference (same flags and JSON fields).
set -uo pipefail
data_dir=""
study=0
checks=1
prebuilt=""
while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) data_dir=$2; shift 2 ;;
    --study) study=1; shift ;;
    --study-only) study=1; checks=0; shift ;;
    --prebuilt) prebuilt=$2; shift 2 ;;
    *) echo "gpu_check.sh: unknown flag $1 (known: --data-dir DIR, --study, --study-only, --prebuilt DIR)" >&2; exit 2 ;;
  esac
done
if [ $study = 1 ] && [ -z "$data_dir" ]; then
  echo "gpu_check.sh: --study needs --data-dir DIR (a folder with fashion-mnist/)" >&2
  exit 2
fi
PYTHON=${PYTHON:-python3}
torch_bench=${TORCH_BENCH:-bench/torch_reference.py}
B=${prebuilt:-${BUILD:-build-gpu}}
ARCH=${ARCH:-90}
JOBS=${JOBS:-$(nproc)}
LOG_DIR=${LOG_DIR:-$B/logs}
mkdir -p "$LOG_DIR"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$LOG_DIR/gpu.txt"

step() { echo; echo "== $*"; }
status=0

# shellcheck source=scripts/gpu_programs.sh
. "$(dirname "$0")/gpu_programs.sh"
programs=$gpu_programs
targets=$gpu_targets
if [ $study = 1 ]; then
  programs="$programs $gpu_study_program"
  targets="$targets $gpu_study_target"
fi
if [ -n "$prebuilt" ]; then
  step "prebuilt programs in $B (scripts/gpu_prebuild.sh)"
  for p in $programs; do
    [ -x "$B/$p" ] || { echo "gpu_check.sh: $B/$p not found: run scripts/gpu_prebuild.sh (with --study's programs)" >&2; exit 1; }
  done
  # Shared libraries the programs were linked against but this machine's loader does not find
  # (the CUDA runtime, NCCL): the first file of that name beside CUDA, in /usr or in /opt (PyTorch's
  # wheels ship nvidia/*/lib/), put on LD_LIBRARY_PATH.
  # shellcheck disable=SC2086
  for lib in $(cd "$B" && ldd $programs 2>/dev/null | awk '/not found/ {print $1}' | sort -u); do
    hit=$(find /usr/local/cuda* /usr/lib /usr/local/lib /opt -name "$lib" 2>/dev/null | head -1)
    if [ -n "$hit" ]; then
      echo "$lib: $hit"
      LD_LIBRARY_PATH="$(dirname "$hit")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      export LD_LIBRARY_PATH
    else
      echo "$lib: not found on this machine (the programs that need it will not start)"
    fi
  done
  export TG_FIXTURE_DIR="$PWD/tests/fixtures"
else
  step "configure + build ($JOBS jobs, sm_$ARCH)"
  t0=$(date +%s)
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DTRUSTGRAD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
    -DTRUSTGRAD_BUILD_EXAMPLES=ON > "$LOG_DIR/configure.log" 2>&1 || { tail -30 "$LOG_DIR/configure.log"; exit 1; }
  grep "trustgrad backends" "$LOG_DIR/configure.log"
  # shellcheck disable=SC2086
  cmake --build "$B" -j "$JOBS" --target $targets \
    > "$LOG_DIR/build.log" 2>&1 || { grep -E "error|Error" "$LOG_DIR/build.log" | head -40; exit 1; }
  echo "built in $(( $(date +%s) - t0 )) s"
fi

if [ $checks = 1 ]; then
  step "tests"
  for t in "test_cuda" "test_engine -sf=*cuda*" "test_nn -sf=*cuda*" "test_optim -sf=*cuda*" "dist/test_dist -tc=*NCCL*"; do
    name=${t%% *}
    log="$LOG_DIR/$(basename "$name").log"
    # shellcheck disable=SC2086
    # A bounded wait per suite (TEST_SECONDS, default 150): a hung test (an NCCL init, a kernel that
    # never returns) fails that suite and leaves the lent machine's minutes to the rest.
    if timeout "${TEST_SECONDS:-150}" "$B/tests/$name" ${t#"$name"} --force-colors=0 > "$log" 2>&1; then
      echo "$t: $(grep -E '^\[doctest\] (test cases|assertions)|skipped' "$log" | tr -s ' ' | paste -sd ' ')"
    else
      status=1
      echo "$t: FAILED"; grep -B2 -A8 "ERROR\|FATAL" "$log" | head -60; tail -5 "$log"
    fi
  done
fi

if [ $checks = 1 ] && [ -n "$data_dir" ]; then
  step "train: Fashion-MNIST recipe (small CNN, LAMBC paper preset, 2 epochs) on cuda:0"
  t0=$(date +%s)
  timeout 300 "$B/examples/train/train" --config examples/train/recipes/fashion_mnist_lambc.json --data-dir "$data_dir" \
    --device cuda --progress plain --log-dir "$B/runs" --run-name gpu --no-report > "$LOG_DIR/train.log" 2>&1
  rc=$?
  grep -iE "epoch|test|error|accuracy" "$LOG_DIR/train.log" | tail -12
  echo "train exit $rc after $(( $(date +%s) - t0 )) s"
  [ $rc = 0 ] || status=1
fi

if [ $study = 1 ]; then
  step "study: LAMB vs LAMBC clip 1 on cuda:0, batch 1000/2000/3000 x 5 seeds (paper preset, authors' lr)"
  t0=$(date +%s)
  timeout "${STUDY_SECONDS:-420}" "$B/examples/trust_clipping_study/trust_clipping_study" --device cuda \
    --dataset fashion-mnist --data-dir "$data_dir" --epochs 2 --batch-sizes 1000,2000,3000 --presets paper \
    --scaled-lr-from 0 --seeds 0,1,2,3,4 --jobs "${STUDY_JOBS:-4}" --out "$B/study" \
    --machine "$(head -1 "$LOG_DIR/gpu.txt"), ${STUDY_JOBS:-4} runs at once" > "$LOG_DIR/study.log" 2>&1
  rc=$?
  tail -40 "$LOG_DIR/study.log"
  echo "study exit $rc after $(( $(date +%s) - t0 )) s (results: $B/study/results.md, report.html)"
  [ $rc = 0 ] || status=1
fi

[ $checks = 1 ] || exit $status
step "bench: training step and inference, batch 256, trustgrad vs PyTorch on the same GPU"
have_torch=0
if "$PYTHON" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then have_torch=1; else
  echo "note: $PYTHON has no torch with CUDA; trustgrad's side only"
fi
for model in small small28 resnet18 airbench; do
  timeout 120 "$B/bench/bench_train_step" --device cuda --model $model --batch 256 --steps 20 --json | tee -a "$LOG_DIR/bench.jsonl"
  if [ $have_torch = 1 ]; then
    timeout 120 "$PYTHON" "$torch_bench" --device cuda --model $model --batch 256 --steps 20 --json | tee -a "$LOG_DIR/bench.jsonl" || status=1
  fi
done
exit $status
