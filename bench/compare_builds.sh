#!/usr/bin/env bash
# Two trustgrad builds and the PyTorch reference, alternated run by run, so that a shared, noisy
# machine's drift hits all three alike: for each round and model, old build, new build, then
# bench/torch_reference.py, each `--batch 256 --threads 2` (5 steps; ResNet-18 2). Prints every
# run, then per model the medians of training img/s and the ratios new/torch (per round too) and
# new/old.
#   bash bench/compare_builds.sh OLD_BUILD_DIR NEW_BUILD_DIR [rounds=3]
# MODELS="small small28" limits the models (default: small small28 resnet18); PRECISION=bf16 runs
# both builds with --precision bf16 and PyTorch with bf16 autocast (default fp32); OLD_PRECISION,
# NEW_PRECISION, TORCH_PRECISION set one side each (e.g. one build at fp32 against itself at bf16:
# OLD_PRECISION=fp32 NEW_PRECISION=bf16 compare_builds.sh B B). Pause anything else
# running on the machine first (e.g. kill -STOP a background job, kill -CONT after).
set -euo pipefail
old=${1:?usage: compare_builds.sh OLD_BUILD_DIR NEW_BUILD_DIR [rounds]}
new=${2:?usage: compare_builds.sh OLD_BUILD_DIR NEW_BUILD_DIR [rounds]}
rounds=${3:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
python=/usr/bin/python3
for b in "$old" "$new"; do
  [ -x "$b/bench/bench_train_step" ] || { echo "compare_builds: $b/bench/bench_train_step not found (build it first)" >&2; exit 2; }
done
"$python" -c "import torch" 2>/dev/null || { echo "compare_builds: $python has no torch (bash scripts/setup.sh --with-torch)" >&2; exit 2; }
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for round in $(seq "$rounds"); do
  for model in ${MODELS:-small small28 resnet18}; do
    steps=5
    [ "$model" = resnet18 ] && steps=2
    args=(--model "$model" --batch 256 --threads 2 --steps $steps --json)
    p=${PRECISION:-fp32}
    echo "old $model $("$old/bench/bench_train_step" "${args[@]}" --precision "${OLD_PRECISION:-$p}" | tail -1)" | tee -a "$log"
    echo "new $model $("$new/bench/bench_train_step" "${args[@]}" --precision "${NEW_PRECISION:-$p}" | tail -1)" | tee -a "$log"
    echo "torch $model $("$python" "$here/bench/torch_reference.py" "${args[@]}" --precision "${TORCH_PRECISION:-$p}" | tail -1)" | tee -a "$log"
  done
done
"$python" - "$log" <<'PY'
import collections, json, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    tag, model, js = line.split(" ", 2)
    runs[(tag, model)].append(json.loads(js)["train_img_per_s"])
print(f"\n{'model':<9} {'old':>9} {'new':>9} {'torch':>9} | {'new/torch':>9} {'old/torch':>9} {'new/old':>7} | new/torch per round")
for model in dict.fromkeys(m for _, m in runs):
    o, n, t = (runs[(tag, model)] for tag in ("old", "new", "torch"))
    mo, mn, mt = map(statistics.median, (o, n, t))
    per_round = ", ".join(f"{a / b:.2f}" for a, b in zip(n, t))
    print(f"{model:<9} {mo:9.1f} {mn:9.1f} {mt:9.1f} | {mn / mt:9.2f} {mo / mt:9.2f} {mn / mo:7.2f} | {per_round}")
PY
