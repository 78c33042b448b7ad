#!/usr/bin/env bash
# run.sh: the MPI tests of `h5prep stats` (called by .ci/run): -np 1..4 give the very "variables"
# bytes of one run without MPI (the ranks' parts travel packed, h5prep_stats_pack); a damaged chunk
# read by one rank stops every rank with that rank's message and exit code, within a timeout (no
# hang), and leaves no output; where that rank fails at once, the others stop at their next slab,
# long before the end of their share; ranks that see other input files are refused before any
# data is read. Use: tests/mpi/run.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
h5prep=$PWD/$build/h5prep
if ! command -v mpirun >/dev/null; then
  echo "tests/mpi: SKIPPED: mpirun not found (scripts/install-deps.sh installs openmpi-bin)"
  exit 0
fi
if ! ldd "$h5prep" | grep libmpi >/dev/null; then  # not grep -q: with pipefail, ldd killed by SIGPIPE would read as "no MPI"
  echo "tests/mpi: SKIPPED: $h5prep was built without MPI (configure with MPI found, H5PREP_MPI=ON)"
  exit 0
fi
py=$(bash scripts/python.sh)
dir=$(mktemp -d /tmp/h5prep-mpi-XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$py" tests/mpi/gen_mpi_case.py "$dir/g.h5" "$dir/bad.h5" 30000   # 72 MB: 9 blocks of 8 MiB
mpirun_() { timeout 120 mpirun --oversubscribe --allow-run-as-root "$@"; }
variables() { sed -n '/"variables"/,$p' "$1"; }
fails=0
for keep in 2 1 none; do
  "$h5prep" stats "$dir/g.h5:/x" --keep-axes "$keep" -o "$dir/one.json"
  for np in 1 2 3 4; do
    mpirun_ -np "$np" "$h5prep" stats "$dir/g.h5:/x" --keep-axes "$keep" --mem 1M -o "$dir/np$np.json"
    if cmp -s <(variables "$dir/one.json") <(variables "$dir/np$np.json") && grep -q "\"ranks\": $np" "$dir/np$np.json"; then
      echo "tests/mpi: ok: -np $np --keep-axes $keep: the same bytes as one run, ranks recorded"
    else
      echo "tests/mpi: FAIL: -np $np --keep-axes $keep differs from one run" >&2
      fails=$((fails + 1))
    fi
  done
done
set +e
mpirun_ -np 4 "$h5prep" stats "$dir/bad.h5:/x" --keep-axes 2 -o "$dir/bad.json" 2>"$dir/err.txt"
rc=$?
set -e
if [ "$rc" -eq 5 ] && grep -q "rank 3 of 4: .*bad.h5:/x: a chunk in rows" "$dir/err.txt" && [ ! -e "$dir/bad.json" ]; then
  echo "tests/mpi: ok: a damaged chunk on rank 3 stops all 4 ranks with its message and exit code 5, no output"
else
  echo "tests/mpi: FAIL: damaged chunk: exit $rc (want 5, 124 is a hang), output $(ls "$dir"/bad.json 2>/dev/null || echo none)" >&2
  cat "$dir/err.txt" >&2
  fails=$((fails + 1))
fi
# rank 3 fails at its first slab while ranks 0..2 have 262144 rows (1 GiB) each to read: they stop
# at their next slab, which --verbose shows as the rows each had read (checked: not half its share)
"$py" tests/mpi/gen_mpi_case.py --large "$dir/large.h5" 4
set +e
mpirun_ -np 4 "$h5prep" stats "$dir/large.h5:/x" --keep-axes 1 --threads 1 --verbose -o "$dir/large.json" 2>"$dir/err.txt"
rc=$?
set -e
stopped=0
for r in 0 1 2; do
  rows=$(sed -n "s/^h5prep: rank $r of 4: stopped after reading \([0-9]*\) rows .* because rank 3 failed\$/\1/p" "$dir/err.txt")
  if [ -n "$rows" ] && [ "$rows" -lt 131072 ]; then stopped=$((stopped + 1)); fi
done
if [ "$rc" -eq 5 ] && [ "$stopped" -eq 3 ] && grep -q "rank 3 of 4: .*large.h5:/x: a chunk in rows" "$dir/err.txt" && [ ! -e "$dir/large.json" ]; then
  echo "tests/mpi: ok: rank 3 fails at once and ranks 0..2 stop at their next slab, before half their share ($(grep -o 'reading [0-9]* rows' "$dir/err.txt" | tr '\n' ' '))"
else
  echo "tests/mpi: FAIL: early stop: exit $rc (want 5), $stopped of 3 ranks stopped before half their share, output $(ls "$dir"/large.json 2>/dev/null || echo none)" >&2
  cat "$dir/err.txt" >&2
  fails=$((fails + 1))
fi
# ranks that see other inputs (a file with another mtime, a file missing) are refused before any
# data is read: each rank runs in a folder of its own, r0 or r1, with a glob relative to it
"$py" -c "import h5py, numpy as np; h5py.File('$dir/s.h5', 'w')['x'] = np.ones((10, 30, 20), 'f4')"
for case in mtime missing; do
  rm -rf "$dir/r0" "$dir/r1" && mkdir "$dir/r0" "$dir/r1"
  cp -p "$dir/s.h5" "$dir/r0/a.h5" && cp -p "$dir/s.h5" "$dir/r0/b.h5" && cp -p "$dir/s.h5" "$dir/r1/a.h5"
  if [ "$case" = mtime ]; then cp "$dir/s.h5" "$dir/r1/b.h5" && touch -d 2020-01-01 "$dir/r1/b.h5"; fi
  set +e
  mpirun_ -np 2 sh -c 'cd "$0/r$OMPI_COMM_WORLD_RANK" && exec "$1" stats "*.h5:/x" -o "$0/dis.json"' "$dir" "$h5prep" 2>"$dir/err.txt"
  rc=$?
  set -e
  if [ "$rc" -eq 2 ] && grep -q "rank 1 of 2 opened other inputs than rank 0" "$dir/err.txt" && grep -q "rank 0: b.h5:/x" "$dir/err.txt" &&
     [ ! -e "$dir/dis.json" ]; then
    echo "tests/mpi: ok: ranks that disagree on their inputs ($case) are refused with exit 2 before any data is read"
  else
    echo "tests/mpi: FAIL: inputs that differ ($case): exit $rc (want 2), output $(ls "$dir"/dis.json 2>/dev/null || echo none)" >&2
    cat "$dir/err.txt" >&2
    fails=$((fails + 1))
  fi
done
[ "$fails" -eq 0 ] && echo "tests/mpi: all passed" || { echo "tests/mpi: $fails failed" >&2; exit 1; }
