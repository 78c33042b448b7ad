#!/usr/bin/env python3
"""check_transform.py: checks the output directory of `h5prep transform data/recipes/3dcorrection.yaml`
against an independent numpy float64 rebuild, the way the ECMWF notebook prepares the data.

    python3 tests/check_transform.py --input 3dcorrection.h5 --out 3dcorrection [--atol 1e-6 --rtol 1e-6]

What is checked, in order (the first failure is printed and the exit status is 1):
  split.json   format h5prep-split/1, n = input rows, the three splits' indices are a partition
               of range(n), counts = cumulative rounding of the fractions (boundaries
               floor(cum_fraction * n + 0.5), the last split takes the rest), seed/fractions as
               in the recipe
  stats.json   per output /x /y /edge /x_flat /y_flat (features = every element of a sample: per
               level and feature for x, y, edge, per column for x_flat, y_flat): count and missing
               exactly, min and max exactly, mean within 1e-9 (|mean| + std), var and std within
               1e-9 relative (+ 1e-12 |mean| absolute; exactly 0 for a constant feature),
               flags (1: variance 0 or undefined, 2: no value); all over the train rows, float64,
               NaN left out
  <split>.h5   every dataset /x /y /edge /x_flat /y_flat of train.h5, val.h5, test.h5: float32,
               shape (count, ...), rows in the manifest's order, values (v - mean) / std of the
               train statistics (divisor 1 where std is 0 or undefined), |got - want| <= atol +
               rtol |want|, NaN exactly where the input is NaN
  index.json   format h5prep-dataset/1; per split and output, the .npy shards listed (np.load)
               are consecutive (row0, rows) and their concatenation passes the same comparison
Everything is loaded in memory: use it on small inputs (a few thousand rows). Needs numpy, h5py.
Several --input (globs allowed, each sorted by name) are joined along axis 0 in the given order.
"""

import argparse
import glob
import json
import math
import os
import sys

import h5py
import numpy as np

VARIABLES = ["sca_inputs", "col_inputs", "hl_inputs", "inter_inputs",
             "flux_dn_sw", "flux_up_sw", "flux_dn_lw", "flux_up_lw"]
OUTPUTS = ["x", "y", "edge", "x_flat", "y_flat"]
SPLITS = ["train", "val", "test"]
FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
SEED = 42
STATS_RTOL = 1e-9


class Mismatch(Exception):
    pass


def fail(msg):
    raise Mismatch(msg)


def load_inputs(patterns):
    files = []
    for pat in patterns:
        matched = sorted(glob.glob(pat))
        if not matched:
            fail(f"--input {pat}: no such file")
        files += matched
    parts = {v: [] for v in VARIABLES}
    for path in files:
        with h5py.File(path, "r") as f:
            for v in VARIABLES:
                if v not in f:
                    fail(f"{path}: no dataset {v}")
                parts[v].append(f[v][()].astype(np.float64))
    return {v: np.concatenate(p, axis=0) for v, p in parts.items()}, files


def build_outputs(d):
    """The recipe's outputs, as the notebook writes them (float64, whole arrays)."""
    n = len(d["sca_inputs"])
    levels = d["hl_inputs"].shape[1]
    inter = np.pad(d["inter_inputs"], ((0, 0), (1, 1), (0, 0)))  # zeros, as da.pad
    sca = np.broadcast_to(d["sca_inputs"][:, None, :], (n, levels, d["sca_inputs"].shape[1]))
    x = np.concatenate([d["hl_inputs"], inter, sca], axis=-1)
    y = np.stack([d["flux_dn_sw"], d["flux_up_sw"], d["flux_dn_lw"], d["flux_up_lw"]], axis=-1)
    x_flat = np.concatenate([d[v].reshape(n, -1) for v in
                             ("hl_inputs", "inter_inputs", "sca_inputs", "col_inputs")], axis=1)
    y_flat = np.concatenate([d[v] for v in ("flux_dn_sw", "flux_up_sw", "flux_dn_lw", "flux_up_lw")], axis=1)
    return {"x": x, "y": y, "edge": d["col_inputs"], "x_flat": x_flat, "y_flat": y_flat}


def split_counts(n):
    counts, prev, cum = {}, 0, 0.0
    for name in SPLITS[:-1]:
        cum += FRACTIONS[name]
        bound = min(n, math.floor(cum * n + 0.5))
        counts[name] = bound - prev
        prev = bound
    counts[SPLITS[-1]] = n - prev
    return counts


def check_split(path, n):
    if not os.path.exists(path):
        fail(f"{path}: missing")
    with open(path) as fh:
        m = json.load(fh)
    if m.get("format") != "h5prep-split/1":
        fail(f"{path}: format {m.get('format')!r}, expected 'h5prep-split/1'")
    if m.get("n") != n:
        fail(f"{path}: n = {m.get('n')}, but the input has {n} rows")
    if m.get("seed") != SEED:
        fail(f"{path}: seed {m.get('seed')}, the recipe says {SEED}")
    if {k: float(v) for k, v in m.get("fractions", {}).items()} != FRACTIONS:
        fail(f"{path}: fractions {m.get('fractions')}, the recipe says {FRACTIONS}")
    want = split_counts(n)
    seen = np.zeros(n, dtype=np.int64)
    order = {}
    for name in SPLITS:
        s = m.get("splits", {}).get(name)
        if s is None:
            fail(f"{path}: no split {name!r}")
        idx = np.asarray(s["indices"], dtype=np.int64)
        if s["count"] != len(idx) or s["count"] != want[name]:
            fail(f"{path}: split {name}: count {s['count']} with {len(idx)} indices, expected "
                 f"{want[name]} (cumulative fractions rounded half up over n = {n})")
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            fail(f"{path}: split {name}: index out of range(0, {n})")
        np.add.at(seen, idx, 1)
        order[name] = idx
    if n and (seen != 1).any():
        i = int(np.argmax(seen != 1))
        fail(f"{path}: row {i} appears {seen[i]} times across the splits (expected once)")
    return order


def reference_stats(v):
    """Per element of a sample (per level and feature, or per column) over the samples (axis 0),
    float64, NaN left out: the recipe's keep_axes [1, 2] for 3-D outputs, the last axis for 2-D."""
    r = v.reshape(v.shape[0], -1)
    ok = ~np.isnan(r)
    count = ok.sum(axis=0)
    safe = np.where(ok, r, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = safe.sum(axis=0) / count
        m2 = (np.where(ok, r - mean, 0.0) ** 2).sum(axis=0)
        var = m2 / count
    big, small = np.where(ok, r, -np.inf).max(axis=0), np.where(ok, r, np.inf).min(axis=0)
    none = count == 0
    flags = np.where(none, 3, np.where(var == 0, 1, 0))
    return {"shape": v.shape[1:], "count": count, "missing": (~ok).sum(axis=0), "mean": np.where(none, np.nan, mean),
            "var": np.where(none, np.nan, var), "std": np.where(none, np.nan, np.sqrt(var)),
            "min": np.where(none, np.nan, small), "max": np.where(none, np.nan, big),
            "m2": np.where(none, np.nan, m2), "flags": flags}


def as_array(doc, key, name):
    if key not in doc:
        fail(f"stats.json: variable {name}: no field {key!r}")
    return np.asarray([math.nan if e is None else e for e in doc[key]], dtype=np.float64)


def check_stats(path, want):
    if not os.path.exists(path):
        fail(f"{path}: missing")
    with open(path) as fh:
        doc = json.load(fh)
    if doc.get("format") != "h5prep-stats/1":
        fail(f"{path}: format {doc.get('format')!r}, expected 'h5prep-stats/1'")
    for out, ref in want.items():
        name = "/" + out
        got = doc.get("variables", {}).get(name)
        if got is None:
            fail(f"{path}: no variable {name!r}")
        nf = len(ref["count"])
        if "feature_shape" in got and list(got["feature_shape"]) != list(ref["shape"]):
            fail(f"{path}: {name}: feature_shape {got['feature_shape']}, expected {list(ref['shape'])}")
        g = {k: as_array(got, k, name) for k in ref if k != "shape"}
        for k in g:
            if len(g[k]) != nf:
                fail(f"{path}: {name}: {k} has {len(g[k])} entries, expected {nf}")
        scale = np.abs(ref["mean"]) + np.nan_to_num(ref["std"])
        tol = {"count": 0, "missing": 0, "min": 0, "max": 0, "flags": 0,
               "mean": STATS_RTOL * scale,
               "std": STATS_RTOL * np.nan_to_num(ref["std"]) + 1e-12 * np.abs(np.nan_to_num(ref["mean"])),
               "var": STATS_RTOL * np.nan_to_num(ref["var"]) + 1e-12 * np.nan_to_num(ref["mean"]) ** 2,
               "m2": STATS_RTOL * np.nan_to_num(ref["m2"]) + 1e-12 * ref["count"] * np.nan_to_num(ref["mean"]) ** 2}
        const = ref["var"] == 0  # a constant feature: its variance must be exactly 0, not noise
        for k in ("std", "var", "m2"):
            tol[k] = np.where(const, 0.0, tol[k])
        for k in ("count", "missing", "flags", "min", "max", "mean", "std", "var", "m2"):
            w, h = ref[k].astype(np.float64), g[k]
            bad = (np.isnan(w) != np.isnan(h)) | (np.abs(np.nan_to_num(w) - np.nan_to_num(h)) > tol[k])
            if bad.any():
                i = int(np.argmax(bad))
                fail(f"{path}: {name}: {k}[{i}]: expected {w[i]!r}, got {h[i]!r}")


def normalized(v, st):
    mean = np.nan_to_num(st["mean"]).reshape(v.shape[1:])  # a feature with no train value: nothing to subtract
    div = np.where(st["flags"] == 0, st["std"], 1.0).reshape(v.shape[1:])
    return ((v - mean) / div).astype(np.float32)


def compare(what, out, split, want, got, atol, rtol):
    if got.dtype != np.float32:
        fail(f"{what}: output {out}, split {split}: dtype {got.dtype}, expected float32")
    if got.shape != want.shape:
        fail(f"{what}: output {out}, split {split}: shape {got.shape}, expected {want.shape}")
    w, g = want.astype(np.float64), got.astype(np.float64)
    nan_w, nan_g = np.isnan(w), np.isnan(g)
    with np.errstate(invalid="ignore"):
        bad = (nan_w != nan_g) | (~nan_w & ~(np.abs(g - w) <= atol + rtol * np.abs(w)))
    if bad.any():
        pos = np.unravel_index(int(np.argmax(bad)), bad.shape)
        fail(f"{what}: output {out}, split {split}, index {tuple(int(p) for p in pos)} "
             f"(row {int(pos[0])} of the split): expected {want[pos]!r}, got {got[pos]!r}; "
             f"{int(bad.sum())} of {bad.size} values differ")


def check_hdf5(outdir, expected, atol, rtol):
    for split, outs in expected.items():
        path = os.path.join(outdir, f"{split}.h5")
        if not os.path.exists(path):
            fail(f"{path}: missing")
        with h5py.File(path, "r") as f:
            for out, want in outs.items():
                if out not in f:
                    fail(f"{path}: no dataset /{out}")
                compare(path, out, split, want, f[out][()], atol, rtol)


def check_npy(outdir, expected, atol, rtol):
    path = os.path.join(outdir, "index.json")
    if not os.path.exists(path):
        fail(f"{path}: missing")
    with open(path) as fh:
        idx = json.load(fh)
    if idx.get("format") != "h5prep-dataset/1":
        fail(f"{path}: format {idx.get('format')!r}, expected 'h5prep-dataset/1'")
    shards = 0
    for split, outs in expected.items():
        s = idx.get("splits", {}).get(split)
        if s is None:
            fail(f"{path}: no split {split!r}")
        rows = len(next(iter(outs.values())))
        if s.get("rows") != rows:
            fail(f"{path}: split {split}: rows {s.get('rows')}, expected {rows}")
        for out, want in outs.items():
            o = s.get("outputs", {}).get(out)
            if o is None:
                fail(f"{path}: split {split}: no output {out!r}")
            if o.get("dtype") != "float32":
                fail(f"{path}: split {split}, output {out}: dtype {o.get('dtype')!r}, expected 'float32'")
            shape = list(o.get("shape", []))
            if shape not in (list(want.shape), list(want.shape[1:])):
                fail(f"{path}: split {split}, output {out}: shape {shape}, expected {list(want.shape)}")
            parts, row0 = [], 0
            for sh in o.get("npy", []):
                if sh["row0"] != row0:
                    fail(f"{path}: split {split}, output {out}: shard {sh['path']} starts at row "
                         f"{sh['row0']}, expected {row0}")
                try:
                    a = np.load(os.path.join(outdir, sh["path"]))
                except (OSError, ValueError) as e:
                    fail(f"{path}: split {split}, output {out}: shard {sh['path']}: {e}")
                if len(a) != sh["rows"]:
                    fail(f"{sh['path']}: {len(a)} rows, index.json says {sh['rows']}")
                parts.append(a)
                row0 += sh["rows"]
                shards += 1
            got = np.concatenate(parts) if parts else np.zeros((0,) + want.shape[1:], np.float32)
            compare(path + " shards", out, split, want, got, atol, rtol)
    return shards


def run(a):
    data, files = load_inputs(a.input)
    n = len(data["sca_inputs"])
    order = check_split(os.path.join(a.out, "split.json"), n)
    outputs = build_outputs(data)
    del data
    stats = {k: reference_stats(v[np.sort(order["train"])]) for k, v in outputs.items()}
    check_stats(os.path.join(a.out, "stats.json"), stats)
    expected = {s: {k: normalized(v[order[s]], stats[k]) for k, v in outputs.items()} for s in SPLITS}
    check_hdf5(a.out, expected, a.atol, a.rtol)
    shards = check_npy(a.out, expected, a.atol, a.rtol)
    counts = "/".join(str(len(order[s])) for s in SPLITS)
    return (f"check_transform: OK ({len(files)} input file(s), {n} rows, train/val/test {counts}, "
            f"{len(OUTPUTS)} outputs x {len(SPLITS)} splits in HDF5 and {shards} npy shards, "
            f"stats rel {STATS_RTOL:g}, values rtol {a.rtol:g} atol {a.atol:g})")


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Check an `h5prep transform data/recipes/3dcorrection.yaml` output directory "
        "(split.json, stats.json, train/val/test.h5, npy shards and index.json) against a numpy "
        "float64 rebuild from the input. Exit 0: all agree; 1: the first mismatch is printed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--input", action="append", required=True,
                   help="input HDF5 file or glob (repeatable; joined along axis 0 in order)")
    p.add_argument("--out", required=True, help="the transform's output directory")
    p.add_argument("--atol", type=float, default=1e-6, help="absolute tolerance of output values")
    p.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance of output values")
    a = p.parse_args(argv)
    try:
        print(run(a))
        return 0
    except Mismatch as e:
        print(f"check_transform: MISMATCH: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
