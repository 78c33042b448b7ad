/* cuda_common.h: what the CUDA statistics backend (backend_cuda.c) and the CUDA transform
 * backend (tx_cuda.c) share: errors as statuses, opening a device, per-feature device states. */
#ifndef H5PREP_CUDA_COMMON_H
#define H5PREP_CUDA_COMMON_H

#include "common/internal.h"
#include "common/moments.h"
#include "stats_kernels.h"

/* Every CUDA error becomes a status naming the call and CUDA's message. */
#define CUDA_TRY(call)                                                                             \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return h5p_fail(H5PREP_ERR_BACKEND, "cuda: %s failed: %s (%s)", #call, cudaGetErrorName(e_), \
                            cudaGetErrorString(e_));                                               \
    } while (0)

/* Selects `device`, or says that no device answers (the hint says the CPU gives the same `what`).
 * *target_threads: enough threads to fill the device (2048 per SM). */
h5prep_status h5p_cuda_open(int device, const char *what, unsigned long long *target_threads);

/* Pinned host memory (NULL when it cannot be had), for ring slots. */
void *h5p_cuda_host_alloc(size_t bytes);

/* n states on the device, one array per field, n apart; free accepts zeroed states. */
h5prep_status h5p_cuda_states_alloc(h5p_dev_states *s, unsigned long long n);
void h5p_cuda_states_free(h5p_dev_states *s);

/* out[f] (f < nf) = the merge, in slot order, of the slots' accumulators acc[k] (fields `stride`
 * apart), each read once its stream is done: the result does not depend on timing. */
h5prep_status h5p_cuda_states_read(const h5p_dev_states *acc, const cudaStream_t *stream, int nslots,
                                   unsigned long long stride, unsigned long long nf, h5p_moments *out);

#endif
