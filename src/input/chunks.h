/* chunks.h: chunked datasets read without H5Dread. The reader thread fetches a slab's raw chunks
 * with H5Dread_chunk (unfiltered chunks of whole rows straight into the slab); a pool of threads
 * inflates (libdeflate), unshuffles and places the others. */
#ifndef H5PREP_CHUNKS_H
#define H5PREP_CHUNKS_H

#include "h5prep.h"
#include "common/pool.h"

#include <stddef.h>
#include <stdint.h>

typedef struct h5p_chunks h5p_chunks;

/* Prepares the fast path for an open dataset (hid_t), or returns NULL and says why in `why`
 * (contiguous, filters h5prep does not decode, big-endian ...). `fill` (esize bytes, native
 * order) is what a chunk that was never written holds, or NULL when HDF5 must supply it. */
h5p_chunks *h5p_chunks_open(int64_t dset, int rank, const uint64_t *dims, size_t esize, int big_endian,
                            const void *fill, char *why, size_t why_cap);
void h5p_chunks_close(h5p_chunks *c);
/* Whether rows [row, row+n) start and end on chunk boundaries along axis 0 (or the end). */
int h5p_chunks_aligned(const h5p_chunks *c, uint64_t row, uint64_t n);
/* Reads rows [row, row+n) into dst (n x row elements, C order): bit-identical to H5Dread.
 * Chunks never written hold the fill value given to h5p_chunks_open; without one, sets
 * *unstored (and reads nothing) when a chunk was never written, for H5Dread to fill in.
 * Returns H5PREP_ERR_CORRUPT with a message naming `path:name` when a chunk does not decode. */
h5prep_status h5p_chunks_read(h5p_chunks *c, h5p_pool *pool, uint64_t row, uint64_t n, void *dst,
                              const char *path, const char *name, int *unstored);
/* Fills bytes of dst with copies of the esize-byte element elem (bytes a multiple of esize). */
void h5p_fill_pattern(void *dst, size_t bytes, const void *elem, size_t esize);
/* "shuffle+deflate", "deflate", "uncompressed" etc., for --verbose. */
const char *h5p_chunks_filters(const h5p_chunks *c);

#endif
