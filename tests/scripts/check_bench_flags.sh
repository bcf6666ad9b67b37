#!/bin/bash
# CTest check that every benchmark program refuses a bad command line with one error line naming
# the flag and exit code 2 — no crash (a zero batch divided by, an uncaught throw), no silent run.
#   check_bench_flags.sh BENCH_BINARY...
set -u
fail=0
for bin in "$@"; do
  name=$(basename "$bin")
  for args in "--bogus" "--threads -5" "--threads abc" "--batch" "--json --json"; do
    # shellcheck disable=SC2086  # the flags are meant to split
    out=$(timeout 60 "$bin" $args 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" -ne 2 ] || ! grep -q "^$name: error: " <<<"$out"; then
      echo "FAIL: $name $args: exit $rc, stderr: $out"
      fail=1
    fi
  done
done
[ "$fail" -eq 0 ] && echo "every bench refused every bad command line with exit code 2"
exit "$fail"
