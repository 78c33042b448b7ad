/* test_labels.c: per-file values as inputs (a root attribute, a 0-d dataset, a column of a CSV
 * catalog joined by file name), so that one file per sample becomes (x, label) in one transform;
 * on the CPU and through the SIMT harness, and the bad catalogs and files that must stop a run. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NS = 6 }; /* samples: one file each */
/* In sorted order, as the glob gives them; one name holds a comma (quoted in the catalog). */
static const char *const NAMES[NS] = {"a0.h5", "a1.h5", "b,2.h5", "b3.h5", "c4.h5", "c5.h5"};

static double X(int s, int i, int j) { return 100.0 * s + 10.0 * i + j + 0.25; }
static double EF(int s) { return (double)(s * 3 % 5); }     /* the attribute ef_number */
static double CAT(int s) { return (double)(s % 2); }        /* the catalog's category */
static double MAG(int s) { return -1.5 * s + 0.125; }       /* the catalog's magnitude */

/* NS files of DBZ (4, 5) float32 with a root attribute ef_number (float64; skip_attr >= 0 leaves
 * it out of that file) and a 0-d int32 dataset /ef = 10 + s. Returns the directory. */
static const char *make_samples(int skip_attr)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s", tu_dir());
    for (int s = 0; s < NS; s++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", dir, NAMES[s]);
        float x[20];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 5; j++)
                x[i * 5 + j] = (float)X(s, i, j);
        uint64_t d[] = {4, 5};
        tu_write(path, "DBZ", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d, x, 0);
        int ef = 10 + s;
        tu_write(path, "ef", H5T_STD_I32LE, H5T_NATIVE_INT, 0, d, &ef, 0);
        double e = EF(s);
        if (s != skip_attr)
            tu_attr(path, "/", "ef_number", H5T_IEEE_F64LE, &e, 1);
    }
    return dir;
}

/* The catalog: a UTF-8 BOM, quoted fields (a comma in a name, a note with quotes and a line
 * break), rows out of order, keys as a trailing part of the path; skip >= 0 leaves that sample out. */
static void write_catalog(const char *dir, int skip)
{
    char text[4096], path[700];
    size_t len = (size_t)snprintf(text, sizeof text, "\xef\xbb\xbf" "filename,note,category,magnitude\r\n");
    for (int k = 0; k < NS; k++) {
        int s = (k * 5 + 2) % NS; /* 2, 1, 0, 5, 4, 3 */
        if (s == skip)
            continue;
        const char *slash = strrchr(dir, '/');
        const char *name = NAMES[s];
        char key[700];
        if (s == 4) /* the directory's name and the file's */
            snprintf(key, sizeof key, "%s/%s", slash + 1, name);
        else
            snprintf(key, sizeof key, "%s", name);
        len += (size_t)snprintf(text + len, sizeof text - len, "%s%s%s,\"note \"\"%d\"\"\nline 2\",%g,%.17g\r\n",
                                strchr(name, ',') ? "\"" : "", key, strchr(name, ',') ? "\"" : "", s, CAT(s), MAG(s));
    }
    snprintf(path, sizeof path, "%s/catalog.csv", dir);
    tu_write_text(path, text);
}

static int run_recipe(const char *binary, const char *backend, const char *dir, const char *vars, const char *extra,
                      const char *out)
{
    return tu_transform_fmt(binary, backend, out, dir, "labels.yaml",
                            "inputs:\n  - files: '%s/*.h5'\n    per_file: true\n    variables: %s\n"
                            "    catalog: {file: '%s/catalog.csv', key: filename, columns: [category, magnitude]}\n"
                            "outputs:\n  x: {from: x}\n  label: {from: label, cast: float64}\n"
                            "  cat: {from: category, cast: float64}\n  mag: {from: magnitude, cast: float64}\n"
                            "%swrite: {hdf5: true}\n",
                            dir, vars, dir, extra);
}

/* Output file `file` holds the samples `which` (count of them) in that order. */
static void check_samples(const char *file, const int *which, int count, int label_is_ef_dataset)
{
    size_t n;
    double *x = tu_read_all(file, "x", &n), *label = tu_read_all(file, "label", &n);
    cr_assert_eq(n, (size_t)count, "%s: %zu labels, want %d", file, n, count);
    double *cat = tu_read_all(file, "cat", &n), *mag = tu_read_all(file, "mag", &n);
    for (int r = 0; r < count; r++) {
        int s = which[r];
        for (int e = 0; e < 20; e++)
            cr_assert_eq(x[r * 20 + e], X(s, e / 5, e % 5), "%s: x row %d (%s) element %d", file, r, NAMES[s], e);
        double want = label_is_ef_dataset ? 10.0 + s : EF(s);
        cr_assert_eq(label[r], want, "%s: label of row %d (%s) is %g, want %g", file, r, NAMES[s], label[r], want);
        cr_assert_eq(cat[r], CAT(s), "%s: category of %s", file, NAMES[s]);
        cr_assert_eq(mag[r], MAG(s), "%s: magnitude of %s is %.17g", file, NAMES[s], mag[r]);
    }
    free(x), free(label), free(cat), free(mag);
}

static const char *at(const char *dir, const char *name)
{
    static char ring[8][700];
    static int k;
    char *s = ring[k++ % 8];
    snprintf(s, 700, "%s/%s", dir, name);
    return s;
}

Test(labels, attribute_and_catalog_cpu_and_simt)
{
    const char *dir = make_samples(-1);
    write_catalog(dir, -1);
    const int all[NS] = {0, 1, 2, 3, 4, 5};
    const char *vars = "{x: /DBZ, label: {attribute: ef_number}}";
    int rc = run_recipe(H5PREP_CLI, "cpu", dir, vars, "", at(dir, "cpu"));
    cr_assert_eq(rc, 0, "exit %d: %s", rc, tu_stderr());
    check_samples(at(dir, "cpu/all.h5"), all, NS, 0);
    rc = run_recipe(H5PREP_CLI_SIMT, "cuda", dir, vars, "", at(dir, "gpu"));
    cr_assert_eq(rc, 0, "exit %d: %s", rc, tu_stderr());
    check_samples(at(dir, "gpu/all.h5"), all, NS, 0);
}

Test(labels, zero_d_dataset_and_a_split_by_files)
{
    const char *dir = make_samples(-1);
    write_catalog(dir, -1);
    char split[2048];
    snprintf(split, sizeof split, "split: {by: files, assign: {train: ['%s', '%s'], test: '%s'}}\n", at(dir, "a*.h5"),
             at(dir, "c*.h5"), at(dir, "b*.h5"));
    int rc = run_recipe(H5PREP_CLI, "cpu", dir, "{x: /DBZ, label: {dataset: /ef}}", split, at(dir, "out"));
    cr_assert_eq(rc, 0, "exit %d: %s", rc, tu_stderr());
    const int train[] = {0, 1, 4, 5}, test[] = {2, 3};
    check_samples(at(dir, "out/train.h5"), train, 4, 1);
    check_samples(at(dir, "out/test.h5"), test, 2, 1);
}

/* Rows of a file share its value: 3 + 4 rows with ef_number 7 and 9. */
Test(labels, a_value_per_file_repeats_over_its_rows)
{
    const char *dir = tu_dir();
    const int rows[2] = {3, 4};
    const double ef[2] = {7, 9};
    for (int f = 0; f < 2; f++) {
        char path[700];
        snprintf(path, sizeof path, "%s/r%d.h5", dir, f);
        double x[8];
        for (int i = 0; i < rows[f] * 2; i++)
            x[i] = 10.0 * f + i;
        uint64_t d[] = {(uint64_t)rows[f], 2};
        tu_write(path, "x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, d, x, 0);
        tu_attr(path, "/", "ef_number", H5T_STD_I16LE, &ef[f], 1);
    }
    char text[2048], recipe[700];
    snprintf(text, sizeof text,
             "inputs: {files: '%s/r*.h5', variables: {x: /x, ef: {attribute: ef_number}}}\n"
             "outputs:\n  y: {from: {concat: {axis: 1, of: [x, {broadcast: {of: ef, axis: 1, size: 1}}]}}, cast: float64}\n"
             "write: {hdf5: true}\n",
             dir);
    snprintf(recipe, sizeof recipe, "%s/rows.yaml", dir);
    tu_write_text(recipe, text);
    const char *args[] = {"transform", recipe, "--out", at(dir, "out"), "--quiet", NULL};
    cr_assert_eq(tu_cli(args), 0, "%s", tu_stderr());
    size_t n;
    double *y = tu_read_all(at(dir, "out/all.h5"), "y", &n);
    cr_assert_eq(n, 7 * 3);
    for (int r = 0; r < 7; r++) {
        int f = r >= 3, i = r - 3 * f;
        cr_assert(y[r * 3] == 10.0 * f + 2 * i && y[r * 3 + 1] == 10.0 * f + 2 * i + 1, "row %d", r);
        cr_assert_eq(y[r * 3 + 2], ef[f], "row %d takes the value of its file", r);
    }
    free(y);
}

static void fails(const char *dir, const char *vars, int code, const char *const *phrases)
{
    int rc = run_recipe(H5PREP_CLI, "cpu", dir, vars, "", at(dir, "bad"));
    cr_assert_eq(rc, code, "exit %d, want %d: %s", rc, code, tu_stderr());
    for (int i = 0; phrases[i]; i++)
        cr_assert(strstr(tu_stderr(), phrases[i]), "stderr lacks \"%s\": %s", phrases[i], tu_stderr());
    cr_assert(!tu_exists(at(dir, "bad")), "a failed run left its output behind");
}
#define FAILS(dir, vars, code, ...) fails((dir), (vars), (code), (const char *const[]){__VA_ARGS__, NULL})

Test(labels, a_missing_row_or_attribute_is_named)
{
    const char *dir = make_samples(3);
    write_catalog(dir, 4);
    FAILS(dir, "{x: /DBZ, label: {dataset: /ef}}", 2, "catalog.csv: no row names the input file", "c4.h5", "trailing part");
    write_catalog(dir, -1);
    FAILS(dir, "{x: /DBZ, label: {attribute: ef_number}}", 6, "b3.h5: the root group has no attribute ef_number",
          "declared at");
    FAILS(dir, "{x: /DBZ, label: {dataset: /DBZ}}", 9, "dataset /DBZ holds 20 values; a label is one value per file");
}

Test(labels, bad_catalogs_are_refused)
{
    const char *dir = make_samples(-1);
    char csv[700]; /* at()'s buffers are reused */
    snprintf(csv, sizeof csv, "%s", at(dir, "catalog.csv"));
    tu_write_text(csv, "filename,category\na0.h5,1\n");
    FAILS(dir, "{x: /DBZ, label: {dataset: /ef}}", 2, "the header has no column 'magnitude' (it has: filename, category)");
    tu_write_text(csv, "filename,category,magnitude\na0.h5,TOR,1\n");
    FAILS(dir, "{x: /DBZ, label: {dataset: /ef}}", 2, "record 2 (a0.h5): column 'category' is 'TOR', not a number");
    tu_write_text(csv, "filename,category,magnitude\na0.h5,1,2\na0.h5,1,3\n");
    FAILS(dir, "{x: /DBZ, label: {dataset: /ef}}", 2, "key 'a0.h5' is in records 2 and 3");
    tu_write_text(csv, "filename,category,magnitude\na0.h5,1,2\n\"a1.h5,1,2\n");
    FAILS(dir, "{x: /DBZ, label: {dataset: /ef}}", 2, "catalog.csv: near byte", "RFC 4180");
    tu_write_text(csv, "filename,category,magnitude\na0.h5,1\n");
    FAILS(dir, "{x: /DBZ, label: {dataset: /ef}}", 2, "record 2 has 2 fields, but the header has 3");
    char text[1024];
    snprintf(text, sizeof text, "filename,category,magnitude\na0.h5,1,2\n%s/a0.h5,1,2\n", strrchr(dir, '/') + 1);
    tu_write_text(csv, text);
    FAILS(dir, "{x: /DBZ, label: {dataset: /ef}}", 2, "a0.h5 is named by two rows");
}
