#!/usr/bin/env bash
# sanitize.sh: the test suites under AddressSanitizer+UBSan; the threaded engine (reader thread,
# ring of slots, compute pool) and the SIMT harness under ThreadSanitizer. Criterion's runner
# cannot start under TSan (its shared-memory arena), so the TSan builds drive the CLIs over the
# real files and run the harness's own self-test.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DH5PREP_WERROR=ON -DH5PREP_SANITIZE=address,undefined -DH5PREP_SHARED=OFF >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
echo "sanitize: AddressSanitizer + UndefinedBehaviorSanitizer"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1
./build-asan/h5prep_simt_tests
./build-asan/h5prep_tests
unset UBSAN_OPTIONS ASAN_OPTIONS

cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DH5PREP_WERROR=ON -DH5PREP_SANITIZE=thread -DH5PREP_TESTS=OFF >/dev/null
cmake --build build-tsan -j"$jobs" --target h5prep h5prep-simt simt_selftest >/dev/null
echo "sanitize: ThreadSanitizer"
export TSAN_OPTIONS=halt_on_error=1:exitcode=66
./build-tsan/simt_selftest
# ThreadSanitizer must see a race through the harness: a kernel without its __syncthreads
if TSAN_OPTIONS=exitcode=66 ./build-tsan/simt_selftest --racy >/dev/null 2>&1; [ $? -ne 66 ]; then
  echo "sanitize: ThreadSanitizer did not report the race of simt_selftest --racy" >&2
  exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
runs=0
# input and two staging budgets: one that cuts it into many slabs, one that holds it whole
for case in data/nc4uvt.nc:/T@2M,16M data/MLL2217907250U.003.nc:/reflectivity@64K,4M \
            data/sgpxsaprcfrvptI4.a1.20200205.100827.nc:/reflectivity@64K,4M \
            data/T_PAZA63_C_LFPW_20230420065041.h5:/dataset1/data1/data@32K,4M; do
  input=${case%@*}
  for mem in $(echo "${case#*@}" | tr , " "); do
    for axes in -1 none 1; do
      for threads in 1 3; do
        ./build-tsan/h5prep stats "$input" --quiet --threads "$threads" --mem "$mem" --slots 3 \
          --keep-axes "$axes" -o "$out/s.json"
        runs=$((runs + 1))
      done
      SIMT_SCHEDULE=parallel ./build-tsan/h5prep-simt stats "$input" --quiet --backend cuda --mem "$mem" \
        --slots 3 --keep-axes "$axes" -o "$out/c.json"
      runs=$((runs + 1))
    done
  done
done
# transforms: the three-stage ring (reader, backend, writer) on the real radar sweep and on a
# generated 3dcorrection input (compressed chunks), with 1 and 3 threads and both staging areas
PY=$(bash scripts/python.sh)
"$PY" scripts/gen_3dcorrection.py --rows 600 --chunk-rows 64 --gzip 1 -o "$out/3dc.h5" >/dev/null
for threads in 1 3; do
  for stage in 0 1G; do
    ./build-tsan/h5prep transform data/recipes/3dcorrection.yaml -i "$out/3dc.h5" -o "$out/t" --overwrite \
      --quiet --backend cpu --threads "$threads" --slots 3 --stage-mem "$stage"
    ./build-tsan/h5prep transform data/recipes/radar.yaml -o "$out/r" --overwrite --quiet --threads "$threads" \
      --stage-mem "$stage"
    runs=$((runs + 2))
  done
done
"$PY" scripts/gen_3dcorrection.py --rows 120 -o "$out/3dc-small.h5" >/dev/null
SIMT_SCHEDULE=parallel ./build-tsan/h5prep-simt transform data/recipes/3dcorrection.yaml -i "$out/3dc-small.h5" \
  -o "$out/g" --quiet --backend cuda --slots 3
runs=$((runs + 1))
echo "sanitize: ThreadSanitizer clean over $runs runs of h5prep and h5prep-simt"
