/* test_recipe.c: the YAML recipe reader: the shipped 3dcorrection recipe as a tree, every op's
 * parameters and defaults, the split and write sections, and one message per kind of error. */
#include "testutil.h"

#include "plan/plan.h"
#include "plan/recipe.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Writes text to a fresh file in the scratch directory; returns its path. */
static const char *write_recipe(const char *text)
{
    static int k;
    char name[64];
    snprintf(name, sizeof name, "r%d.yaml", k++);
    const char *path = tu_path(name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

static h5p_recipe *load_ok(const char *text)
{
    h5p_recipe *r = NULL;
    const char *path = write_recipe(text);
    h5prep_status st = h5p_recipe_load(path, &r);
    cr_assert_eq(st, H5PREP_OK, "load failed: %s\n%s", h5prep_last_error(), text);
    cr_assert_not_null(r);
    return r;
}

/* Loads text expecting `want`; the message must start with "<path>:<pos>: " and hold each phrase. */
static void load_fails(const char *text, h5prep_status want, const char *pos, const char *const *phrases)
{
    h5p_recipe *r = (h5p_recipe *)1;
    const char *path = write_recipe(text);
    h5prep_status st = h5p_recipe_load(path, &r);
    const char *msg = h5prep_last_error();
    cr_assert_eq(st, want, "status %d (want %d): %s\n%.400s", st, want, msg, text); /* the start of a long text */
    cr_assert_null(r, "the recipe must be NULL on error");
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s:%s: ", path, pos);
    cr_expect(!strncmp(msg, prefix, strlen(prefix)), "message \"%s\" does not start with \"%s\"", msg, prefix);
    for (int i = 0; phrases[i]; i++)
        cr_expect(strstr(msg, phrases[i]), "message \"%s\" lacks \"%s\"", msg, phrases[i]);
}

#define FAILS(text, pos, ...) load_fails((text), H5PREP_ERR_USAGE, (pos), (const char *const[]){__VA_ARGS__, NULL})

#define HEAD "inputs:\n  - files: a.h5\n    variables: [a, b, c]\n"
#define TAIL "write: {dir: out}\n"
/* A recipe whose one output `o` is `from: EXPR` (EXPR written at column 11 of line 5). */
#define WITH_EXPR(expr) HEAD "outputs:\n  o:\n    from: " expr "\n" TAIL

/* ---- the shipped recipe --------------------------------------------------------------------- */

static void expect_var(const h5p_expr *e, const char *name)
{
    cr_assert_eq(e->kind, H5P_OP_VAR);
    cr_assert_str_eq(e->name, name);
    cr_assert_eq(e->nargs, 0);
}

Test(recipe, shipped_3dcorrection)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/data/recipes/3dcorrection.yaml", H5PREP_SOURCE_DIR);
    h5p_recipe *r = NULL;
    cr_assert_eq(h5p_recipe_load(path, &r), H5PREP_OK, "%s", h5prep_last_error());
    cr_assert_str_eq(r->path, path);

    cr_assert_eq(r->ninputs, 1);
    const h5p_input *in = &r->inputs[0];
    cr_assert_eq(in->nfiles, 1);
    cr_assert_str_eq(in->files[0], "3dcorrection.h5");
    static const char *const vars[] = {"sca_inputs", "col_inputs", "hl_inputs", "inter_inputs",
                                       "flux_dn_sw", "flux_up_sw", "flux_dn_lw", "flux_up_lw"};
    cr_assert_eq(in->nvars, 8);
    for (int i = 0; i < 8; i++) {
        char p[64];
        snprintf(p, sizeof p, "/%s", vars[i]);
        cr_assert_str_eq(in->names[i], vars[i]);
        cr_assert_str_eq(in->paths[i], p);
    }
    cr_assert_eq(in->per_file, 0);
    cr_assert_eq(in->line, 8);
    cr_assert_eq(in->col, 5);

    static const char *const outs[] = {"x", "y", "edge", "x_flat", "y_flat"};
    cr_assert_eq(r->noutputs, 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_str_eq(r->outputs[i].name, outs[i]);
        cr_assert_eq(r->outputs[i].norm, H5P_NORM_ZSCORE);
        if (i < 3) /* x, y, edge: per level and feature, as the notebook */
            cr_assert(r->outputs[i].keep_first == 1 && r->outputs[i].keep_count == 2);
        else
            cr_assert(r->outputs[i].keep_first == H5PREP_KEEP_DEFAULT && r->outputs[i].keep_count == 1);
        cr_assert_null(r->outputs[i].stats_path);
        cr_assert_eq(r->outputs[i].dtype, H5P_OUT_F32);
    }
    cr_assert_eq(r->outputs[0].line, 18);
    cr_assert_eq(r->outputs[0].col, 3);

    /* x: concat(axis -1) of hl_inputs, pad(inter_inputs, axis 1, 1+1, zeros), broadcast(sca, 1, 138) */
    const h5p_expr *x = r->outputs[0].expr;
    cr_assert_eq(x->kind, H5P_OP_CONCAT);
    cr_assert_eq(x->line, 20);
    cr_assert_eq(x->col, 7);
    cr_assert_eq(x->axis, -1);
    cr_assert_eq(x->nargs, 3);
    expect_var(x->args[0], "hl_inputs");
    cr_assert_eq(x->args[0]->line, 23);
    cr_assert_eq(x->args[0]->col, 13);
    const h5p_expr *pad = x->args[1];
    cr_assert_eq(pad->kind, H5P_OP_PAD);
    cr_assert_eq(pad->axis, 1);
    cr_assert_eq(pad->before, 1);
    cr_assert_eq(pad->after, 1);
    cr_assert_eq(pad->pad_edge, 0);
    cr_assert_eq(pad->pad_value, 0.0);
    cr_assert_eq(pad->nargs, 1);
    expect_var(pad->args[0], "inter_inputs");
    const h5p_expr *bc = x->args[2];
    cr_assert_eq(bc->kind, H5P_OP_BROADCAST);
    cr_assert_eq(bc->axis, 1);
    cr_assert_eq(bc->size, 138);
    expect_var(bc->args[0], "sca_inputs");

    const h5p_expr *y = r->outputs[1].expr;
    cr_assert_eq(y->kind, H5P_OP_STACK);
    cr_assert_eq(y->axis, -1);
    cr_assert_eq(y->nargs, 4);
    for (int i = 0; i < 4; i++)
        expect_var(y->args[i], vars[4 + i]);

    expect_var(r->outputs[2].expr, "col_inputs");

    const h5p_expr *xf = r->outputs[3].expr;
    cr_assert_eq(xf->kind, H5P_OP_CONCAT);
    cr_assert_eq(xf->axis, 1);
    cr_assert_eq(xf->nargs, 4);
    static const int flat_order[] = {2, 3, 0, 1}; /* hl, inter, sca, col: the notebook's order */
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(xf->args[i]->kind, H5P_OP_FLATTEN);
        cr_assert_eq(xf->args[i]->nargs, 1);
        expect_var(xf->args[i]->args[0], vars[flat_order[i]]);
    }

    /* y_flat: the four fluxes one after another */
    const h5p_expr *yf = r->outputs[4].expr;
    cr_assert_eq(yf->kind, H5P_OP_CONCAT);
    cr_assert_eq(yf->axis, 1);
    cr_assert_eq(yf->nargs, 4);
    for (int i = 0; i < 4; i++)
        expect_var(yf->args[i], vars[4 + i]);

    const h5p_split_spec *s = &r->split;
    cr_assert_eq(s->nsplits, 3);
    cr_assert_str_eq(s->names[0], "train");
    cr_assert_str_eq(s->names[1], "val");
    cr_assert_str_eq(s->names[2], "test");
    cr_assert_eq(s->fractions[0], 0.8);
    cr_assert_eq(s->fractions[1], 0.1);
    cr_assert_eq(s->fractions[2], 0.1);
    cr_assert_eq(s->seed, 42);
    cr_assert_eq(s->group_by, H5P_GROUP_NONE);
    cr_assert_eq(s->shuffle, 1);
    cr_assert_eq(s->stats_split, 0);

    cr_assert_str_eq(r->write.dir, "3dcorrection");
    cr_assert_eq(r->write.hdf5, 1);
    cr_assert_eq(r->write.chunk_rows, 256);
    cr_assert_eq(r->write.gzip, 0);
    cr_assert_eq(r->write.npy, 1);
    cr_assert_eq(r->write.shard_rows, 65536);
    h5p_recipe_free(r);
}

/* ---- ops ------------------------------------------------------------------------------------ */

Test(recipe, op_params_and_defaults)
{
    h5p_recipe *r = load_ok(HEAD "outputs:\n"
                                 "  bc: {from: {broadcast: {of: a, axis: -2, size: 7}}}\n"
                                 "  pad0: {from: {pad: {of: a, axis: 2}}}\n"
                                 "  pad1: {from: {pad: {of: a, axis: -1, before: 3, after: 4, mode: constant, value: -1.5}}}\n"
                                 "  padnan: {from: {pad: {of: a, axis: 1, value: .nan}}}\n"
                                 "  cat: {from: {concat: {of: [a], axis: 1}}}\n"
                                 "  stk: {from: {stack: {of: [a, b, c], axis: -3}}}\n"
                                 "  rs: {from: {reshape: {of: a, shape: [2, -1, 3]}}}\n"
                                 "  fl1: {from: {flatten: a}}\n"
                                 "  fl2: {from: {flatten: {of: b}}}\n"
                                 "  sl0: {from: {slice: {of: a, axis: 1}}}\n"
                                 "  sl1: {from: {slice: {of: a, axis: -1, start: -5, stop: -1, step: 2}}}\n" TAIL);
    cr_assert_eq(r->noutputs, 11);
    const h5p_expr *e = r->outputs[0].expr;
    cr_assert_eq(e->kind, H5P_OP_BROADCAST);
    cr_assert_eq(e->axis, -2);
    cr_assert_eq(e->size, 7);

    e = r->outputs[1].expr;
    cr_assert_eq(e->kind, H5P_OP_PAD);
    cr_assert_eq(e->axis, 2);
    cr_assert_eq(e->before, 0);
    cr_assert_eq(e->after, 0);
    cr_assert_eq(e->pad_edge, 0);
    cr_assert_eq(e->pad_value, 0.0);

    e = r->outputs[2].expr;
    cr_assert_eq(e->axis, -1);
    cr_assert_eq(e->before, 3);
    cr_assert_eq(e->after, 4);
    cr_assert_eq(e->pad_edge, 0);
    cr_assert_eq(e->pad_value, -1.5);
    cr_assert(r->outputs[3].expr->pad_value != r->outputs[3].expr->pad_value, "value: .nan is NaN");

    e = r->outputs[4].expr;
    cr_assert_eq(e->kind, H5P_OP_CONCAT);
    cr_assert_eq(e->nargs, 1);
    expect_var(e->args[0], "a");

    e = r->outputs[5].expr;
    cr_assert_eq(e->kind, H5P_OP_STACK);
    cr_assert_eq(e->axis, -3);
    cr_assert_eq(e->nargs, 3);
    expect_var(e->args[2], "c");

    e = r->outputs[6].expr;
    cr_assert_eq(e->kind, H5P_OP_RESHAPE);
    cr_assert_eq(e->nshape, 3);
    cr_assert_eq(e->shape[0], 2);
    cr_assert_eq(e->shape[1], -1);
    cr_assert_eq(e->shape[2], 3);

    for (int i = 7; i <= 8; i++) {
        e = r->outputs[i].expr;
        cr_assert_eq(e->kind, H5P_OP_FLATTEN);
        cr_assert_eq(e->nargs, 1);
        expect_var(e->args[0], i == 7 ? "a" : "b");
    }

    e = r->outputs[9].expr;
    cr_assert_eq(e->kind, H5P_OP_SLICE);
    cr_assert_eq(e->axis, 1);
    cr_assert_eq(e->start, 0);
    cr_assert_eq(e->stop, INT64_MAX);
    cr_assert_eq(e->step, 1);
    e = r->outputs[10].expr;
    cr_assert_eq(e->axis, -1);
    cr_assert_eq(e->start, -5);
    cr_assert_eq(e->stop, -1);
    cr_assert_eq(e->step, 2);
    h5p_recipe_free(r);
}

Test(recipe, expr_positions_and_nesting)
{
    h5p_recipe *r = load_ok(WITH_EXPR("{slice: {axis: 1, of: {flatten: {reshape: {of: c, shape: [-1]}}}}}"));
    const h5p_expr *e = r->outputs[0].expr;
    cr_assert_eq(e->kind, H5P_OP_SLICE);
    cr_assert_eq(e->line, 6);
    cr_assert_eq(e->col, 12);
    cr_assert_eq(e->args[0]->kind, H5P_OP_FLATTEN);
    cr_assert_eq(e->args[0]->args[0]->kind, H5P_OP_RESHAPE);
    expect_var(e->args[0]->args[0]->args[0], "c");
    cr_assert_eq(e->args[0]->args[0]->args[0]->col, 58);
    cr_assert_eq(r->outputs[0].line, 5);
    cr_assert_eq(r->outputs[0].col, 3);
    h5p_recipe_free(r);
}

/* ---- inputs, outputs, split, write ------------------------------------------------------------ */

Test(recipe, inputs_forms)
{
    h5p_recipe *r = load_ok("inputs:\n"
                            "  files: [a/*.h5, 'b c.h5']\n"
                            "  variables: {t: /grp/temp, q: /q}\n"
                            "  per_file: true\n"
                            "outputs: {o: {from: {stack: {of: [t, q], axis: 1}}}}\n" TAIL);
    cr_assert_eq(r->ninputs, 1);
    const h5p_input *in = &r->inputs[0];
    cr_assert_eq(in->nfiles, 2);
    cr_assert_str_eq(in->files[0], "a/*.h5");
    cr_assert_str_eq(in->files[1], "b c.h5");
    cr_assert_eq(in->nvars, 2);
    cr_assert_str_eq(in->names[0], "t");
    cr_assert_str_eq(in->paths[0], "/grp/temp");
    cr_assert_str_eq(in->names[1], "q");
    cr_assert_str_eq(in->paths[1], "/q");
    cr_assert_eq(in->per_file, 1);
    cr_assert_eq(in->line, 2);
    cr_assert_eq(in->col, 3);
    h5p_recipe_free(r);

    r = load_ok("inputs:\n  - files: a.h5\n    variables: [a]\n  - files: [b1.h5, b2.h5]\n    variables: [b]\n"
                "outputs: {o: {from: {concat: {of: [a, b], axis: 1}}}}\n" TAIL);
    cr_assert_eq(r->ninputs, 2);
    cr_assert_str_eq(r->inputs[1].names[0], "b");
    cr_assert_eq(r->inputs[1].nfiles, 2);
    cr_assert_eq(r->inputs[1].line, 4);
    h5p_recipe_free(r);
}

Test(recipe, output_options)
{
    h5p_recipe *r = load_ok(HEAD "outputs:\n"
                                 "  p: {from: a}\n"
                                 "  q: {from: a, normalize: minmax, cast: float64}\n"
                                 "  r: {from: a, normalize: {method: zscore, keep_axes: [-2, -1], stats: s.h5}, cast: float16}\n"
                                 "  s: {from: a, normalize: {method: none}, cast: bfloat16}\n" TAIL);
    cr_assert_eq(r->outputs[0].norm, H5P_NORM_NONE);
    cr_assert_eq(r->outputs[0].dtype, H5P_OUT_F32);
    cr_assert_eq(r->outputs[0].keep_first, H5PREP_KEEP_DEFAULT);
    cr_assert_eq(r->outputs[1].norm, H5P_NORM_MINMAX);
    cr_assert_eq(r->outputs[1].dtype, H5P_OUT_F64);
    cr_assert_eq(r->outputs[2].norm, H5P_NORM_ZSCORE);
    cr_assert(r->outputs[2].keep_first == -2 && r->outputs[2].keep_count == 2);
    cr_assert_str_eq(r->outputs[2].stats_path, "s.h5");
    cr_assert_eq(r->outputs[2].dtype, H5P_OUT_F16);
    cr_assert_eq(r->outputs[3].norm, H5P_NORM_NONE);
    cr_assert_eq(r->outputs[3].dtype, H5P_OUT_BF16);
    h5p_recipe_free(r);
}

Test(recipe, split_defaults_and_options)
{
    h5p_recipe *r = load_ok(WITH_EXPR("a"));
    cr_assert_eq(r->split.nsplits, 1);
    cr_assert_str_eq(r->split.names[0], "all");
    cr_assert_eq(r->split.fractions[0], 1.0);
    cr_assert_eq(r->split.seed, 0);
    cr_assert_eq(r->split.group_by, H5P_GROUP_NONE);
    cr_assert_eq(r->split.shuffle, 0); /* no split: rows stay in input order */
    cr_assert_eq(r->split.stats_split, 0);
    h5p_recipe_free(r);

    /* no split named train: the first one normalizes */
    r = load_ok(WITH_EXPR("a") "split: {fractions: {fit: 0.25, check: 0.75}, seed: 18446744073709551615, "
                               "group_by: {rows: 64}, shuffle: false}\n");
    cr_assert_eq(r->split.nsplits, 2);
    cr_assert_str_eq(r->split.names[1], "check");
    cr_assert_eq(r->split.seed, UINT64_MAX);
    cr_assert_eq(r->split.group_by, H5P_GROUP_ROWS);
    cr_assert_eq(r->split.group_rows, 64);
    cr_assert_eq(r->split.shuffle, 0);
    cr_assert_eq(r->split.stats_split, 0);
    h5p_recipe_free(r);

    r = load_ok(WITH_EXPR("a") "split: {fractions: {val: 0.2, train: 0.8}, group_by: file}\n");
    cr_assert_eq(r->split.stats_split, 1);
    cr_assert_eq(r->split.group_by, H5P_GROUP_FILE);
    h5p_recipe_free(r);

    r = load_ok(WITH_EXPR("a") "split: {fractions: {train: 0.7, val: 0.3}, normalize_with: val}\n");
    cr_assert_eq(r->split.stats_split, 1);
    h5p_recipe_free(r);
    r = load_ok(WITH_EXPR("a") "split: {fractions: {train: 0.7, val: 0.3}, normalize_with: all}\n");
    cr_assert_eq(r->split.stats_split, -1);
    cr_assert(!r->split.lo_text[0] && !r->split.hi_text[0], "numbers are not dates");
    h5p_recipe_free(r);
    r = load_ok(WITH_EXPR("a") "split: {by: time, coordinate: a, ranges: {train: [2013-01-01, '2016-01-01T00:00Z'], test: [2016-01-01, .inf]}}\n");
    cr_assert_str_eq(r->split.lo_text[0], "2013-01-01");
    cr_assert_str_eq(r->split.hi_text[0], "2016-01-01T00:00Z");
    cr_assert(!r->split.hi_text[1] && isinf(r->split.hi[1]));
    h5p_recipe_free(r);
    FAILS(WITH_EXPR("a") "split: {by: rows, ranges: {train: [2013-01-01, 1]}}\n", "8:36", "split.ranges.train", "expected a number");
}

Test(recipe, write_forms)
{
    h5p_recipe *r = load_ok(HEAD "outputs: {o: {from: a}}\nwrite: {}\n");
    cr_assert_null(r->write.dir);
    cr_assert_eq(r->write.hdf5, 1);
    cr_assert_eq(r->write.chunk_rows, 0);
    cr_assert_eq(r->write.gzip, 0);
    cr_assert_eq(r->write.npy, 0);
    cr_assert_eq(r->write.shard_rows, 0);
    h5p_recipe_free(r);

    r = load_ok(HEAD "outputs: {o: {from: a}}\nwrite: {dir: d, hdf5: false, npy: true}\n");
    cr_assert_str_eq(r->write.dir, "d");
    cr_assert_eq(r->write.hdf5, 0);
    cr_assert_eq(r->write.npy, 1);
    cr_assert_eq(r->write.shard_rows, 0);
    h5p_recipe_free(r);

    r = load_ok(HEAD "outputs: {o: {from: a}}\nwrite: {hdf5: {gzip: 9}, npy: {shard_rows: 0}}\n");
    cr_assert_eq(r->write.hdf5, 1);
    cr_assert_eq(r->write.gzip, 9);
    cr_assert_eq(r->write.npy, 1);
    h5p_recipe_free(r);
}

Test(recipe, dtype_names_and_sizes)
{
    static const struct { h5p_out_dtype t; const char *name; size_t size; } cases[] = {
        {H5P_OUT_F32, "float32", 4}, {H5P_OUT_F64, "float64", 8}, {H5P_OUT_F16, "float16", 2}, {H5P_OUT_BF16, "bfloat16", 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_str_eq(h5p_out_dtype_name(cases[i].t), cases[i].name);
        cr_assert_eq(h5p_out_dtype_size(cases[i].t), cases[i].size);
    }
}

/* ---- errors --------------------------------------------------------------------------------- */

Test(recipe, missing_file)
{
    h5p_recipe *r = (h5p_recipe *)1;
    const char *path = tu_path("no-such-recipe.yaml");
    cr_assert_eq(h5p_recipe_load(path, &r), H5PREP_ERR_FILE_NOT_FOUND);
    cr_assert_null(r);
    cr_assert(strstr(h5prep_last_error(), path), "%s", h5prep_last_error());
    cr_assert_eq(h5p_recipe_load(tu_dir(), &r), H5PREP_ERR_USAGE, "a directory: %s", h5prep_last_error());
}

Test(recipe, yaml_syntax_errors)
{
    FAILS("inputs: [a, b\noutputs: x\n", "2:8", "did not find expected");
    FAILS("inputs:\n  files: a.h5\n   bad: 1\n", "3:7", "mapping values are not allowed");
    FAILS("", "1:1", "empty");
    FAILS("inputs: *nothing\n", "1:9", "undefined alias");
    FAILS(WITH_EXPR("a") "---\nmore: 1\n", "8:1", "one YAML document");
    FAILS("inputs: \"a\xff\"\n", "1:11", "invalid");
}

Test(recipe, unknown_keys)
{
    FAILS(WITH_EXPR("a") "extra: 1\n", "8:1", "unknown key 'extra'", "inputs, outputs, split, write");
    FAILS("inputs:\n  - files: a.h5\n    variables: [a]\n    per_fle: true\n" "outputs: {o: {from: a}}\n" TAIL, "4:5",
          "unknown key 'per_fle'", "files, variables, catalog, per_file");
    FAILS(HEAD "outputs:\n  o:\n    from: a\n    norm: zscore\n" TAIL, "7:5", "unknown key 'norm'",
          "from, normalize, cast");
    FAILS(WITH_EXPR("{pad: {of: a, axis: 1, bfore: 2}}"), "6:34", "unknown key 'bfore'",
          "of, axis, before, after, mode, value");
    FAILS(HEAD "outputs: {o: {from: a, normalize: {method: zscore, keep: 2}}}\n" TAIL, "4:52", "unknown key 'keep'",
          "method, keep_axes, stats");
    FAILS(WITH_EXPR("a") "split: {fractions: {train: 1}, sead: 4}\n", "8:32", "unknown key 'sead'",
          "by, fractions, assign, ranges, coordinate, seed, group_by, shuffle, normalize_with");
    FAILS(WITH_EXPR("a") "split: {fractions: {all: 1}, group_by: {row: 4}}\n", "8:41", "unknown key 'row'", "rows");
    FAILS(HEAD "outputs: {o: {from: a}}\nwrite: {dir: d, hdf5: {chunk: 4}}\n", "5:24", "unknown key 'chunk'",
          "chunk_rows, gzip");
    FAILS(HEAD "outputs: {o: {from: a}}\nwrite: {npy: {shards: 4}}\n", "5:15", "unknown key 'shards'", "shard_rows");
    FAILS(HEAD "outputs: {o: {from: a}}\nwrite: {out: d}\n", "5:9", "unknown key 'out'", "dir, hdf5, npy");
}

Test(recipe, missing_keys)
{
    FAILS("outputs: {o: {from: a}}\n" TAIL, "1:1", "missing required key 'inputs'");
    FAILS(HEAD TAIL, "1:1", "missing required key 'outputs'");
    FAILS(HEAD "outputs: {o: {from: a}}\n", "1:1", "missing required key 'write'");
    FAILS("inputs: {files: a.h5}\noutputs: {o: {from: a}}\n" TAIL, "1:9", "missing required key 'variables'");
    FAILS("inputs: {variables: [a]}\noutputs: {o: {from: a}}\n" TAIL, "1:9", "missing required key 'files'");
    FAILS(HEAD "outputs: {o: {cast: float32}}\n" TAIL, "4:14", "outputs.o", "missing required key 'from'");
    FAILS(HEAD "outputs:\n  o:\n" TAIL, "5:3", "outputs.o", "missing required key 'from'");
    FAILS(WITH_EXPR("{broadcast: {of: a, size: 3}}"), "6:12", "broadcast", "missing required key 'axis'");
    FAILS(WITH_EXPR("{broadcast: {of: a, axis: 1}}"), "6:23", "broadcast", "missing required key 'size'");
    FAILS(WITH_EXPR("{reshape: {of: a}}"), "6:12", "reshape", "missing required key 'shape'");
    FAILS(WITH_EXPR("{pad: a}"), "6:12", "pad", "missing required key 'axis'");
    FAILS(WITH_EXPR("{pad: {axis: 1, before: 2}}"), "6:17", "pad", "missing required key 'of'");
    FAILS(WITH_EXPR("{flatten: }"), "6:12", "flatten", "missing its operand");
    FAILS(HEAD "outputs: {o: {from: a, normalize: {keep_axes: [2]}}}\n" TAIL, "4:35", "missing required key 'method'");
    FAILS(WITH_EXPR("a") "split: {seed: 1}\n", "8:8", "missing required key 'fractions'");
}

Test(recipe, unknown_op_and_variable)
{
    FAILS(WITH_EXPR("{padd: {of: a, axis: 1}}"), "6:12", "unknown op 'padd'",
          "(expected one of: broadcast, pad, concat, stack, reshape, flatten, slice)");
    FAILS(WITH_EXPR("foo"), "6:11", "unknown variable 'foo' (the inputs declare: a, b, c)");
    FAILS(WITH_EXPR("{concat: {axis: 1, of: [a, {flatten: zz}]}}"), "6:48", "unknown variable 'zz'");
    FAILS(WITH_EXPR("{pad: {of: a, axis: 1}, flatten: b}"), "6:11", "exactly one key");
    FAILS(WITH_EXPR("[a, b]"), "6:11", "expected an expression");
    FAILS(WITH_EXPR("{concat: {of: a, axis: 1}}"), "6:25", "concat.of", "expected a list of expressions");
    FAILS(WITH_EXPR("{concat: {of: [], axis: 1}}"), "6:25", "concat.of", "empty");
    FAILS(WITH_EXPR("{flatten: {of: [a, b]}}"), "6:26", "flatten.of", "expected one expression");
    /* an alias that holds itself is refused before the walk could recurse into it */
    FAILS(WITH_EXPR("&e {flatten: *e}"), "6:24", "alias *e refers to the collection at 6:11 that holds it");
}

Test(recipe, duplicate_names)
{
    FAILS("inputs:\n  - {files: a.h5, variables: [a, b]}\n  - {files: b.h5, variables: {c: /x, b: /y}}\n"
          "outputs: {o: {from: a}}\n" TAIL,
          "3:38", "variable 'b' is declared twice", "2:5");
    FAILS("inputs: {files: a.h5, variables: [a, a]}\noutputs: {o: {from: a}}\n" TAIL, "1:38", "'a' is declared twice");
    FAILS(HEAD "outputs:\n  o: {from: a}\n  o: {from: b}\n" TAIL, "6:3", "key 'o' appears twice", "5:3");
    FAILS(WITH_EXPR("a") "split: {fractions: {train: 0.5, train: 0.5}}\n", "8:33", "key 'train' appears twice", "8:21");
}

Test(recipe, wrong_scalar_types)
{
    FAILS(WITH_EXPR("{stack: {of: [a], axis: \"x\"}}"), "6:35", "stack.axis", "expected an axis", "'x'");
    FAILS(WITH_EXPR("{stack: {of: [a], axis: 0}}"), "6:35", "stack.axis", "axis 0 holds the samples");
    FAILS(WITH_EXPR("{stack: {of: [a], axis: 32}}"), "6:35", "stack.axis", "[1, 31]");
    FAILS(WITH_EXPR("{broadcast: {of: a, axis: 1, size: -3}}"), "6:46", "broadcast.size", "unsigned integer >= 1", "'-3'");
    FAILS(WITH_EXPR("{broadcast: {of: a, axis: 1, size: 0}}"), "6:46", "broadcast.size", ">= 1");
    FAILS(WITH_EXPR("{pad: {of: a, axis: 1, before: 1.5}}"), "6:42", "pad.before", "'1.5'");
    FAILS(WITH_EXPR("{pad: {of: a, axis: 1, mode: reflect}}"), "6:40", "pad.mode", "constant, edge", "'reflect'");
    FAILS(WITH_EXPR("{pad: {of: a, axis: 1, value: x1}}"), "6:41", "pad.value", "expected a number");
    FAILS(WITH_EXPR("{slice: {of: a, axis: 1, step: 0}}"), "6:42", "slice.step", ">= 1");
    FAILS(WITH_EXPR("{slice: {of: a, axis: 1, stop: 99999999999999999999}}"), "6:42", "slice.stop", "integer");
    FAILS(WITH_EXPR("{reshape: {of: a, shape: [2, 0]}}"), "6:40", "reshape.shape", "found 0");
    FAILS(WITH_EXPR("{reshape: {of: a, shape: [-1, 2, -1]}}"), "6:44", "at most one size may be -1");
    FAILS(WITH_EXPR("{reshape: {of: a, shape: [-2]}}"), "6:37", "reshape.shape", "'-2'");
    FAILS(WITH_EXPR("{reshape: {of: a, shape: []}}"), "6:36", "reshape.shape", "found 0");
    FAILS(WITH_EXPR("{reshape: {of: a, shape: 4}}"), "6:36", "reshape.shape", "expected a list");
    FAILS(WITH_EXPR("a") "split: {fractions: {train: 1}, seed: -1}\n", "8:38", "split.seed", "unsigned integer", "'-1'");
    FAILS(WITH_EXPR("a") "split: {fractions: {train: 1}, shuffle: yes}\n", "8:41", "split.shuffle",
          "expected true or false", "'yes'");
    FAILS(WITH_EXPR("a") "split: {fractions: {train: 1}, group_by: {rows: 0}}\n", "8:49", "split.group_by.rows", ">= 1");
    FAILS(WITH_EXPR("a") "split: {fractions: {train: 1}, group_by: rows}\n", "8:42", "split.group_by",
          "none, file or {rows: K}");
    FAILS(WITH_EXPR("a") "split: {fractions: {train: 0.5, val: 0.5}, normalize_with: test}\n", "8:60",
          "'test' is not a split", "all or one of: train, val");
    FAILS("inputs: {files: a.h5, variables: [a], per_file: 1}\noutputs: {o: {from: a}}\n" TAIL, "1:49",
          "inputs.per_file", "expected true or false");
    FAILS("inputs: {files: {a: 1}, variables: [a]}\noutputs: {o: {from: a}}\n" TAIL, "1:17", "inputs.files");
    FAILS("inputs: {files: a.h5, variables: {a: grp/a}}\noutputs: {o: {from: a}}\n" TAIL, "1:38", "must start with '/'");
    FAILS("inputs: {files: a.h5, variables: a}\noutputs: {o: {from: a}}\n" TAIL, "1:34", "inputs.variables");
    FAILS(HEAD "outputs: {o: {from: a, normalize: zcore}}\n" TAIL, "4:35", "outputs.o.normalize", "none, zscore, minmax");
    FAILS(HEAD "outputs: {o: {from: a, normalize: {method: zscore, keep_axes: 0}}}\n" TAIL, "4:63",
          "outputs.o.normalize.keep_axes");
    FAILS(HEAD "outputs: {o: {from: a, normalize: {method: zscore, keep_axes: [1, 3]}}}\n" TAIL, "4:67",
          "kept axes must be consecutive");
    FAILS(HEAD "outputs: {o: {from: a, cast: int8}}\n" TAIL, "4:30", "outputs.o.cast",
          "float32, float64, float16, bfloat16");
    FAILS(HEAD "outputs: {o/x: {from: a}}\n" TAIL, "4:11", "'o/x' is not a valid name");
    FAILS(HEAD "outputs: {o: {from: a}}\nwrite: {hdf5: {gzip: 10}}\n", "5:22", "write.hdf5.gzip", "[0, 9]");
    FAILS(HEAD "outputs: {o: {from: a}}\nwrite: {hdf5: {chunk_rows: 0}}\n", "5:28", "write.hdf5.chunk_rows", ">= 1");
    FAILS(HEAD "outputs: {o: {from: a}}\nwrite: {npy: 3}\n", "5:14", "write.npy", "true, false or a mapping");
    FAILS(HEAD "outputs: {o: {from: a}}\nwrite: {hdf5: false}\n", "5:8", "nothing would be written");
    FAILS(HEAD "outputs: {o: {from: a}}\nwrite: [d]\n", "5:8", "write", "expected a mapping");
}

Test(recipe, split_fractions)
{
    FAILS(WITH_EXPR("a") "split: {fractions: {train: 0.8, val: 0.1}}\n", "8:20",
          "split.fractions sum to 0.9, not 1 (train 0.8 + val 0.1)");
    FAILS(WITH_EXPR("a") "split: {fractions: {train: 1.5, val: -0.5}}\n", "8:28", "split.fractions.train", "[0, 1]");
    FAILS(WITH_EXPR("a") "split: {fractions: {}}\n", "8:20", "1 to 8 splits");
    FAILS(WITH_EXPR("a") "split: {fractions: {a: 0.1, b: 0.1, c: 0.1, d: 0.1, e: 0.1, f: 0.1, g: 0.1, h: 0.1, i: 0.2}}\n",
          "8:20", "1 to 8 splits", "found 9");
    FAILS(WITH_EXPR("a") "split: {fractions: {'..': 1}}\n", "8:21", "not a valid name");
    /* within 1e-9 of 1 is accepted */
    h5p_recipe *r = load_ok(WITH_EXPR("a") "split: {fractions: {a: 0.3333333333, b: 0.3333333333, c: 0.3333333334}}\n");
    cr_assert_eq(r->split.nsplits, 3);
    h5p_recipe_free(r);
}

Test(recipe, split_by_files_rows_and_time)
{
    h5p_recipe *r = load_ok(WITH_EXPR("a") "split: {by: files, assign: {train: ['d/201[3-5]*.nc', d/2016*.nc], test: 'd/2017*.nc'}}\n");
    cr_assert_eq(r->split.by, H5P_SPLIT_FILES);
    cr_assert_eq(r->split.nsplits, 2);
    cr_assert_eq(r->split.nglobs[0], 2);
    cr_assert_str_eq(r->split.globs[0][0], "d/201[3-5]*.nc");
    cr_assert_str_eq(r->split.globs[1][0], "d/2017*.nc");
    cr_assert_eq(r->split.shuffle, 0, "a split given by files keeps input order unless shuffle: true");
    cr_assert_eq(r->split.stats_split, 0);
    h5p_recipe_free(r);
    r = load_ok(WITH_EXPR("a") "split: {by: rows, ranges: {val: [0.8, 0.9], train: [0, 0.8], test: [0.9, 1]}, shuffle: true}\n");
    cr_assert_eq(r->split.by, H5P_SPLIT_ROWS);
    cr_assert(r->split.lo[0] == 0.8 && r->split.hi[0] == 0.9 && r->split.lo[2] == 0.9 && r->split.hi[2] == 1);
    cr_assert_eq(r->split.shuffle, 1);
    cr_assert_eq(r->split.stats_split, 1, "train normalizes wherever it is written");
    h5p_recipe_free(r);
    r = load_ok(WITH_EXPR("a") "split: {by: time, coordinate: 'c.nc:/time', ranges: {train: [-.inf, 7300]}, normalize_with: all}\n");
    cr_assert_eq(r->split.by, H5P_SPLIT_TIME);
    cr_assert_str_eq(r->split.coordinate, "c.nc:/time");
    cr_assert(isinf(r->split.lo[0]) && r->split.lo[0] < 0 && r->split.hi[0] == 7300);
    cr_assert_eq(r->split.stats_split, -1);
    h5p_recipe_free(r);

    FAILS(WITH_EXPR("a") "split: {by: rows, ranges: {train: [0, 0.8], val: [0.7, 0.9]}}\n", "8:50",
          "split.ranges.val: [0.7, 0.9] overlaps split 'train' [0, 0.8]");
    FAILS(WITH_EXPR("a") "split: {by: rows, ranges: {train: [0, 1.2]}}\n", "8:35", "not within [0, 1]");
    FAILS(WITH_EXPR("a") "split: {by: rows, ranges: {train: [-0.1, 0.5]}}\n", "8:35", "not within [0, 1]");
    FAILS(WITH_EXPR("a") "split: {by: rows, ranges: {train: [0.5, 0.5]}}\n", "8:35", "is empty", "START < END");
    FAILS(WITH_EXPR("a") "split: {by: rows, ranges: {train: [0.5]}}\n", "8:35", "expected [START, END]");
    FAILS(WITH_EXPR("a") "split: {by: rows, fractions: {train: 1}}\n", "8:19", "split.fractions does not apply to by: rows",
          "ranges, seed, shuffle, normalize_with");
    FAILS(WITH_EXPR("a") "split: {by: rows}\n", "8:8", "missing required key 'ranges'");
    FAILS(WITH_EXPR("a") "split: {by: time, ranges: {train: [0, 10]}}\n", "8:8", "missing required key 'coordinate'");
    FAILS(WITH_EXPR("a") "split: {by: time, coordinate: tt, ranges: {train: [0, 10]}}\n", "8:31",
          "'tt' is neither FILE:/DATASET nor a variable of the inputs");
    FAILS(WITH_EXPR("a") "split: {by: time, coordinate: a, ranges: {train: [5, 10], test: [0, 6]}}\n", "8:65",
          "overlaps split 'train' [5, 10]");
    FAILS(WITH_EXPR("a") "split: {by: files, assign: {train: []}}\n", "8:36", "the list of globs is empty");
    FAILS(WITH_EXPR("a") "split: {by: files, assign: {train: x.h5}, group_by: file}\n", "8:43",
          "split.group_by does not apply to by: files");
    FAILS(WITH_EXPR("a") "split: {by: weeks, ranges: {train: [0, 1]}}\n", "8:13", "split.by", "fractions, files, rows, time");
    FAILS(WITH_EXPR("a") "split: {by: files, assign: {train: a.h5, Train: b.h5}}\n", "8:42", "differ only in case");
}

#define LHEAD(vars, cat) "inputs:\n  - files: a.h5\n    variables: " vars "\n" cat "outputs: {o: {from: a}}\n" TAIL

Test(recipe, values_per_file)
{
    h5p_recipe *r = load_ok(LHEAD("{a: /a, b: {attribute: ef_number}, c: {dataset: /ef}}",
                                  "    catalog: {file: cat.csv, key: filename, columns: [category, mag]}\n"));
    const h5p_input *in = &r->inputs[0];
    cr_assert_eq(in->nvars, 5);
    const h5p_var_kind kinds[] = {H5P_VAR_DATASET, H5P_VAR_ATTRIBUTE, H5P_VAR_SCALAR, H5P_VAR_CATALOG, H5P_VAR_CATALOG};
    const char *names[] = {"a", "b", "c", "category", "mag"}, *paths[] = {"/a", "ef_number", "/ef", "category", "mag"};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(in->kinds[i], kinds[i], "variable %d", i);
        cr_assert_str_eq(in->names[i], names[i]);
        cr_assert_str_eq(in->paths[i], paths[i]);
    }
    cr_assert_str_eq(in->catalog, "cat.csv");
    cr_assert_str_eq(in->catalog_key, "filename");
    h5p_recipe_free(r);
    FAILS(LHEAD("{a: /a, b: {attribute: ef, dataset: /d}}", ""), "3:27", "expected one of {attribute: NAME} or {dataset: /PATH}");
    FAILS(LHEAD("{a: /a, b: {dataset: d}}", ""), "3:37", "must start with '/'");
    FAILS(LHEAD("{a: /a, b: {attribute: ef}}", "    catalog: {file: c.csv, key: name, columns: [name]}\n"), "4:49",
          "'name' is the key column");
    FAILS(LHEAD("{a: /a, b: {attribute: ef}}", "    catalog: {file: c.csv, key: name, columns: [a]}\n"), "4:49",
          "variable 'a' is declared twice");
    FAILS(LHEAD("{a: /a, b: {attribute: ef}}", "    catalog: {file: c.csv, columns: [x]}\n"), "4:14",
          "missing required key 'key'");
}

/* ---- bounds: nesting, aliases, sizes ---------------------------------------------------------- */

/* A text built with fprintf; free() it. */
typedef struct text_buf {
    FILE *f;
    char *s;
    size_t len;
} text_buf;

static FILE *text_open(text_buf *t)
{
    t->f = open_memstream(&t->s, &t->len);
    cr_assert_not_null(t->f);
    return t->f;
}

static char *text_close(text_buf *t)
{
    fclose(t->f);
    return t->s;
}

Test(recipe, bounds_nesting)
{
    /* 100 KB of flow nesting took libyaml about a minute; refused at the 257th level (the root
     * mapping is the first) */
    text_buf t;
    FILE *f = text_open(&t);
    fputs("inputs: ", f);
    for (int i = 0; i < 50000; i++)
        fputc('[', f);
    for (int i = 0; i < 50000; i++)
        fputc(']', f);
    fputs("\n", f);
    char *s = text_close(&t);
    FAILS(s, "1:264", "lists and mappings nested deeper than 256 levels");
    free(s);
    /* flow mappings, and block nesting (which costs the text quadratic room) alike */
    f = text_open(&t);
    fputs("inputs: ", f);
    for (int i = 0; i < 5000; i++)
        fputs("{a: ", f);
    for (int i = 0; i < 5000; i++)
        fputc('}', f);
    s = text_close(&t);
    FAILS(s, "1:1029", "nested deeper than 256 levels");
    free(s);
    f = text_open(&t);
    for (int i = 0; i < 300; i++)
        fprintf(f, "%*sk:\n", i, "");
    s = text_close(&t);
    FAILS(s, "257:257", "nested deeper than 256 levels");
    free(s);
    /* the deepest expression allowed (64 ops, 3 levels each) is within the bound */
    f = text_open(&t);
    fputs(HEAD "outputs:\n  o:\n    from: ", f);
    for (int i = 0; i < 64; i++)
        fputs("{concat: {axis: 1, of: [", f);
    fputs("a", f);
    for (int i = 0; i < 64; i++)
        fputs("]}}", f);
    fputs("\n" TAIL, f);
    s = text_close(&t);
    h5p_recipe *r = load_ok(s);
    free(s);
    int depth = 0;
    for (const h5p_expr *e = r->outputs[0].expr; e->kind != H5P_OP_VAR; e = e->args[0])
        depth++;
    cr_assert_eq(depth, 64);
    h5p_recipe_free(r);
}

Test(recipe, bounds_alias_expansion)
{
    /* each level ten aliases of the one before: level k stands for 10^k variables (and 16 bytes of
     * index map per element each, in the plan); refused at the alias that passes 100000 values */
    text_buf t;
    FILE *f = text_open(&t);
    fputs("inputs: {files: a.h5, variables: [a]}\noutputs:\n", f);
    fputs("  o0: {from: &l0 {concat: {axis: 1, of: [a, a, a, a, a, a, a, a, a, a]}}}\n", f);
    for (int k = 1; k <= 4; k++) {
        fprintf(f, "  o%d: {from: &l%d {concat: {axis: 1, of: [", k, k);
        for (int i = 0; i < 10; i++)
            fprintf(f, "%s*l%d", i ? ", " : "", k - 1);
        fputs("]}}}\n", f);
    }
    fputs(TAIL, f);
    char *s = text_close(&t);
    FAILS(s, "7:62", "alias *l3 stands for 17777 values", "more than 100000 values with its aliases expanded");
    free(s);
    /* a cycle is refused where the alias is, not by the walk */
    FAILS(HEAD "outputs: {o: {from: a}}\nwrite: &w {dir: *w}\n", "5:17", "alias *w refers to the collection at 5:8");
    /* more than 1000 aliases of one scalar */
    f = text_open(&t);
    fputs("inputs: {variables: [a], files: [&f a.h5", f);
    for (int i = 0; i < 1001; i++)
        fputs(", *f", f);
    fputs("]}\noutputs: {o: {from: a}}\n" TAIL, f);
    s = text_close(&t);
    FAILS(s, "1:4043", "more than 1000 aliases (*f here)");
    free(s);
    /* and more than 1000 anchors */
    f = text_open(&t);
    fputs("inputs: {variables: [a], files: [", f);
    for (int i = 0; i < 1001; i++)
        fprintf(f, "%s&f%d a.h5", i ? ", " : "", i);
    fputs("]}\noutputs: {o: {from: a}}\n" TAIL, f);
    s = text_close(&t);
    FAILS(s, "1:11924", "more than 1000 anchors (&f1000 here)");
    free(s);
}

Test(recipe, bounds_sizes)
{
    /* more than 100000 values in all */
    text_buf t;
    FILE *f = text_open(&t);
    fputs("inputs:\n  - variables: [a]\n    files:\n", f);
    for (int i = 0; i < 100000; i++)
        fputs("      - a.h5\n", f);
    fputs("outputs: {o: {from: a}}\n" TAIL, f);
    char *s = text_close(&t);
    FAILS(s, "99995:9", "more than 100000 values");
    free(s);
    /* a mapping of more than 1024 keys (duplicates are found by comparing all pairs) */
    f = text_open(&t);
    fputs(HEAD "outputs:\n", f);
    for (int i = 0; i < 1025; i++)
        fprintf(f, "  o%d: {from: a}\n", i);
    fputs(TAIL, f);
    s = text_close(&t);
    FAILS(s, "1029:3", "a mapping of more than 1024 keys");
    free(s);
    /* more than 1024 variables over all inputs */
    f = text_open(&t);
    fputs("inputs:\n  - {files: a.h5, variables: [v0]}\n  - files: b.h5\n    variables:\n", f);
    for (int i = 1; i <= 1024; i++)
        fprintf(f, "      - v%d\n", i);
    fputs("outputs: {o: {from: v0}}\n" TAIL, f);
    s = text_close(&t);
    FAILS(s, "5:7", "inputs.variables: more than 1024 variables are declared over all inputs");
    free(s);
}

/* ---- names that would collide in the output directory ----------------------------------------- */

Test(recipe, split_names_that_collide)
{
    FAILS(WITH_EXPR("a") "split: {fractions: {train: 0.5, index: 0.5}}\n", "8:33", "split name 'index' is reserved",
          "index.json, split.json, stats.json and the recipe");
    FAILS(WITH_EXPR("a") "split: {fractions: {Stats.json: 1}}\n", "8:21", "split name 'Stats.json' is reserved");
    FAILS(WITH_EXPR("a") "split: {fractions: {split: 1}}\n", "8:21", "split name 'split' is reserved");
    FAILS(WITH_EXPR("a") "split: {fractions: {recipe.yaml: 1}}\n", "8:21", "split name 'recipe.yaml' is reserved");
    FAILS(WITH_EXPR("a") "split: {fractions: {a: 0.5, A.H5: 0.5}}\n", "8:29", "split 'A.H5' is named like the HDF5 file of split 'a'");
    FAILS(WITH_EXPR("a") "split: {fractions: {b.h5: 0.5, b: 0.5}}\n", "8:32", "split 'b.h5' is named like the HDF5 file of split 'b'");
    FAILS(WITH_EXPR("a") "split: {fractions: {Train: 0.5, train: 0.5}}\n", "8:33", "split names 'Train' and 'train' differ only in case");
    FAILS(WITH_EXPR("a") "split: {fractions: {.hidden: 1}}\n", "8:21", "'.hidden' is not a valid name", "not starting with '.'");
    /* names that merely start like a reserved one are fine */
    h5p_recipe *r = load_ok(WITH_EXPR("a") "split: {fractions: {indexes: 0.5, stats_val: 0.5}}\n");
    cr_assert_str_eq(r->split.names[0], "indexes");
    h5p_recipe_free(r);
}

Test(recipe, output_names_that_collide)
{
    FAILS(HEAD "outputs: {.x: {from: a}}\n" TAIL, "4:11", "'.x' is not a valid name");
    FAILS(HEAD "outputs: {x: {from: a}, X: {from: b}}\n" TAIL, "4:25", "'x' and 'X' differ only in case");
    char name[202];
    memset(name, 'n', 201);
    name[201] = 0;
    char text[600];
    snprintf(text, sizeof text, HEAD "outputs: {%s: {from: a}}\n" TAIL, name);
    FAILS(text, "4:11", "is 201 bytes long; a name has at most 200");
    name[200] = 0;
    snprintf(text, sizeof text, HEAD "outputs: {%s: {from: a}}\n" TAIL, name);
    h5p_recipe_free(load_ok(text));
}

Test(recipe, variables_that_name_groups)
{
    FAILS("inputs: {files: a.h5, variables: {a: /}}\noutputs: {o: {from: a}}\n" TAIL, "1:38",
          "'a' (dataset /) names a group, never a dataset");
    FAILS("inputs: {files: a.h5, variables: {a: /g/., b: /b}}\noutputs: {o: {from: b}}\n" TAIL, "1:38",
          "dataset /g/.) names a group");
    FAILS("inputs: {files: a.h5, variables: [b, .]}\noutputs: {o: {from: b}}\n" TAIL, "1:38", "'.' (dataset /.)");
    /* HDF5 reads "/g//x/" as /g/x: a dataset */
    h5p_recipe *r = load_ok("inputs: {files: a.h5, variables: {a: /g//x/}}\noutputs: {o: {from: a}}\n" TAIL);
    cr_assert_str_eq(r->inputs[0].paths[0], "/g//x/");
    h5p_recipe_free(r);
}

Test(recipe, used_variables_and_positions)
{
    h5p_recipe *r = load_ok("inputs:\n  - files: a.h5\n    variables: [a, b]\n  - files: b.h5\n    variables: {c: /x, d: /y}\n"
                            "outputs: {o: {from: {concat: {axis: 1, of: [d, a]}}}}\n" TAIL);
    cr_assert_eq(r->inputs[0].used[0], 1);
    cr_assert_eq(r->inputs[0].used[1], 0);
    cr_assert_eq(r->inputs[1].used[0], 0);
    cr_assert_eq(r->inputs[1].used[1], 1);
    cr_assert_eq(r->inputs[0].lines[1], 3);
    cr_assert_eq(r->inputs[0].cols[1], 20);
    cr_assert_eq(r->inputs[1].lines[1], 5);
    cr_assert_eq(r->inputs[1].cols[1], 24);
    h5p_recipe_free(r);
}

Test(recipe, parse_from_memory)
{
    static const char text[] = WITH_EXPR("b") "junk after the end that is not part of the recipe";
    h5p_recipe *r = NULL;
    size_t len = strlen(WITH_EXPR("b"));
    cr_assert_eq(h5p_recipe_parse("mem.yaml", (const unsigned char *)text, len, &r), H5PREP_OK, "%s",
                 h5prep_last_error());
    cr_assert_str_eq(r->path, "mem.yaml");
    cr_assert_str_eq(r->outputs[0].expr->name, "b");
    h5p_recipe_free(r);
    r = (h5p_recipe *)1;
    cr_assert_eq(h5p_recipe_parse("mem.yaml", (const unsigned char *)"inputs: [\n", 10, &r), H5PREP_ERR_USAGE);
    cr_assert_null(r);
    cr_assert(!strncmp(h5prep_last_error(), "mem.yaml:", 9), "%s", h5prep_last_error());
}

/* ---- the plan's index maps within --mem ------------------------------------------------------- */

Test(recipe, plan_maps_within_mem)
{
    cr_assert_eq(h5p_plan_check_maps("r.yaml", 52428, (size_t)1 << 20), H5PREP_OK);
    cr_assert_eq(h5p_plan_check_maps("r.yaml", 52429, (size_t)1 << 20), H5PREP_ERR_NOMEM);
    const char *msg = h5prep_last_error();
    cr_assert(strstr(msg, "r.yaml: the index maps of the outputs take 1025 KiB (52429 elements per sample, 20 bytes each), "
                          "more than the memory budget (--mem 1024 KiB)"), "%s", msg);
    cr_assert(strstr(msg, "hint: raise --mem to at least 1025K"), "%s", msg);
    /* 2^60 elements: no overflow in the sum of bytes */
    cr_assert_eq(h5p_plan_check_maps("r.yaml", (uint64_t)1 << 60, SIZE_MAX), H5PREP_ERR_NOMEM);
    cr_assert(strstr(h5prep_last_error(), "1152921504606846976 elements"), "%s", h5prep_last_error());
}

/* ---- variables that no output uses ------------------------------------------------------------ */

static int g_nwarn;
static char g_warn[4][512];
static void keep_warning(const char *msg, void *user)
{
    (void)user;
    if (g_nwarn < 4)
        snprintf(g_warn[g_nwarn], sizeof g_warn[0], "%s", msg);
    g_nwarn++;
}

Test(recipe, unused_variables_are_warned_about)
{
    g_nwarn = 0;
    h5prep_set_warning_handler(keep_warning, NULL);
    h5p_recipe *r = load_ok(WITH_EXPR("{concat: {of: [a, c], axis: 1}}"));
    h5prep_set_warning_handler(NULL, NULL);
    h5p_recipe_free(r);
    cr_assert_eq(g_nwarn, 1, "%d warnings: %s", g_nwarn, g_warn[0]);
    cr_assert(strstr(g_warn[0], ":3:20: variable 'b' (/b) is declared but no output uses it: it is not read"), "%s",
              g_warn[0]);
}
