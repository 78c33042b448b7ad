/* chunks.c: reads the chunks of a slab raw (H5Dread_chunk, in the reader thread: HDF5 is one
 * lock) and decodes them on a pool: inflate with libdeflate, undo the shuffle, copy into place.
 * Unfiltered chunks that span whole rows are read straight into their place in the slab. */
#include "input/chunks.h"

#include "common/internal.h"

#include <hdf5.h>
#include <libdeflate.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_THREADS = 256 };

typedef struct raw_chunk {
    hsize_t offset[H5S_MAX_RANK]; /* element coordinates of the chunk's first element */
    size_t pos, size;             /* in the arena */
    uint32_t mask;                /* filters skipped for this chunk (bit i: filter i) */
    int unwritten;                /* never written: it holds the fill value */
    int in_place;                 /* read straight into the slab: nothing left to do */
} raw_chunk;

struct h5p_chunks {
    hid_t dset;
    int rank;
    hsize_t dims[H5S_MAX_RANK], chunk[H5S_MAX_RANK];
    size_t esize, chunk_bytes;
    int shuffle_idx, deflate_idx; /* position in the filter pipeline, -1 when absent */
    int spans_rows;               /* a chunk spans every axis but axis 0 */
    int whole_rows;               /* spans_rows, and no filters */
    char filters[64];
    int has_fill;
    unsigned char fill[16];       /* one element of the fill value (esize bytes) */
    unsigned char *fill_chunk;    /* chunk_bytes of it, made when first needed */
    raw_chunk *list;
    size_t nlist, cap_list;
    unsigned char *arena;
    size_t arena_cap;
    /* per pool thread: decompressor and two chunk-sized buffers */
    struct libdeflate_decompressor *dec[MAX_THREADS];
    unsigned char *tmp[MAX_THREADS][2];
    /* the job of one slab */
    unsigned char *dst;
    uint64_t row0;
    atomic_size_t next;
    atomic_int failed;
};

h5p_chunks *h5p_chunks_open(int64_t dset, int rank, const uint64_t *dims, size_t esize, int big_endian,
                            const void *fill, char *why, size_t why_cap)
{
    hid_t d = (hid_t)dset;
    hid_t dcpl = H5Dget_create_plist(d);
    h5p_chunks *c = NULL;
    why[0] = 0;
    if (H5Pget_layout(dcpl) != H5D_CHUNKED) {
        snprintf(why, why_cap, "not chunked");
        goto out;
    }
    int nf = H5Pget_nfilters(dcpl);
    if (nf < 0) {
        snprintf(why, why_cap, "the filter pipeline cannot be read");
        goto out;
    }
    if (big_endian) {
        snprintf(why, why_cap, "big-endian data is converted by H5Dread");
        goto out;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(why, why_cap, "out of memory");
        goto out;
    }
    c->shuffle_idx = c->deflate_idx = -1;
    for (int i = 0; i < nf; i++) {
        unsigned flags, cd[8];
        size_t ncd = 8;
        char name[64];
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name, NULL);
        if (id == H5Z_FILTER_SHUFFLE && c->shuffle_idx < 0 && c->deflate_idx < 0) {
            c->shuffle_idx = i;
        } else if (id == H5Z_FILTER_DEFLATE && c->deflate_idx < 0) {
            c->deflate_idx = i;
        } else {
            snprintf(why, why_cap, "filter %s (id %d) is decoded by H5Dread", name, (int)id);
            free(c);
            c = NULL;
            goto out;
        }
    }
    snprintf(c->filters, sizeof c->filters, "%s%s%s%s", c->shuffle_idx >= 0 ? "shuffle" : "",
             c->shuffle_idx >= 0 && c->deflate_idx >= 0 ? "+" : "", c->deflate_idx >= 0 ? "deflate" : "",
             nf == 0 ? "uncompressed" : "");
    c->dset = d;
    c->rank = rank;
    c->esize = esize;
    c->has_fill = fill != NULL && esize <= sizeof c->fill;
    if (c->has_fill)
        memcpy(c->fill, fill, esize);
    H5Pget_chunk(dcpl, rank, c->chunk);
    c->chunk_bytes = esize;
    c->spans_rows = 1;
    for (int a = 0; a < rank; a++) {
        c->dims[a] = dims[a];
        c->chunk_bytes *= c->chunk[a];
        c->spans_rows &= a == 0 || c->chunk[a] == dims[a];
    }
    c->whole_rows = c->spans_rows && nf == 0;
out:
    H5Pclose(dcpl);
    return c;
}

void h5p_chunks_close(h5p_chunks *c)
{
    if (!c)
        return;
    for (int t = 0; t < MAX_THREADS; t++) {
        if (c->dec[t])
            libdeflate_free_decompressor(c->dec[t]);
        free(c->tmp[t][0]);
        free(c->tmp[t][1]);
    }
    free(c->list);
    free(c->arena);
    free(c->fill_chunk);
    free(c);
}

const char *h5p_chunks_filters(const h5p_chunks *c) { return c->filters; }

void h5p_fill_pattern(void *dst, size_t bytes, const void *elem, size_t esize)
{
    unsigned char *d = dst;
    size_t done = esize < bytes ? esize : bytes;
    memcpy(d, elem, done);
    while (done < bytes) { /* doubling copies: a few memcpy calls for any size */
        size_t n = done < bytes - done ? done : bytes - done;
        memcpy(d + done, d, n);
        done += n;
    }
}

int h5p_chunks_aligned(const h5p_chunks *c, uint64_t row, uint64_t n)
{
    return row % c->chunk[0] == 0 && ((row + n) % c->chunk[0] == 0 || row + n == c->dims[0]);
}

/* The next chunk's grid index, in C order. */
static void next_chunk(hsize_t *idx, const hsize_t *grid, int rank)
{
    for (int a = rank - 1; a >= 0 && ++idx[a] == grid[a]; a--)
        idx[a] = 0;
}

/* Fetches every chunk that intersects rows [row, row+n) into the arena, or where it is unfiltered,
 * spans whole rows and ends inside the slab, into its place in dst (rows from row). */
static h5prep_status fetch(h5p_chunks *c, uint64_t row, uint64_t n, unsigned char *dst, const char *path,
                           const char *name, int *unstored)
{
    hsize_t grid[H5S_MAX_RANK], idx[H5S_MAX_RANK] = {0};
    size_t total = 1;
    grid[0] = CEIL_DIV(n, c->chunk[0]);
    for (int a = 1; a < c->rank; a++)
        grid[a] = CEIL_DIV(c->dims[a], c->chunk[a]);
    for (int a = 0; a < c->rank; a++)
        total *= grid[a];
    if (total > c->cap_list) {
        raw_chunk *l = realloc(c->list, total * sizeof *l);
        RETURN_ERROR_IF(!l, H5PREP_ERR_NOMEM, "%s:%s: out of memory for the chunk list", path, name);
        c->list = l;
        c->cap_list = total;
    }
    size_t used = 0, row_bytes = c->chunk_bytes / c->chunk[0];
    for (size_t k = 0; k < total; k++, next_chunk(idx, grid, c->rank)) {
        raw_chunk *rc = &c->list[k];
        for (int a = 0; a < c->rank; a++)
            rc->offset[a] = (a == 0 ? row : 0) + idx[a] * c->chunk[a];
        hsize_t bytes = 0;
        rc->unwritten = rc->in_place = 0;
        herr_t sized = H5Dget_chunk_storage_size(c->dset, rc->offset, &bytes);
        if (sized < 0) /* a chunk never written: drop the error HDF5 stacked (the thread's stack */
            H5Eclear2(H5E_DEFAULT); /* would otherwise outlive the reader thread, leaked) */
        if (sized < 0 || bytes == 0) {
            if (!c->has_fill) {
                *unstored = 1; /* never written: H5Dread supplies the fill value */
                return H5PREP_OK;
            }
            rc->unwritten = 1; /* placed from the fill chunk, nothing to read */
            rc->pos = rc->size = 0;
            continue;
        }
        rc->in_place = c->whole_rows && bytes == c->chunk_bytes && rc->offset[0] + c->chunk[0] <= row + n;
        if (!rc->in_place && used + bytes > c->arena_cap) {
            size_t cap = (used + bytes) * 2;
            unsigned char *ar = realloc(c->arena, cap);
            RETURN_ERROR_IF(!ar, H5PREP_ERR_NOMEM, "%s:%s: out of memory for raw chunks", path, name);
            c->arena = ar;
            c->arena_cap = cap;
        }
        unsigned char *into = rc->in_place ? dst + (rc->offset[0] - row) * row_bytes : c->arena + used;
        RETURN_ERROR_IF(H5Dread_chunk(c->dset, H5P_DEFAULT, rc->offset, &rc->mask, into) < 0, H5PREP_ERR_CORRUPT,
                        "%s:%s: reading the chunk at row %llu failed (HDF5: %s)", path, name,
                        (unsigned long long)rc->offset[0], h5p_hdf5_reason());
        rc->pos = used;
        rc->size = bytes;
        used += rc->in_place ? 0 : bytes;
    }
    c->nlist = total;
    return H5PREP_OK;
}

/* Elements [i, n) of an unshuffle of n elements of esize bytes, one byte at a time. */
static void unshuffle_tail(const unsigned char *src, unsigned char *dst, size_t i, size_t n, size_t esize)
{
    for (size_t b = 0; b < esize; b++)
        for (size_t k = i; k < n; k++)
            dst[k * esize + b] = src[b * n + k];
}

#if defined(__SSE2__)
/* 16 elements at a time: the byte planes are interleaved by unpack steps (8-bit, then 16, then 32)
 * into whole elements, 16-byte stores instead of one store per byte. SSE2 is the x86-64 baseline,
 * so every CPU takes this path; a byte permutation has no rounding, so nothing differs by CPU.
 * Wider registers gain nothing here: their unpacks work within 128-bit lanes and need a permute
 * after, and the loop runs at the rate the inflated chunk streams through the cache. */
#include <emmintrin.h>
#define LOAD(b) _mm_loadu_si128((const __m128i *)(src + (b) * n + i))
#define STORE(k, v) _mm_storeu_si128((__m128i *)(dst + i * esize + 16 * (k)), v)
static size_t unshuffle_sse2(const unsigned char *src, unsigned char *dst, size_t n, size_t esize)
{
    size_t i = 0;
    if (esize == 2) {
        for (; i + 16 <= n; i += 16) {
            __m128i a0 = LOAD(0), a1 = LOAD(1);
            STORE(0, _mm_unpacklo_epi8(a0, a1)), STORE(1, _mm_unpackhi_epi8(a0, a1));
        }
    } else if (esize == 4) {
        for (; i + 16 <= n; i += 16) {
            __m128i a0 = LOAD(0), a1 = LOAD(1), a2 = LOAD(2), a3 = LOAD(3);
            __m128i l01 = _mm_unpacklo_epi8(a0, a1), h01 = _mm_unpackhi_epi8(a0, a1);
            __m128i l23 = _mm_unpacklo_epi8(a2, a3), h23 = _mm_unpackhi_epi8(a2, a3);
            STORE(0, _mm_unpacklo_epi16(l01, l23)), STORE(1, _mm_unpackhi_epi16(l01, l23));
            STORE(2, _mm_unpacklo_epi16(h01, h23)), STORE(3, _mm_unpackhi_epi16(h01, h23));
        }
    } else if (esize == 8) {
        for (; i + 16 <= n; i += 16) {
            __m128i p[8], q[8];
            for (int b = 0; b < 8; b += 2) { /* byte pairs of elements 0..7 (p[b]) and 8..15 (p[b+1]) */
                __m128i x = LOAD(b), y = LOAD(b + 1);
                p[b] = _mm_unpacklo_epi8(x, y), p[b + 1] = _mm_unpackhi_epi8(x, y);
            }
            for (int h = 0; h < 2; h++) { /* bytes 0-3 (q[0..3]) and 4-7 (q[4..7]) of 4 elements each */
                q[4 * h + 0] = _mm_unpacklo_epi16(p[4 * h + 0], p[4 * h + 2]);
                q[4 * h + 1] = _mm_unpackhi_epi16(p[4 * h + 0], p[4 * h + 2]);
                q[4 * h + 2] = _mm_unpacklo_epi16(p[4 * h + 1], p[4 * h + 3]);
                q[4 * h + 3] = _mm_unpackhi_epi16(p[4 * h + 1], p[4 * h + 3]);
            }
            for (int k = 0; k < 4; k++) /* elements 4k..4k+3, two per store */
                STORE(2 * k, _mm_unpacklo_epi32(q[k], q[4 + k])), STORE(2 * k + 1, _mm_unpackhi_epi32(q[k], q[4 + k]));
        }
    }
    return i;
}
#undef LOAD
#undef STORE
#endif

/* Undoes HDF5's shuffle: the chunk holds byte 0 of every element, then byte 1, ... */
static void unshuffle(const unsigned char *src, unsigned char *dst, size_t bytes, size_t esize)
{
    size_t n = bytes / esize, i = 0;
#if defined(__SSE2__)
    i = unshuffle_sse2(src, dst, n, esize);
#endif
    unshuffle_tail(src, dst, i, n, esize);
    memcpy(dst + n * esize, src + n * esize, bytes - n * esize); /* leftover bytes stay in place */
}

/* Copies the part of a decoded chunk (full chunk extent, C order) that lies inside the dataset
 * into the slab (rows from row0, full extent of the other axes). */
static void place(const h5p_chunks *c, const raw_chunk *rc, const unsigned char *chunk, unsigned char *dst,
                  uint64_t row0, uint64_t slab_rows)
{
    int r = c->rank;
    hsize_t ext[H5S_MAX_RANK] = {0}, cstride[H5S_MAX_RANK] = {0}, dstride[H5S_MAX_RANK] = {0};
    for (int a = 0; a < r; a++) {
        hsize_t limit = a == 0 ? row0 + slab_rows : c->dims[a];
        ext[a] = rc->offset[a] + c->chunk[a] <= limit ? c->chunk[a] : limit - rc->offset[a];
    }
    cstride[r - 1] = dstride[r - 1] = c->esize;
    for (int a = r - 2; a >= 0; a--) {
        cstride[a] = cstride[a + 1] * c->chunk[a + 1];
        dstride[a] = dstride[a + 1] * c->dims[a + 1];
    }
    size_t run = ext[r - 1] * c->esize;
    size_t base = (rc->offset[0] - row0) * dstride[0];
    for (int a = 1; a < r; a++)
        base += rc->offset[a] * dstride[a];
    hsize_t idx[H5S_MAX_RANK] = {0};
    for (;;) {
        size_t so = 0, d = base;
        for (int a = 0; a < r - 1; a++) {
            so += idx[a] * cstride[a];
            d += idx[a] * dstride[a];
        }
        memcpy(dst + d, chunk + so, run);
        int a = r - 2;
        for (; a >= 0 && ++idx[a] == ext[a]; a--)
            idx[a] = 0;
        if (a < 0)
            break;
    }
}

typedef struct decode_job {
    h5p_chunks *c;
    uint64_t slab_rows;
} decode_job;

static void decode_chunks(void *arg, int tid, int nt)
{
    (void)nt;
    decode_job *j = arg;
    h5p_chunks *c = j->c;
    if (tid >= MAX_THREADS) /* more threads than slots: they sit this job out */
        return;
    if (!c->dec[tid])
        c->dec[tid] = libdeflate_alloc_decompressor();
    for (int k = 0; k < 2; k++)
        if (!c->tmp[tid][k])
            c->tmp[tid][k] = malloc(c->chunk_bytes);
    if (!c->dec[tid] || !c->tmp[tid][0] || !c->tmp[tid][1]) {
        atomic_store(&c->failed, 1);
        return;
    }
    size_t k;
    while ((k = atomic_fetch_add(&c->next, 1)) < c->nlist && !atomic_load(&c->failed)) {
        const raw_chunk *rc = &c->list[k];
        if (rc->in_place)
            continue;
        if (rc->unwritten) {
            place(c, rc, c->fill_chunk, c->dst, c->row0, j->slab_rows);
            continue;
        }
        const unsigned char *p = c->arena + rc->pos;
        size_t bytes = rc->size;
        unsigned char *out = c->tmp[tid][0], *spare = c->tmp[tid][1];
        /* A chunk of whole rows that ends inside the slab has its last step write straight into
         * its place: no copy through a chunk buffer. */
        unsigned char *here = c->spans_rows && rc->offset[0] + c->chunk[0] <= c->row0 + j->slab_rows
                                  ? c->dst + (rc->offset[0] - c->row0) * (c->chunk_bytes / c->chunk[0])
                                  : NULL;
        int shuffled = c->shuffle_idx >= 0 && !(rc->mask & (1u << c->shuffle_idx)) && c->esize > 1;
        if (c->deflate_idx >= 0 && !(rc->mask & (1u << c->deflate_idx))) {
            size_t got = 0;
            unsigned char *into = here && !shuffled ? here : out;
            if (libdeflate_zlib_decompress(c->dec[tid], p, bytes, into, c->chunk_bytes, &got) != LIBDEFLATE_SUCCESS ||
                got != c->chunk_bytes) {
                atomic_store(&c->failed, 2);
                return;
            }
            if (into == here)
                continue;
            p = out, out = spare, spare = (unsigned char *)p;
            bytes = got;
        }
        if (bytes != c->chunk_bytes) {
            atomic_store(&c->failed, 2);
            return;
        }
        if (shuffled) {
            unshuffle(p, here ? here : out, bytes, c->esize);
            if (here)
                continue;
            p = out;
        }
        place(c, rc, p, c->dst, c->row0, j->slab_rows);
    }
}

h5prep_status h5p_chunks_read(h5p_chunks *c, h5p_pool *pool, uint64_t row, uint64_t n, void *dst,
                              const char *path, const char *name, int *unstored)
{
    *unstored = 0;
    FORWARD_IF_ERROR(fetch(c, row, n, dst, path, name, unstored));
    if (*unstored)
        return H5PREP_OK;
    int any_unwritten = 0;
    for (size_t k = 0; k < c->nlist; k++)
        any_unwritten |= c->list[k].unwritten;
    if (any_unwritten && !c->fill_chunk) {
        c->fill_chunk = malloc(c->chunk_bytes);
        RETURN_ERROR_IF(!c->fill_chunk, H5PREP_ERR_NOMEM, "%s:%s: out of memory for the fill chunk", path, name);
        h5p_fill_pattern(c->fill_chunk, c->chunk_bytes, c->fill, c->esize);
    }
    c->dst = dst;
    c->row0 = row;
    atomic_store(&c->next, 0);
    atomic_store(&c->failed, 0);
    decode_job j = {c, n};
    h5p_pool_run(pool, decode_chunks, &j);
    int failed = atomic_load(&c->failed);
    RETURN_ERROR_IF(failed == 1, H5PREP_ERR_NOMEM, "%s:%s: out of memory for chunk buffers", path, name);
    RETURN_ERROR_IF(failed == 2, H5PREP_ERR_CORRUPT, "%s:%s: a chunk in rows %llu..%llu does not inflate to %zu bytes",
                    path, name, (unsigned long long)row, (unsigned long long)(row + n - 1), c->chunk_bytes);
    return H5PREP_OK;
}
