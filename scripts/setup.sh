#!/usr/bin/env bash
# Installs every Debian package trustgrad needs (idempotent). Uses sudo when not root and runs
# `apt-get update` once, only when something is missing. python3 runs the checks of tests/scripts/.
# Pass --with-torch to also install the PyTorch (run as /usr/bin/python3) of `make bench`'s reference
# bench/torch_reference.py, its test torch_reference_models and the tests/reference/ generators.
# Pass --with-fuzz for clang, its sanitizer/libFuzzer runtimes, libomp (with the Archer TSan tool)
# and llvm-symbolizer, used by `make fuzz` and `make test-tsan`.
set -euo pipefail

packages=(build-essential cmake pkg-config libeigen3-dev doctest-dev libsimde-dev libcli11-dev nlohmann-json3-dev
          zlib1g-dev libarchive-dev python3 libopenmpi-dev openmpi-bin)
for arg in "$@"; do
  case "$arg" in
    --with-torch) packages+=(python3-torch python3-numpy) ;;
    --with-data) packages+=(dataset-fashion-mnist) ;;
    --with-browser) packages+=(chromium) ;;
    --with-fuzz) packages+=(clang libclang-rt-dev libomp-dev llvm) ;;
    *) echo "setup.sh: unknown option '$arg' (known: --with-torch --with-data --with-browser --with-fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} Debian packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
