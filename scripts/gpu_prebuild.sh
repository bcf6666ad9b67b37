#!/usr/bin/env bash
# Builds, on a machine without a GPU, what scripts/gpu_check.sh runs on one, so a lent GPU machine's
# few minutes go to the checks and not to compiling: the CUDA backend for sm_90 (ARCH=...), without
# MPI (the GPU machine has no Open MPI; NCCL stays), the test, bench, train and study programs,
# stripped and copied into OUT (default gpu-bin/, git-ignored) in the build tree's layout, with the
# Fashion-MNIST files beside them (OUT/data/fashion-mnist/, from --data-dir or Debian's
# dataset-fashion-mnist) when found. Then, on the GPU machine, from the repository root:
#   bash scripts/gpu_check.sh --prebuilt gpu-bin --data-dir gpu-bin/data [--study | --study-only]
# (the device tool: carry ["gpu-bin"]). The programs need there the CUDA runtime and NCCL of the
# same major version (gpu_check.sh looks for them beside CUDA and in PyTorch's wheels), and run the
# fixtures of the repository they travel with ($TG_FIXTURE_DIR).
#   bash scripts/gpu_prebuild.sh [--data-dir DIR] [--out DIR]
set -euo pipefail
out=gpu-bin
data_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --data-dir) data_dir=$2; shift 2 ;;
    *) echo "gpu_prebuild.sh: unknown flag $1 (known: --out DIR, --data-dir DIR)" >&2; exit 2 ;;
  esac
done
command -v nvcc > /dev/null || [ -x /usr/local/cuda/bin/nvcc ] ||
  { echo "gpu_prebuild.sh: no nvcc (the CUDA toolkit) on this machine" >&2; exit 1; }
B=${BUILD:-build-gpu-pre}
ARCH=${ARCH:-90}
JOBS=${JOBS:-$(nproc)}
t0=$(date +%s)
mkdir -p "$B"
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DTRUSTGRAD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
  -DTRUSTGRAD_BUILD_EXAMPLES=ON -DTRUSTGRAD_MPI=OFF > "$B/prebuild.configure.log" 2>&1 ||
  { tail -30 "$B/prebuild.configure.log"; exit 1; }
grep "trustgrad backends" "$B/prebuild.configure.log"
# shellcheck source=scripts/gpu_programs.sh
. "$(dirname "$0")/gpu_programs.sh"
programs="$gpu_programs $gpu_study_program"
targets="$gpu_targets $gpu_study_target"
# shellcheck disable=SC2086
cmake --build "$B" -j "$JOBS" --target $targets > "$B/prebuild.build.log" 2>&1 ||
  { grep -E "error|Error" "$B/prebuild.build.log" | head -40; exit 1; }
rm -rf "$out"
for p in $programs; do
  mkdir -p "$out/$(dirname "$p")"
  cp "$B/$p" "$out/$p"
  strip "$out/$p"
done
# What gpu_check.sh --data-dir accepts: a folder holding fashion-mnist/.
src=""
for d in "${data_dir:+$data_dir/fashion-mnist}" data/fashion-mnist /usr/share/datasets/fashion-mnist; do
  if [ -n "$d" ] && [ -f "$d/train-images-idx3-ubyte.gz" ]; then src=$d; break; fi
done
if [ -n "$src" ]; then
  mkdir -p "$out/data/fashion-mnist"
  cp "$src"/*-ubyte.gz "$out/data/fashion-mnist/"
else
  echo "note: no Fashion-MNIST found (--data-dir DIR with fashion-mnist/, or apt-get install dataset-fashion-mnist):" \
       "gpu_check.sh's training run and study will need their own --data-dir" >&2
fi
echo "gpu_prebuild.sh: sm_$ARCH programs in $out/ ($(du -sh "$out" | cut -f1), built in $(( $(date +%s) - t0 )) s)"
echo "on the GPU machine: bash scripts/gpu_check.sh --prebuilt $out${src:+ --data-dir $out/data} [--study | --study-only]"
