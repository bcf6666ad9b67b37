#!/usr/bin/env bash
# `make train`: trains with LAMBC. CIFAR-10 when data/cifar-10-batches-bin or the tarball is present,
# or when scripts/download_data.sh can fetch it (checksum-verified); offline, it says so, installs
# Debian's dataset-fashion-mnist if missing and trains the Fashion-MNIST recipe instead.
#   usage: bash scripts/train.sh <build_dir> [extra train flags, e.g. --threads 2 --epochs 1]
# Environment: TG_DATA_DIR (default data), TG_RECIPE (force a recipe file).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
[ $# -gt 0 ] && shift
case "$build" in /*) ;; *) build="$root/$build" ;; esac
cd "$root"
bin="$build/examples/train/train"
if [ ! -x "$bin" ]; then
  echo "train.sh: $bin not found; build first (make build)" >&2
  exit 1
fi
data_dir="${TG_DATA_DIR:-data}"
recipes="examples/train/recipes"

have_cifar10() { [ -f "$data_dir/cifar-10-batches-bin/data_batch_1.bin" ] || [ -f "$data_dir/cifar-10-binary.tar.gz" ]; }

recipe="${TG_RECIPE:-}"
if [ -z "$recipe" ]; then
  if have_cifar10; then
    recipe="$recipes/cifar10_lambc.json"
  elif [ -f scripts/download_data.sh ]; then
    echo "train.sh: CIFAR-10 not found in $data_dir/; trying to download it (scripts/download_data.sh) ..."
    rc=0
    bash scripts/download_data.sh cifar10 --dir "$data_dir" || rc=$?
    if [ $rc -eq 0 ] && have_cifar10; then
      recipe="$recipes/cifar10_lambc.json"
    elif [ $rc -eq 3 ]; then
      echo "train.sh: no network: CIFAR-10 cannot be downloaded."
    else
      echo "train.sh: the CIFAR-10 download failed (exit $rc)."
    fi
  else
    echo "train.sh: CIFAR-10 not found in $data_dir/ and no download script."
  fi
fi
if [ -z "$recipe" ]; then
  echo "train.sh: training on Fashion-MNIST instead (the offline recipe: small CNN + LAMBC, ~91-92% test accuracy)."
  if [ ! -f "$data_dir/fashion-mnist/train-images-idx3-ubyte.gz" ] && [ ! -f "$data_dir/fashion-mnist/train-images-idx3-ubyte" ] &&
     [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "train.sh: installing Debian's dataset-fashion-mnist ..."
    bash scripts/setup.sh --with-data
  fi
  recipe="$recipes/fashion_mnist_lambc.json"
fi

echo "train.sh: $bin --config $recipe --data-dir $data_dir $*"
exec "$bin" --config "$recipe" --data-dir "$data_dir" "$@"
