/* h5prep.c: the `h5prep` command line (stats, transform, merge, info). Written against include/h5prep.h alone:
 * it parses options, draws the progress bar, and turns statuses into messages and exit codes. */
#include "h5prep.h"
#include "mpi_world.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The signal that interrupted the run (on_signal); the exit status is then 128 + its number. */
static volatile sig_atomic_t g_signal = SIGINT;

static const char *usage_main = /* after "h5prep VERSION" */
    ": normalization statistics and model-ready tensors from HDF5 and netCDF-4 data\n"
    "\n"
    "Usage:\n"
    "  h5prep stats [options] FILE:DATASET...   per-feature count, mean, std, min, max in one pass\n"
    "  h5prep merge [options] STATE... -o OUT   combine statistics files of independent runs exactly\n"
    "  h5prep transform [options] RECIPE.yaml   model-ready tensors, seeded splits and normalization\n"
    "  h5prep info FILE[:DATASET]|DIR...        datasets: shape, type, chunks, filters, CF attributes;\n"
    "                                           or summarise a transform's output directory\n"
    "  h5prep help [COMMAND]                    this text, or the options of a command\n"
    "  h5prep --version\n"
    "\n"
    "Examples:\n"
    "  h5prep info data/nc4uvt.nc                                      # datasets, shapes, CF attributes\n"
    "  h5prep stats data/nc4uvt.nc:/T --keep-axes 1 -o norm/T.json    # per-level mean/std\n"
    "  h5prep stats 'era5/*.nc:/t' --keep-axes 1 -o norm/t.h5         # many files, one dataset\n"
    "  h5prep merge part-*.json -o all.json\n"
    "  h5prep transform data/recipes/radar.yaml -o radar                # sweeps -> (S, 3, 360, 492), split\n"
    "\n"
    "Run 'h5prep help stats' for the options of a command. Exit status: 0 on success, 2 for a usage\n"
    "error, 3..15 for the errors listed in README.md, 128 + the signal's number when stopped by\n"
    "SIGINT (130), SIGHUP (129) or SIGTERM (143), which leave no output and no temporary behind.\n";

static const char *usage_stats =
    "Usage: h5prep stats [options] FILE:DATASET...\n"
    "\n"
    "Streams every dataset once and computes, per feature, the count of values used, the count of\n"
    "missing values, mean, variance and std (accumulated in float64, merged with Chan's formula),\n"
    "min and max. FILE may be a quoted glob: the dataset of all matching files is one dataset joined\n"
    "along axis 0. Arguments with different dataset paths each get their own statistics; arguments\n"
    "that name the same dataset path are one dataset, their files joined along axis 0 in the order\n"
    "given (with a warning); the same file twice is refused. The split is at the first ':/', else at\n"
    "the last ':', so 'f.h5:/a:b' is dataset /a:b of f.h5.\n"
    "\n"
    "Features:\n"
    "  -k, --keep-axes AXES  axes kept as features, the others are reduced: one axis (2), consecutive\n"
    "                        axes (1,2), counted from the end (-1), or 'none' for a single statistic.\n"
    "                        Default: the last axis; 'none' for a 1-D dataset.\n"
    "      --ddof N          delta degrees of freedom: var = m2 / (count - N). Default 0.\n"
    "      --tendency LAG    also the statistics of x[t+LAG] - x[t] along axis 0, per feature, in the\n"
    "                        same read (repeatable, LAG >= 1, up to 16 lags). The rows of all files of\n"
    "                        a dataset are one series, so pairs span files; a pair with a missing side\n"
    "                        is left out and counted as missing. Not with axis 0 kept. A --part\n"
    "                        also reads the LAG rows before its share; the document keeps the first\n"
    "                        and last rows so that 'h5prep merge' of consecutive runs forms the pairs\n"
    "                        between them (README.md, \"Tendencies\").\n"
    "      --raw             no CF decoding. By default values equal to _FillValue, missing_value or\n"
    "                        MissingValue and values outside valid_min/valid_max/valid_range are left\n"
    "                        out and counted as missing, and scale_factor/add_offset are applied.\n"
    "                        NaN and +-Inf are always left out and counted as missing.\n"
    "Weights (an area-weighted mean and variance; README.md, \"Weights\"):\n"
    "      --weights SPEC    a weight per value: coslat:FILE:/LAT (cos of the latitudes, in degrees,\n"
    "                        along the axis whose netCDF-4 dimension is LAT's), FILE:DATASET (an array\n"
    "                        broadcast to the dataset by numpy's rules, e.g. cell areas (lat, lon)), or\n"
    "                        quadrature:RULE (Makani's naive, legendre-gauss or clenshaw-curtis along\n"
    "                        --weights-axis). Weights are >= 0 (0 is allowed); missing values carry\n"
    "                        none. mean and m2 = sum w (x - mean)^2 are weighted, count, missing, min\n"
    "                        and max are not, and wsum is the sum of the weights: var = m2 / (wsum - N)\n"
    "                        with --ddof N (frequency weights). On either backend (cpu, cuda).\n"
    "      --weights-axis N  the data axis of coslat or quadrature weights, counted from 0.\n"
    "Output:\n"
    "  -o, --output PATH     write the statistics to PATH: .json or .h5, same content (README.md).\n"
    "                        Written under a temporary name and renamed when complete.\n"
    "      --json            print the JSON document on stdout.\n"
    "                        Without -o or --json a summary table is printed.\n"
    "  -q, --quiet           no progress bar (it is drawn only when stderr is a terminal).\n"
    "  -v, --verbose         say on stderr how each dataset was read: viewed in place, raw chunks\n"
    "                        decoded in parallel (shuffle, deflate), or H5Dread and why, and\n"
    "                        which CPU kernels ran (generic, avx2 or avx512; env H5PREP_ISA);\n"
    "                        under mpirun also how far each rank read when another rank failed.\n"
    "      --part I/N        reduce only the I-th of N shares of the data (1 <= I <= N) and write a\n"
    "                        JSON part; 'h5prep merge' of all N parts gives the very bytes of one run.\n"
    "                        Under mpirun or srun, rank r is part r+1 of R: the parts go to rank 0\n"
    "                        in binary, which merges them and writes -o; a failing rank stops every\n"
    "                        rank at its next slab with its message and exit status.\n"
    "Quantiles (a mergeable per-feature sketch, on either backend: the same bytes; README.md):\n"
    "      --quantiles Q,... levels in (0, 1), e.g. 0.01,0.5,0.99: the value of rank floor(q (n-1))\n"
    "                        (numpy's method 'lower'), within --sketch-alpha of it (relative) unless\n"
    "                        its rank falls among collapsed values ('collapsed' counts them).\n"
    "      --histogram BINS  BINS equal-width bins between each feature's exact min and max; the\n"
    "                        counts are estimated from the sketch's buckets.\n"
    "      --sketch-alpha A  relative accuracy of the sketch, 1e-6 .. 0.5. Default 0.01.\n"
    "      --sketch-buckets B\n"
    "                        buckets kept per sign and feature, 16 .. 1048576 (16 B + 32 bytes a\n"
    "                        feature; all features must fit in --mem); lower magnitudes collapse.\n"
    "                        Default 2048.\n"
    "Engine:\n"
    "      --backend NAME    auto, cpu or cuda. Default auto: CUDA when a device answers, else CPU.\n"
    "      --device N        CUDA device ordinal. Default 0.\n"
    "      --threads N       compute threads. Default: every core.\n"
    "      --mem SIZE        staging memory for all ring slots, e.g. 256M or 2G. Default 512M.\n"
    "      --slots N         ring slots the reader may fill ahead of compute. Default 2.\n"
    "\n"
    "Examples:\n"
    "  h5prep stats data/nc4uvt.nc:/T --keep-axes 1                  # per-level table on stdout\n"
    "  h5prep stats 'runs/*.h5:/x' 'runs/*.h5:/y' -o norm.h5          # two variables, HDF5 output\n"
    "  h5prep stats radar.nc:/reflectivity --keep-axes none --json    # one statistic, JSON on stdout\n"
    "  h5prep stats data/nc4uvt.nc:/T --keep-axes 1 --quantiles 0.01,0.5,0.99 --histogram 32 -o T.json\n"
    "  h5prep stats data/nc4uvt.nc:/T -k 1 --weights coslat:data/nc4uvt.nc:/lat   # area-weighted\n";

static const char *usage_merge =
    "Usage: h5prep merge [options] STATE... -o OUT\n"
    "\n"
    "Combines statistics files (.json or .h5 written by h5prep) exactly: the merge of runs over two\n"
    "halves of the data equals a run over the whole. Variables of the same name must have the same\n"
    "shape apart from axis 0 and the same kept axes; other variables are carried over.\n"
    "Tendencies (stats --tendency) need the same lags and JSON files: a file's rows are taken to\n"
    "follow those of the files before it, in the order given, and the pairs across each boundary\n"
    "are formed from the rows the files keep at their edges (parts of one run in any order).\n"
    "Weighted statistics merge with the weighted form of Chan's rule; files of other --weights (or\n"
    "weighted with unweighted ones) are refused.\n"
    "\n"
    "  -o, --output PATH     the merged statistics (.json or .h5)\n"
    "      --json            print the merged JSON document on stdout\n"
    "      --ddof N          delta degrees of freedom of the merged var and std. Default 0.\n"
    "\n"
    "Example:\n"
    "  h5prep merge part-*.json -o all.json\n";

static const char *usage_transform =
    "Usage: h5prep transform [options] RECIPE.yaml\n"
    "\n"
    "Turns input variables into model-ready tensors as the YAML recipe says (README.md, \"Recipes\"):\n"
    "broadcast, pad, concat, stack, reshape/flatten and slice per sample, with per-file values\n"
    "(attributes, 0-d datasets, CSV catalog columns) as inputs; a train/val/test split, seeded\n"
    "(Philox4x32-10, the same permutation on every backend) or given by files, row blocks or a\n"
    "time coordinate; per-feature z-score, min-max, robust (median and IQR) or quantile (CDF)\n"
    "normalization with statistics of the train split taken in the same run; a cast to float32,\n"
    "float64, float16 or bfloat16. The inputs are read once.\n"
    "\n"
    "Writes into the output directory: <split>.h5 (one dataset per output) and/or .npy shards,\n"
    "index.json (what is where: numpy and PyTorch load the shards directly), split.json (how the\n"
    "split was made and the indices of each split), stats.json (each output's statistics before\n"
    "normalization, h5prep-stats/1). The directory is written as a private .DIR.h5prep-tmp-* beside\n"
    "it and renamed when complete: an interrupted or failed run leaves nothing that looks finished.\n"
    "\n"
    "Options:\n"
    "  -i, --input GLOB      read these files instead of the `files` of the recipe's first input\n"
    "                        (repeatable).\n"
    "  -o, --out DIR         the output directory instead of the recipe's write.dir.\n"
    "      --overwrite       replace DIR if it exists (only once the new one is complete).\n"
    "      --raw             no CF decoding (see 'h5prep help stats').\n"
    "  -n, --dry-run         print the plan (each input; each output's shape, dtype and\n"
    "                        normalization; split sizes; bytes to read and write; one pass or two\n"
    "                        and why; where the outputs are staged) and exit without reading data\n"
    "                        or creating DIR.\n"
    "      --two-passes      stage every row and write in a second pass, even where one pass would\n"
    "                        do (every output's factors known before reading: normalize none or\n"
    "                        {stats: FILE}); for comparison, or as an escape hatch.\n"
    "  -q, --quiet           no progress bar and no summary.\n"
    "  -v, --verbose         say which backend ran and why (e.g. no CUDA device: the CPU), and\n"
    "                        whether the run took one pass or two and why.\n"
    "Engine:\n"
    "      --backend NAME    auto, cpu or cuda. Default auto: CUDA when a device answers, else CPU.\n"
    "      --device N        CUDA device ordinal. Default 0.\n"
    "      --threads N       compute threads. Default: every core.\n"
    "      --mem SIZE        memory of all ring slots, input and output, e.g. 256M. Default 512M.\n"
    "      --slots N         ring slots the reader may fill ahead of compute. Default 2.\n"
    "      --stage-mem SIZE  outputs wait between the passes in memory up to SIZE (e.g. 8G), else in\n"
    "                        a file in the output directory. Default: half the free memory.\n"
    "Robust and quantile normalization (normalize: robust: median and IQR; quantile: each value's\n"
    "CDF; from the quantile sketch of 'h5prep help stats', taken in pass 1):\n"
    "      --sketch-alpha A  relative accuracy of each quartile, 1e-6 .. 0.5. Default 0.01.\n"
    "      --sketch-buckets B\n"
    "                        buckets kept per sign and feature, 16 .. 1048576 (each output's\n"
    "                        sketch must fit in --mem). Default 2048.\n"
    "\n"
    "Example (the ECMWF 3D-correction dataset, on generated input):\n"
    "  python3 scripts/gen_3dcorrection.py --rows 20000 -o 3dcorrection.h5\n"
    "  h5prep transform data/recipes/3dcorrection.yaml -o 3dc\n"
    "  python3 -c \"import numpy as np; print(np.load('3dc/train/x-00000.npy').shape)\"\n";

static const char *usage_info =
    "Usage: h5prep info [--json] FILE[:DATASET]|DIR...\n"
    "\n"
    "FILE: lists every dataset of the file with its shape, type (and byte order when big-endian),\n"
    "chunk shape, filters, the CF attributes h5prep honours (_FillValue, missing_value, scale_factor,\n"
    "add_offset, valid_*) and the axis names of netCDF-4 dimensions. FILE:DATASET lists only that\n"
    "dataset, or the datasets under it when it is a group; the split is stats' (at the first ':/',\n"
    "else at the last ':'), and an argument that names an existing file is that file. FILE may be a\n"
    "quoted glob: each matching file, in name order, is listed under its name.\n"
    "DIR (the output directory of 'h5prep transform'): summarises it from its index.json: splits and\n"
    "their rows, each output's per-sample shape, dtype, normalization and axis names, and the sizes\n"
    "of the HDF5 files and .npy shards.\n"
    "\n"
    "      --json            print one JSON document (format h5prep-info/1, README.md) instead:\n"
    "                        {\"files\": [{\"file\", \"datasets\": [...]}, ...]} for files, with\n"
    "                        \"dirs\": [...] when DIRs are given too; a lone DIR gives its summary.\n"
    "\n"
    "Examples:\n"
    "  h5prep info data/nc4uvt.nc                      # every dataset\n"
    "  h5prep info data/nc4uvt.nc:/T                   # one dataset; data/nc4uvt.nc:/grp1 its group\n"
    "  h5prep info 'era5/*.nc:/t' --json               # dataset /t of each file, as JSON\n"
    "  h5prep info radar-out                           # a transform's output directory\n";

/* The library's warnings (doubtful input that h5prep reads on), one line each. */
static void print_warning(const char *msg, void *user)
{
    (void)user;
    fprintf(stderr, "h5prep: warning: %s\n", msg);
}

static int fail(h5prep_status st)
{
    fprintf(stderr, "h5prep: %s\n", h5prep_last_error());
    return st == H5PREP_ERR_INTERRUPTED ? 128 + (int)g_signal : (int)st;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int usage_error(const char *cmd, const char *fmt, ...)
{
    fprintf(stderr, "h5prep %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nhint: 'h5prep help %s' lists the options\n", cmd);
    return H5PREP_ERR_USAGE;
}

/* Edit distance of a[0..na) and b counting a swap of neighbours as one edit (optimal string
 * alignment); at most 64 characters of each (longer never match). */
static size_t edit_distance(const char *a, size_t na, const char *b)
{
    size_t nb = strlen(b);
    unsigned char d[65][65];
    if (na > 64 || nb > 64)
        return SIZE_MAX;
    for (size_t i = 0; i <= na; i++)
        for (size_t j = 0; j <= nb; j++) {
            if (i == 0 || j == 0) {
                d[i][j] = (unsigned char)(i + j);
                continue;
            }
            unsigned best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1u < best)
                best = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < best)
                best = d[i][j - 1] + 1u;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1u < best)
                best = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned char)best;
        }
    return d[na][nb];
}

/* After getopt_long's own message for an option it does not know (`arg`, the argument it stopped
 * at): the closest long option of opts, when it is a near miss, and where the options are listed. */
static int unknown_option(const char *cmd, const char *arg, const struct option *opts)
{
    if (arg && strncmp(arg, "--", 2) == 0) {
        const char *name = arg + 2;
        size_t len = strcspn(name, "=");
        const char *best = NULL;
        size_t best_d = SIZE_MAX;
        for (const struct option *o = opts; o->name; o++) {
            size_t d = edit_distance(name, len, o->name);
            if (d < best_d)
                best = o->name, best_d = d;
        }
        if (best && best_d > 0 && best_d <= (len < 6 ? 1 : 2))
            fprintf(stderr, "h5prep %s: did you mean --%s?\n", cmd, best);
    }
    fprintf(stderr, "hint: 'h5prep help %s' lists the options\n", cmd);
    return H5PREP_ERR_USAGE;
}

/* ---- progress ------------------------------------------------------------------------- */

typedef struct progress_state {
    double last;
    int drawn;
} progress_state;

static void draw_progress(const h5prep_progress *p, void *user)
{
    progress_state *ps = user;
    int done = p->bytes_done >= p->bytes_total;
    if (!done && p->seconds - ps->last < 0.1)
        return;
    ps->last = p->seconds;
    double frac = p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total : 1.0;
    double rate = p->seconds > 0 ? (double)p->bytes_done / p->seconds : 0.0;
    double left = rate > 0 ? (double)(p->bytes_total - p->bytes_done) / rate : 0.0;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r[%s] %3.0f%%  %" PRIu64 "/%" PRIu64 " rows  %.2f GB/s  %d:%02d left ", bar, 100 * frac,
            p->rows_done, p->rows_total, rate / 1e9, (int)left / 60, (int)left % 60);
    ps->drawn = 1;
}

static void end_progress(progress_state *ps)
{
    if (ps->drawn)
        fprintf(stderr, "\r%*s\r", 79, "");
}

/* ---- option parsing --------------------------------------------------------------------- */

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v <= 0)
        return -1;
    double mult = 1;
    if (*end == 'K' || *end == 'k')
        mult = 1024.0, end++;
    else if (*end == 'M' || *end == 'm')
        mult = 1024.0 * 1024, end++;
    else if (*end == 'G' || *end == 'g')
        mult = 1024.0 * 1024 * 1024, end++;
    if (*end == 'i' || *end == 'B')
        end += *end == 'i' && end[1] == 'B' ? 2 : 1;
    if (*end || v * mult < 1024)
        return -1;
    *out = (size_t)(v * mult);
    return 0;
}

/* An integer option within [lo, hi] into *out; 0, or the usage exit code after saying why. */
static int int_option(const char *cmd, const char *opt, const char *arg, long lo, long hi, int *out)
{
    long v;
    if (parse_int(arg, lo, hi, &v))
        return usage_error(cmd, "%s %s: expected an integer from %ld to %ld", opt, arg, lo, hi);
    *out = (int)v;
    return 0;
}

/* "none", "2", "-1" or "1,2,3" (consecutive). Returns 0, or an exit code after printing why. */
static int parse_axes(const char *s, h5prep_stats_config *c)
{
    if (strcmp(s, "none") == 0) {
        c->keep_first = 0;
        c->keep_count = 0;
        return 0;
    }
    long axes[H5PREP_MAX_RANK];
    int n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || n == H5PREP_MAX_RANK || v < -H5PREP_MAX_RANK || v >= H5PREP_MAX_RANK) {
            fprintf(stderr, "h5prep stats: --keep-axes %s: expected 'none', an axis (2, -1) or consecutive axes (1,2)\n", s);
            return H5PREP_ERR_AXES;
        }
        axes[n++] = v;
        if (*end == 0)
            break;
        if (*end != ',') {
            fprintf(stderr, "h5prep stats: --keep-axes %s: expected 'none', an axis (2, -1) or consecutive axes (1,2)\n", s);
            return H5PREP_ERR_AXES;
        }
        p = end + 1;
    }
    for (int i = 1; i < n; i++) {
        if (axes[i] != axes[i - 1] + 1 || (axes[0] < 0 && axes[i] >= 0)) {
            fprintf(stderr, "h5prep stats: --keep-axes %s: kept axes must be consecutive and increasing, e.g. 1,2,3\n"
                            "hint: reorder the data, or compute statistics per axis in separate runs\n", s);
            return H5PREP_ERR_AXES;
        }
    }
    c->keep_first = (int)axes[0];
    c->keep_count = n;
    return 0;
}

/* ---- output ----------------------------------------------------------------------------- */

static void feature_index(const h5prep_var_view *v, uint64_t f, char *dst, size_t cap)
{
    uint64_t idx[H5PREP_MAX_RANK];
    for (int a = v->feature_rank - 1; a >= 0; a--) {
        idx[a] = f % v->feature_shape[a];
        f /= v->feature_shape[a];
    }
    size_t len = (size_t)snprintf(dst, cap, "[");
    for (int a = 0; a < v->feature_rank && len < cap; a++)
        len += (size_t)snprintf(dst + len, cap - len, "%s%" PRIu64, a ? "," : "", idx[a]);
    if (len < cap)
        snprintf(dst + len, cap - len, "]");
    if (v->feature_rank == 0)
        snprintf(dst, cap, "all");
}

static void print_shape(FILE *out, int rank, const uint64_t *d)
{
    fputc('(', out);
    for (int a = 0; a < rank; a++)
        fprintf(out, "%s%" PRIu64, a ? ", " : "", d[a]);
    fputs(rank == 1 ? ",)" : ")", out);
}

static void print_summary(const h5prep_stats *s, int ddof)
{
    enum { SHOW = 12 };
    for (size_t i = 0; i < h5prep_stats_nvars(s); i++) {
        h5prep_var_view v;
        if (h5prep_stats_var(s, i, &v) != H5PREP_OK)
            continue;
        printf("%s  shape ", v.name);
        print_shape(stdout, v.rank, v.shape);
        printf("  features ");
        print_shape(stdout, v.feature_rank, v.feature_shape);
        printf("\n  %-12s %12s %10s %14s %14s %14s %14s  %s\n", "feature", "count", "missing", "mean", "std",
               "min", "max", "flags");
        for (uint64_t f = 0; f < v.n_features && f < SHOW; f++) {
            const h5prep_moments *m = &v.moments[f];
            char idx[64];
            feature_index(&v, f, idx, sizeof idx);
            const double *ws = h5prep_stats_var_wsum(s, i); /* --weights: weighted mean and std */
            unsigned fl = ws ? h5prep_weighted_flags(m, ws[f], ddof) : h5prep_moments_flags(m, ddof);
            double var = ws ? h5prep_weighted_variance(m, ws[f], ddof) : h5prep_moments_variance(m, ddof);
            int has_mean = ws ? ws[f] > 0 : m->n > 0;
            printf("  %-12s %12" PRId64 " %10" PRId64 " %14.7g %14.7g %14.7g %14.7g  %s\n", idx, m->n, m->missing,
                   has_mean ? m->mean : NAN, sqrt(var), m->n ? m->min : NAN, m->n ? m->max : NAN,
                   fl & H5PREP_FLAG_EMPTY ? "empty" : fl & H5PREP_FLAG_CONSTANT ? "constant" : "");
        }
        if (v.n_features > SHOW)
            printf("  ... %" PRIu64 " more features: write them all with -o FILE.json or --json\n", v.n_features - SHOW);
    }
}

/* Below the summary table of a run with --quantiles: the first features' quantiles, from the sketch. */
static void print_quantiles(const h5prep_stats *s, const double *levels, size_t nq)
{
    enum { SHOW = 12 };
    for (size_t i = 0; i < h5prep_stats_nvars(s); i++) {
        h5prep_var_view v;
        uint64_t nf = h5prep_stats_var(s, i, &v) == H5PREP_OK ? (v.n_features < SHOW ? v.n_features : SHOW) : 0;
        double *q = nf ? malloc(v.n_features * nq * sizeof *q) : NULL;
        uint64_t *collapsed = nf ? malloc(v.n_features * sizeof *collapsed) : NULL;
        if (q && collapsed && h5prep_stats_quantiles(s, i, levels, nq, q) == H5PREP_OK &&
            h5prep_stats_collapsed(s, i, collapsed) == H5PREP_OK) {
            printf("%s  quantiles (within the sketch's alpha unless collapsed)\n  %-12s", v.name, "feature");
            for (size_t k = 0; k < nq; k++)
                printf(" %14.6g", levels[k]);
            printf("  %s\n", "collapsed");
            for (uint64_t f = 0; f < nf; f++) {
                char idx[64];
                feature_index(&v, f, idx, sizeof idx);
                printf("  %-12s", idx);
                for (size_t k = 0; k < nq; k++)
                    printf(" %14.7g", q[f * nq + k]);
                printf("  %" PRIu64 "\n", collapsed[f]);
            }
        }
        free(q);
        free(collapsed);
    }
}

/* Creates the folders above `path` that do not exist (as `mkdir -p` of its dirname); 0 or the
 * output exit code after saying why. */
static int make_parents(const char *path)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return 0; /* too long to be a path here: let the write say what is wrong */
    for (size_t len = strlen(dir); len > 1 && dir[len - 1] == '/'; len--)
        dir[len - 1] = 0; /* "out/" names the folder "out" */
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    for (char *p = dir + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
                fprintf(stderr, "h5prep: %s: cannot create the folder for %s: %s\n", dir, path, strerror(errno));
                return H5PREP_ERR_OUTPUT;
            }
            *p = c;
            if (c == 0)
                break;
        }
    }
    return 0;
}

static int out_of_memory(void)
{
    fprintf(stderr, "h5prep: out of memory\n");
    return H5PREP_ERR_NOMEM;
}

static int emit(h5prep_stats *s, const char *out, int json, int ddof)
{
    h5prep_status st;
    int rc;
    if (out && (rc = make_parents(out)) != 0)
        return rc;
    if (out && (st = h5prep_stats_write(s, out)) != H5PREP_OK)
        return fail(st);
    if (json) {
        char *text = h5prep_stats_json(s);
        if (!text) {
            fprintf(stderr, "h5prep: out of memory while printing JSON\n");
            return H5PREP_ERR_NOMEM;
        }
        puts(text);
        free(text);
    }
    if (!out && !json)
        print_summary(s, ddof);
    return fflush(stdout) == 0 ? 0 : H5PREP_ERR_OUTPUT;
}

/* SIGINT, SIGTERM (timeout, Slurm, docker stop) and SIGHUP stop the run at its next slab; the
 * library removes its temporaries and writes nothing. A second one of the same kind stops at once. */
static void on_signal(int sig)
{
    g_signal = sig;
    h5prep_interrupt();
    signal(sig, SIG_DFL);
}

static void catch_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        sigaction(sigs[i], &sa, NULL);
    }
}

/* ---- commands ----------------------------------------------------------------------------- */

enum { OPT_JSON = 256, OPT_DDOF, OPT_RAW, OPT_MEM, OPT_SLOTS, OPT_THREADS, OPT_BACKEND, OPT_DEVICE, OPT_OVERWRITE, OPT_STAGE_MEM,
       OPT_TWO_PASSES, OPT_DRY_RUN, OPT_PART, OPT_TENDENCY, OPT_WEIGHTS, OPT_WEIGHTS_AXIS };
enum { OPT_QUANTILES = 512, OPT_HISTOGRAM, OPT_SKETCH_ALPHA, OPT_SKETCH_BUCKETS }; /* stats: the quantile sketch */
enum { MAX_QUANTILES = 256 };

/* "0.01,0.5,0.99": levels strictly inside (0, 1). Returns 0, or the usage exit code after saying why. */
static int parse_quantiles(const char *arg, double *q, size_t *n)
{
    *n = 0;
    for (const char *p = arg;; p++) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || (*end != ',' && *end != 0) || *n == MAX_QUANTILES)
            return usage_error("stats", "--quantiles %s: expected levels separated by commas, at most %d, e.g. 0.01,0.5,0.99",
                               arg, MAX_QUANTILES);
        if (!(v > 0 && v < 1))
            return usage_error("stats", "--quantiles %s: level %g is not in (0, 1); min and max are in every document already",
                               arg, v);
        q[(*n)++] = v;
        if (*end == 0)
            return 0;
        p = end;
    }
}

/* The engine options shared by stats and transform: 0 when taken, a usage status when invalid,
 * -1 when opt is not one of them. */
static int engine_option(const char *cmd, int opt, const char *arg, h5prep_stats_config *c)
{
    switch (opt) {
    case OPT_RAW: c->raw = 1; return 0;
    case OPT_MEM:
        if (parse_size(arg, &c->mem_bytes))
            return usage_error(cmd, "--mem %s: expected a size such as 256M or 2G", arg);
        return 0;
    case OPT_SLOTS:
        return int_option(cmd, "--slots", arg, 2, H5PREP_MAX_SLOTS, &c->slots);
    case OPT_THREADS: return int_option(cmd, "--threads", arg, 1, 1024, &c->threads);
    case OPT_DEVICE: return int_option(cmd, "--device", arg, 0, 1023, &c->device);
    case OPT_BACKEND:
        if (strcmp(arg, "auto") == 0)
            c->backend = H5PREP_BACKEND_AUTO;
        else if (strcmp(arg, "cpu") == 0)
            c->backend = H5PREP_BACKEND_CPU;
        else if (strcmp(arg, "cuda") == 0)
            c->backend = H5PREP_BACKEND_CUDA;
        else
            return usage_error(cmd, "--backend %s: expected auto, cpu or cuda", arg);
        return 0;
    default: return -1;
    }
}

/* --sketch-alpha and --sketch-buckets of stats (--quantiles) and transform (normalize: robust). */
static int sketch_option(const char *cmd, int opt, const char *arg, h5prep_stats_config *c)
{
    if (opt == OPT_SKETCH_BUCKETS)
        return int_option(cmd, "--sketch-buckets", arg, 16, 1 << 20, &c->sketch_buckets);
    char *end;
    c->sketch_alpha = strtod(arg, &end);
    if (end == arg || *end || !(c->sketch_alpha >= 1e-6 && c->sketch_alpha <= 0.5))
        return usage_error(cmd, "--sketch-alpha %s: expected a relative accuracy from 1e-6 to 0.5 (default 0.01)", arg);
    return 0;
}

#define ENGINE_OPTIONS                                                                             \
    {"raw", no_argument, 0, OPT_RAW}, {"mem", required_argument, 0, OPT_MEM},                      \
        {"slots", required_argument, 0, OPT_SLOTS}, {"threads", required_argument, 0, OPT_THREADS}, \
        {"backend", required_argument, 0, OPT_BACKEND}, {"device", required_argument, 0, OPT_DEVICE}

/* Under MPI, a rank that stopped because another rank failed gives this code to the gather: its
 * note is not an error of its own. */
enum { RANK_STOPPED = -1 };

/* Under MPI: every rank's exit code and bytes (its message, with its NUL, where rc != 0) go to rank
 * 0, which prints the failing ranks' messages (with verbose also where the others stopped) and
 * returns the first failing rank's code; where none failed, 0 and the ranks' bytes in *g
 * (mpi_gathered_free; zeros on the other ranks). */
static int gather_ranks(const mpi_world *w, int rc, const void *data, size_t len, int verbose, mpi_gathered *g)
{
    if (mpi_world_gather(w, rc, data, len, g) != 0)
        return w->rank == 0 ? out_of_memory() : H5PREP_ERR_NOMEM;
    rc = 0;
    for (int r = 0; w->rank == 0 && r < w->size; r++)
        if (g->rcs[r] > 0 || (g->rcs[r] == RANK_STOPPED && verbose))
            fprintf(stderr, "h5prep: rank %d of %d: %s\n", r, w->size, (const char *)g->data[r]);
    for (int r = 0; w->rank == 0 && r < w->size && !rc; r++)
        rc = g->rcs[r] > 0 ? g->rcs[r] : 0;
    for (int r = 0; w->rank == 0 && r < w->size && !rc; r++) /* stopped, yet none failed: not expected */
        rc = g->rcs[r] ? H5PREP_ERR_INTERNAL : 0;
    if (rc)
        mpi_gathered_free(g);
    return rc;
}

/* Rank r opened other inputs than rank 0 (texts from h5prep_stats_inputs): the first line in
 * which the two lists differ. */
static int inputs_differ(const mpi_world *w, int r, const char *a, const char *b)
{
    size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
    while (*a && *b && la == lb && memcmp(a, b, la) == 0) {
        a += la + 1, b += lb + 1;
        la = strcspn(a, "\n"), lb = strcspn(b, "\n");
    }
    fprintf(stderr, "h5prep: rank %d of %d opened other inputs than rank 0, so no rank reads any data:\n"
                    "  rank 0: %.*s\n  rank %d: %.*s\n"
                    "hint: every rank must see the same files, unchanged while the job runs (a shared file system, the same working directory)\n",
            r, w->size, la ? (int)la : 13, la ? a : "no more files", r, lb ? (int)lb : 13, lb ? b : "no more files");
    return H5PREP_ERR_USAGE;
}

/* Under MPI, before any data is read: every rank opened its inputs, and the same ones (the same
 * files after the globs, with the same rows, size and mtime), or every rank stops here. */
static int agree_on_inputs(const mpi_world *w, const h5prep_stats *s, h5prep_status st)
{
    char *text = st == H5PREP_OK ? h5prep_stats_inputs(s) : NULL;
    int rc = st != H5PREP_OK ? (int)st : text ? 0 : H5PREP_ERR_NOMEM;
    const char *mine = text ? text : st != H5PREP_OK ? h5prep_last_error() : "out of memory";
    mpi_gathered g;
    rc = gather_ranks(w, rc, mine, strlen(mine) + 1, 0, &g);
    free(text);
    for (int r = 1; w->rank == 0 && !rc && r < w->size; r++)
        if (strcmp((const char *)g.data[r], (const char *)g.data[0]) != 0)
            rc = inputs_differ(w, r, (const char *)g.data[0], (const char *)g.data[r]);
    mpi_gathered_free(&g);
    return mpi_world_share_rc(w, rc);
}

/* Under MPI every rank looks, after each slab, whether another rank failed, and then stops there
 * (h5prep_interrupt) instead of reading the rest of its share; the bar is drawn as before. */
typedef struct rank_watch {
    const mpi_world *w;
    progress_state *bar;             /* NULL: no bar */
    uint64_t rows_done, bytes_done;  /* what this rank has read */
    int peer;                        /* the rank whose failure stopped this one, -1: none */
} rank_watch;

static void watch_progress(const h5prep_progress *p, void *user)
{
    rank_watch *rw = user;
    rw->rows_done = p->rows_done, rw->bytes_done = p->bytes_done;
    if (rw->peer < 0 && mpi_world_peer_failed(rw->w, &rw->peer))
        h5prep_interrupt();
    if (rw->bar)
        draw_progress(p, rw->bar);
}

/* Under MPI: a rank that failed tells the others at once; then every rank's part (packed: its
 * states as raw words, h5prep_stats_pack) or its message goes to rank 0, which merges the parts in
 * the fixed tree and writes the output, or prints the failing rank's message; all ranks exit alike. */
static int finish_ranks(const mpi_world *w, h5prep_stats *s, h5prep_status st, const rank_watch *rw,
                        const h5prep_stats_config *c, const char *out, int json, int verbose)
{
    void *packed = NULL;
    size_t len = 0;
    char note[256];
    const char *msg = NULL;
    int rc;
    if (st == H5PREP_ERR_INTERRUPTED && rw->peer >= 0) {
        snprintf(note, sizeof note, "stopped after reading %" PRIu64 " rows (%.1f MB) of its share, because rank %d failed",
                 rw->rows_done, (double)rw->bytes_done / 1e6, rw->peer);
        rc = RANK_STOPPED, msg = note;
    } else if (st != H5PREP_OK) {
        rc = st == H5PREP_ERR_INTERRUPTED ? 128 + (int)g_signal : (int)st, msg = h5prep_last_error();
    } else {
        h5prep_status ps = h5prep_stats_pack(s, &packed, &len);
        rc = (int)ps, msg = ps != H5PREP_OK ? h5prep_last_error() : NULL;
    }
    if (rc > 0)
        mpi_world_tell(w, rc);
    mpi_world_unwatch(w);
    mpi_gathered g;
    rc = gather_ranks(w, rc, msg ? (const void *)msg : packed, msg ? strlen(msg) + 1 : len, verbose, &g);
    free(packed);
    if (w->rank == 0 && !rc) {
        h5prep_stats *m = h5prep_stats_create(c);
        h5prep_status ms = m ? H5PREP_OK : H5PREP_ERR_NOMEM;
        for (int r = 0; r < w->size && ms == H5PREP_OK; r++) {
            char name[32];
            snprintf(name, sizeof name, "rank %d", r);
            ms = h5prep_stats_load_packed(m, g.data[r], g.lens[r], name);
        }
        if (m)
            h5prep_stats_set_ranks(m, w->size);
        rc = ms == H5PREP_OK ? emit(m, out, json, c->ddof) : m ? fail(ms) : out_of_memory();
        h5prep_stats_destroy(m);
    }
    mpi_gathered_free(&g);
    return mpi_world_share_rc(w, rc);
}

static int cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'},    {"json", no_argument, 0, OPT_JSON},
        {"keep-axes", required_argument, 0, 'k'}, {"ddof", required_argument, 0, OPT_DDOF},
        {"part", required_argument, 0, OPT_PART}, {"tendency", required_argument, 0, OPT_TENDENCY}, ENGINE_OPTIONS,
        {"weights", required_argument, 0, OPT_WEIGHTS}, {"weights-axis", required_argument, 0, OPT_WEIGHTS_AXIS},
        {"quiet", no_argument, 0, 'q'},           {"verbose", no_argument, 0, 'v'},
        {"quantiles", required_argument, 0, OPT_QUANTILES}, {"histogram", required_argument, 0, OPT_HISTOGRAM},
        {"sketch-alpha", required_argument, 0, OPT_SKETCH_ALPHA}, {"sketch-buckets", required_argument, 0, OPT_SKETCH_BUCKETS},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    h5prep_stats_config c = h5prep_stats_config_default();
    double levels[MAX_QUANTILES]; /* c.quantiles: lives as long as the handle */
    c.device = -1; /* not given: the node-local rank's device */
    const char *out = NULL;
    int json = 0, quiet = 0, verbose = 0, opt, rc, part_i = 0, part_n = 0, weights_axis = -1;
    int lags[H5PREP_MAX_TENDENCIES + 1], nlags = 0; /* one more: the library refuses what is too many */
    const char *weights = NULL;
    while ((opt = getopt_long(argc, argv, "o:k:qvh", opts, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case OPT_WEIGHTS: weights = optarg; break;
        case OPT_WEIGHTS_AXIS:
            if ((rc = int_option("stats", "--weights-axis", optarg, 0, H5PREP_MAX_RANK - 1, &weights_axis)) != 0)
                return rc;
            break;
        case OPT_JSON: json = 1; break;
        case OPT_PART: {
            char tail;
            if (sscanf(optarg, "%d/%d%c", &part_i, &part_n, &tail) != 2 || part_n < 1 || part_i < 1 || part_i > part_n)
                return usage_error("stats", "--part %s: expected I/N with 1 <= I <= N, e.g. --part 3/16", optarg);
            break;
        }
        case 'k':
            if ((rc = parse_axes(optarg, &c)) != 0)
                return rc;
            break;
        case OPT_TENDENCY:
            if (nlags > H5PREP_MAX_TENDENCIES)
                return usage_error("stats", "--tendency %s: at most %d lags", optarg, H5PREP_MAX_TENDENCIES);
            if ((rc = int_option("stats", "--tendency", optarg, 1, INT32_MAX, &lags[nlags++])) != 0)
                return rc;
            break;
        case OPT_DDOF:
            if ((rc = int_option("stats", "--ddof", optarg, 0, 1000000, &c.ddof)) != 0)
                return rc;
            break;
        case 'q': quiet = 1; break;
        case 'v': verbose = 1; break;
        case OPT_QUANTILES:
            if ((rc = parse_quantiles(optarg, levels, &c.nquantiles)) != 0)
                return rc;
            c.quantiles = levels;
            break;
        case OPT_HISTOGRAM:
            if ((rc = int_option("stats", "--histogram", optarg, 1, 1000000, &c.histogram_bins)) != 0)
                return rc;
            break;
        case OPT_SKETCH_ALPHA:
        case OPT_SKETCH_BUCKETS:
            if ((rc = sketch_option("stats", opt, optarg, &c)) != 0)
                return rc;
            break;
        case 'h': fputs(usage_stats, stdout); return 0;
        default:
            if ((rc = engine_option("stats", opt, optarg, &c)) >= 0) {
                if (rc)
                    return rc;
                break;
            }
            return unknown_option("stats", argv[optind - 1], opts);
        }
    }
    if (optind >= argc)
        return usage_error("stats", "no inputs: give at least one FILE:DATASET (e.g. data/nc4uvt.nc:/T)");
    mpi_world w;
    if (mpi_world_start(&w) != 0)
        return H5PREP_ERR_USAGE;
    if (w.size > 1 && part_n) {
        mpi_world_end(&w);
        return usage_error("stats", "--part %d/%d under %d MPI ranks: the ranks are the parts already", part_i, part_n, w.size);
    }
    if (w.size > 1) {
        part_i = w.rank + 1, part_n = w.size;
        quiet |= w.rank != 0;
    }
    if (c.device < 0)
        c.device = w.local_rank;
    progress_state ps = {0, 0};
    if (!quiet && isatty(STDERR_FILENO)) {
        c.progress = draw_progress;
        c.progress_user = &ps;
    }
    rank_watch rw = {&w, c.progress ? &ps : NULL, 0, 0, -1};
    if (w.size > 1) {
        c.progress = watch_progress;
        c.progress_user = &rw;
    }
    h5prep_stats *s = h5prep_stats_create(&c);
    if (!s)
        return out_of_memory();
    h5prep_status st = part_n ? h5prep_stats_set_part(s, part_i, part_n) : H5PREP_OK;
    for (int i = 0; i < nlags && st == H5PREP_OK; i++)
        st = h5prep_stats_add_tendency(s, lags[i]);
    if (st == H5PREP_OK && (weights || weights_axis >= 0))
        st = h5prep_stats_set_weights(s, weights, weights_axis);
    for (int i = optind; i < argc && st == H5PREP_OK; i++)
        st = h5prep_stats_add(s, argv[i]);
    if (w.size > 1 && (rc = agree_on_inputs(&w, s, st)) != 0) {
        mpi_world_end(&w);
        h5prep_stats_destroy(s);
        return rc;
    }
    if (w.size > 1)
        mpi_world_watch(&w);
    if (st == H5PREP_OK) {
        st = h5prep_stats_run(s);
        end_progress(&ps);
        const char *notice = h5prep_stats_backend_notice(s);
        /* AUTO without a GPU is the ordinary case on a laptop: the fallback is said with --verbose */
        if (notice && !quiet && w.rank == 0 && verbose)
            fprintf(stderr, "h5prep: %s\n", notice);
        const char *isa = h5prep_stats_backend_isa(s); /* the CPU kernels' path */
        for (size_t i = 0; verbose && st == H5PREP_OK && i < h5prep_stats_nvars(s); i++) {
            h5prep_var_view view;
            if (h5prep_stats_var(s, i, &view) == H5PREP_OK && view.read_path)
                fprintf(stderr, "h5prep: %s: %s, backend %s%s%s\n", view.name, view.read_path,
                        h5prep_stats_backend_name(s), isa ? ", kernels " : "", isa ? isa : "");
        }
    }
    if (w.started && w.size == 1)
        h5prep_stats_set_ranks(s, 1);
    if (w.size > 1)
        rc = finish_ranks(&w, s, st, &rw, &c, out, json, verbose);
    else
        rc = st == H5PREP_OK ? emit(s, out, json, c.ddof) : fail(st);
    if (rc == 0 && w.size <= 1 && !out && !json && c.nquantiles)
        print_quantiles(s, c.quantiles, c.nquantiles);
    mpi_world_end(&w);
    h5prep_stats_destroy(s);
    return rc;
}

static void print_report(const h5prep_transform_report *r)
{
    printf("%s: %" PRIu64 " samples", r->out_dir, r->samples);
    for (int k = 0; k < r->nsplits; k++)
        printf("%s %s %" PRIu64, k ? "," : " ->", r->split_names[k], r->split_rows[k]);
    printf("\nread %.3f GB, wrote %.3f GB in %.2f s (%.2f GB/s read) on the %s backend, %s\n",
           (double)r->bytes_read / 1e9, (double)r->bytes_written / 1e9, r->seconds,
           r->seconds > 0 ? (double)r->bytes_read / 1e9 / r->seconds : 0.0, r->backend,
           r->passes == 1 ? "in one pass" : r->staged_in_memory ? "two passes, staged in memory" : "two passes, staged on disk");
}

static int cmd_transform(int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, 0, 'i'}, {"out", required_argument, 0, 'o'},
        {"overwrite", no_argument, 0, OPT_OVERWRITE}, {"stage-mem", required_argument, 0, OPT_STAGE_MEM},
        {"dry-run", no_argument, 0, 'n'}, {"two-passes", no_argument, 0, OPT_TWO_PASSES}, ENGINE_OPTIONS,
        {"sketch-alpha", required_argument, 0, OPT_SKETCH_ALPHA}, {"sketch-buckets", required_argument, 0, OPT_SKETCH_BUCKETS},
        {"quiet", no_argument, 0, 'q'},       {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    h5prep_transform_config c = h5prep_transform_config_default();
    char **inputs = calloc((size_t)argc, sizeof *inputs);
    if (!inputs) {
        fprintf(stderr, "h5prep: out of memory\n");
        return H5PREP_ERR_NOMEM;
    }
    int quiet = 0, verbose = 0, dry_run = 0, opt, rc = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, "i:o:nqvh", opts, NULL)) != -1) {
        switch (opt) {
        case 'n': dry_run = 1; break;
        case 'i': inputs[c.ninputs++] = optarg; break;
        case 'o': c.out_dir = optarg; break;
        case OPT_OVERWRITE: c.overwrite = 1; break;
        case OPT_TWO_PASSES: c.two_passes = 1; break;
        case OPT_STAGE_MEM:
            if (strcmp(optarg, "0") == 0)
                c.stage_mem = 0;
            else if (parse_size(optarg, &c.stage_mem))
                rc = usage_error("transform", "--stage-mem %s: expected a size such as 0, 512M or 8G", optarg);
            break;
        case 'q': quiet = 1; break;
        case 'v': verbose = 1; break;
        case OPT_SKETCH_ALPHA:
        case OPT_SKETCH_BUCKETS: rc = sketch_option("transform", opt, optarg, &c.engine); break;
        case 'h': fputs(usage_transform, stdout); free(inputs); return 0;
        default:
            if ((rc = engine_option("transform", opt, optarg, &c.engine)) < 0)
                rc = unknown_option("transform", argv[optind - 1], opts);
        }
    }
    if (rc == 0 && optind != argc - 1)
        rc = usage_error("transform", optind >= argc ? "no recipe: give one RECIPE.yaml (e.g. data/recipes/3dcorrection.yaml)"
                                                     : "give exactly one recipe (got %d arguments)", argc - optind);
    if (rc != 0) {
        free(inputs);
        return rc;
    }
    c.inputs = c.ninputs ? inputs : NULL;
    if (dry_run) { /* before make_parents: nothing is created */
        char *text;
        h5prep_status st = h5prep_transform_plan(argv[optind], &c, &text);
        free(inputs);
        if (st != H5PREP_OK)
            return fail(st);
        fputs(text, stdout);
        free(text);
        return fflush(stdout) == 0 ? 0 : H5PREP_ERR_OUTPUT;
    }
    progress_state ps = {0, 0};
    if (!quiet && isatty(STDERR_FILENO)) {
        c.engine.progress = draw_progress;
        c.engine.progress_user = &ps;
    }
    h5prep_transform_report rep;
    if (c.out_dir && (rc = make_parents(c.out_dir)) != 0) {
        free(inputs);
        return rc;
    }
    h5prep_status st = h5prep_transform(argv[optind], &c, &rep);
    end_progress(&ps);
    free(inputs);
    if (st != H5PREP_OK)
        return fail(st);
    if (rep.notice[0] && verbose)
        fprintf(stderr, "h5prep: %s\n", rep.notice);
    if (verbose && rep.passes == 1)
        fprintf(stderr, "h5prep: one pass: every output's factors were known before reading (normalize none or a stats file)\n");
    else if (verbose)
        fprintf(stderr, "h5prep: two passes, rows staged %s: %s\n", rep.staged_in_memory ? "in memory" : "on disk", rep.staged_why);
    if (!quiet)
        print_report(&rep);
    return fflush(stdout) == 0 ? 0 : H5PREP_ERR_OUTPUT;
}

static int cmd_merge(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"json", no_argument, 0, OPT_JSON},
                                         {"ddof", required_argument, 0, OPT_DDOF},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    h5prep_stats_config c = h5prep_stats_config_default();
    const char *out = NULL;
    int json = 0, opt, rc;
    while ((opt = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_DDOF:
            if ((rc = int_option("merge", "--ddof", optarg, 0, 1000000, &c.ddof)) != 0)
                return rc;
            break;
        case 'h': fputs(usage_merge, stdout); return 0;
        default: return unknown_option("merge", argv[optind - 1], opts);
        }
    }
    if (optind >= argc)
        return usage_error("merge", "no inputs: give the statistics files to merge");
    if (!out && !json)
        return usage_error("merge", "no output: give -o OUT.json (or .h5), or --json");
    h5prep_stats *s = h5prep_stats_create(&c);
    if (!s)
        return out_of_memory();
    h5prep_status st = H5PREP_OK;
    for (int i = optind; i < argc && st == H5PREP_OK; i++)
        st = h5prep_stats_load(s, argv[i]);
    rc = st == H5PREP_OK ? emit(s, out, json, c.ddof) : fail(st);
    h5prep_stats_destroy(s);
    return rc;
}

static int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, 0, OPT_JSON}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int json = 0, opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_JSON: json = 1; break;
        case 'h': fputs(usage_info, stdout); return 0;
        default: return unknown_option("info", argv[optind - 1], opts);
        }
    }
    if (optind >= argc)
        return usage_error("info", "give at least one FILE, FILE:DATASET or transform output DIR");
    char *text;
    h5prep_status st = h5prep_info_text((const char *const *)argv + optind, (size_t)(argc - optind), json, &text);
    if (st != H5PREP_OK)
        return fail(st);
    size_t len = strlen(text);
    fputs(text, stdout);
    if (!len || text[len - 1] != '\n')
        putchar('\n');
    free(text);
    return fflush(stdout) == 0 ? 0 : H5PREP_ERR_OUTPUT;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "h5prep %s", h5prep_version());
        fputs(usage_main, stderr);
        return H5PREP_ERR_USAGE;
    }
    const char *cmd = argv[1];
    h5prep_set_warning_handler(print_warning, NULL);
    if (mpi_launched() > 1 && strcmp(cmd, "stats") != 0) {
        fprintf(stderr, "h5prep %s: started as %d MPI ranks, but only 'h5prep stats' runs over MPI ranks so far\n"
                        "hint: run 'h5prep %s' without mpirun (one process)\n", cmd, mpi_launched(), cmd);
        return H5PREP_ERR_USAGE;
    }
    if (strcmp(cmd, "stats") == 0 || strcmp(cmd, "merge") == 0 || strcmp(cmd, "transform") == 0)
        catch_signals(); /* for the whole command: its output is written under the handler too */
    if (strcmp(cmd, "stats") == 0)
        return cmd_stats(argc - 1, argv + 1);
    if (strcmp(cmd, "merge") == 0)
        return cmd_merge(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "transform") == 0)
        return cmd_transform(argc - 1, argv + 1);
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("h5prep %s\n", h5prep_version());
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        const char *topic = argc > 2 ? argv[2] : "";
        if (strcmp(topic, "stats") == 0 || strcmp(topic, "merge") == 0 || strcmp(topic, "info") == 0 ||
            strcmp(topic, "transform") == 0)
            fputs(strcmp(topic, "stats") == 0   ? usage_stats
                  : strcmp(topic, "merge") == 0 ? usage_merge
                  : strcmp(topic, "info") == 0  ? usage_info
                                                : usage_transform,
                  stdout);
        else
            printf("h5prep %s", h5prep_version()), fputs(usage_main, stdout);
        return 0;
    }
    fprintf(stderr, "h5prep: unknown command '%s'\nhint: the commands are stats, transform, merge and info; see 'h5prep help'\n", cmd);
    return H5PREP_ERR_USAGE;
}
