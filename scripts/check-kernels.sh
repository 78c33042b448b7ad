#!/usr/bin/env bash
# check-kernels.sh: kernel sources may use only what the SIMT harness implements (the list in
# kernels/cuda_compat.h), so that every kernel the GPU runs is also run by the tests on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
allowed='^(__syncthreads|__shfl_down_sync|__shfl_xor_sync|__activemask|atomicAdd|__CUDACC__|__cplusplus)$'
fail=0
for f in kernels/*.cu; do
  # CUDA built-ins and intrinsics are spelled __name, atomicName, or need <<< >>>, .y/.z indices,
  # cooperative groups or inline assembly.
  found=$({ grep -noE '__[A-Za-z_]+|atomic[A-Z][A-Za-z]*|<<<|(threadIdx|blockIdx|blockDim|gridDim)\.[yz]|cooperative_groups|\basm\b' "$f" || true; } \
          | awk -F: -v ok="$allowed" -v f="$f" '$2 !~ ok { print f ":" $1 ": " $2 }')
  if [ -n "$found" ]; then
    echo "$found" | sed 's/$/: not implemented by the SIMT harness (see kernels\/cuda_compat.h)/' >&2
    fail=1
  fi
done
[ "$fail" -eq 0 ] && echo "check-kernels: kernels use only what the SIMT harness implements"
exit "$fail"
