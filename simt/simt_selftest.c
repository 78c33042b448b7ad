/* simt_selftest.c: correct kernels and a two-thread, two-stream pipeline run through the SIMT harness
 * in every mode; a plain program (Criterion cannot start under ThreadSanitizer) that CI runs under TSan. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cuda_compat.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "simt_selftest: %s:%d: ", __FILE__, __LINE__);                         \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        CHECK(err_ == cudaSuccess, "%s -> %s", #call, cudaGetErrorName(err_));                     \
    } while (0)

typedef struct sum_args {
    const double *in;
    double *out;
    unsigned n;
} sum_args;

/* in: (n,); out: (gridDim,) each block's sum: a tree in shared memory (blockDim doubles, a power
 * of two >= 64) down to 64 partial sums, then the first warp finishes with shuffles. */
H5P_GLOBAL void block_sum(const sum_args a)
{
    double *s = H5P_SHARED(double);
    unsigned t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
    s[t] = i < a.n ? a.in[i] : 0.0;
    __syncthreads();
    for (unsigned stride = blockDim.x / 2; stride >= warpSize; stride /= 2) {
        if (t < stride)
            s[t] += s[t + stride];
        __syncthreads();
    }
    if (t < warpSize) {
        double v = s[t];
        for (int off = warpSize / 2; off > 0; off /= 2)
            v += __shfl_down_sync(0xffffffffu, v, off);
        if (t == 0)
            a.out[blockIdx.x] = v;
    }
}
H5P_ENTRY(block_sum, sum_args)

/* block_sum without the barrier between the levels of its tree: for --racy. */
H5P_GLOBAL void block_sum_racy(const sum_args a)
{
    double *s = H5P_SHARED(double);
    unsigned t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
    s[t] = i < a.n ? a.in[i] : 0.0;
    __syncthreads();
    for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2)
        if (t < stride)
            s[t] += s[t + stride];
    if (t == 0)
        a.out[blockIdx.x] = s[0];
}
H5P_ENTRY(block_sum_racy, sum_args)

/* in: (n,); out: (gridDim * blockDim / 32,) each warp's sum, by __shfl_down_sync. */
H5P_GLOBAL void warp_sum(const sum_args a)
{
    unsigned g = blockIdx.x * blockDim.x + threadIdx.x;
    double v = g < a.n ? a.in[g] : 0.0;
    for (int off = warpSize / 2; off > 0; off /= 2)
        v += __shfl_down_sync(0xffffffffu, v, off);
    if (threadIdx.x % warpSize == 0)
        a.out[g / warpSize] = v;
}
H5P_ENTRY(warp_sum, sum_args)

typedef struct atomic_args {
    const double *in;
    double *sum;
    unsigned long long *count;
    unsigned n;
} atomic_args;

/* sum += every in[g], count += 1 per value, from all blocks at once. */
H5P_GLOBAL void atomic_sum(const atomic_args a)
{
    unsigned g = blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= a.n)
        return;
    atomicAdd(a.sum, a.in[g]);
    atomicAdd(a.count, 1ull);
}
H5P_ENTRY(atomic_sum, atomic_args)

enum { N = 1000, BLOCK = 128, GRID = (N + BLOCK - 1) / BLOCK };

static double value_at(unsigned i) { return (double)(i % 100 + 1); } /* integers: sums exact */

static void check_kernels(const char *mode)
{
    double in[N], out[GRID * BLOCK / 32], *d_in, *d_out, *d_sum;
    unsigned long long *d_count, count;
    for (unsigned i = 0; i < N; i++)
        in[i] = value_at(i);
    CK(cudaMalloc((void **)&d_in, sizeof in));
    CK(cudaMalloc((void **)&d_out, sizeof out));
    CK(cudaMalloc((void **)&d_sum, sizeof(double)));
    CK(cudaMalloc((void **)&d_count, sizeof count));
    CK(cudaMemcpy(d_in, in, sizeof in, cudaMemcpyHostToDevice));

    sum_args s = {d_in, d_out, N};
    H5P_LAUNCH(block_sum, GRID, BLOCK, BLOCK * sizeof(double), 0, s);
    CK(cudaGetLastError());
    CK(cudaMemcpy(out, d_out, GRID * sizeof(double), cudaMemcpyDeviceToHost));
    for (unsigned b = 0; b < GRID; b++) {
        double want = 0;
        for (unsigned i = b * BLOCK; i < (b + 1) * BLOCK && i < N; i++)
            want += in[i];
        CHECK(out[b] == want, "%s: block_sum block %u: %g, want %g", mode, b, out[b], want);
    }

    H5P_LAUNCH(warp_sum, GRID, BLOCK, 0, 0, s);
    CK(cudaMemcpy(out, d_out, sizeof out, cudaMemcpyDeviceToHost));
    for (unsigned w = 0; w < GRID * BLOCK / 32; w++) {
        double want = 0;
        for (unsigned i = 32 * w; i < 32 * (w + 1) && i < N; i++)
            want += in[i];
        CHECK(out[w] == want, "%s: warp_sum warp %u: %g, want %g", mode, w, out[w], want);
    }

    atomic_args a = {d_in, d_sum, d_count, N};
    CK(cudaMemsetAsync(d_sum, 0, sizeof(double), 0));
    CK(cudaMemsetAsync(d_count, 0, sizeof count, 0));
    H5P_LAUNCH(atomic_sum, GRID, BLOCK, 0, 0, a);
    double sum, want = 0;
    CK(cudaMemcpy(&sum, d_sum, sizeof sum, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(&count, d_count, sizeof count, cudaMemcpyDeviceToHost));
    for (unsigned i = 0; i < N; i++)
        want += in[i];
    CHECK(sum == want && count == N, "%s: atomic_sum %g over %llu, want %g over %d", mode, sum, count, want, N);

    CK(cudaFree(d_in));
    CK(cudaFree(d_out));
    CK(cudaFree(d_sum));
    CK(cudaFree(d_count));
}

/* The double buffer of DESIGN.md, with a reader thread: the reader refills slot k only after slot
 * k's event completed; the compute thread enqueues copy, kernel and event for each chunk it is
 * handed. Chunk c holds value_at(c + j). */
enum { CHUNK = 512, CHUNKS = 8 };

static struct ring {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    double *pinned[2];
    cudaEvent_t done[2];
    int filled;   /* chunks the reader has filled */
    int enqueued; /* chunks the compute thread has enqueued (and recorded the event of) */
} ring = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *reader(void *arg)
{
    (void)arg;
    for (int c = 0; c < CHUNKS; c++) {
        int k = c % 2;
        pthread_mutex_lock(&ring.mu);
        while (ring.enqueued < c - 1) /* chunk c - 2 (same slot) has its event recorded */
            pthread_cond_wait(&ring.cv, &ring.mu);
        pthread_mutex_unlock(&ring.mu);
        if (c >= 2)
            CK(cudaEventSynchronize(ring.done[k]));
        for (int j = 0; j < CHUNK; j++)
            ring.pinned[k][j] = value_at((unsigned)(c + j));
        pthread_mutex_lock(&ring.mu);
        ring.filled = c + 1;
        pthread_cond_broadcast(&ring.cv);
        pthread_mutex_unlock(&ring.mu);
    }
    return NULL;
}

static void check_pipeline(const char *mode)
{
    double *dev[2], *d_sums, sums[CHUNKS];
    cudaStream_t stream[2];
    for (int k = 0; k < 2; k++) {
        CK(cudaHostAlloc((void **)&ring.pinned[k], CHUNK * sizeof(double), cudaHostAllocDefault));
        CK(cudaMalloc((void **)&dev[k], CHUNK * sizeof(double)));
        CK(cudaStreamCreateWithFlags(&stream[k], cudaStreamNonBlocking));
        CK(cudaEventCreateWithFlags(&ring.done[k], cudaEventDisableTiming));
    }
    CK(cudaMalloc((void **)&d_sums, CHUNKS * sizeof(double)));
    ring.filled = ring.enqueued = 0;
    pthread_t tid;
    CHECK(pthread_create(&tid, NULL, reader, NULL) == 0, "cannot start the reader");
    for (int c = 0; c < CHUNKS; c++) {
        int k = c % 2;
        pthread_mutex_lock(&ring.mu);
        while (ring.filled < c + 1)
            pthread_cond_wait(&ring.cv, &ring.mu);
        pthread_mutex_unlock(&ring.mu);
        CK(cudaMemcpyAsync(dev[k], ring.pinned[k], CHUNK * sizeof(double), cudaMemcpyHostToDevice, stream[k]));
        sum_args s = {dev[k], d_sums + c, CHUNK};
        H5P_LAUNCH(block_sum, 1, CHUNK, CHUNK * sizeof(double), stream[k], s);
        CK(cudaGetLastError());
        CK(cudaEventRecord(ring.done[k], stream[k]));
        pthread_mutex_lock(&ring.mu);
        ring.enqueued = c + 1;
        pthread_cond_broadcast(&ring.cv);
        pthread_mutex_unlock(&ring.mu);
    }
    pthread_join(tid, NULL);
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(sums, d_sums, sizeof sums, cudaMemcpyDeviceToHost));
    for (int c = 0; c < CHUNKS; c++) {
        double want = 0;
        for (int j = 0; j < CHUNK; j++)
            want += value_at((unsigned)(c + j));
        CHECK(sums[c] == want, "%s: pipeline chunk %d: %g, want %g", mode, c, sums[c], want);
    }
    for (int k = 0; k < 2; k++) {
        CK(cudaFreeHost(ring.pinned[k]));
        CK(cudaFree(dev[k]));
        CK(cudaStreamDestroy(stream[k]));
        CK(cudaEventDestroy(ring.done[k]));
    }
    CK(cudaFree(d_sums));
}

/* simt_selftest --racy: shows that ThreadSanitizer sees through the harness. A missing
 * __syncthreads in the parallel schedule must make TSan report a data race (CI expects its exit
 * code, TSAN_OPTIONS=exitcode=66). */
static int run_racy(void)
{
    double in[BLOCK], out, *d_in, *d_out;
    for (unsigned i = 0; i < BLOCK; i++)
        in[i] = value_at(i);
    simt_set_mode((simt_mode){SIMT_STREAMS_EAGER, SIMT_BLOCKS_SEQUENTIAL, SIMT_SCHEDULE_PARALLEL, 1});
    CK(cudaMalloc((void **)&d_in, sizeof in));
    CK(cudaMalloc((void **)&d_out, sizeof out));
    CK(cudaMemcpy(d_in, in, sizeof in, cudaMemcpyHostToDevice));
    sum_args s = {d_in, d_out, BLOCK};
    H5P_LAUNCH(block_sum_racy, 1, BLOCK, BLOCK * sizeof(double), 0, s);
    CK(cudaMemcpy(&out, d_out, sizeof out, cudaMemcpyDeviceToHost));
    CK(cudaFree(d_in));
    CK(cudaFree(d_out));
    printf("simt_selftest --racy: ran a reduction without its level barriers (sum %g); under "
           "ThreadSanitizer this must be reported as a data race\n", out);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--racy") == 0)
        return run_racy();
    uint64_t seed = simt_get_mode().seed; /* SIMT_SEED varies the orders */
    for (unsigned k = 0; k < 8; k++) {
        simt_mode m = {(simt_streams)(k & 1), (simt_blocks)(k >> 1 & 1), (simt_schedule)(k >> 2 & 1), seed + k};
        char mode[96];
        snprintf(mode, sizeof mode, "%s/%s/%s", m.streams ? "deferred" : "eager",
                 m.blocks ? "shuffled" : "sequential", m.schedule ? "parallel" : "serial");
        simt_set_mode(m);
        check_kernels(mode);
        check_pipeline(mode);
        CHECK(simt_error_count() == 0, "%s: harness errors, last: %s", mode, simt_last_error());
    }
    printf("simt_selftest: %s\n", failures ? "FAILED" : "all results right in all 8 modes");
    return failures ? 1 : 0;
}
