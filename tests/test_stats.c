/* test_stats.c: the library end to end on generated files: every numeric type and byte order,
 * CF decoding, every choice of kept axes, files joined along axis 0, slabs that end mid-chunk,
 * thread counts, and exact merges of partial runs. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- types and CF decoding ------------------------------------------------------------ */

typedef struct type_case {
    const char *name;
    hid_t file_type, mem_type; /* filled at run time: HDF5 ids are not constants */
    size_t size;
    double lo, hi;             /* value range to generate */
} type_case;

static void fill_typed(void *dst, const type_case *t, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double x = v[i];
        switch (t->size * 10 + (t->lo < 0) + 2 * (strncmp(t->name, "f", 1) == 0)) {
        case 11: ((int8_t *)dst)[i] = (int8_t)x; break;
        case 10: ((uint8_t *)dst)[i] = (uint8_t)x; break;
        case 21: ((int16_t *)dst)[i] = (int16_t)x; break;
        case 20: ((uint16_t *)dst)[i] = (uint16_t)x; break;
        case 41: ((int32_t *)dst)[i] = (int32_t)x; break;
        case 40: ((uint32_t *)dst)[i] = (uint32_t)x; break;
        case 81: ((int64_t *)dst)[i] = (int64_t)x; break;
        case 80: ((uint64_t *)dst)[i] = (uint64_t)x; break;
        case 43: ((float *)dst)[i] = (float)x; break;
        case 83: ((double *)dst)[i] = x; break;
        default: cr_assert_fail("type case %s", t->name);
        }
    }
}

Test(types, every_numeric_type_both_byte_orders_with_fill_values)
{
    type_case cases[] = {
        {"i8", H5T_STD_I8LE, H5T_NATIVE_INT8, 1, -100, 100},
        {"u8", H5T_STD_U8BE, H5T_NATIVE_UINT8, 1, 0, 250},
        {"i16", H5T_STD_I16BE, H5T_NATIVE_INT16, 2, -30000, 30000},
        {"u16", H5T_STD_U16LE, H5T_NATIVE_UINT16, 2, 0, 60000},
        {"i32", H5T_STD_I32BE, H5T_NATIVE_INT32, 4, -2e9, 2e9},
        {"u32", H5T_STD_U32LE, H5T_NATIVE_UINT32, 4, 0, 4e9},
        {"i64", H5T_STD_I64LE, H5T_NATIVE_INT64, 8, -9e15, 9e15},
        {"u64", H5T_STD_U64BE, H5T_NATIVE_UINT64, 8, 0, 9e15},
        {"f32", H5T_IEEE_F32BE, H5T_NATIVE_FLOAT, 4, -1e30, 1e30},
        {"f64", H5T_IEEE_F64BE, H5T_NATIVE_DOUBLE, 8, -1e150, 1e150},
    };
    enum { N = 999, F = 5 };
    double v[N * F], ref[N * F];
    uint64_t seed = 3;
    const char *path = tu_path("types.h5");
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        type_case *t = &cases[k];
        double fill = t->lo < 0 ? t->lo : t->hi; /* a representable sentinel */
        int is_float = t->name[0] == 'f';
        for (int i = 0; i < N * F; i++) {
            double u = 0.5 + 0.2 * tu_normal(&seed);
            u = u < 0 ? 0 : u > 1 ? 1 : u;
            double x = t->lo + u * (t->hi - t->lo);
            if (!is_float)
                x = floor(x);
            if (x == fill) /* keep the sentinel for the marked positions only */
                x = floor(t->lo / 2 + t->hi / 2);
            v[i] = i % 11 == 5 ? fill : x;
        }
        unsigned char *buf = malloc(N * F * t->size);
        fill_typed(buf, t, v, N * F);
        for (int i = 0; i < N * F; i++) { /* what the stored values read back as, fill as missing */
            double stored;
            unsigned char *e = buf + (size_t)i * t->size;
            switch (k) {
            case 0: stored = *(int8_t *)e; break;
            case 1: stored = *(uint8_t *)e; break;
            case 2: stored = *(int16_t *)e; break;
            case 3: stored = *(uint16_t *)e; break;
            case 4: stored = *(int32_t *)e; break;
            case 5: stored = *(uint32_t *)e; break;
            case 6: stored = (double)*(int64_t *)e; break;
            case 7: stored = (double)*(uint64_t *)e; break;
            case 8: stored = *(float *)e; break;
            default: stored = *(double *)e; break;
            }
            ref[i] = i % 11 == 5 ? NAN : stored;
        }
        uint64_t dims[2] = {N, F};
        char name[32];
        snprintf(name, sizeof name, "/%s", t->name);
        tu_write(path, name, t->file_type, t->mem_type, 2, dims, buf, 64);
        tu_attr(path, name, "_FillValue", t->file_type, &fill, 1);
        free(buf);

        h5prep_stats_config c = h5prep_stats_config_default();
        const char *inputs[] = {tu_input(path, name)};
        h5prep_stats *s = tu_run(&c, inputs, 1);
        h5prep_var_view view = tu_view(s, 0);
        h5prep_moments want[F];
        tu_reference(ref, N, F, 1, want);
        cr_log_info("type %s", t->name);
        tu_compare(view.moments, want, F, 1e-12);
        h5prep_stats_destroy(s);
    }
}

/* int16 packed as in the ARM radar files: raw*scale+offset, fill, and a valid range on the
 * stored values; --raw (cfg.raw) switches all of it off. */
Test(types, packed_int16_scale_offset_fill_valid_range)
{
    enum { N = 4000, F = 4 };
    int16_t raw[N * F];
    double ref[N * F], rawref[N * F];
    double scale = 0.00110111, offset = -15.56, fill = -32767, range[2] = {-30000, 30000};
    uint64_t seed = 17;
    for (int i = 0; i < N * F; i++) {
        double x = round(8000 * tu_normal(&seed));
        raw[i] = (int16_t)(i % 9 == 0 ? fill : i % 97 == 1 ? 31000 : x);
        rawref[i] = raw[i];
        ref[i] = raw[i] == fill || raw[i] < range[0] || raw[i] > range[1] ? NAN : raw[i] * scale + offset;
    }
    uint64_t dims[2] = {N, F};
    const char *path = tu_path("packed.h5");
    tu_write(path, "/z", H5T_STD_I16LE, H5T_NATIVE_INT16, 2, dims, raw, 100);
    tu_attr(path, "/z", "_FillValue", H5T_STD_I16LE, &fill, 1);
    tu_attr(path, "/z", "scale_factor", H5T_IEEE_F32LE, &scale, 1);
    tu_attr(path, "/z", "add_offset", H5T_IEEE_F32LE, &offset, 1);
    tu_attr(path, "/z", "valid_range", H5T_STD_I16LE, range, 2);
    /* the attributes are float32: the decoder must use their float32 values, as netCDF does */
    scale = (float)scale, offset = (float)offset;
    for (int i = 0; i < N * F; i++)
        ref[i] = isnan(ref[i]) ? NAN : raw[i] * scale + offset;
    const char *inputs[] = {tu_input(path, "/z")};
    for (int raw_mode = 0; raw_mode <= 1; raw_mode++) {
        h5prep_stats_config c = h5prep_stats_config_default();
        c.raw = raw_mode;
        h5prep_stats *s = tu_run(&c, inputs, 1);
        h5prep_moments want[F];
        tu_reference(raw_mode ? rawref : ref, N, F, 1, want);
        tu_compare(tu_view(s, 0).moments, want, F, 1e-12);
        h5prep_stats_destroy(s);
    }
}

/* ---- axes, slabs, threads, files ------------------------------------------------------- */

enum { D0 = 23, D1 = 5, D2 = 3, D3 = 4 };

static const char *write_4d(const char *file, double *x, uint64_t chunk_rows)
{
    uint64_t seed = 5;
    for (int i = 0; i < D0 * D1 * D2 * D3; i++)
        x[i] = i % 13 == 0 ? NAN : 100 + 5 * tu_normal(&seed) + (i % 7);
    uint64_t dims[4] = {D0, D1, D2, D3};
    const char *path = tu_path(file);
    tu_write(path, "/group with space/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 4, dims, x, chunk_rows);
    return path;
}

Test(axes, every_keep_choice_matches_the_reference_view)
{
    static double x[D0 * D1 * D2 * D3];
    const char *path = write_4d("axes.h5", x, 4);
    const uint64_t dims[4] = {D0, D1, D2, D3};
    struct {
        int first, count;
    } keeps[] = {{0, 0}, {0, 1}, {1, 1}, {2, 1}, {3, 1}, {-1, 1}, {-2, 2}, {1, 2}, {0, 2}, {1, 3}, {0, 4}};
    for (size_t k = 0; k < sizeof keeps / sizeof *keeps; k++) {
        int first = keeps[k].first < 0 ? keeps[k].first + 4 : keeps[k].first, count = keeps[k].count;
        uint64_t outer = 1, F = 1, inner = 1;
        for (int a = 0; a < 4; a++) {
            if (count == 0 || a < first)
                outer *= dims[a];
            else if (a < first + count)
                F *= dims[a];
            else
                inner *= dims[a];
        }
        h5prep_moments *want = malloc(F * sizeof *want);
        tu_reference(x, outer, F, inner, want);
        for (int threads = 1; threads <= 3; threads += 2) {
            h5prep_stats_config c = h5prep_stats_config_default();
            c.keep_first = keeps[k].first;
            c.keep_count = count;
            c.threads = threads;
            c.mem_bytes = 2 * 3 * D1 * D2 * D3 * 8; /* 3-row slabs: they end mid-chunk (chunks of 4) */
            const char *inputs[] = {tu_input(path, "/group with space/x")};
            h5prep_stats *s = tu_run(&c, inputs, 1);
            h5prep_var_view v = tu_view(s, 0);
            cr_assert_eq(v.n_features, F, "keep %d+%d: %llu features, want %llu", first, count,
                         (unsigned long long)v.n_features, (unsigned long long)F);
            cr_assert_eq(v.keep_first, count ? first : 0);
            tu_compare(v.moments, want, F, 1e-12);
            h5prep_stats_destroy(s);
        }
        free(want);
    }
}

Test(axes, one_dimensional_default_is_one_statistic)
{
    double x[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    uint64_t dims[1] = {10};
    const char *path = tu_path("one.h5");
    tu_write(path, "/v", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims, x, 0);
    h5prep_stats_config c = h5prep_stats_config_default();
    const char *inputs[] = {tu_input(path, "v//")}; /* the path is normalised to "/v" */
    h5prep_stats *s = tu_run(&c, inputs, 1);
    h5prep_var_view v = tu_view(s, 0);
    cr_assert_eq(v.n_features, 1);
    cr_assert_eq(v.feature_rank, 0);
    cr_assert_eq(v.moments[0].mean, 5.5);
    cr_assert_eq(v.moments[0].m2, 82.5);
    cr_assert_str_eq(v.name, "/v");
    h5prep_stats_destroy(s);
}

Test(slabs, memory_budgets_and_slot_counts_give_the_same_result)
{
    static double x[D0 * D1 * D2 * D3];
    const char *path = write_4d("slabs.h5", x, 5);
    h5prep_moments want[D3];
    tu_reference(x, D0 * D1 * D2, D3, 1, want);
    const size_t row = D1 * D2 * D3 * 8;
    size_t rows_per_slot[] = {1, 2, 7, 11, 100000};
    for (size_t m = 0; m < sizeof rows_per_slot / sizeof *rows_per_slot; m++)
        for (int slots = 2; slots <= 3; slots++) {
            h5prep_stats_config c = h5prep_stats_config_default();
            c.mem_bytes = (size_t)slots * rows_per_slot[m] * row;
            c.slots = slots;
            const char *inputs[] = {tu_input(path, "/group with space/x")};
            h5prep_stats *s = tu_run(&c, inputs, 1);
            tu_compare(tu_view(s, 0).moments, want, D3, 1e-12);
            h5prep_stats_destroy(s);
        }
}

Test(slabs, a_row_larger_than_the_budget_is_a_clear_error)
{
    static double x[D0 * D1 * D2 * D3];
    const char *path = write_4d("big_row.h5", x, 0);
    h5prep_stats_config c = h5prep_stats_config_default();
    c.mem_bytes = 2 * 100;
    h5prep_stats *s = h5prep_stats_create(&c);
    cr_assert_eq(h5prep_stats_add(s, tu_input(path, "/group with space/x")), H5PREP_OK);
    cr_assert_eq(h5prep_stats_run(s), H5PREP_ERR_NOMEM);
    cr_assert(strstr(h5prep_last_error(), "raise --mem"), "%s", h5prep_last_error());
    h5prep_stats_destroy(s);
}

Test(files, a_glob_joins_files_along_axis_0)
{
    enum { N = 40, F = 6 };
    double x[3 * N * F];
    uint64_t seed = 11;
    for (int i = 0; i < 3 * N * F; i++)
        x[i] = tu_normal(&seed) * (1 + i % F);
    uint64_t dims[2] = {N, F};
    for (int p = 0; p < 3; p++) {
        char name[32];
        snprintf(name, sizeof name, "part-%d.h5", p);
        tu_write(tu_path(name), "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x + p * N * F, 7);
    }
    h5prep_moments want[F];
    tu_reference(x, 3 * N, F, 1, want);
    h5prep_stats_config c = h5prep_stats_config_default();
    const char *inputs[] = {tu_input(tu_path("part-*.h5"), "/x")};
    h5prep_stats *s = tu_run(&c, inputs, 1);
    h5prep_var_view v = tu_view(s, 0);
    cr_assert_eq(v.shape[0], 3 * N);
    tu_compare(v.moments, want, F, 1e-12);
    h5prep_stats_destroy(s);

    /* keeping axis 0 gives per-row statistics numbered across the files */
    c.keep_first = 0;
    c.keep_count = 1;
    s = tu_run(&c, inputs, 1);
    v = tu_view(s, 0);
    cr_assert_eq(v.n_features, 3 * N);
    h5prep_moments *rows = malloc(3 * N * sizeof *rows);
    tu_reference(x, 1, 3 * N, F, rows);
    tu_compare(v.moments, rows, 3 * N, 1e-12);
    free(rows);
    h5prep_stats_destroy(s);
}

/* A dataset whose name holds ':' (legal in HDF5) is read through FILE:/DATASET, the split being at
 * the first ":/"; a file name with ':' works with a relative dataset path (split at the last ':'). */
Test(files, dataset_and_file_names_with_colons)
{
    enum { N = 30, F = 3 };
    double x[N * F];
    uint64_t seed = 5;
    for (int i = 0; i < N * F; i++)
        x[i] = tu_normal(&seed) + i % F;
    uint64_t dims[2] = {N, F};
    const char *file = tu_path("t:colon.h5");
    tu_write(file, "/g:1/x:y", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x, 0);
    tu_write(file, "/z", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x, 0);
    h5prep_moments want[F];
    tu_reference(x, N, F, 1, want);
    h5prep_stats_config c = h5prep_stats_config_default();
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s:/g:1/x:y", file);
    snprintf(b, sizeof b, "%s:z", file);
    const char *inputs[] = {a, b};
    h5prep_stats *s = tu_run(&c, inputs, 2);
    h5prep_var_view v = tu_view(s, 0);
    cr_assert_str_eq(v.name, "/g:1/x:y");
    tu_compare(v.moments, want, F, 1e-12);
    v = tu_view(s, 1);
    cr_assert_str_eq(v.name, "/z");
    tu_compare(v.moments, want, F, 1e-12);
    h5prep_stats_destroy(s);
}

/* --mem is a promise: a compressed chunk larger than a ring slot is refused with the --mem to give
 * (decoding it would need the whole chunk in memory), and read once --mem allows it. */
Test(slabs, compressed_chunks_larger_than_a_slot_are_refused)
{
    enum { N = 16, W = 65536 };
    const char *path = tu_path("bigchunk.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {N, W};
    hid_t sp = H5Screate_simple(2, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, dims); /* one 4 MiB chunk */
    H5Pset_deflate(dcpl, 1);
    hid_t d = H5Dcreate2(f, "/x", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    float *x = calloc((size_t)N * W, sizeof *x);
    for (size_t i = 0; i < (size_t)N * W; i++)
        x[i] = (float)(i % 7);
    cr_assert(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    free(x);
    H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp), H5Fclose(f);

    h5prep_stats_config c = h5prep_stats_config_default();
    c.keep_count = 0;
    c.mem_bytes = (size_t)4 << 20; /* two slots of 2 MiB */
    h5prep_stats *s = h5prep_stats_create(&c);
    cr_assert_eq(h5prep_stats_add(s, tu_input(path, "/x")), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_run(s), H5PREP_ERR_NOMEM);
    cr_assert(strstr(h5prep_last_error(), "a compressed chunk holds 4.0 MiB"), "%s", h5prep_last_error());
    cr_assert(strstr(h5prep_last_error(), "give --mem 8M or more"), "%s", h5prep_last_error());
    h5prep_stats_destroy(s);

    c.mem_bytes = (size_t)8 << 20;
    const char *inputs[] = {tu_input(path, "/x")};
    s = tu_run(&c, inputs, 1);
    h5prep_var_view v = tu_view(s, 0);
    cr_assert_eq(v.moments[0].n, (int64_t)N * W);
    cr_assert_eq(v.moments[0].max, 6.0);
    h5prep_stats_destroy(s);
}

/* Runs over two halves, saved as .json and .h5 and merged, equal a run over the whole. */
Test(merge, halves_merge_to_the_whole)
{
    enum { N = 3001, F = 9 };
    static double x[N * F];
    uint64_t seed = 21;
    for (int i = 0; i < N * F; i++)
        x[i] = i % 31 == 0 ? NAN : 1e8 + 1e3 * tu_normal(&seed) * (1 + i % F);
    uint64_t half[2] = {N / 2, F}, rest[2] = {N - N / 2, F}, whole[2] = {N, F};
    const char *a = tu_path("a.h5"), *b = tu_path("b.h5"), *w = tu_path("w.h5");
    tu_write(a, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, half, x, 0);
    tu_write(b, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, rest, x + (N / 2) * F, 0);
    tu_write(w, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, whole, x, 0);
    h5prep_stats_config c = h5prep_stats_config_default();
    const char *ia[] = {tu_input(a, "/x")}, *ib[] = {tu_input(b, "/x")}, *iw[] = {tu_input(w, "/x")};
    h5prep_stats *sa = tu_run(&c, ia, 1), *sb = tu_run(&c, ib, 1), *sw = tu_run(&c, iw, 1);
    const char *ja = tu_path("a.json"), *hb = tu_path("b-stats.h5");
    cr_assert_eq(h5prep_stats_write(sa, ja), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_write(sb, hb), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_stats *m = h5prep_stats_create(&c);
    cr_assert_eq(h5prep_stats_load(m, ja), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_load(m, hb), H5PREP_OK, "%s", h5prep_last_error());
    h5prep_var_view vm = tu_view(m, 0), vw = tu_view(sw, 0);
    cr_assert_eq(vm.shape[0], N);
    tu_compare(vm.moments, vw.moments, F, 1e-12);
    h5prep_moments want[F];
    tu_reference(x, N, F, 1, want);
    tu_compare(vm.moments, want, F, 1e-12);
    h5prep_stats_destroy(sa), h5prep_stats_destroy(sb), h5prep_stats_destroy(sw), h5prep_stats_destroy(m);
}

Test(merge, incompatible_states_are_refused)
{
    double x[12] = {0};
    uint64_t d1[2] = {4, 3}, d2[2] = {3, 4};
    const char *p = tu_path("m.h5");
    tu_write(p, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, d1, x, 0);
    tu_write(p, "/y", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, d2, x, 0);
    h5prep_stats_config c = h5prep_stats_config_default();
    const char *ix[] = {tu_input(p, "/x")}, *iy[] = {tu_input(p, "/y")};
    h5prep_stats *sx = tu_run(&c, ix, 1), *sy = tu_run(&c, iy, 1);
    const char *jx = tu_path("x.json"), *jy = tu_path("y.json");
    cr_assert_eq(h5prep_stats_write(sx, jx), H5PREP_OK);
    /* pretend /y is /x: same name, other feature shape */
    char *text = h5prep_stats_json(sy);
    char *at = strstr(text, "\"/y\": {");
    at[2] = 'x';
    FILE *f = fopen(jy, "w");
    fputs(text, f);
    fclose(f);
    free(text);
    h5prep_stats *m = h5prep_stats_create(&c);
    cr_assert_eq(h5prep_stats_load(m, jx), H5PREP_OK);
    cr_assert_eq(h5prep_stats_load(m, jy), H5PREP_ERR_STATE);
    cr_assert(strstr(h5prep_last_error(), "/x has shape (3, 4)"), "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_load(m, p), H5PREP_ERR_STATE, "an input file is not a state file");
    h5prep_stats_destroy(sx), h5prep_stats_destroy(sy), h5prep_stats_destroy(m);
}

/* A large contiguous dataset is viewed in place (mapped) instead of copied; the result must be
 * identical to reading the same values from a chunked copy through H5Dread. */
Test(slabs, mapped_contiguous_file_equals_the_read_path, .timeout = 60)
{
    enum { N = 33000, F = 512 }; /* 67.6 MB: above the 64 MiB mapping threshold */
    float *x = malloc((size_t)N * F * sizeof *x);
    uint64_t seed = 8;
    for (size_t i = 0; i < (size_t)N * F; i++)
        x[i] = i % 1001 == 0 ? NAN : (float)(1e4 + tu_normal(&seed));
    uint64_t dims[2] = {N, F};
    const char *contig = tu_path("contig.h5"), *chunked = tu_path("chunked.h5");
    tu_write(contig, "/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, x, 0);
    tu_write(chunked, "/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, x, 4096); /* same slabs */
    free(x);
    h5prep_stats_config c = h5prep_stats_config_default();
    const char *a[] = {tu_input(contig, "/x")}, *b[] = {tu_input(chunked, "/x")};
    h5prep_stats *sa = tu_run(&c, a, 1), *sb = tu_run(&c, b, 1);
    h5prep_var_view va = tu_view(sa, 0), vb = tu_view(sb, 0);
    cr_assert_eq(memcmp(va.moments, vb.moments, F * sizeof *va.moments), 0, "mapped and read paths differ");
    cr_assert_eq(va.moments[0].missing + va.moments[0].n, N);
    h5prep_stats_destroy(sa), h5prep_stats_destroy(sb);
}

/* h5prep_interrupt() (what the CLI's SIGINT handler calls) stops a run at the next slab with
 * its own status; nothing is written. The flag stays set for the process. */
Test(interrupt, a_run_stops_with_its_own_status)
{
    double x[64] = {0};
    uint64_t dims[2] = {32, 2};
    const char *p = tu_path("int.h5");
    tu_write(p, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x, 4);
    h5prep_stats_config c = h5prep_stats_config_default();
    h5prep_stats *s = h5prep_stats_create(&c);
    cr_assert_eq(h5prep_stats_add(s, tu_input(p, "/x")), H5PREP_OK);
    h5prep_interrupt();
    cr_assert_eq(h5prep_stats_run(s), H5PREP_ERR_INTERRUPTED);
    cr_assert(strstr(h5prep_last_error(), "/x: interrupted"), "%s", h5prep_last_error());
    h5prep_var_view v;
    cr_assert_eq(h5prep_stats_var(s, 0, &v), H5PREP_ERR_USAGE, "no result after an interrupted run");
    h5prep_stats_destroy(s);
}
