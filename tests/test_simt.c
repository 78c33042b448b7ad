/* test_simt.c: tests of the SIMT harness (simt/): correct kernels give exact results in every mode,
 * and kernels and host pipelines broken on purpose are caught, as the harness promises. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda_compat.h"

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        cr_assert_eq(err_, cudaSuccess, "%s -> %s", #call, cudaGetErrorName(err_));                \
    } while (0)

/* Mode k of the 8 combinations eager/deferred x sequential/shuffled x serial/parallel. */
static simt_mode mode_of(unsigned k)
{
    return (simt_mode){.streams = (simt_streams)(k & 1), .blocks = (simt_blocks)(k >> 1 & 1),
                       .schedule = (simt_schedule)(k >> 2 & 1), .seed = 1 + k};
}

static const char *mode_text(simt_mode m)
{
    static char buf[96];
    snprintf(buf, sizeof buf, "%s/%s/%s seed %llu", m.streams ? "deferred" : "eager",
             m.blocks ? "shuffled" : "sequential", m.schedule ? "parallel" : "serial",
             (unsigned long long)m.seed);
    return buf;
}

static void *device_copy_of(const void *host, size_t bytes)
{
    void *dev;
    CK(cudaMalloc(&dev, bytes));
    CK(cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice));
    return dev;
}

/* ---------------------------------------- Kernels ---------------------------------------- */

typedef struct sum_args {
    const double *in;
    double *out;
    unsigned n;
} sum_args;

/* The power of two at or above n, halved: the first stride of a tree over n slots. */
H5P_DEVICE unsigned first_stride(unsigned n)
{
    unsigned p = 1;
    while (p < n)
        p *= 2;
    return p / 2;
}

/* in: (n,); out: (gridDim,) the sum of each block's blockDim values, by a tree in shared memory
 * (blockDim doubles); any blockDim. */
H5P_GLOBAL void block_sum(const sum_args a)
{
    double *s = H5P_SHARED(double);
    unsigned t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
    s[t] = i < a.n ? a.in[i] : 0.0;
    __syncthreads();
    for (unsigned stride = first_stride(blockDim.x); stride > 0; stride /= 2) {
        if (t < stride && t + stride < blockDim.x)
            s[t] += s[t + stride];
        __syncthreads();
    }
    if (t == 0)
        a.out[blockIdx.x] = s[0];
}
H5P_ENTRY(block_sum, sum_args)

/* block_sum without the barrier between filling shared memory and the tree. */
H5P_GLOBAL void block_sum_no_fill_barrier(const sum_args a)
{
    double *s = H5P_SHARED(double);
    unsigned t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
    s[t] = i < a.n ? a.in[i] : 0.0;
    for (unsigned stride = first_stride(blockDim.x); stride > 0; stride /= 2) {
        if (t < stride && t + stride < blockDim.x)
            s[t] += s[t + stride];
        __syncthreads();
    }
    if (t == 0)
        a.out[blockIdx.x] = s[0];
}
H5P_ENTRY(block_sum_no_fill_barrier, sum_args)

/* block_sum without the barrier between the levels of the tree. */
H5P_GLOBAL void block_sum_no_level_barrier(const sum_args a)
{
    double *s = H5P_SHARED(double);
    unsigned t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
    s[t] = i < a.n ? a.in[i] : 0.0;
    __syncthreads();
    for (unsigned stride = first_stride(blockDim.x); stride > 0; stride /= 2)
        if (t < stride && t + stride < blockDim.x)
            s[t] += s[t + stride];
    __syncthreads();
    if (t == 0)
        a.out[blockIdx.x] = s[0];
}
H5P_ENTRY(block_sum_no_level_barrier, sum_args)

/* in: (n,); out: one sum per warp (ceil(blockDim/32) warps per block), by __shfl_down_sync over
 * the full mask; lanes past the block's last thread do not exist and add nothing. */
H5P_GLOBAL void warp_sum(const sum_args a)
{
    unsigned t = threadIdx.x, lane = t % warpSize, i = blockIdx.x * blockDim.x + t;
    unsigned warps = (blockDim.x + warpSize - 1) / warpSize, rest = blockDim.x - t / warpSize * warpSize;
    unsigned width = rest < warpSize ? rest : warpSize;
    double v = i < a.n ? a.in[i] : 0.0;
    for (unsigned off = warpSize / 2; off > 0; off /= 2) {
        double other = __shfl_down_sync(0xffffffffu, v, off);
        if (lane + off < width)
            v += other;
    }
    if (lane == 0)
        a.out[blockIdx.x * warps + t / warpSize] = v;
}
H5P_ENTRY(warp_sum, sum_args)

typedef struct xor_args {
    int *i32;
    unsigned *u32;
    long long *i64;
    unsigned long long *u64;
    float *f32;
    double *f64;
} xor_args;

/* Butterfly with __shfl_xor_sync in each of the six types: every lane ends with its warp's sum. */
H5P_GLOBAL void xor_all(const xor_args a)
{
    unsigned g = blockIdx.x * blockDim.x + threadIdx.x, lane = threadIdx.x % warpSize;
    int i = (int)lane - 7;
    unsigned u = 3 * lane;
    long long l = -((long long)lane << 33);
    unsigned long long q = ((unsigned long long)lane << 40) + lane;
    float f = 0.5f * (float)lane;
    double d = 0.25 * lane;
    for (int m = warpSize / 2; m > 0; m /= 2) {
        i += __shfl_xor_sync(0xffffffffu, i, m);
        u += __shfl_xor_sync(0xffffffffu, u, m);
        l += __shfl_xor_sync(0xffffffffu, l, m);
        q += __shfl_xor_sync(0xffffffffu, q, m);
        f += __shfl_xor_sync(0xffffffffu, f, m);
        d += __shfl_xor_sync(0xffffffffu, d, m);
    }
    a.i32[g] = i, a.u32[g] = u, a.i64[g] = l, a.u64[g] = q, a.f32[g] = f, a.f64[g] = d;
}
H5P_ENTRY(xor_all, xor_args)

/* Two half-warps shuffle at once, each with its own mask: out[g] = in[g] + in[g ^ 1]. */
H5P_GLOBAL void half_warp_pairs(const sum_args a)
{
    unsigned g = blockIdx.x * blockDim.x + threadIdx.x, lane = threadIdx.x % warpSize;
    unsigned mask = lane < 16 ? 0x0000ffffu : 0xffff0000u;
    double v = a.in[g];
    a.out[g] = v + __shfl_xor_sync(mask, v, 1);
}
H5P_ENTRY(half_warp_pairs, sum_args)

typedef struct atomic_args {
    unsigned long long *count, *ticket;
    double *sum;
    unsigned n;
} atomic_args;

/* Each of n threads takes a ticket (the old count) and adds its index to sum. */
H5P_GLOBAL void take_tickets(const atomic_args a)
{
    unsigned g = blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= a.n)
        return;
    a.ticket[g] = atomicAdd(a.count, 1ull);
    atomicAdd(a.sum, (double)g);
}
H5P_ENTRY(take_tickets, atomic_args)

typedef struct fill_args {
    unsigned long long *out;
} fill_args;

/* out[g] = this thread's shared slot before anyone wrote it; then writes it, which the next block
 * must not see. */
H5P_GLOBAL void read_fresh_shared(const fill_args a)
{
    unsigned long long *s = H5P_SHARED(unsigned long long);
    unsigned t = threadIdx.x;
    a.out[blockIdx.x * blockDim.x + t] = s[t];
    __syncthreads();
    s[t] = t;
}
H5P_ENTRY(read_fresh_shared, fill_args)

/* Broken: only lanes 0-15 reach a shuffle whose mask names all 32. */
H5P_GLOBAL void shfl_half_of_mask(const sum_args a)
{
    unsigned t = threadIdx.x, lane = t % warpSize;
    double v = a.in[t];
    if (lane < 16)
        v += __shfl_down_sync(0xffffffffu, v, 8);
    a.out[t] = v;
}
H5P_ENTRY(shfl_half_of_mask, sum_args)

/* Broken: every lane shuffles with a mask naming lane 0 only. */
H5P_GLOBAL void shfl_not_in_mask(const sum_args a)
{
    unsigned t = threadIdx.x;
    a.out[t] = __shfl_down_sync(0x1u, a.in[t], 1);
}
H5P_ENTRY(shfl_not_in_mask, sum_args)

/* Broken: threads past n return before a barrier that the others reach. */
H5P_GLOBAL void return_before_barrier(const sum_args a)
{
    double *s = H5P_SHARED(double);
    unsigned t = threadIdx.x;
    if (t >= a.n)
        return;
    s[t] = a.in[t];
    __syncthreads();
    a.out[t] = s[a.n - 1 - t];
}
H5P_ENTRY(return_before_barrier, sum_args)

/* Broken: odd and even threads wait at different barriers. */
H5P_GLOBAL void divergent_barriers(const sum_args a)
{
    unsigned t = threadIdx.x;
    if (t % 2)
        __syncthreads();
    else
        __syncthreads();
    a.out[t] = a.in[t];
}
H5P_ENTRY(divergent_barriers, sum_args)

typedef struct chunk_args {
    const double *in;
    double *sums;
    unsigned chunk, n;
} chunk_args;

/* sums[chunk] += the n values of in. */
H5P_GLOBAL void chunk_sum(const chunk_args a)
{
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < a.n)
        atomicAdd(&a.sums[a.chunk], a.in[i]);
}
H5P_ENTRY(chunk_sum, chunk_args)

/* ------------------------------- Correct kernels, every mode ------------------------------- */

/* Values 1..1000 repeated: integers, so that every sum is exact in any order. */
static double value_at(unsigned i) { return (double)(i % 1000 + 1); }

static void check_block_sum(unsigned block, unsigned n)
{
    unsigned grid = (n + block - 1) / block;
    double *in = malloc(n * sizeof *in), *out = malloc(grid * sizeof *out);
    for (unsigned i = 0; i < n; i++)
        in[i] = value_at(i);
    for (unsigned k = 0; k < 8; k++) {
        simt_mode m = mode_of(k);
        simt_set_mode(m);
        double *d_in = device_copy_of(in, n * sizeof *in), *d_out;
        CK(cudaMalloc((void **)&d_out, grid * sizeof *d_out));
        sum_args a = {d_in, d_out, n};
        H5P_LAUNCH(block_sum, (int)grid, (int)block, block * sizeof(double), 0, a);
        CK(cudaGetLastError());
        CK(cudaMemcpy(out, d_out, grid * sizeof *out, cudaMemcpyDeviceToHost));
        for (unsigned b = 0; b < grid; b++) {
            double want = 0;
            for (unsigned i = b * block; i < (b + 1) * block && i < n; i++)
                want += in[i];
            cr_assert_eq(out[b], want, "block %u of %u (blockDim %u, %s): %g, want %g", b, grid, block, mode_text(m),
                         out[b], want);
        }
        CK(cudaFree(d_in));
        CK(cudaFree(d_out));
        cr_assert_eq(simt_error_count(), 0, "%s", simt_last_error());
    }
    free(in);
    free(out);
}

Test(simt_correct, block_sum_1) { check_block_sum(1, 5); }
Test(simt_correct, block_sum_31) { check_block_sum(31, 70); }
Test(simt_correct, block_sum_32) { check_block_sum(32, 69); }
Test(simt_correct, block_sum_33) { check_block_sum(33, 100); }
Test(simt_correct, block_sum_256) { check_block_sum(256, 600); }
Test(simt_correct, block_sum_1024) { check_block_sum(1024, 1500); }

Test(simt_correct, warp_sum_full_mask)
{
    static const unsigned blocks[] = {32, 33, 64, 100};
    for (unsigned k = 0; k < 8; k++) {
        simt_mode m = mode_of(k);
        simt_set_mode(m);
        for (size_t j = 0; j < sizeof blocks / sizeof blocks[0]; j++) {
            unsigned block = blocks[j], n = 3 * block - 5, grid = 3, warps = (block + 31) / 32;
            double in[300], out[12], *d_in, *d_out;
            for (unsigned i = 0; i < n; i++)
                in[i] = value_at(i);
            d_in = device_copy_of(in, n * sizeof *in);
            CK(cudaMalloc((void **)&d_out, sizeof out));
            sum_args a = {d_in, d_out, n};
            H5P_LAUNCH(warp_sum, (int)grid, (int)block, 0, 0, a);
            CK(cudaMemcpy(out, d_out, grid * warps * sizeof *out, cudaMemcpyDeviceToHost));
            for (unsigned b = 0; b < grid; b++)
                for (unsigned w = 0; w < warps; w++) {
                    double want = 0;
                    for (unsigned t = w * 32; t < (w + 1) * 32 && t < block && b * block + t < n; t++)
                        want += in[b * block + t];
                    cr_assert_eq(out[b * warps + w], want, "block %u warp %u (blockDim %u, %s)", b, w, block,
                                 mode_text(m));
                }
            CK(cudaFree(d_in));
            CK(cudaFree(d_out));
        }
    }
    cr_assert_eq(simt_error_count(), 0, "%s", simt_last_error());
}

Test(simt_correct, shfl_xor_butterfly_in_six_types)
{
    enum { N = 128 };
    for (unsigned k = 0; k < 8; k++) {
        simt_mode m = mode_of(k);
        simt_set_mode(m);
        xor_args d;
        CK(cudaMalloc((void **)&d.i32, N * sizeof *d.i32));
        CK(cudaMalloc((void **)&d.u32, N * sizeof *d.u32));
        CK(cudaMalloc((void **)&d.i64, N * sizeof *d.i64));
        CK(cudaMalloc((void **)&d.u64, N * sizeof *d.u64));
        CK(cudaMalloc((void **)&d.f32, N * sizeof *d.f32));
        CK(cudaMalloc((void **)&d.f64, N * sizeof *d.f64));
        H5P_LAUNCH(xor_all, 2, N / 2, 0, 0, d);
        int i32[N];
        unsigned u32[N];
        long long i64[N];
        unsigned long long u64[N];
        float f32[N];
        double f64[N];
        CK(cudaMemcpy(i32, d.i32, sizeof i32, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(u32, d.u32, sizeof u32, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(i64, d.i64, sizeof i64, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(u64, d.u64, sizeof u64, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(f32, d.f32, sizeof f32, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(f64, d.f64, sizeof f64, cudaMemcpyDeviceToHost));
        for (unsigned g = 0; g < N; g++) { /* sum of lanes 0..31 is 496 */
            cr_assert_eq(i32[g], 496 - 32 * 7, "thread %u (%s)", g, mode_text(m));
            cr_assert_eq(u32[g], 3u * 496);
            cr_assert_eq(i64[g], -(496LL << 33));
            cr_assert_eq(u64[g], (496ULL << 40) + 496);
            cr_assert_eq(f32[g], 248.0f);
            cr_assert_eq(f64[g], 124.0);
        }
        CK(cudaFree(d.i32));
        CK(cudaFree(d.u32));
        CK(cudaFree(d.i64));
        CK(cudaFree(d.u64));
        CK(cudaFree(d.f32));
        CK(cudaFree(d.f64));
    }
    cr_assert_eq(simt_error_count(), 0, "%s", simt_last_error());
}

Test(simt_correct, half_warps_with_their_own_masks)
{
    enum { N = 96 };
    double in[N], out[N];
    for (unsigned i = 0; i < N; i++)
        in[i] = value_at(i * 7);
    for (unsigned k = 0; k < 8; k++) {
        simt_set_mode(mode_of(k));
        double *d_in = device_copy_of(in, sizeof in), *d_out;
        CK(cudaMalloc((void **)&d_out, sizeof out));
        sum_args a = {d_in, d_out, N};
        H5P_LAUNCH(half_warp_pairs, 1, N, 0, 0, a);
        CK(cudaMemcpy(out, d_out, sizeof out, cudaMemcpyDeviceToHost));
        for (unsigned g = 0; g < N; g++)
            cr_assert_eq(out[g], in[g] + in[g ^ 1], "thread %u (%s)", g, mode_text(mode_of(k)));
        CK(cudaFree(d_in));
        CK(cudaFree(d_out));
    }
    cr_assert_eq(simt_error_count(), 0, "%s", simt_last_error());
}

Test(simt_correct, atomics_across_blocks)
{
    enum { N = 1000, BLOCK = 128 };
    for (unsigned k = 0; k < 8; k++) {
        simt_mode m = mode_of(k);
        simt_set_mode(m);
        atomic_args d = {.n = N};
        CK(cudaMalloc((void **)&d.count, sizeof *d.count));
        CK(cudaMalloc((void **)&d.ticket, N * sizeof *d.ticket));
        CK(cudaMalloc((void **)&d.sum, sizeof *d.sum));
        CK(cudaMemsetAsync(d.count, 0, sizeof *d.count, 0));
        CK(cudaMemsetAsync(d.sum, 0, sizeof *d.sum, 0));
        H5P_LAUNCH(take_tickets, (N + BLOCK - 1) / BLOCK, BLOCK, 0, 0, d);
        unsigned long long count, ticket[N];
        double sum;
        CK(cudaMemcpy(&count, d.count, sizeof count, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(ticket, d.ticket, sizeof ticket, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(&sum, d.sum, sizeof sum, cudaMemcpyDeviceToHost));
        cr_assert_eq(count, N, "%s", mode_text(m));
        cr_assert_eq(sum, N * (N - 1) / 2.0, "%s", mode_text(m));
        static bool seen[N];
        memset(seen, 0, sizeof seen);
        for (unsigned g = 0; g < N; g++) {
            cr_assert_lt(ticket[g], N, "thread %u (%s)", g, mode_text(m));
            cr_assert(!seen[ticket[g]], "ticket %llu given twice (%s)", ticket[g], mode_text(m));
            seen[ticket[g]] = true;
        }
        CK(cudaFree(d.count));
        CK(cudaFree(d.ticket));
        CK(cudaFree(d.sum));
    }
    cr_assert_eq(simt_error_count(), 0, "%s", simt_last_error());
}

Test(simt_correct, fresh_memory_is_0xff)
{
    enum { BLOCK = 64, GRID = 3 };
    for (unsigned k = 0; k < 8; k++) {
        simt_set_mode(mode_of(k));
        unsigned char raw[100];
        void *d_raw;
        CK(cudaMalloc(&d_raw, sizeof raw));
        CK(cudaMemcpy(raw, d_raw, sizeof raw, cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < sizeof raw; i++)
            cr_assert_eq(raw[i], 0xFF, "cudaMalloc byte %zu", i);
        CK(cudaFree(d_raw));

        fill_args d;
        unsigned long long out[BLOCK * GRID];
        CK(cudaMalloc((void **)&d.out, sizeof out));
        H5P_LAUNCH(read_fresh_shared, GRID, BLOCK, BLOCK * sizeof(unsigned long long), 0, d);
        CK(cudaMemcpy(out, d.out, sizeof out, cudaMemcpyDeviceToHost));
        for (unsigned g = 0; g < BLOCK * GRID; g++)
            cr_assert_eq(out[g], ~0ULL, "shared slot of thread %u (%s)", g, mode_text(mode_of(k)));
        CK(cudaFree(d.out));
    }
    cr_assert_eq(simt_error_count(), 0, "%s", simt_last_error());
}

/* ------------------------------ Broken kernels are caught ------------------------------ */

/* Runs a reduction kernel on one block of `block` threads; returns its result and the number of
 * harness errors it raised. */
static double run_reduction(void (*launch)(sum_args, int), unsigned block, int *errors)
{
    double in[1024], out, *d_in, *d_out;
    for (unsigned i = 0; i < block; i++)
        in[i] = value_at(i);
    simt_reset_errors();
    d_in = device_copy_of(in, block * sizeof *in);
    CK(cudaMalloc((void **)&d_out, sizeof out));
    launch((sum_args){d_in, d_out, block}, (int)block);
    cudaDeviceSynchronize();
    *errors = simt_error_count();
    simt_reset_errors();
    CK(cudaMemcpy(&out, d_out, sizeof out, cudaMemcpyDeviceToHost));
    CK(cudaFree(d_in));
    CK(cudaFree(d_out));
    return out;
}

static void launch_no_fill_barrier(sum_args a, int block)
{
    H5P_LAUNCH(block_sum_no_fill_barrier, 1, block, (size_t)block * sizeof(double), 0, a);
}
static void launch_no_level_barrier(sum_args a, int block)
{
    H5P_LAUNCH(block_sum_no_level_barrier, 1, block, (size_t)block * sizeof(double), 0, a);
}

Test(simt_broken, missing_syncthreads_is_caught_in_the_serial_schedule, .init = cr_redirect_stderr)
{
    static const unsigned blocks[] = {32, 256, 1024};
    for (uint64_t seed = 1; seed <= 8; seed++) {
        simt_set_mode((simt_mode){SIMT_STREAMS_DEFERRED, SIMT_BLOCKS_SHUFFLED, SIMT_SCHEDULE_SERIAL, seed});
        for (size_t j = 0; j < sizeof blocks / sizeof blocks[0]; j++) {
            unsigned block = blocks[j];
            double want = 0;
            for (unsigned i = 0; i < block; i++)
                want += value_at(i);
            int errors;
            double got = run_reduction(launch_no_fill_barrier, block, &errors);
            cr_assert(got != want || errors > 0, "no fill barrier, blockDim %u, seed %llu: right result %g",
                      block, (unsigned long long)seed, got);
            got = run_reduction(launch_no_level_barrier, block, &errors);
            cr_assert(got != want || errors > 0, "no level barrier, blockDim %u, seed %llu: right result %g",
                      block, (unsigned long long)seed, got);
        }
    }
}

Test(simt_broken, serial_schedule_is_deterministic)
{
    simt_mode m = {SIMT_STREAMS_EAGER, SIMT_BLOCKS_SHUFFLED, SIMT_SCHEDULE_SERIAL, 7};
    int errors;
    simt_set_mode(m);
    double first = run_reduction(launch_no_level_barrier, 256, &errors);
    for (int r = 0; r < 3; r++) {
        simt_set_mode(m);
        double again = run_reduction(launch_no_level_barrier, 256, &errors);
        cr_assert(memcmp(&first, &again, sizeof first) == 0, "run %d: %g, first %g", r, again, first);
    }
}

/* Runs a one-block kernel of `block` threads; returns what cudaDeviceSynchronize said. */
static cudaError_t run_broken(void (*launch)(sum_args, int), unsigned block)
{
    double in[64] = {0}, *d_in, *d_out;
    d_in = device_copy_of(in, sizeof in);
    CK(cudaMalloc((void **)&d_out, sizeof in));
    launch((sum_args){d_in, d_out, block / 2}, (int)block);
    cudaError_t err = cudaDeviceSynchronize();
    cudaFree(d_in);
    cudaFree(d_out);
    return err;
}

static void launch_shfl_half(sum_args a, int block) { H5P_LAUNCH(shfl_half_of_mask, 1, block, 0, 0, a); }
static void launch_not_in_mask(sum_args a, int block) { H5P_LAUNCH(shfl_not_in_mask, 1, block, 0, 0, a); }
static void launch_return_early(sum_args a, int block)
{
    H5P_LAUNCH(return_before_barrier, 1, block, (size_t)block * sizeof(double), 0, a);
}
static void launch_divergent(sum_args a, int block) { H5P_LAUNCH(divergent_barriers, 1, block, 0, 0, a); }

/* The error is caught in every mode, fails the launch, and stays until a reset (like a CUDA
 * context after a launch failure). */
static void check_caught(void (*launch)(sum_args, int), unsigned block, const char *const *expect)
{
    for (unsigned k = 0; k < 8; k++) {
        simt_mode m = mode_of(k);
        simt_set_mode(m);
        simt_reset_errors();
        cr_assert_eq(run_broken(launch, block), cudaErrorLaunchFailure, "%s", mode_text(m));
        cr_assert_eq(simt_error_count(), 1, "%s: %d errors, last: %s", mode_text(m), simt_error_count(),
                     simt_last_error());
        for (const char *const *e = expect; *e; e++)
            cr_assert(strstr(simt_last_error(), *e), "%s: no \"%s\" in: %s", mode_text(m), *e, simt_last_error());
        cr_assert_eq(cudaGetLastError(), cudaErrorLaunchFailure);
        cr_assert_eq(cudaGetLastError(), cudaErrorLaunchFailure, "the failure is sticky");
        simt_reset_errors();
        cr_assert_eq(cudaGetLastError(), cudaSuccess);
    }
}

Test(simt_broken, shuffle_reached_by_half_of_its_mask, .init = cr_redirect_stderr)
{
    static const char *const expect[] = {"kernel 'shfl_half_of_mask' block 0",
                                         "warp 0: __shfl_down_sync(mask 0xffffffff)",
                                         "lanes 0-15 arrived, lanes 16-31 did not",
                                         "lane 16 returned from the kernel", NULL};
    check_caught(launch_shfl_half, 32, expect);
}

Test(simt_broken, shuffle_by_a_lane_outside_its_mask, .init = cr_redirect_stderr)
{
    static const char *const expect[] = {"__shfl_down_sync(mask 0x00000001)", "the calling lane is not in the mask",
                                         NULL};
    check_caught(launch_not_in_mask, 32, expect);
}

Test(simt_broken, return_before_a_barrier, .init = cr_redirect_stderr)
{
    static const char *const expect[] = {"__syncthreads()", "had returned from the kernel (thread 32 first)", NULL};
    check_caught(launch_return_early, 64, expect);
}

Test(simt_broken, barriers_in_divergent_code, .init = cr_redirect_stderr)
{
    static const char *const expect[] = {"while others wait at", "divergent", NULL};
    check_caught(launch_divergent, 64, expect);
}

Test(simt_broken, errors_are_printed_once_to_stderr)
{
    simt_set_mode((simt_mode){SIMT_STREAMS_EAGER, SIMT_BLOCKS_SEQUENTIAL, SIMT_SCHEDULE_PARALLEL, 1});
    FILE *capture = tmpfile();
    int saved = dup(2);
    cr_assert(capture && saved >= 0);
    fflush(stderr);
    dup2(fileno(capture), 2);
    run_broken(launch_shfl_half, 32);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char text[4096];
    rewind(capture);
    size_t len = fread(text, 1, sizeof text - 1, capture);
    text[len] = '\0';
    fclose(capture);
    const char *first = strstr(text, "simt: kernel 'shfl_half_of_mask' block 0: warp 0");
    cr_assert(first, "stderr: %s", text);
    cr_assert_null(strstr(first + 1, "simt: "), "printed more than once: %s", text);
}

/* --------------------------------- Streams and events --------------------------------- */

enum { CHUNK = 1000, CHUNKS = 6 };

/* Streams CHUNKS chunks (chunk c holds c*CHUNK + j) through two pinned slots on two streams, one
 * event per slot; with wait_for_slot, slot k is refilled only after its event completed.
 * sums[c] gets chunk c's sum, or stays NaN. Returns what the final synchronisation said. */
static cudaError_t pipeline(bool wait_for_slot, double *sums)
{
    double *pinned[2], *dev[2], *d_sums;
    cudaStream_t stream[2];
    cudaEvent_t done[2];
    for (int k = 0; k < 2; k++) {
        CK(cudaHostAlloc((void **)&pinned[k], CHUNK * sizeof(double), cudaHostAllocDefault));
        CK(cudaMalloc((void **)&dev[k], CHUNK * sizeof(double)));
        CK(cudaStreamCreateWithFlags(&stream[k], cudaStreamNonBlocking));
        CK(cudaEventCreateWithFlags(&done[k], cudaEventDisableTiming));
    }
    CK(cudaMalloc((void **)&d_sums, CHUNKS * sizeof(double)));
    CK(cudaMemsetAsync(d_sums, 0, CHUNKS * sizeof(double), 0));
    CK(cudaStreamSynchronize(0));
    for (unsigned c = 0; c < CHUNKS; c++) {
        int k = c % 2;
        if (wait_for_slot && c >= 2)
            CK(cudaEventSynchronize(done[k]));
        for (unsigned j = 0; j < CHUNK; j++)
            pinned[k][j] = c * CHUNK + j;
        CK(cudaMemcpyAsync(dev[k], pinned[k], CHUNK * sizeof(double), cudaMemcpyHostToDevice, stream[k]));
        chunk_args a = {dev[k], d_sums, c, CHUNK};
        H5P_LAUNCH(chunk_sum, (CHUNK + 255) / 256, 256, 0, stream[k], a);
        CK(cudaGetLastError());
        CK(cudaEventRecord(done[k], stream[k]));
    }
    cudaError_t err = cudaDeviceSynchronize();
    for (unsigned c = 0; c < CHUNKS; c++)
        sums[c] = NAN;
    if (!err)
        CK(cudaMemcpy(sums, d_sums, CHUNKS * sizeof(double), cudaMemcpyDeviceToHost));
    for (int k = 0; k < 2; k++) {
        cudaFreeHost(pinned[k]);
        cudaFree(dev[k]);
        cudaStreamDestroy(stream[k]);
        cudaEventDestroy(done[k]);
    }
    cudaFree(d_sums);
    return err;
}

static double chunk_want(unsigned c) { return (double)c * CHUNK * CHUNK + CHUNK * (CHUNK - 1) / 2.0; }

Test(simt_streams, pipeline_that_waits_for_its_events_is_clean)
{
    for (unsigned k = 0; k < 8; k++) {
        simt_mode m = mode_of(k);
        simt_set_mode(m);
        double sums[CHUNKS];
        CK(pipeline(true, sums));
        for (unsigned c = 0; c < CHUNKS; c++)
            cr_assert_eq(sums[c], chunk_want(c), "chunk %u (%s): %g", c, mode_text(m), sums[c]);
        cr_assert_eq(simt_error_count(), 0, "%s", simt_last_error());
    }
}

Test(simt_streams, slot_refilled_before_its_event_is_caught_in_deferred_mode, .init = cr_redirect_stderr)
{
    for (unsigned k = 0; k < 8; k++) {
        simt_mode m = mode_of(k);
        if (m.streams != SIMT_STREAMS_DEFERRED)
            continue;
        simt_set_mode(m);
        simt_reset_errors();
        double sums[CHUNKS];
        cr_assert_eq(pipeline(false, sums), cudaErrorLaunchFailure, "%s", mode_text(m));
        cr_assert_geq(simt_error_count(), 1);
        cr_assert(strstr(simt_last_error(), "modified between cudaMemcpyAsync and its execution (reused before its "
                                            "event completed?)"),
                  "%s", simt_last_error());
        bool wrong = false;
        for (unsigned c = 0; c < CHUNKS; c++)
            wrong |= sums[c] != chunk_want(c);
        cr_assert(wrong, "%s: right sums from a broken pipeline", mode_text(m));
    }
}

Test(simt_streams, event_query_in_deferred_mode)
{
    simt_set_mode((simt_mode){SIMT_STREAMS_DEFERRED, SIMT_BLOCKS_SHUFFLED, SIMT_SCHEDULE_SERIAL, 1});
    double *pinned, *dev;
    cudaStream_t s;
    cudaEvent_t e, never;
    CK(cudaMallocHost((void **)&pinned, 64 * sizeof(double)));
    CK(cudaMalloc((void **)&dev, 64 * sizeof(double)));
    CK(cudaStreamCreate(&s));
    CK(cudaEventCreate(&e));
    CK(cudaEventCreate(&never));
    cr_assert_eq(cudaEventQuery(never), cudaSuccess, "an event never recorded is complete");
    for (int i = 0; i < 64; i++)
        pinned[i] = i;
    CK(cudaMemcpyAsync(dev, pinned, 64 * sizeof(double), cudaMemcpyHostToDevice, s));
    CK(cudaEventRecord(e, s));
    cr_assert_eq(cudaEventQuery(e), cudaErrorNotReady);
    cr_assert_eq(cudaGetLastError(), cudaSuccess, "NotReady is not an error");
    CK(cudaEventSynchronize(e));
    CK(cudaEventQuery(e));

    /* A host loop polling the event ends. */
    CK(cudaMemcpyAsync(pinned, dev, 64 * sizeof(double), cudaMemcpyDeviceToHost, s));
    CK(cudaEventRecord(e, s));
    int polls = 1;
    while (cudaEventQuery(e) == cudaErrorNotReady)
        polls++;
    cr_assert_gt(polls, 1);
    cr_assert_leq(polls, 64);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(pinned[i], i);
    CK(cudaEventDestroy(e));
    CK(cudaEventDestroy(never));
    CK(cudaStreamDestroy(s));
    CK(cudaFree(dev));
    CK(cudaFreeHost(pinned));
}

/* Launches block_sum of 64 values on stream s, then copies the result back with a blocking
 * cudaMemcpy (the legacy default stream); returns what the copy saw. */
static double sum_then_blocking_copy(cudaStream_t s)
{
    double in[64], out, *d_in, *d_out;
    for (int i = 0; i < 64; i++)
        in[i] = value_at(i);
    d_in = device_copy_of(in, sizeof in);
    CK(cudaMalloc((void **)&d_out, sizeof out));
    sum_args a = {d_in, d_out, 64};
    H5P_LAUNCH(block_sum, 1, 64, 64 * sizeof(double), s, a);
    CK(cudaMemcpy(&out, d_out, sizeof out, cudaMemcpyDeviceToHost));
    CK(cudaFree(d_in));
    CK(cudaFree(d_out));
    return out;
}

Test(simt_streams, legacy_default_stream_waits_for_blocking_streams_only)
{
    simt_set_mode((simt_mode){SIMT_STREAMS_DEFERRED, SIMT_BLOCKS_SHUFFLED, SIMT_SCHEDULE_SERIAL, 1});
    cudaStream_t blocking, nonblocking;
    CK(cudaStreamCreate(&blocking));
    CK(cudaStreamCreateWithFlags(&nonblocking, cudaStreamNonBlocking));
    cr_assert_eq(sum_then_blocking_copy(blocking), 64 * 65 / 2);
    double stale = sum_then_blocking_copy(nonblocking);
    unsigned long long bits;
    memcpy(&bits, &stale, sizeof bits);
    cr_assert_eq(bits, ~0ULL, "a non-blocking stream's kernel has not run yet: the copy sees the 0xFF fill");
    CK(cudaStreamDestroy(blocking));
    CK(cudaStreamDestroy(nonblocking));
}

Test(simt_streams, stream_waits_for_an_event_of_another)
{
    simt_set_mode((simt_mode){SIMT_STREAMS_DEFERRED, SIMT_BLOCKS_SHUFFLED, SIMT_SCHEDULE_SERIAL, 1});
    cudaStream_t producer, consumer;
    cudaEvent_t ready;
    CK(cudaStreamCreateWithFlags(&producer, cudaStreamNonBlocking));
    CK(cudaStreamCreateWithFlags(&consumer, cudaStreamNonBlocking));
    CK(cudaEventCreate(&ready));
    double in[64], *pinned, *d_in, *d_part, *d_out;
    for (int i = 0; i < 64; i++)
        in[i] = value_at(i);
    d_in = device_copy_of(in, sizeof in);
    CK(cudaMalloc((void **)&d_part, 2 * sizeof(double)));
    CK(cudaMalloc((void **)&d_out, sizeof(double)));
    CK(cudaMallocHost((void **)&pinned, sizeof(double)));
    sum_args first = {d_in, d_part, 64}, second = {d_part, d_out, 2};
    H5P_LAUNCH(block_sum, 2, 32, 32 * sizeof(double), producer, first);
    CK(cudaEventRecord(ready, producer));
    CK(cudaStreamWaitEvent(consumer, ready, 0));
    H5P_LAUNCH(block_sum, 1, 2, 2 * sizeof(double), consumer, second);
    CK(cudaMemcpyAsync(pinned, d_out, sizeof(double), cudaMemcpyDeviceToHost, consumer));
    CK(cudaStreamSynchronize(consumer));
    cr_assert_eq(*pinned, 64 * 65 / 2);
    CK(cudaStreamDestroy(producer));
    CK(cudaStreamDestroy(consumer));
    CK(cudaEventDestroy(ready));
    CK(cudaFreeHost(pinned));
    CK(cudaFree(d_in));
    CK(cudaFree(d_part));
    CK(cudaFree(d_out));
}

/* ------------------------------------ Checked copies ------------------------------------ */

/* The call returned cudaErrorInvalidValue (not sticky) and raised one harness error saying `what`. */
static void check_rejected(cudaError_t err, const char *what)
{
    cr_assert_eq(err, cudaErrorInvalidValue, "%s", cudaGetErrorName(err));
    cr_assert_eq(simt_error_count(), 1, "%d errors, last: %s", simt_error_count(), simt_last_error());
    cr_assert(strstr(simt_last_error(), what), "no \"%s\" in: %s", what, simt_last_error());
    cr_assert_eq(cudaGetLastError(), cudaErrorInvalidValue);
    cr_assert_eq(cudaGetLastError(), cudaSuccess);
    simt_reset_errors();
}

Test(simt_copies, bad_copies_are_rejected, .init = cr_redirect_stderr)
{
    for (unsigned k = 0; k < 2; k++) {
        simt_set_mode(mode_of(k));
        double host[100] = {0}, *dev, *dev2, *pinned;
        cudaStream_t s;
        CK(cudaMalloc((void **)&dev, 100 * sizeof(double)));
        CK(cudaMalloc((void **)&dev2, 100 * sizeof(double)));
        CK(cudaHostAlloc((void **)&pinned, 100 * sizeof(double), cudaHostAllocDefault));
        CK(cudaStreamCreate(&s));

        check_rejected(cudaMemcpy(host, dev + 10, 100 * sizeof(double), cudaMemcpyDeviceToHost),
                       "src range ends 80 bytes past the end of device allocation");
        check_rejected(cudaMemcpy(dev, host, 101 * sizeof(double), cudaMemcpyHostToDevice),
                       "dst range ends 8 bytes past the end of device allocation");
        check_rejected(cudaMemcpy(dev, dev2, sizeof(double), cudaMemcpyHostToDevice),
                       "should be host memory but lies in device allocation");
        check_rejected(cudaMemcpy(host, host + 50, sizeof(double), cudaMemcpyDeviceToHost),
                       "should be device memory but is in no device allocation");
        check_rejected(cudaMemcpy(pinned, host, sizeof(double), cudaMemcpyHostToDevice),
                       "should be device memory but is pinned host memory");
        check_rejected(cudaMemcpyAsync(dev, host, sizeof(double), cudaMemcpyHostToDevice, s),
                       "is pageable host memory; an async copy");
        check_rejected(cudaMemcpyAsync(host, dev, sizeof(double), cudaMemcpyDeviceToHost, s),
                       "is pageable host memory");
        check_rejected(cudaMemcpyAsync(dev, pinned + 1, 100 * sizeof(double), cudaMemcpyHostToDevice, s),
                       "past the end of pinned allocation");
        check_rejected(cudaMemcpy(dev, dev + 1, 8 * sizeof(double), cudaMemcpyDeviceToDevice), "overlap");
        check_rejected(cudaMemsetAsync(dev + 99, 0, 2 * sizeof(double), s), "past the end of device allocation");
        check_rejected(cudaFree(host), "not an allocation");
        check_rejected(cudaFree(dev + 1), "points 8 bytes into the allocation");
        check_rejected(cudaFreeHost(dev), "this is device memory; free it with cudaFree");

        /* The same memory used the right way. */
        CK(cudaMemcpyAsync(dev, pinned, 100 * sizeof(double), cudaMemcpyHostToDevice, s));
        CK(cudaMemcpyAsync(dev2 + 50, dev, 50 * sizeof(double), cudaMemcpyDeviceToDevice, s));
        CK(cudaMemcpyAsync(pinned, dev2, 100 * sizeof(double), cudaMemcpyDefault, s));
        CK(cudaMemcpy(host, dev, sizeof(double), cudaMemcpyDefault));
        CK(cudaStreamSynchronize(s));
        cr_assert_eq(simt_error_count(), 0, "%s", simt_last_error());
        CK(cudaStreamDestroy(s));
        CK(cudaFree(dev));
        CK(cudaFree(dev2));
        CK(cudaFreeHost(pinned));
    }
}

Test(simt_copies, copies_move_the_bytes)
{
    for (unsigned k = 0; k < 2; k++) {
        simt_set_mode(mode_of(k));
        double *pinned, *dev, back[10];
        CK(cudaHostAlloc((void **)&pinned, 10 * sizeof(double), cudaHostAllocDefault));
        CK(cudaMalloc((void **)&dev, 20 * sizeof(double)));
        for (int i = 0; i < 10; i++)
            pinned[i] = i + 0.5;
        CK(cudaMemcpyAsync(dev + 10, pinned, 10 * sizeof(double), cudaMemcpyHostToDevice, 0));
        CK(cudaMemsetAsync(dev, 0, 10 * sizeof(double), 0));
        CK(cudaMemcpy(back, dev + 10, sizeof back, cudaMemcpyDeviceToHost));
        for (int i = 0; i < 10; i++)
            cr_assert_eq(back[i], i + 0.5);
        CK(cudaMemcpy(back, dev, sizeof back, cudaMemcpyDeviceToHost));
        for (int i = 0; i < 10; i++)
            cr_assert_eq(back[i], 0.0);
        CK(cudaFree(dev));
        CK(cudaFreeHost(pinned));
    }
}

/* ------------------------------------ Launches and API ------------------------------------ */

Test(simt_api, invalid_launch_configurations, .init = cr_redirect_stderr)
{
    static const struct {
        int grid, block;
        size_t shmem;
    } bad[] = {{0, 32, 0}, {1, 0, 0}, {1, 1025, 0}, {1, 32, 48 * 1024 + 1}, {1, 32, 300 * 1024}};
    double *d;
    CK(cudaMalloc((void **)&d, 64 * sizeof(double)));
    sum_args a = {d, d, 0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        H5P_LAUNCH(block_sum, bad[i].grid, bad[i].block, bad[i].shmem, 0, a);
        cr_assert_eq(cudaPeekAtLastError(), cudaErrorInvalidConfiguration, "case %zu", i);
        cr_assert_eq(cudaGetLastError(), cudaErrorInvalidConfiguration, "case %zu", i);
        cr_assert_eq(cudaGetLastError(), cudaSuccess, "case %zu: not sticky", i);
        cr_assert(strstr(simt_last_error(), "invalid configuration"), "%s", simt_last_error());
    }
    cr_assert_eq(simt_error_count(), 5);
    CK(cudaDeviceSynchronize());
    CK(cudaFree(d));
}

Test(simt_api, stale_handles_are_rejected, .init = cr_redirect_stderr)
{
    cudaStream_t s;
    cudaEvent_t e;
    CK(cudaStreamCreate(&s));
    CK(cudaEventCreate(&e));
    CK(cudaStreamDestroy(s));
    CK(cudaEventDestroy(e));
    cr_assert_eq(cudaStreamSynchronize(s), cudaErrorInvalidResourceHandle);
    cr_assert_eq(cudaEventQuery(e), cudaErrorInvalidResourceHandle);
    cr_assert_eq(cudaStreamDestroy(NULL), cudaErrorInvalidResourceHandle);
    cr_assert_eq(simt_error_count(), 2, "%s", simt_last_error());
}

Test(simt_api, device_queries)
{
    int count = -1, dev = -1;
    CK(cudaGetDeviceCount(&count));
    cr_assert_eq(count, 1);
    CK(cudaSetDevice(0));
    CK(cudaGetDevice(&dev));
    cr_assert_eq(dev, 0);
    cr_assert_eq(cudaSetDevice(1), cudaErrorInvalidDevice);
    cr_assert_eq(cudaGetLastError(), cudaErrorInvalidDevice);
    struct cudaDeviceProp p;
    CK(cudaGetDeviceProperties(&p, 0));
    cr_assert_str_eq(p.name, "SIMT harness (CPU)");
    cr_assert_eq(p.warpSize, warpSize);
    cr_assert_eq(p.maxThreadsPerBlock, 1024);
    cr_assert_gt(p.multiProcessorCount, 0);
    cr_assert_gt(p.totalGlobalMem, 0);
    cr_assert_str_eq(cudaGetErrorName(cudaErrorLaunchFailure), "cudaErrorLaunchFailure");
    cr_assert_str_eq(cudaGetErrorString(cudaErrorInvalidValue), "invalid argument");
    cr_assert_str_eq(cudaGetErrorName((cudaError_t)12345), "unrecognized error code");
}

static bool env_is(const char *var, const char *value)
{
    const char *v = getenv(var);
    return v && strcmp(v, value) == 0;
}

/* Each test runs in its own process, so the mode at start is the environment's. */
Test(simt_api, mode_comes_from_the_environment)
{
    simt_mode m = simt_get_mode();
    cr_assert_eq(m.streams, env_is("SIMT_STREAMS", "eager") ? SIMT_STREAMS_EAGER : SIMT_STREAMS_DEFERRED);
    cr_assert_eq(m.blocks, env_is("SIMT_BLOCKS", "sequential") ? SIMT_BLOCKS_SEQUENTIAL : SIMT_BLOCKS_SHUFFLED);
    cr_assert_eq(m.schedule, env_is("SIMT_SCHEDULE", "parallel") ? SIMT_SCHEDULE_PARALLEL : SIMT_SCHEDULE_SERIAL);
    cr_assert_eq(m.seed, getenv("SIMT_SEED") ? strtoull(getenv("SIMT_SEED"), NULL, 0) : 1);
}

Test(simt_api, no_device_when_asked)
{
    setenv("SIMT_DEVICES", "0", 1); /* read at the harness's first use */
    int count = -1;
    cr_assert_eq(cudaGetDeviceCount(&count), cudaErrorNoDevice);
    cr_assert_eq(count, 0);
    cr_assert_eq(cudaSetDevice(0), cudaErrorNoDevice);
}
