/* test_pack.c: the packed form of statistics (h5prep_stats_pack / h5prep_stats_load_packed), the
 * exchange of MPI ranks: parts packed and merged give the bytes of one run, and a damaged buffer
 * (truncated, another magic, version or byte order, wrong lengths, counts or offsets) is refused. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { R = 17000, A = 30, B = 20 }; /* 40.8 MB of float32: 5 blocks of 8 MiB */

/* Hostile features along the last axis: 1e8 + N(0, 1), a constant, NaN and ±Inf sprinkled, all
 * missing, fill values (-999, the _FillValue), the rest 1e3 + N(0, 3). *ref gets the values as
 * float64 with NaN wherever h5prep leaves a value out. */
static const char *write_hostile(const char *name, double **ref)
{
    float *x = malloc((size_t)R * A * B * sizeof *x);
    double *r = malloc((size_t)R * A * B * sizeof *r);
    cr_assert(x && r);
    uint64_t seed = 17;
    for (size_t i = 0; i < (size_t)R * A * B; i++) {
        int f = (int)(i % B);
        double v = f == 0 ? 1e8 + tu_normal(&seed) : f == 1 ? 5.0 : 1e3 + 3.0 * tu_normal(&seed);
        if (f == 2 && i % 7 == 0)
            v = NAN;
        if (f == 2 && i % 11 == 0)
            v = i % 2 ? INFINITY : -INFINITY;
        if (f == 3)
            v = NAN;
        if (f == 4 && i % 5 == 0)
            v = -999.0;
        x[i] = (float)v;
        r[i] = f == 4 && i % 5 == 0 ? NAN : isfinite(x[i]) ? (double)x[i] : NAN;
    }
    const char *path = tu_path(name);
    uint64_t dims[3] = {R, A, B};
    tu_write(path, "/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dims, x, 10);
    double fill = -999.0;
    tu_attr(path, "/x", "_FillValue", H5T_IEEE_F32LE, &fill, 1);
    free(x);
    *ref = r;
    return path;
}

/* The "variables" object of a document: what must not change, whatever the exchange. */
static char *variables_of(h5prep_stats *s)
{
    char *j = h5prep_stats_json(s);
    cr_assert(j, "%s", h5prep_last_error());
    const char *v = strstr(j, "\"variables\"");
    cr_assert(v, "no variables in %.200s", j);
    char *copy = strdup(v);
    cr_assert(copy);
    free(j);
    return copy;
}

static h5prep_stats *run_part(const char *path, int i, int n)
{
    h5prep_stats_config c = h5prep_stats_config_default();
    c.keep_first = 1, c.keep_count = 2; /* 600 features */
    c.threads = 2;
    h5prep_stats *s = h5prep_stats_create(&c);
    cr_assert(s);
    if (n)
        cr_assert_eq(h5prep_stats_set_part(s, i, n), H5PREP_OK);
    cr_assert_eq(h5prep_stats_add(s, tu_input(path, "/x")), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_run(s), H5PREP_OK, "%s", h5prep_last_error());
    return s;
}

static void pack(const h5prep_stats *s, void **buf, size_t *len)
{
    cr_assert_eq(h5prep_stats_pack(s, buf, len), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert(*buf && *len > 32);
}

Test(pack, packed_parts_merge_to_the_bytes_of_one_run_and_the_reference)
{
    double *ref;
    const char *path = write_hostile("hostile.h5", &ref);
    h5prep_stats *whole = run_part(path, 0, 0);
    char *want = variables_of(whole);

    /* a whole document, packed and loaded back: the same variables */
    void *buf;
    size_t len;
    pack(whole, &buf, &len);
    h5prep_stats *back = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_load_packed(back, buf, len, "whole"), H5PREP_OK, "%s", h5prep_last_error());
    free(buf);
    char *got = variables_of(back);
    cr_assert(strcmp(got, want) == 0, "a packed whole document does not load back as it was");
    free(got);
    h5prep_stats_destroy(back);

    for (int n = 1; n <= 4; n++) {
        void *bufs[4];
        size_t lens[4];
        for (int i = 0; i < n; i++) {
            h5prep_stats *p = run_part(path, i + 1, n);
            pack(p, &bufs[i], &lens[i]);
            h5prep_stats_destroy(p);
        }
        /* in reverse order, each buffer freed right after it was loaded: the merge keeps what it needs */
        h5prep_stats *m = h5prep_stats_create(NULL);
        for (int i = n - 1; i >= 0; i--) {
            char name[16];
            snprintf(name, sizeof name, "rank %d", i);
            cr_assert_eq(h5prep_stats_load_packed(m, bufs[i], lens[i], name), H5PREP_OK, "N = %d: %s", n,
                         h5prep_last_error());
            memset(bufs[i], 0xAB, lens[i]);
            free(bufs[i]);
        }
        got = variables_of(m);
        cr_assert(strcmp(got, want) == 0, "N = %d: the packed parts merge to other bytes than one run", n);
        free(got);
        if (n == 3) { /* against the independent float64 reference: the exchange loses nothing */
            h5prep_var_view v = tu_view(m, 0);
            cr_assert_eq(v.n_features, (uint64_t)A * B);
            h5prep_moments *want_m = malloc((size_t)A * B * sizeof *want_m);
            cr_assert(want_m);
            tu_reference(ref, R, (uint64_t)A * B, 1, want_m);
            cr_assert_eq(v.moments[3].n, 0, "the all-missing feature has no values");
            cr_assert_eq(v.moments[1].m2, 0.0, "the constant feature has m2 0 exactly");
            tu_compare(v.moments, want_m, v.n_features, 1e-10);
            free(want_m);
        }
        h5prep_stats_destroy(m);
    }
    free(want);
    free(ref);
    h5prep_stats_destroy(whole);
}

/* ---- damaged buffers ------------------------------------------------------------------ */

static uint64_t u64_at(const unsigned char *b, size_t at)
{
    uint64_t v;
    memcpy(&v, b + at, 8);
    return v;
}

/* The frame of state_pack.h around header and payload again (header changed by a test). */
static unsigned char *reframe(const char *header, const unsigned char *payload, uint64_t pb, size_t *len)
{
    uint64_t hb = strlen(header) + 1, at = 32 + (hb + 7) / 8 * 8;
    unsigned char *b = calloc(1, at + pb);
    cr_assert(b);
    memcpy(b, "h5pstate", 8);
    uint32_t version = 1, bom = 0x01020304u;
    memcpy(b + 8, &version, 4);
    memcpy(b + 12, &bom, 4);
    memcpy(b + 16, &hb, 8);
    memcpy(b + 24, &pb, 8);
    memcpy(b + 32, header, hb);
    memcpy(b + at, payload, pb);
    *len = at + pb;
    return b;
}

/* A packed part 2/2 of a one-block file (one tree node), with part 1/2 loaded before it, so that
 * its nodes are merged (and their references read) at once. */
typedef struct packed_case {
    h5prep_stats *part1;
    unsigned char *buf;
    size_t len;
    json_t *header;            /* parsed */
    const unsigned char *payload;
    uint64_t pb;
} packed_case;

static packed_case make_case(void)
{
    enum { N = 64, F = 8 };
    double x[N * F];
    uint64_t seed = 3;
    for (int i = 0; i < N * F; i++)
        x[i] = i % F == 0 ? 1e8 + tu_normal(&seed) : tu_normal(&seed);
    const char *path = tu_path("small.h5");
    uint64_t dims[2] = {N, F};
    tu_write(path, "/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, x, 0);
    packed_case k;
    h5prep_stats_config c = h5prep_stats_config_default();
    k.part1 = h5prep_stats_create(&c);
    h5prep_stats *p2 = h5prep_stats_create(&c);
    cr_assert_eq(h5prep_stats_set_part(k.part1, 1, 2), H5PREP_OK);
    cr_assert_eq(h5prep_stats_set_part(p2, 2, 2), H5PREP_OK);
    cr_assert_eq(h5prep_stats_add(k.part1, tu_input(path, "/x")), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_add(p2, tu_input(path, "/x")), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_run(k.part1), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_run(p2), H5PREP_OK, "%s", h5prep_last_error());
    void *b;
    pack(p2, &b, &k.len);
    h5prep_stats_destroy(p2);
    k.buf = b;
    uint64_t hb = u64_at(k.buf, 16);
    k.header = json_loads((const char *)k.buf + 32, 0, NULL);
    cr_assert(k.header, "the header is JSON");
    k.payload = k.buf + 32 + (hb + 7) / 8 * 8;
    k.pb = u64_at(k.buf, 24);
    return k;
}

static void free_case(packed_case *k)
{
    h5prep_stats_destroy(k->part1);
    free(k->buf);
    json_decref(k->header);
}

/* Loads part 1 (as JSON, the way a merge of files does) and then buf as "rank 1": the status,
 * with the message checked for `want` and for naming the buffer. */
static void refused(const packed_case *k, const unsigned char *buf, size_t len, const char *want, const char *what)
{
    char *text = h5prep_stats_json(k->part1);
    cr_assert(text);
    h5prep_stats *m = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_load_text(m, text, "rank 0"), H5PREP_OK, "%s", h5prep_last_error());
    free(text);
    h5prep_status st = h5prep_stats_load_packed(m, buf, len, "rank 1");
    cr_assert_eq(st, H5PREP_ERR_STATE, "%s: status %d, want %d (refused); %s", what, st, H5PREP_ERR_STATE,
                 h5prep_last_error());
    cr_assert(strstr(h5prep_last_error(), "rank 1") && strstr(h5prep_last_error(), want), "%s: %s (want \"%s\")", what,
              h5prep_last_error(), want);
    h5prep_stats_destroy(m);
}

/* The header with reference `key` of the variable (node < 0) or of part node `node` set to
 * value (consumed; NULL removes it), reframed. */
static unsigned char *edited(const packed_case *k, int node, const char *key, json_t *value, size_t *len)
{
    json_t *h = json_deep_copy(k->header);
    json_t *v = json_object_get(json_object_get(h, "variables"), "/x");
    json_t *obj = node < 0 ? v : json_array_get(json_object_get(json_object_get(v, "part"), "nodes"), (size_t)node);
    cr_assert(obj, "the header has variable /x and its node %d", node);
    if (value)
        json_object_set_new(obj, key, value);
    else
        json_object_del(obj, key);
    char *text = json_dumps(h, JSON_COMPACT);
    unsigned char *b = reframe(text, k->payload, k->pb, len);
    free(text);
    json_decref(h);
    return b;
}

/* Where reference `key` of the variable points in the payload (its byte offset). */
static uint64_t offset_of(const packed_case *k, const char *key)
{
    json_t *v = json_object_get(json_object_get(k->header, "variables"), "/x");
    return (uint64_t)json_integer_value(json_array_get(json_object_get(json_object_get(v, key), "packed"), 0));
}

Test(pack, a_packed_part_loads_and_merges_like_its_json)
{
    packed_case k = make_case();
    char *text = h5prep_stats_json(k.part1);
    h5prep_stats *m = h5prep_stats_create(NULL);
    cr_assert_eq(h5prep_stats_load_text(m, text, "rank 0"), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_eq(h5prep_stats_load_packed(m, k.buf, k.len, "rank 1"), H5PREP_OK, "%s", h5prep_last_error());
    free(text);
    h5prep_var_view v = tu_view(m, 0);
    cr_assert_eq(v.moments[0].n, 64);
    cr_assert(fabs(v.moments[0].mean - 1e8) < 1, "mean %.17g", v.moments[0].mean);
    h5prep_stats_destroy(m);
    free_case(&k);
}

Test(pack, damaged_buffers_are_refused_naming_the_rank)
{
    packed_case k = make_case();
    unsigned char *b = malloc(k.len);
    cr_assert(b);
    size_t len;
    /* truncated: one byte short, to the frame, to nothing */
    refused(&k, k.buf, k.len - 1, "frame says", "one byte short");
    refused(&k, k.buf, k.len - 8, "frame says", "a word short");
    refused(&k, k.buf, 31, "shorter than their 32-byte frame", "shorter than the frame");
    refused(&k, k.buf, 0, "shorter than", "empty");
    /* the frame's fields */
    memcpy(b, k.buf, k.len);
    b[0] ^= 1;
    refused(&k, b, k.len, "magic", "another magic");
    memcpy(b, k.buf, k.len);
    uint32_t two = 2, other = 0x04030201u;
    memcpy(b + 8, &two, 4);
    refused(&k, b, k.len, "version 2", "another version");
    memcpy(b, k.buf, k.len);
    memcpy(b + 12, &other, 4);
    refused(&k, b, k.len, "byte order", "another byte order");
    memcpy(b, k.buf, k.len);
    uint64_t huge = (uint64_t)1 << 40;
    memcpy(b + 16, &huge, 8);
    refused(&k, b, k.len, "frame says", "a header longer than the buffer");
    memcpy(b, k.buf, k.len);
    memcpy(b + 24, &huge, 8);
    refused(&k, b, k.len, "frame says", "a payload longer than the buffer");
    memcpy(b, k.buf, k.len);
    b[32] = 'x';
    refused(&k, b, k.len, "not valid JSON", "a header that is not JSON");
    memcpy(b, k.buf, k.len);
    b[32 + u64_at(k.buf, 16) - 1] = ' '; /* the header's NUL */
    refused(&k, b, k.len, "NUL-terminated", "a header without its NUL");
    free(b);

    /* the array references: a count that differs, an offset outside or between words, not a reference */
    uint64_t nf = 8, pb = k.pb;
    struct {
        int node;
        const char *key;
        json_t *value;
        const char *want;
    } refs[] = {
        {-1, "count", json_pack("{s:[I, I]}", "packed", (json_int_t)offset_of(&k, "count"), (json_int_t)nf + 1), "has 9 packed entries"},
        {-1, "mean", json_pack("{s:[I, I]}", "packed", (json_int_t)pb, (json_int_t)nf), "lies outside"},
        {-1, "m2", json_pack("{s:[I, I]}", "packed", (json_int_t)4, (json_int_t)nf), "lies outside"},
        {-1, "max", json_pack("{s:[I, I]}", "packed", (json_int_t)-8, (json_int_t)nf), "lies outside"},
        {-1, "min", json_string("12"), "is not a list"},
        {-1, "missing", json_pack("{s:[I]}", "packed", (json_int_t)0), "neither a list nor a packed array"},
        {-1, "count", NULL, "\"count\" is missing"},
        {0, "mean", json_pack("{s:[I, I]}", "packed", (json_int_t)pb - 8, (json_int_t)nf), "lies outside"},
        {0, "count", json_pack("{s:[I, I]}", "packed", (json_int_t)0, (json_int_t)nf - 1), "has 7 packed entries"},
    };
    for (size_t i = 0; i < sizeof refs / sizeof *refs; i++) {
        char what[64];
        snprintf(what, sizeof what, "reference %zu (%s)", i, refs[i].key);
        unsigned char *e = edited(&k, refs[i].node, refs[i].key, refs[i].value, &len);
        refused(&k, e, len, refs[i].want, what);
        free(e);
    }

    /* words that no run produces: checked as a file's states are */
    b = malloc(k.len);
    cr_assert(b);
    size_t at = k.len - k.pb;
    int64_t neg = -1;
    memcpy(b, k.buf, k.len);
    memcpy(b + at + offset_of(&k, "count"), &neg, 8);
    refused(&k, b, k.len, "count is negative", "a negative count");
    memcpy(b, k.buf, k.len);
    double nan = NAN;
    memcpy(b + at + offset_of(&k, "mean") + 8, &nan, 8);
    refused(&k, b, k.len, "feature 1: count is 64 but the mean is not a finite number", "a NaN mean");
    free(b);
    free_case(&k);
}
