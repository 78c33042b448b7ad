// occupancy.cpp: occupancy of h5prep's kernels on A100 (sm_80) and H100 (sm_90), computed with
// CUDA's header-only cuda_occupancy.h from the registers ptxas reports (scripts/kernel-budget.sh).
// Usage: occupancy ARCH KERNEL REGISTERS STATIC_SMEM BLOCK DYNAMIC_SMEM  (one line out)
#include <cuda_occupancy.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

// Public specifications of the two parts (CUDA C Programming Guide, compute capability tables).
static cudaOccDeviceProp device(const char *arch)
{
    cudaOccDeviceProp p{};
    p.maxThreadsPerBlock = 1024;
    p.maxThreadsPerMultiprocessor = 2048;
    p.regsPerBlock = 65536;
    p.regsPerMultiprocessor = 65536;
    p.warpSize = 32;
    p.sharedMemPerBlock = 48 * 1024;
    p.reservedSharedMemPerBlock = 1024;
    if (std::strcmp(arch, "sm_80") == 0) { // A100: 108 SMs, 164 KiB shared memory per SM
        p.computeMajor = 8, p.computeMinor = 0, p.numSms = 108;
        p.sharedMemPerMultiprocessor = 167936, p.sharedMemPerBlockOptin = 166912;
    } else { // H100 SXM: 132 SMs, 228 KiB shared memory per SM
        p.computeMajor = 9, p.computeMinor = 0, p.numSms = 132;
        p.sharedMemPerMultiprocessor = 233472, p.sharedMemPerBlockOptin = 232448;
    }
    return p;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        std::fprintf(stderr, "usage: occupancy ARCH KERNEL REGISTERS STATIC_SMEM BLOCK DYNAMIC_SMEM\n");
        return 2;
    }
    cudaOccDeviceProp prop = device(argv[1]);
    cudaOccFuncAttributes attr{};
    attr.maxThreadsPerBlock = 1024;
    attr.numRegs = std::atoi(argv[3]);
    attr.sharedSizeBytes = std::strtoul(argv[4], nullptr, 10);
    attr.partitionedGCConfig = PARTITIONED_GC_OFF;
    attr.shmemLimitConfig = FUNC_SHMEM_LIMIT_DEFAULT;
    attr.maxDynamicSharedSizeBytes = 48 * 1024;
    attr.numBlockBarriers = 1;
    cudaOccDeviceState state{};
    cudaOccResult r{};
    int block = std::atoi(argv[5]);
    if (cudaOccMaxActiveBlocksPerMultiprocessor(&r, &prop, &attr, &state, block, std::strtoul(argv[6], nullptr, 10)) !=
        CUDA_OCC_SUCCESS) {
        std::fprintf(stderr, "occupancy: cudaOcc failed for %s %s\n", argv[1], argv[2]);
        return 1;
    }
    int warps = r.activeBlocksPerMultiprocessor * block / prop.warpSize;
    int max_warps = prop.maxThreadsPerMultiprocessor / prop.warpSize;
    std::printf("| %s | %s | %s | %d | %s | %d | %d/%d warps (%.0f%%) | %s |\n", argv[2],
                argv[1][3] == '8' ? "A100 (sm_80)" : "H100 (sm_90)", argv[3], block, argv[6],
                r.activeBlocksPerMultiprocessor, warps, max_warps, 100.0 * warps / max_warps,
                r.limitingFactors & OCC_LIMIT_REGISTERS    ? "registers"
                : r.limitingFactors & OCC_LIMIT_SHARED_MEMORY ? "shared memory"
                : r.limitingFactors & OCC_LIMIT_WARPS        ? "warps"
                                                             : "blocks");
    return 0;
}
