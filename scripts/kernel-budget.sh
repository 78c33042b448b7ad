#!/usr/bin/env bash
# kernel-budget.sh: compiles kernels/*.cu for sm_80 and sm_90 with ptxas' report, fails when a
# kernel spills, uses local memory or exceeds kernels/budget.txt, and prints each kernel's
# occupancy on A100 and H100 (scripts/occupancy.cpp, CUDA's cuda_occupancy.h). Needs nvcc.
set -euo pipefail
cd "$(dirname "$0")/.."
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
if [ ! -x "$nvcc" ]; then
  echo "kernel-budget: nvcc not found (looked on PATH and in /usr/local/cuda/bin): the CUDA build cannot be checked" >&2
  exit 1
fi
cuda_include=$(dirname "$(dirname "$nvcc")")/include
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

report=$work/ptxas.txt
for cu in kernels/*.cu; do
  "$nvcc" -c "$cu" -o "$work/k.o" -std=c++17 -fmad=false -Iinclude -Isrc -Ikernels \
    -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
    -Werror all-warnings -Xptxas -v,--warn-on-spills,--warn-on-local-memory-usage 2>>"$report"
done
# "Compiling entry function 'K' for 'sm_80'" ... "N bytes stack frame, S bytes spill stores, L bytes
# spill loads" ... "Used R registers[, B bytes smem]"
awk '/Compiling entry function/ { gsub(/\x27/, ""); k = $7; a = $9 }
     /stack frame/ { stack[k" "a] = $1; spill[k" "a] = $5 + $9 }
     /Used [0-9]+ registers/ { smem = 0; for (i = 1; i <= NF; i++) if ($(i+1) == "bytes" && $(i+2) ~ /^smem/) smem = $i
                               print k, a, $5, smem, stack[k" "a], spill[k" "a] }' "$report" >"$work/used.txt"

g++ -std=c++17 -O1 -I"$cuda_include" scripts/occupancy.cpp -o "$work/occupancy"
fail=0
echo "| kernel | device | registers | block | dynamic smem | blocks/SM | occupancy | limited by |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
while read -r kernel arch max_regs max_smem block dyn; do
  case "$kernel" in ''|\#*) continue ;; esac
  line=$(awk -v k="$kernel" -v a="$arch" '$1 == k && $2 == a' "$work/used.txt")
  if [ -z "$line" ]; then
    echo "kernel-budget: $kernel ($arch) is in kernels/budget.txt but ptxas did not report it" >&2
    fail=1
    continue
  fi
  read -r _ _ regs smem stack spills <<<"$line"
  if [ "$regs" -gt "$max_regs" ] || [ "$smem" -gt "$max_smem" ] || [ "$spills" -ne 0 ] || [ "$stack" -ne 0 ]; then
    echo "kernel-budget: $kernel ($arch): $regs registers (budget $max_regs), $smem bytes static smem (budget $max_smem), $spills bytes spilled, $stack bytes stack" >&2
    fail=1
  fi
  "$work/occupancy" "$arch" "$kernel" "$regs" "$smem" "$block" "$dyn"
done <kernels/budget.txt
unbudgeted=$(awk 'NR == FNR { if ($1 !~ /^#/) seen[$1" "$2] = 1; next } !(($1" "$2) in seen) { print $1" ("$2")" }' \
  kernels/budget.txt "$work/used.txt")
if [ -n "$unbudgeted" ]; then
  echo "kernel-budget: kernels without a budget line: $unbudgeted" >&2
  fail=1
fi
[ "$fail" -eq 0 ] && echo "kernel-budget: every kernel within budget, no spills, no local memory"
exit "$fail"
