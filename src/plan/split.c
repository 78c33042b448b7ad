/* split.c: train/val/test splits: seeded ones (Philox keys, own or cuRAND's host API, units ordered
 * by (key, index) with a radix sort, cut at cumulative fractions), splits given per sample (by
 * files, row blocks or time, assigned by the plan), and the h5prep-split/1 manifest. */
#include "plan/split.h"

#include "common/internal.h"
#include "common/outfile.h"
#include "common/philox.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef H5PREP_HAVE_CURAND
#include <curand.h>
#endif

/* ---- keys ------------------------------------------------------------------------------ */

static void keys_own(uint64_t seed, uint64_t n, uint32_t *key)
{
    for (uint64_t b = 0; b < n / 4; b++)
        h5p_philox_curand_block(seed, b, key + 4 * b);
    if (n % 4) {
        uint32_t last[4];
        h5p_philox_curand_block(seed, n / 4, last);
        memcpy(key + n / 4 * 4, last, n % 4 * sizeof *key);
    }
}

#ifdef H5PREP_HAVE_CURAND
static h5prep_status keys_curand(uint64_t seed, uint64_t n, uint32_t *key)
{
    if (n == 0)
        return H5PREP_OK;
    curandGenerator_t g;
    curandStatus_t e = curandCreateGeneratorHost(&g, CURAND_RNG_PSEUDO_PHILOX4_32_10);
    RETURN_ERROR_IF(e != CURAND_STATUS_SUCCESS, H5PREP_ERR_BACKEND,
                    "split keys: cuRAND cannot create its host Philox4x32-10 generator (curandStatus %d)", (int)e);
    const char *what = "seeding";
    e = curandSetPseudoRandomGeneratorSeed(g, seed);
    if (e == CURAND_STATUS_SUCCESS) {
        what = "generating";
        e = curandGenerate(g, key, (size_t)n);
    }
    curandDestroyGenerator(g);
    RETURN_ERROR_IF(e != CURAND_STATUS_SUCCESS, H5PREP_ERR_BACKEND,
                    "split keys: cuRAND failed %s %llu keys with seed %llu (curandStatus %d)", what,
                    (unsigned long long)n, (unsigned long long)seed, (int)e);
    return H5PREP_OK;
}
#endif

h5prep_status h5p_split_keys(uint64_t seed, uint64_t n, h5p_keygen how, uint32_t *key)
{
    RETURN_ERROR_IF(n > 0 && !key, H5PREP_ERR_USAGE, "split keys: no output buffer for %llu keys",
                    (unsigned long long)n);
    switch (how) {
    case H5P_KEYS_OWN:
        keys_own(seed, n, key);
        return H5PREP_OK;
    case H5P_KEYS_CURAND_HOST:
    case H5P_KEYS_BEST:
#ifdef H5PREP_HAVE_CURAND
        return keys_curand(seed, n, key);
#else
        if (how == H5P_KEYS_BEST) {
            keys_own(seed, n, key);
            return H5PREP_OK;
        }
        return h5p_hint(h5p_fail(H5PREP_ERR_BACKEND, "split keys: this build has no cuRAND"),
                        "the own Philox4x32-10 gives the same keys (H5P_KEYS_OWN)");
#endif
    }
    return h5p_fail(H5PREP_ERR_USAGE, "split keys: unknown key generator %d", (int)how);
}

const char *h5p_keygen_name(h5p_keygen how)
{
    switch (how) {
    case H5P_KEYS_OWN: return "philox4x32-10 (h5prep)";
    case H5P_KEYS_CURAND_HOST: return "cuRAND host API";
    case H5P_KEYS_BEST:
#ifdef H5PREP_HAVE_CURAND
        return "cuRAND host API";
#else
        return "philox4x32-10 (h5prep)";
#endif
    }
    return "unknown";
}

/* ---- the split ------------------------------------------------------------------------- */

/* v: (m,) of key << 32 | unit, units in increasing order. Sorted by key with a stable LSD radix
 * sort (4 passes of 8 bits, a pass skipped when all keys share its digit), so that equal keys
 * keep unit order. tmp: (m,) scratch. For 10^7 units about 10x faster than qsort. */
static void sort_by_key(uint64_t *v, uint64_t *tmp, uint64_t m)
{
    if (m == 0)
        return;
    uint64_t hist[4][256] = {{0}};
    for (uint64_t i = 0; i < m; i++) {
        uint32_t k = (uint32_t)(v[i] >> 32);
        hist[0][k & 255]++, hist[1][k >> 8 & 255]++, hist[2][k >> 16 & 255]++, hist[3][k >> 24]++;
    }
    uint64_t *src = v, *dst = tmp;
    for (int p = 0; p < 4; p++) {
        int shift = 32 + 8 * p;
        if (hist[p][src[0] >> shift & 255] == m)
            continue;
        uint64_t pos[256], sum = 0;
        for (int d = 0; d < 256; d++)
            pos[d] = sum, sum += hist[p][d];
        for (uint64_t i = 0; i < m; i++)
            dst[pos[src[i] >> shift & 255]++] = src[i];
        uint64_t *t = src;
        src = dst, dst = t;
    }
    if (src != v)
        memcpy(v, src, m * sizeof *v);
}

static h5prep_status check_ranges(const h5p_split_spec *spec)
{
    for (int k = 0; k < spec->nsplits; k++) {
        double lo = spec->lo[k], hi = spec->hi[k];
        const char *name = spec->names[k] ? spec->names[k] : "?";
        RETURN_ERROR_IF(spec->by == H5P_SPLIT_ROWS && !(lo >= 0 && hi <= 1), H5PREP_ERR_USAGE,
                        "split: the range of '%s' is [%g, %g] (expected fractions of the rows in [0, 1])", name, lo, hi);
        RETURN_ERROR_IF(!(lo < hi), H5PREP_ERR_USAGE, "split: the range of '%s' is [%g, %g] (expected start < end)", name,
                        lo, hi);
        for (int j = 0; j < k; j++)
            RETURN_ERROR_IF(h5p_split_overlap(spec, j, k), H5PREP_ERR_USAGE,
                            "split: the ranges of '%s' [%g, %g] and '%s' [%g, %g] overlap", spec->names[j] ? spec->names[j] : "?",
                            spec->lo[j], spec->hi[j], name, lo, hi);
    }
    return H5PREP_OK;
}

static h5prep_status check_spec(const h5p_split_spec *spec)
{
    RETURN_ERROR_IF(spec->nsplits < 1 || spec->nsplits > H5P_MAX_SPLITS, H5PREP_ERR_USAGE,
                    "split: %d splits given (expected 1..%d)", spec->nsplits, H5P_MAX_SPLITS);
    if (spec->by == H5P_SPLIT_ROWS || spec->by == H5P_SPLIT_TIME)
        return check_ranges(spec);
    if (spec->by == H5P_SPLIT_FILES)
        return H5PREP_OK;
    RETURN_ERROR_IF(spec->by != H5P_SPLIT_SEEDED, H5PREP_ERR_USAGE, "split: unknown kind %d", (int)spec->by);
    double sum = 0;
    for (int k = 0; k < spec->nsplits; k++) {
        double f = spec->fractions[k];
        RETURN_ERROR_IF(!(f >= 0 && f <= 1), H5PREP_ERR_USAGE, "split: fraction %d of '%s' is %g (expected 0..1)",
                        k, spec->names[k] ? spec->names[k] : "?", f);
        sum += f;
    }
    RETURN_ERROR_IF(fabs(sum - 1) > 1e-9, H5PREP_ERR_USAGE, "split: the fractions sum to %.17g (expected 1)", sum);
    return H5PREP_OK;
}

/* group_of: (n,) groups numbered 0..ngroups-1 in order of first appearance. */
static h5prep_status check_groups(const uint64_t *group_of, uint64_t n, uint64_t ngroups)
{
    uint64_t next = 0; /* the number a new group must get */
    for (uint64_t i = 0; i < n; i++) {
        RETURN_ERROR_IF(group_of[i] > next, H5PREP_ERR_USAGE,
                        "split: sample %llu is in group %llu, but groups must be numbered in order of first "
                        "appearance (expected at most %llu)",
                        (unsigned long long)i, (unsigned long long)group_of[i], (unsigned long long)next);
        next += group_of[i] == next;
    }
    RETURN_ERROR_IF(next != ngroups, H5PREP_ERR_USAGE, "split: %llu groups given, but the samples use %llu",
                    (unsigned long long)ngroups, (unsigned long long)next);
    return H5PREP_OK;
}

/* floor(f * units + 0.5) within [0, units]. */
static uint64_t round_share(double f, uint64_t units)
{
    double x = floor(f * (double)units + 0.5);
    return x <= 0 ? 0 : x >= (double)units ? units : (uint64_t)x;
}

void h5p_split_block(double lo, double hi, uint64_t n, uint64_t *r0, uint64_t *r1)
{
    *r0 = round_share(lo, n);
    *r1 = round_share(hi, n);
}

/* bound[k]: end (exclusive) of split k among the ordered units: the cumulative fraction times
 * `units`, rounded half up, kept non-decreasing and within units; the last split ends at units. */
static void cut_points(const h5p_split_spec *spec, uint64_t units, uint64_t *bound)
{
    double cum = 0;
    uint64_t prev = 0;
    for (int k = 0; k < spec->nsplits - 1; k++) {
        cum += spec->fractions[k];
        uint64_t x = round_share(cum, units);
        prev = x > prev ? x : prev;
        bound[k] = prev;
    }
    bound[spec->nsplits - 1] = units;
}

static h5prep_status out_of_memory(h5p_split *out, uint64_t n)
{
    h5p_split_free(out);
    return h5p_fail(H5PREP_ERR_NOMEM, "split: out of memory for %llu samples", (unsigned long long)n);
}

h5prep_status h5p_split_make(const h5p_split_spec *spec, uint64_t n, const uint64_t *group_of,
                             uint64_t ngroups, const uint32_t *key, h5p_split *out)
{
    RETURN_ERROR_IF(!spec || !out, H5PREP_ERR_USAGE, "split: no %s given", spec ? "output" : "split spec");
    memset(out, 0, sizeof *out);
    RETURN_ERROR_IF(spec->by != H5P_SPLIT_SEEDED, H5PREP_ERR_USAGE,
                    "split: a split by files, rows or time is given per sample (h5p_split_assign), not by fractions");
    FORWARD_IF_ERROR(check_spec(spec));
    RETURN_ERROR_IF(n > 0 && !key, H5PREP_ERR_USAGE, "split: no keys given for %llu samples", (unsigned long long)n);
    if (group_of)
        FORWARD_IF_ERROR(check_groups(group_of, n, ngroups));
    uint64_t units = group_of ? ngroups : n;
    /* a unit's index shares a 64-bit word with its key while sorting */
    RETURN_ERROR_IF(units > ((uint64_t)1 << 32), H5PREP_ERR_USAGE,
                    "split: %llu %s to split (at most 2^32 supported)", (unsigned long long)units,
                    group_of ? "groups" : "samples");
    RETURN_ERROR_IF(n > SIZE_MAX / sizeof(uint64_t), H5PREP_ERR_NOMEM, "split: %llu samples do not fit in memory",
                    (unsigned long long)n);

    out->n = n;
    out->nsplits = spec->nsplits;
    out->which = h5p_malloc(n);
    out->dest = h5p_malloc(n * sizeof *out->dest);
    uint64_t *v = h5p_malloc(units * sizeof *v);
    /* Per unit: its split, then its first position in the split. Units are samples without
     * groups, so these are the outputs themselves (dest doubles as the sort's scratch). */
    uint8_t *unit_split = group_of ? h5p_malloc(units) : out->which;
    uint64_t *start = group_of ? h5p_calloc(units, sizeof *start) : out->dest;
    if (!out->which || !out->dest || !v || !unit_split || !start) {
        free(v);
        if (group_of)
            free(unit_split), free(start);
        return out_of_memory(out, n);
    }

    for (uint64_t u = 0; u < units; u++)
        v[u] = (uint64_t)key[u] << 32 | u;
    sort_by_key(v, out->dest, units);
    if (group_of)
        for (uint64_t i = 0; i < n; i++)
            start[group_of[i]]++; /* the group's size, for now */

    uint64_t bound[H5P_MAX_SPLITS];
    cut_points(spec, units, bound);
    int k = 0;
    for (uint64_t r = 0; r < units; r++) {
        while (r >= bound[k])
            k++;
        uint64_t u = v[r] & 0xffffffffu, size = group_of ? start[u] : 1;
        unit_split[u] = (uint8_t)k;
        start[u] = out->count[k];
        out->count[k] += size;
    }
    free(v);

    int bad = 0;
    for (k = 0; k < out->nsplits; k++)
        bad |= !(out->order[k] = h5p_malloc(out->count[k] * sizeof *out->order[k]));
    uint64_t next[H5P_MAX_SPLITS] = {0}; /* without shuffle: the next position in each split */
    for (uint64_t i = 0; i < n && !bad; i++) {
        uint64_t u = group_of ? group_of[i] : i;
        uint8_t s = out->which[i] = unit_split[u];
        uint64_t d = spec->shuffle ? start[u] : next[s];
        if (spec->shuffle)
            start[u] = d + 1; /* a group's samples follow each other in input order */
        else
            next[s] = d + 1;
        out->dest[i] = d;
        out->order[s][d] = i;
    }
    if (group_of)
        free(unit_split), free(start);
    return bad ? out_of_memory(out, n) : H5PREP_OK;
}

h5prep_status h5p_split_assign(const h5p_split_spec *spec, uint64_t n, const uint8_t *which, const uint32_t *key,
                               h5p_split *out)
{
    RETURN_ERROR_IF(!spec || !out, H5PREP_ERR_USAGE, "split: no %s given", spec ? "output" : "split spec");
    memset(out, 0, sizeof *out);
    FORWARD_IF_ERROR(check_spec(spec));
    RETURN_ERROR_IF(n > 0 && !which, H5PREP_ERR_USAGE, "split: no assignment given for %llu samples", (unsigned long long)n);
    RETURN_ERROR_IF(key && n > ((uint64_t)1 << 32), H5PREP_ERR_USAGE,
                    "split: %llu samples to shuffle (at most 2^32 supported)", (unsigned long long)n);
    RETURN_ERROR_IF(n > SIZE_MAX / sizeof(uint64_t), H5PREP_ERR_NOMEM, "split: %llu samples do not fit in memory",
                    (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++)
        RETURN_ERROR_IF(which[i] >= spec->nsplits && which[i] != H5P_SPLIT_DROPPED, H5PREP_ERR_USAGE,
                        "split: sample %llu is assigned to split %d of %d", (unsigned long long)i, which[i], spec->nsplits);
    out->n = n;
    out->nsplits = spec->nsplits;
    out->which = h5p_malloc(n);
    out->dest = h5p_malloc(n * sizeof *out->dest);
    uint64_t *v = key ? h5p_malloc(n * sizeof *v) : NULL;
    if (!out->which || !out->dest || (key && !v)) {
        free(v);
        return out_of_memory(out, n);
    }
    memcpy(out->which, which, n);
    for (uint64_t i = 0; i < n; i++) {
        if (which[i] == H5P_SPLIT_DROPPED)
            out->dropped++;
        else
            out->count[which[i]]++;
    }
    int bad = 0;
    for (int k = 0; k < out->nsplits; k++)
        bad |= !(out->order[k] = h5p_malloc(out->count[k] * sizeof *out->order[k]));
    if (bad) {
        free(v);
        return out_of_memory(out, n);
    }
    if (key) { /* dest is the sort's scratch until it is filled below */
        for (uint64_t i = 0; i < n; i++)
            v[i] = (uint64_t)key[i] << 32 | i;
        sort_by_key(v, out->dest, n);
    }
    uint64_t next[H5P_MAX_SPLITS] = {0};
    for (uint64_t r = 0; r < n; r++) {
        uint64_t i = key ? v[r] & 0xffffffffu : r;
        uint8_t s = which[i];
        out->dest[i] = 0;
        if (s == H5P_SPLIT_DROPPED)
            continue;
        out->dest[i] = next[s]++;
        out->order[s][out->dest[i]] = i;
    }
    free(v);
    return H5PREP_OK;
}

void h5p_split_free(h5p_split *s)
{
    if (!s)
        return;
    free(s->which);
    free(s->dest);
    for (int k = 0; k < H5P_MAX_SPLITS; k++)
        free(s->order[k]);
    memset(s, 0, sizeof *s);
}

/* ---- the manifest ---------------------------------------------------------------------- */

/* The manifest is written as text, with jansson only quoting the names: 10^7 indices as json_t
 * nodes would take about half a gigabyte and seconds, as text they take a fraction of a second. */
typedef struct outbuf {
    FILE *f;
    size_t len;
    int err; /* errno of the first failed write, 0 while all is well */
    char buf[1 << 16];
} outbuf;

static void ob_write(outbuf *o, const char *s, size_t len)
{
    if (fwrite(s, 1, len, o->f) != len && !o->err)
        o->err = errno ? errno : EIO;
}

static void ob_flush(outbuf *o)
{
    ob_write(o, o->buf, o->len);
    o->len = 0;
}

static void ob_put(outbuf *o, const char *s, size_t len)
{
    if (o->len + len > sizeof o->buf)
        ob_flush(o);
    if (len > sizeof o->buf) {
        ob_write(o, s, len);
        return;
    }
    memcpy(o->buf + o->len, s, len);
    o->len += len;
}

static void ob_str(outbuf *o, const char *s) { ob_put(o, s, strlen(s)); }

static void ob_u64(outbuf *o, uint64_t x)
{
    char t[20];
    int i = 20;
    do
        t[--i] = (char)('0' + x % 10);
    while (x /= 10);
    ob_put(o, t + i, (size_t)(20 - i));
}

/* The shortest %g text that reads back as x (x is finite). */
static void ob_real(outbuf *o, double x)
{
    char t[32];
    for (int p = 15; p <= 17; p++) {
        snprintf(t, sizeof t, "%.*g", p, x);
        if (strtod(t, NULL) == x)
            break;
    }
    ob_str(o, t);
}

/* names[k] as a JSON string (jansson's quoting), or NULL when it is not UTF-8. */
static char *quoted(const char *name)
{
    json_t *j = json_string(name);
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return t;
}

/* A string as JSON; a name that is not UTF-8 fails the write (EILSEQ). */
static void ob_quoted(outbuf *o, const char *s)
{
    char *q = quoted(s);
    if (!q && !o->err)
        o->err = EILSEQ;
    ob_str(o, q ? q : "null");
    free(q);
}

/* A range's end: a number, or null for an infinite one (JSON has no infinity). */
static void ob_end(outbuf *o, double x)
{
    if (isfinite(x))
        ob_real(o, x);
    else
        ob_str(o, "null");
}

/* How the split was made: the fields before "shuffle". */
static void write_kind(outbuf *o, const h5p_split_spec *spec, char *const *names)
{
    static const char *const by[] = {"\"fractions\"", "\"files\"", "\"rows\"", "\"time\""};
    ob_str(o, "{\n \"format\": \"h5prep-split/1\",\n \"by\": ");
    ob_str(o, by[spec->by]);
    if (spec->by == H5P_SPLIT_SEEDED || spec->shuffle) {
        /* a seed past INT64_MAX as its decimal text: JSON readers such as jansson refuse (or round)
         * integers beyond 64-bit signed */
        const char *q = spec->seed > INT64_MAX ? "\"" : "";
        ob_str(o, ",\n \"seed\": ");
        ob_str(o, q);
        ob_u64(o, spec->seed);
        ob_str(o, q);
        ob_str(o, ",\n \"generator\": \"philox4x32-10\"");
    }
    if (spec->by == H5P_SPLIT_TIME) {
        ob_str(o, ",\n \"coordinate\": ");
        ob_quoted(o, spec->coordinate);
    }
    ob_str(o, spec->by == H5P_SPLIT_SEEDED ? ",\n \"fractions\": {" : spec->by == H5P_SPLIT_FILES ? ",\n \"files\": {" : ",\n \"ranges\": {");
    for (int k = 0; k < spec->nsplits; k++) {
        ob_str(o, k ? ", " : "");
        ob_str(o, names[k]);
        ob_str(o, ": ");
        if (spec->by == H5P_SPLIT_SEEDED) {
            ob_real(o, spec->fractions[k]);
        } else if (spec->by == H5P_SPLIT_FILES) {
            for (size_t g = 0; g < spec->nglobs[k]; g++) {
                ob_str(o, g ? ", " : "[");
                ob_quoted(o, spec->globs[k][g]);
            }
            ob_str(o, spec->nglobs[k] ? "]" : "[]");
        } else {
            ob_str(o, "[");
            ob_end(o, spec->lo[k]);
            ob_str(o, ", ");
            ob_end(o, spec->hi[k]);
            ob_str(o, "]");
        }
    }
    ob_str(o, "}");
    if (spec->by == H5P_SPLIT_SEEDED) {
        ob_str(o, ",\n \"group_by\": ");
        if (spec->group_by == H5P_GROUP_ROWS) {
            ob_str(o, "{\"rows\": ");
            ob_u64(o, spec->group_rows);
            ob_str(o, "}");
        } else {
            ob_str(o, spec->group_by == H5P_GROUP_FILE ? "\"file\"" : "\"none\"");
        }
    }
}

static void write_document(outbuf *o, const h5p_split *s, const h5p_split_spec *spec, char *const *names)
{
    write_kind(o, spec, names);
    ob_str(o, spec->shuffle ? ",\n \"shuffle\": true,\n \"n\": " : ",\n \"shuffle\": false,\n \"n\": ");
    ob_u64(o, s->n);
    ob_str(o, ",\n \"dropped\": ");
    ob_u64(o, s->dropped);
    ob_str(o, ",\n \"splits\": {");
    for (int k = 0; k < s->nsplits; k++) {
        ob_str(o, k ? ",\n  " : "\n  ");
        ob_str(o, names[k]);
        ob_str(o, ": {\"count\": ");
        ob_u64(o, s->count[k]);
        ob_str(o, ", \"indices\": [");
        for (uint64_t i = 0; i < s->count[k]; i++) {
            if (i)
                ob_put(o, ", ", 2);
            ob_u64(o, s->order[k][i]);
        }
        ob_str(o, "]}");
    }
    ob_str(o, "\n }\n}\n");
}

h5prep_status h5p_split_write_manifest(const h5p_split *s, const h5p_split_spec *spec, const char *path)
{
    RETURN_ERROR_IF(!s || !spec || !path, H5PREP_ERR_USAGE, "split manifest: missing split, spec or path");
    RETURN_ERROR_IF(s->nsplits != spec->nsplits, H5PREP_ERR_USAGE,
                    "%s: the split has %d parts but its spec names %d", path, s->nsplits, spec->nsplits);
    FORWARD_IF_ERROR(check_spec(spec));
    RETURN_ERROR_IF(spec->group_by != H5P_GROUP_NONE && spec->group_by != H5P_GROUP_FILE &&
                        spec->group_by != H5P_GROUP_ROWS,
                    H5PREP_ERR_USAGE, "%s: unknown group_by %d", path, (int)spec->group_by);
    char *names[H5P_MAX_SPLITS] = {0};
    h5prep_status st = H5PREP_OK;
    for (int k = 0; k < s->nsplits && st == H5PREP_OK; k++) {
        if (!spec->names[k] || !(names[k] = quoted(spec->names[k])))
            st = h5p_fail(H5PREP_ERR_USAGE, "%s: split %d has %s", path, k,
                          spec->names[k] ? "a name that is not UTF-8" : "no name");
    }
    h5p_tmpfile t = {0};
    if (st == H5PREP_OK)
        st = h5p_tmpfile_begin(&t, path);
    if (st == H5PREP_OK) {
        outbuf *o = h5p_malloc(sizeof *o);
        FILE *f = o ? h5p_tmpfile_stream(&t) : NULL;
        if (!o) {
            st = h5p_fail(H5PREP_ERR_NOMEM, "%s: out of memory", path);
        } else if (!f) {
            st = h5p_fail(H5PREP_ERR_OUTPUT, "%s: cannot create the manifest: %s", path, strerror(errno));
        } else {
            o->f = f, o->len = 0, o->err = 0;
            write_document(o, s, spec, names);
            ob_flush(o);
            if (fclose(f) != 0 && !o->err)
                o->err = errno;
            if (o->err)
                st = h5p_fail(H5PREP_ERR_OUTPUT, "%s: writing the manifest failed: %s", path, strerror(o->err));
        }
        free(o);
        if (st == H5PREP_OK)
            st = h5p_tmpfile_commit(&t);
        else
            h5p_tmpfile_abort(&t);
    }
    for (int k = 0; k < H5P_MAX_SPLITS; k++)
        free(names[k]);
    return st;
}
