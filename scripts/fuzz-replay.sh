#!/usr/bin/env bash
# fuzz-replay.sh: every seed of fuzz/corpus/<target>/ and every crash input ever found (kept in
# fuzz/crashes/<target>/) run once through its fuzz target under AddressSanitizer + UBSan. It
# builds the plain replay drivers (fuzz/replay_main.c) with gcc, so it needs no clang; CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-fuzz-replay
cmake -S . -B "$build" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Debug -DH5PREP_WERROR=ON -DH5PREP_CUDA=OFF \
  -DH5PREP_TESTS=OFF -DH5PREP_FUZZ=ON -DH5PREP_SANITIZE=address,undefined >/dev/null
targets=(recipe state packed h5input)
cmake --build "$build" -j"$(nproc)" --target $(printf 'fuzz_%s_replay ' "${targets[@]}") >/dev/null
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp # leaks inside libhdf5 itself
total=0
for t in "${targets[@]}"; do
  dirs=("fuzz/corpus/$t")
  [ -d "fuzz/crashes/$t" ] && dirs+=("fuzz/crashes/$t")
  n=$(find "${dirs[@]}" -maxdepth 1 -type f ! -name '.*' | wc -l)
  "$build/fuzz/fuzz_${t}_replay" "${dirs[@]}" 2>"$build/replay-$t.log" || {
    tail -n 40 "$build/replay-$t.log" >&2
    echo "fuzz-replay: $t failed on the last input named above (full log: $build/replay-$t.log)" >&2
    exit 1
  }
  total=$((total + n))
  echo "fuzz-replay: $t: $n inputs clean"
done
echo "fuzz-replay: $total inputs replayed under ASan+UBSan, no finding"
