/* test_chunks.c: raw chunk reads are bit-identical to H5Dread, for unfiltered chunks (read in
 * place where they span whole rows) and every filter combination h5prep decodes, element sizes
 * 1..8, ranks 1..3 and chunks cut by the edges; other filters and never-written chunks fall back
 * to H5Dread. */
#include "common/pool.h"
#include "input/source.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* Writes /x with the given chunk shape and filters (bit 1 shuffle, 2 deflate, 4 fletcher32). */
static void write_filtered(const char *path, hid_t type, int rank, const hsize_t *dims, const hsize_t *chunk,
                           int filters, const void *data)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, rank, chunk);
    if (filters & 4)
        H5Pset_fletcher32(dcpl);
    if (filters & 1)
        H5Pset_shuffle(dcpl);
    if (filters & 2)
        H5Pset_deflate(dcpl, 4);
    hid_t d = H5Dcreate2(f, "/x", type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    cr_assert(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp), H5Fclose(f);
}

/* Reads every slab of `rows` rows both ways and compares the bytes; checks the read path. */
static void compare_paths(const char *path, uint64_t rows, const char *expect_how)
{
    h5p_part part;
    memset(&part, 0, sizeof part);
    h5p_var v;
    memset(&v, 0, sizeof v);
    v.name = "/x";
    cr_assert_eq(h5p_part_probe(path, "/x", 0, &part, &v.rank, v.dims), H5PREP_OK, "%s", h5prep_last_error());
    part.path = (char *)path;
    v.keep_count = 1;
    v.keep_first = v.rank - 1;
    h5p_reader fast, slow;
    cr_assert_eq(h5p_reader_open(&fast, &v, &part, 0), H5PREP_OK);
    cr_assert_eq(h5p_reader_open(&slow, &v, &part, 0), H5PREP_OK);
    cr_assert(strstr(fast.how, expect_how), "read path \"%s\", want \"%s\"", fast.how, expect_how);
    size_t row_bytes = (size_t)h5p_var_row_elems(&v) * h5p_dtype_size(part.dtype);
    unsigned char *a = malloc(rows * row_bytes), *b = malloc(rows * row_bytes);
    h5p_pool *pool = h5p_pool_create(3);
    for (uint64_t r = 0; r < part.rows; r += rows) {
        uint64_t n = part.rows - r < rows ? part.rows - r : rows;
        memset(a, 0xAB, n * row_bytes);
        memset(b, 0xCD, n * row_bytes);
        cr_assert_eq(h5p_reader_read(&fast, pool, r, n, a), H5PREP_OK, "%s", h5prep_last_error());
        cr_assert_eq(h5p_reader_read(&slow, NULL, r, n, b), H5PREP_OK, "%s", h5prep_last_error());
        cr_assert_eq(memcmp(a, b, n * row_bytes), 0, "%s: rows %llu..: decoded bytes differ from H5Dread", path,
                     (unsigned long long)r);
    }
    h5p_pool_destroy(pool);
    h5p_reader_close(&fast);
    h5p_reader_close(&slow);
    h5p_files_release(); /* as a run's end does: the next case rewrites the file */
    free(a), free(b);
}

Test(chunks, every_filter_combination_size_and_rank_is_bit_identical)
{
    struct {
        hid_t type;
        size_t size;
    } types[] = {{H5T_NATIVE_UINT8, 1}, {H5T_NATIVE_INT16, 2}, {H5T_NATIVE_FLOAT, 4}, {H5T_NATIVE_DOUBLE, 8}};
    const hsize_t dims3[3] = {37, 11, 6}, chunk3[3] = {5, 4, 6};   /* chunks cut on axes 0 and 1 */
    const hsize_t dims2[2] = {50, 13}, chunk2[2] = {7, 13};
    const hsize_t dims1[1] = {1001}, chunk1[1] = {64};
    unsigned char *data = malloc(37 * 11 * 6 * 8 + 1001 * 8);
    uint64_t seed = 4;
    for (size_t i = 0; i < 37 * 11 * 6 * 8 + 1001 * 8; i++)
        data[i] = (unsigned char)(i % 7 == 0 ? 0 : (int)(tu_normal(&seed) * 3) & 0xFF); /* compressible */
    for (size_t t = 0; t < sizeof types / sizeof *types; t++)
        for (int filters = 0; filters <= 3; filters++) {
            const char *p = tu_path("f.h5");
            const char *how = filters == 0   ? "(uncompressed)"
                              : filters == 1 ? "(shuffle)"
                              : filters == 2 ? "(deflate)"
                                             : "(shuffle+deflate)";
            write_filtered(p, types[t].type, 3, dims3, chunk3, filters, data);
            compare_paths(p, 5, how);
            compare_paths(p, 10, how);
            write_filtered(p, types[t].type, 2, dims2, chunk2, filters, data);
            compare_paths(p, 14, how);
            write_filtered(p, types[t].type, 1, dims1, chunk1, filters, data);
            compare_paths(p, 128, how);
            compare_paths(p, 1001, how);
        }
    free(data);
}

Test(chunks, slabs_off_chunk_boundaries_and_other_filters_use_h5dread)
{
    float x[40 * 3];
    for (int i = 0; i < 40 * 3; i++)
        x[i] = (float)i;
    const hsize_t dims[2] = {40, 3}, chunk[2] = {8, 3};
    const char *p = tu_path("g.h5");
    write_filtered(p, H5T_NATIVE_FLOAT, 2, dims, chunk, 3, x);
    compare_paths(p, 5, "shuffle+deflate"); /* 5-row slabs cut chunks: those slabs fall back */
    write_filtered(p, H5T_NATIVE_FLOAT, 2, dims, chunk, 4 | 2, x);
    compare_paths(p, 8, "H5Dread (filter");
}

Test(chunks, never_written_chunks_read_as_fill_values)
{
    const char *p = tu_path("sparse.h5");
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {32, 4}, chunk[2] = {8, 4}, start[2] = {8, 0}, count[2] = {8, 4};
    hid_t sp = H5Screate_simple(2, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    H5Pset_deflate(dcpl, 1);
    float fill = -1.5f, vals[32];
    H5Pset_fill_value(dcpl, H5T_NATIVE_FLOAT, &fill);
    for (int i = 0; i < 32; i++)
        vals[i] = (float)i;
    hid_t d = H5Dcreate2(f, "/x", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    hid_t ms = H5Screate_simple(2, count, NULL);
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
    H5Dwrite(d, H5T_NATIVE_FLOAT, ms, sp, H5P_DEFAULT, vals); /* only the second chunk is stored */
    H5Sclose(ms), H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp), H5Fclose(f);
    compare_paths(p, 8, "deflate");
    compare_paths(p, 16, "deflate");
}
