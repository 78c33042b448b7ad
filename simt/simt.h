/* simt.h: the SIMT harness: cuda_compat.h's CUDA runtime subset and device intrinsics, on the CPU.
 * Kernels and the CUDA backend's host code compile against it to be run and checked without a GPU. */
#ifndef H5PREP_SIMT_H
#define H5PREP_SIMT_H

#include <stddef.h>
#include <stdint.h>

/* Kernel sources reach this header through cuda_compat.h (compiled with -DH5PREP_SIMT -x c); host
 * code includes it in place of <cuda_runtime.h>. Each CUDA thread of a block is an OS thread from
 * a persistent pool; blocks run one after another. What the harness checks, and what it cannot
 * see, is listed at the end. */

/* ---- The CUDA runtime subset: same names, types, values and semantics as <cuda_runtime.h> ---- */

enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInsufficientDriver = 35,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorLaunchFailure = 719,
    cudaErrorUnknown = 999
};
typedef enum cudaError cudaError_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4 /* direction inferred from where the pointers live */
};

/* NULL is the legacy default stream: its operations wait for all earlier work of blocking streams
 * (created without cudaStreamNonBlocking), and theirs for its earlier work. */
typedef struct CUstream_st *cudaStream_t;
typedef struct CUevent_st *cudaEvent_t;

#define cudaHostAllocDefault 0x00
#define cudaHostAllocPortable 0x01
#define cudaHostAllocMapped 0x02
#define cudaHostAllocWriteCombined 0x04
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01 /* does not synchronize with the legacy default stream */
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02

/* A subset of the real struct's fields (the real one has more); the harness reports an
 * H100-like device with a few multiprocessors, so that grids sized by SM count stay small. */
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    int regsPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    size_t totalConstMem;
    int major;
    int minor;
    int multiProcessorCount;
    int concurrentKernels;
    int asyncEngineCount;
    int unifiedAddressing;
    int memoryBusWidth;
    int l2CacheSize;
    int maxThreadsPerMultiProcessor;
    size_t sharedMemPerMultiprocessor;
    int regsPerMultiprocessor;
    size_t sharedMemPerBlockOptin;
    int maxBlocksPerMultiProcessor;
    size_t reservedSharedMemPerBlock;
};

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceSynchronize(void);

cudaError_t cudaMalloc(void **devPtr, size_t size);
cudaError_t cudaFree(void *devPtr);
cudaError_t cudaHostAlloc(void **pHost, size_t size, unsigned int flags);
cudaError_t cudaMallocHost(void **ptr, size_t size);
cudaError_t cudaFreeHost(void *ptr);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream);
cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream);

cudaError_t cudaStreamCreate(cudaStream_t *pStream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *pStream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags);

cudaError_t cudaEventCreate(cudaEvent_t *event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventDestroy(cudaEvent_t event);

cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorString(cudaError_t error);
const char *cudaGetErrorName(cudaError_t error);

/* ---- Harness control ---- */

/* eager: each stream operation runs when it is enqueued. deferred: operations queue per stream
 * and run only at the next synchronisation point that needs them: cudaStreamSynchronize,
 * cudaEventSynchronize, cudaDeviceSynchronize, a blocking cudaMemcpy (it waits for what the legacy
 * default stream waits for), cudaFree, cudaFreeHost and cudaStreamDestroy; cudaEventQuery answers
 * cudaErrorNotReady until then (a loop polling it runs the work after 64 answers). This exposes
 * host buffers reused before their event completed and results read before they were waited for. */
typedef enum simt_streams { SIMT_STREAMS_EAGER, SIMT_STREAMS_DEFERRED } simt_streams;
/* The order in which the blocks of a launch run: 0, 1, 2, ... or a permutation drawn from the
 * seed and the launch. */
typedef enum simt_blocks { SIMT_BLOCKS_SEQUENTIAL, SIMT_BLOCKS_SHUFFLED } simt_blocks;
/* serial: one thread of the block runs at a time, switching only at __syncthreads, shuffles and
 * exit, in an order drawn afresh (from the seed) after every __syncthreads; deterministic, and a
 * missing barrier shows as a wrong result. parallel: all threads of the block run at once (what
 * ThreadSanitizer checks). */
typedef enum simt_schedule { SIMT_SCHEDULE_SERIAL, SIMT_SCHEDULE_PARALLEL } simt_schedule;

typedef struct simt_mode {
    simt_streams streams;   /* SIMT_STREAMS=eager|deferred (deferred) */
    simt_blocks blocks;     /* SIMT_BLOCKS=sequential|shuffled (shuffled) */
    simt_schedule schedule; /* SIMT_SCHEDULE=serial|parallel (serial) */
    uint64_t seed;          /* SIMT_SEED=N (1) */
} simt_mode;

/* The mode in force: from the environment at first use, then from simt_set_mode. */
simt_mode simt_get_mode(void);
/* Runs all pending deferred work first, then switches. The orders drawn from the seed depend on
 * the seed and on the launches since the last switch: the same launches give the same schedule. */
void simt_set_mode(simt_mode mode);

/* Harness errors (a broken kernel, a bad copy, a host buffer reused too early) since the last
 * reset. Each is printed once to stderr as "simt: ...". The text returned by simt_last_error
 * ("" when none) stays valid until the same thread calls it again. */
int simt_error_count(void);
const char *simt_last_error(void);
/* A kernel found broken, or a deferred copy whose host source changed, fails the device like a
 * CUDA launch failure: from then on every synchronisation, enqueue and cudaGetLastError returns
 * cudaErrorLaunchFailure and no more work runs. simt_reset_errors clears that, the count and the
 * last message (like a device reset, but allocations, streams and events stay). */
void simt_reset_errors(void);

/* What H5P_LAUNCH expands to: enqueues `entry(copy of args)` on `stream` for grid x block
 * threads with `shmem` bytes of dynamic shared memory. A bad configuration sets the last error
 * to cudaErrorInvalidConfiguration; a kernel the harness finds broken makes the next
 * cudaGetLastError() or synchronisation return cudaErrorLaunchFailure. */
void simt_launch(const char *name, int grid, int block, size_t shmem, cudaStream_t stream,
                 void (*entry)(const void *args), const void *args, size_t args_size);

/* ---- Device side: what kernels/cuda_compat.h allows inside kernels ---- */

typedef struct simt_uint3 {
    unsigned int x, y, z;
} simt_uint3;

/* Set by the harness for each CUDA thread before it enters the kernel (1-D launches: y, z = 0
 * for indices and 1 for dimensions). */
extern _Thread_local simt_uint3 simt_tls_thread_idx, simt_tls_block_idx, simt_tls_block_dim, simt_tls_grid_dim;

static inline simt_uint3 simt_thread_idx(void) { return simt_tls_thread_idx; }
static inline simt_uint3 simt_block_idx(void) { return simt_tls_block_idx; }
static inline simt_uint3 simt_block_dim(void) { return simt_tls_block_dim; }
static inline simt_uint3 simt_grid_dim(void) { return simt_tls_grid_dim; }

/* Read-only, like CUDA's built-ins: each is a function call's value. warpSize is a constant,
 * not a macro, so that host code can still name cudaDeviceProp's field of that name. */
#define threadIdx (simt_thread_idx())
#define blockIdx (simt_block_idx())
#define blockDim (simt_block_dim())
#define gridDim (simt_grid_dim())
enum { warpSize = 32 };

/* The block's dynamic shared memory: launch shmem bytes, filled with 0xFF at block start;
 * NULL when the launch asked for none. */
void *simt_shared_mem(void);

void simt_syncthreads(const char *file, int line);
#define __syncthreads() simt_syncthreads(__FILE__, __LINE__)

/* Lanes of the caller's warp that exist (a block's last warp may be partial) and have not
 * returned from the kernel. The harness cannot see divergence, so this is not CUDA's "lanes
 * converged here". */
unsigned simt_activemask(void);
#define __activemask() simt_activemask()

/* One shuffle: `bits` holds the caller's value (any type of at most 8 bytes); `arg` is the delta
 * (SIMT_SHFL_DOWN) or the lane mask (SIMT_SHFL_XOR). Returns the source lane's bits, or the
 * caller's own when the source lane is out of the warp, does not exist or is not in `mask`. */
enum { SIMT_SHFL_DOWN, SIMT_SHFL_XOR };
uint64_t simt_shfl(int kind, unsigned mask, uint64_t bits, unsigned arg, const char *file, int line);

/* Typed front ends, chosen by _Generic below; the union carries any of the six types. */
#define SIMT_SHFL_FN(name, T, kind)                                                                 \
    static inline T name(unsigned mask, T v, unsigned arg, const char *file, int line)            \
    {                                                                                             \
        union {                                                                                   \
            T v;                                                                                  \
            uint64_t bits;                                                                        \
        } u = {.bits = 0};                                                                        \
        u.v = v;                                                                                  \
        u.bits = simt_shfl(kind, mask, u.bits, arg, file, line);                                  \
        return u.v;                                                                               \
    }
SIMT_SHFL_FN(simt_shfl_down_f64, double, SIMT_SHFL_DOWN)
SIMT_SHFL_FN(simt_shfl_down_f32, float, SIMT_SHFL_DOWN)
SIMT_SHFL_FN(simt_shfl_down_i32, int, SIMT_SHFL_DOWN)
SIMT_SHFL_FN(simt_shfl_down_u32, unsigned, SIMT_SHFL_DOWN)
SIMT_SHFL_FN(simt_shfl_down_i64, long long, SIMT_SHFL_DOWN)
SIMT_SHFL_FN(simt_shfl_down_u64, unsigned long long, SIMT_SHFL_DOWN)
SIMT_SHFL_FN(simt_shfl_xor_f64, double, SIMT_SHFL_XOR)
SIMT_SHFL_FN(simt_shfl_xor_f32, float, SIMT_SHFL_XOR)
SIMT_SHFL_FN(simt_shfl_xor_i32, int, SIMT_SHFL_XOR)
SIMT_SHFL_FN(simt_shfl_xor_u32, unsigned, SIMT_SHFL_XOR)
SIMT_SHFL_FN(simt_shfl_xor_i64, long long, SIMT_SHFL_XOR)
SIMT_SHFL_FN(simt_shfl_xor_u64, unsigned long long, SIMT_SHFL_XOR)
#undef SIMT_SHFL_FN

#define __shfl_down_sync(mask, v, delta)                                                          \
    _Generic((v), double: simt_shfl_down_f64, float: simt_shfl_down_f32, int: simt_shfl_down_i32, \
             unsigned: simt_shfl_down_u32, long long: simt_shfl_down_i64,                         \
             unsigned long long: simt_shfl_down_u64)((mask), (v), (unsigned)(delta), __FILE__, __LINE__)
#define __shfl_xor_sync(mask, v, lane_mask)                                                       \
    _Generic((v), double: simt_shfl_xor_f64, float: simt_shfl_xor_f32, int: simt_shfl_xor_i32,    \
             unsigned: simt_shfl_xor_u32, long long: simt_shfl_xor_i64,                           \
             unsigned long long: simt_shfl_xor_u64)((mask), (v), (unsigned)(lane_mask), __FILE__, __LINE__)

/* Relaxed, like CUDA's atomicAdd; both return the old value. */
static inline unsigned long long simt_atomic_add_u64(unsigned long long *p, unsigned long long v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
static inline double simt_atomic_add_f64(double *p, double v)
{
    double old, sum;
    __atomic_load(p, &old, __ATOMIC_RELAXED);
    do
        sum = old + v;
    while (!__atomic_compare_exchange(p, &old, &sum, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return old;
}
#define atomicAdd(p, v)                                                                           \
    _Generic((p), unsigned long long *: simt_atomic_add_u64, double *: simt_atomic_add_f64)((p), (v))

/* What the harness checks, and what it cannot see:
 * - Barriers: all threads of a block must reach the same __syncthreads (same file:line); a thread
 *   that returned while others wait at one is reported instead of hanging.
 * - Shuffles: the caller must be in its mask; every existing lane of the mask must reach the same
 *   shuffle (file:line, kind, mask), else the block would hang and the harness reports which lanes
 *   arrived and where the others are. Reading a lane outside the mask or past the block's last
 *   thread gives the caller's own value (undefined on a GPU).
 * - Races inside a block: the serial schedule turns a missing barrier into a wrong result when a
 *   reader runs before its writer in the drawn order (for one pair of threads, half the seeds);
 *   the parallel schedule under ThreadSanitizer reports the race itself.
 * - Memory: device and pinned allocations and shared memory start as 0xFF bytes; copies are
 *   checked for direction, bounds and (async) pinned host memory; in deferred mode a host source
 *   changed between cudaMemcpyAsync and its execution is reported.
 * - Not seen: races between blocks (they never run concurrently), missing memory fences (x86 and
 *   one block at a time hide them), host code dereferencing device pointers or kernels host
 *   pointers (all of it is host memory), timing, occupancy and register or shared-memory budgets
 *   beyond the 48 KiB launch limit. */

#endif
