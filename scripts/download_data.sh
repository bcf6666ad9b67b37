#!/usr/bin/env bash
# Downloads datasets into data/ (or --dir DIR) and verifies their MD5 checksums; the layout is
# what tg::data::load_dataset looks for. Without network it says so and exits non-zero (3).
#   usage: scripts/download_data.sh [cifar10|cifar100|mnist|fashion-mnist|all ...] [--dir DIR] [--extract]
# Exit codes: 0 ok, 2 bad usage, 3 no network, 4 checksum mismatch or failed download.
set -euo pipefail

dir="data"
extract=0
sets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
    --extract) extract=1; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    cifar10|cifar100|mnist|fashion-mnist) sets+=("$1"); shift ;;
    all) sets+=(cifar10 cifar100 mnist fashion-mnist); shift ;;
    *) echo "download_data.sh: unknown argument '$1' (datasets: cifar10 cifar100 mnist fashion-mnist all)" >&2; exit 2 ;;
  esac
done
[ ${#sets[@]} -eq 0 ] && sets=(cifar10)

# name|url|md5|destination (relative to $dir)
files_for() {
  case "$1" in
    cifar10) echo "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz|c32a1d4ab5d03f1284b67883e8d87530|cifar-10-binary.tar.gz" ;;
    cifar100) echo "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz|03b5dce01913d631647c71ecec9e9cb8|cifar-100-binary.tar.gz" ;;
    mnist)
      local base=https://ossci-datasets.s3.amazonaws.com/mnist
      echo "$base/train-images-idx3-ubyte.gz|f68b3c2dcbeaaa9fbdd348bbdeb94873|mnist/train-images-idx3-ubyte.gz"
      echo "$base/train-labels-idx1-ubyte.gz|d53e105ee54ea40749a09fcbcd1e9432|mnist/train-labels-idx1-ubyte.gz"
      echo "$base/t10k-images-idx3-ubyte.gz|9fb629c4189551a2d022fa330f9573f3|mnist/t10k-images-idx3-ubyte.gz"
      echo "$base/t10k-labels-idx1-ubyte.gz|ec29112dd5afa0611ce80d1b7f02629c|mnist/t10k-labels-idx1-ubyte.gz" ;;
    fashion-mnist)
      local base=http://fashion-mnist.s3-website.eu-central-1.amazonaws.com
      echo "$base/train-images-idx3-ubyte.gz|8d4fb7e6c68d591d4c3dfef9ec88bf0d|fashion-mnist/train-images-idx3-ubyte.gz"
      echo "$base/train-labels-idx1-ubyte.gz|25c81989df183df01b3e8a0aad5dffbe|fashion-mnist/train-labels-idx1-ubyte.gz"
      echo "$base/t10k-images-idx3-ubyte.gz|bef4ecab320f06d8554ea6380940ec79|fashion-mnist/t10k-images-idx3-ubyte.gz"
      echo "$base/t10k-labels-idx1-ubyte.gz|bb300cfdad3c16e7a12a480ee83cd310|fashion-mnist/t10k-labels-idx1-ubyte.gz" ;;
  esac
}

md5_of() { md5sum "$1" | cut -d' ' -f1; }

# fetch URL OUT: curl or wget, short connect timeout, bounded total time.
fetch() {
  if command -v curl >/dev/null 2>&1; then
    curl --fail --location --silent --show-error --connect-timeout 10 --max-time 1800 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget --quiet --timeout=10 --tries=2 -O "$2" "$1"
  else
    echo "download_data.sh: neither curl nor wget is installed" >&2; return 1
  fi
}

# reachable URL: can we open a connection to the host within a few seconds?
reachable() {
  if command -v curl >/dev/null 2>&1; then
    curl --silent --head --location --connect-timeout 5 --max-time 10 -o /dev/null "$1"
  else
    wget --quiet --spider --timeout=5 --tries=1 "$1"
  fi
}

mkdir -p "$dir"
status=0
for set in "${sets[@]}"; do
  while IFS='|' read -r url md5 dest; do
    out="$dir/$dest"
    mkdir -p "$(dirname "$out")"
    if [ -f "$out" ] && [ "$(md5_of "$out")" = "$md5" ]; then
      echo "ok       $out (already present, MD5 verified)"
      continue
    fi
    if ! reachable "$url"; then
      host=$(echo "$url" | sed -E 's#^[a-z]+://([^/]+)/.*#\1#')
      echo "download_data.sh: no network: cannot reach $host within 10 s, so $dest was not downloaded." >&2
      echo "  Copy the file to $out by hand (MD5 $md5, from $url)" >&2
      [ "$set" = "fashion-mnist" ] && echo "  or install Debian's dataset-fashion-mnist (scripts/setup.sh --with-data): it provides /usr/share/datasets/fashion-mnist" >&2
      exit 3
    fi
    echo "download $url"
    if ! fetch "$url" "$out.part"; then
      rm -f "$out.part"
      echo "download_data.sh: download of $url failed" >&2
      status=4
      continue
    fi
    got=$(md5_of "$out.part")
    if [ "$got" != "$md5" ]; then
      echo "download_data.sh: checksum mismatch for $dest: expected MD5 $md5, got $got; keeping it as $out.part for inspection" >&2
      status=4
      continue
    fi
    mv "$out.part" "$out"
    echo "ok       $out (MD5 verified)"
    if [ "$extract" = 1 ] && [[ "$out" == *.tar.gz ]]; then
      tar -xzf "$out" -C "$dir"
      echo "extracted into $dir/"
    fi
  done < <(files_for "$set")
done
exit $status
