/* cuda_common.c: what the CUDA backend's statistics and transform share: device opening, pinned
 * memory, device states and the one statistics launch. Built against the CUDA runtime, or against
 * the SIMT harness for h5prep-simt and the tests. */
#include "backends/cuda/cuda_common.h"

#include <stdlib.h>
#include <string.h>

h5prep_status h5p_cuda_open(int device, unsigned long long *target_threads)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        cudaGetLastError(); /* clear it */
        h5p_fail(H5PREP_ERR_BACKEND, "no CUDA device answers (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "no device found");
        return h5p_hint(H5PREP_ERR_BACKEND, "run on a GPU node, or use --backend cpu (or auto), which gives the same results");
    }
    RETURN_ERROR_IF(device < 0 || device >= count, H5PREP_ERR_BACKEND, "--device %d: there are %d CUDA devices (0..%d)",
                    device, count, count - 1);
    CUDA_TRY(cudaSetDevice(device));
    struct cudaDeviceProp prop;
    CUDA_TRY(cudaGetDeviceProperties(&prop, device));
    *target_threads = (unsigned long long)(prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1) * 2048ULL;
    return H5PREP_OK;
}

void *h5p_cuda_host_alloc(size_t bytes)
{
    void *p = NULL;
    return cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault) == cudaSuccess ? p : NULL;
}

h5prep_status h5p_cuda_states_alloc(h5p_states *s, unsigned long long n)
{
    double *p = NULL;
    CUDA_TRY(cudaMalloc((void **)&p, 6 * (n ? n : 1) * sizeof(double)));
    s->n = p, s->missing = p + n, s->mean = p + 2 * n, s->m2 = p + 3 * n, s->min = p + 4 * n, s->max = p + 5 * n;
    return H5PREP_OK;
}

void h5p_cuda_states_free(h5p_states *s)
{
    if (s->n)
        cudaFree(s->n);
    memset(s, 0, sizeof *s);
}

h5prep_status h5p_cuda_states_read(const h5p_states *acc, const cudaStream_t *stream, int nslots,
                                   unsigned long long stride, unsigned long long nf, h5p_moments *out)
{
    double *host = malloc(6 * (stride ? stride : 1) * sizeof *host);
    RETURN_ERROR_IF(!host, H5PREP_ERR_NOMEM, "cuda backend: no memory for %llu states", nf);
    for (unsigned long long f = 0; f < nf; f++)
        out[f] = h5p_moments_empty();
    cudaError_t e = cudaSuccess;
    for (int k = 0; k < nslots && e == cudaSuccess; k++) {
        e = cudaStreamSynchronize(stream[k]);
        if (e == cudaSuccess)
            e = cudaMemcpy(host, acc[k].n, 6 * stride * sizeof *host, cudaMemcpyDeviceToHost);
        for (unsigned long long f = 0; e == cudaSuccess && f < nf; f++) {
            h5p_moments m = {(int64_t)host[f], (int64_t)host[stride + f], host[2 * stride + f], host[3 * stride + f],
                             host[4 * stride + f], host[5 * stride + f]};
            h5p_moments_merge(&out[f], &m);
        }
    }
    free(host);
    RETURN_ERROR_IF(e != cudaSuccess, H5PREP_ERR_BACKEND, "cuda: reading the statistics back failed: %s (%s)",
                    cudaGetErrorName(e), cudaGetErrorString(e));
    return H5PREP_OK;
}

h5prep_status h5p_cuda_reduce(h5p_backend *be, int k, h5p_stats_args a, unsigned long long base, h5p_states acc,
                              const char *what)
{
    /* a multiple of the period (features * inner) near the device's size: thread g always meets
     * feature (g / inner) % features */
    unsigned long long period = a.features * a.inner, m = be->target_threads / period;
    a.threads = period * (m > 0 ? m : 1);
    RETURN_ERROR_IF(a.threads > (1ULL << 26), H5PREP_ERR_BACKEND,
                    "cuda backend: %s has %llu features x %llu positions per feature row, more than it keeps states for", what,
                    a.features, a.inner);
    if (a.threads > be->part_cap) { /* the first slabs size these; later ones reuse them */
        for (int j = 0; j < be->nslots; j++) {
            CUDA_TRY(cudaStreamSynchronize(be->stream[j]));
            h5p_cuda_states_free(&be->part[j]);
            FORWARD_IF_ERROR(h5p_cuda_states_alloc(&be->part[j], a.threads));
        }
        be->part_cap = a.threads;
    }
    a.part = be->part[k];
    CUDA_TRY(h5p_launch_stats_partial(&a, be->stream[k]));
    h5p_merge_args mg;
    memset(&mg, 0, sizeof mg);
    mg.part = be->part[k];
    mg.features = a.features;
    mg.inner = a.inner;
    mg.threads = a.threads;
    mg.base = base;
    mg.acc = acc;
    CUDA_TRY(h5p_launch_stats_merge(&mg, be->stream[k]));
    return H5PREP_OK;
}
