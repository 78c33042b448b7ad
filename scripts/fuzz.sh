#!/usr/bin/env bash
# fuzz.sh: a time-boxed libFuzzer run of each fuzz target (FUZZ_SECONDS, 60 by default, per target)
# under ASan+UBSan, built with clang into build-fuzz. Seeds come from fuzz/corpus/<target>/ (left as
# they are; new inputs go to a scratch corpus); what it finds goes to build-fuzz/found/<target>/, to
# be fixed and then kept in fuzz/crashes/<target>/ (replayed by scripts/fuzz-replay.sh), or, when
# the fault is libhdf5's own, kept in fuzz/hdf5-bugs/<target>/ (not replayed).
# Usage: scripts/fuzz.sh [target...]   (targets: recipe state packed h5input)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang >/dev/null; then
  echo "fuzz: clang not found; scripts/install-deps.sh installs clang and libclang-rt-14-dev (libFuzzer)" >&2
  exit 1
fi
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
((${#targets[@]})) || targets=(recipe state packed h5input)
build=build-fuzz
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DH5PREP_CUDA=OFF \
  -DH5PREP_TESTS=OFF -DH5PREP_FUZZ=ON -DH5PREP_SANITIZE=address,undefined >/dev/null
cmake --build "$build" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for t in "${targets[@]}"; do
  found="$build/found/$t"
  mkdir -p "$work/$t" "$found"
  # fork mode: a finding is recorded and fuzzing goes on (libhdf5 1.10 itself loops forever or
  # overreads on some damaged files, so the HDF5 targets find its faults as well as h5prep's)
  args=(-fork=1 -ignore_timeouts=1 -ignore_ooms=1 -ignore_crashes=1 -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048
        -artifact_prefix="$found/")
  [ -f "fuzz/$t.dict" ] && args+=(-dict="fuzz/$t.dict")
  log="$build/fuzz-$t.log"
  rc=0
  "$build/fuzz/fuzz_$t" "${args[@]}" "$work/$t" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(echo "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
  cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
  faults=$(echo "$last" | sed -n 's/.* oom\/timeout\/crash: \([0-9/]*\).*/\1/p')
  echo "fuzz: $t: ${seconds}s, ${execs:-?} execs, coverage ${cov:-?} edges, ${ft:-?} features, corpus ${corp:-?}," \
    "oom/timeout/crash ${faults:-0/0/0}"
  if ((rc)) || [ -n "$(ls -A "$found")" ]; then
    status=1
    echo "fuzz: $t: found (exit $rc): $(ls "$found" | tr '\n' ' ')(in $found; log $log)" >&2
    grep -m 3 -E 'ERROR: |runtime error|SUMMARY' "$log" >&2 || true
  fi
done
exit $status
