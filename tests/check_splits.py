#!/usr/bin/env python3
"""check_splits.py: checks a transform's output directory for a split by rows, time or files
against an independent numpy rebuild (tests/test_split_by.c runs it).

    check_splits.py --out DIR --input GLOB [--input GLOB ...] --dset /x --by rows|time|files
                    --split NAME=A,B (rows: fractions; time: [A, B) in coordinate units)
                    --split NAME=GLOB[,GLOB...] (files) [--coordinate FILE:/time] [--shuffle]
                    [--normalize-with NAME|all]

The recipe's output "x" must be `{from: x, normalize: zscore, cast: float64}` of an (N, F) input.
Checked (the first failure is printed and the exit status is 1):
  split.json  by, n, dropped; per split the rows it must hold, computed here: rows: the block
              [floor(A*n + 0.5), floor(B*n + 0.5)); time: A <= t < B; files: the rows of the files
              that glob.glob expands the split's globs to. In input order, or (--shuffle) the same
              set in some order.
  <split>.h5  x in the manifest's order: (X[i] - mean) / std, mean and std (ddof 0) of the rows of
              the --normalize-with split (all: of every row in some split), |got - want| <=
              1e-12 |want| + 64 eps (|mean| + std) / std per column (a few ulps of the mean, which
              differs in its last bits between summation orders, over std)
"""

import argparse
import glob
import json
import math
import sys

import h5py
import numpy as np


def fail(msg):
    print("check_splits: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--input", action="append", required=True)
    ap.add_argument("--dset", required=True)
    ap.add_argument("--by", required=True, choices=["rows", "time", "files"])
    ap.add_argument("--split", action="append", required=True)
    ap.add_argument("--coordinate")
    ap.add_argument("--shuffle", action="store_true")
    ap.add_argument("--normalize-with", default=None)
    a = ap.parse_args()

    files = [f for g in a.input for f in sorted(glob.glob(g))]
    parts = [np.asarray(h5py.File(f, "r")[a.dset][...], dtype=np.float64) for f in files]
    X = np.concatenate(parts, axis=0)
    n = X.shape[0]
    file_of = np.concatenate([np.full(p.shape[0], k) for k, p in enumerate(parts)])

    names, want = [], []
    if a.by == "time":
        cfile, cdset = a.coordinate.split(":/", 1)
        t = np.concatenate([np.asarray(h5py.File(f, "r")["/" + cdset][...], dtype=np.float64)
                            for f in sorted(glob.glob(cfile))])
    for s in a.split:
        name, spec = s.split("=", 1)
        names.append(name)
        if a.by == "rows":
            lo, hi = (float(v) for v in spec.split(","))
            r0, r1 = math.floor(lo * n + 0.5), math.floor(hi * n + 0.5)
            want.append(np.arange(r0, r1))
        elif a.by == "time":
            lo, hi = (float(v) for v in spec.split(","))
            want.append(np.nonzero((t >= lo) & (t < hi))[0])
        else:
            mine = {f for g in spec.split(",") for f in glob.glob(g)}
            ks = [k for k, f in enumerate(files) if f in mine]
            want.append(np.nonzero(np.isin(file_of, ks))[0])

    man = json.load(open(a.out + "/split.json"))
    if man["by"] != a.by or man["n"] != n:
        fail(f"split.json: by {man['by']} n {man['n']}, want {a.by} {n}")
    kept = sum(len(w) for w in want)
    if man["dropped"] != n - kept:
        fail(f"split.json: dropped {man['dropped']}, want {n - kept}")
    got = {}
    for name, w in zip(names, want):
        idx = np.asarray(man["splits"][name]["indices"], dtype=np.int64)
        ok = np.array_equal(np.sort(idx), w) if a.shuffle else np.array_equal(idx, w)
        if not ok:
            fail(f"split {name}: indices {idx.tolist()}, want {w.tolist()}")
        got[name] = idx

    nw = a.normalize_with or ("train" if "train" in names else names[0])
    rows = np.concatenate(want) if nw == "all" else want[names.index(nw)]
    mean = X[rows].mean(axis=0)
    std = X[rows].std(axis=0)
    std[std == 0] = 1
    for name in names:
        x = np.asarray(h5py.File(f"{a.out}/{name}.h5", "r")["x"][...])
        w = (X[got[name]] - mean) / std
        if x.shape != w.shape:
            fail(f"{name}.h5:x has shape {x.shape}, want {w.shape}")
        atol = 64 * np.finfo(np.float64).eps * (np.abs(mean) + std) / std
        bad = np.abs(x - w) > 1e-12 * np.abs(w) + atol
        if bad.any():
            r, c = np.argwhere(bad)[0]
            fail(f"{name}.h5:x[{r},{c}] = {x[r, c]!r}, want {w[r, c]!r}")
    print("check_splits: ok")


if __name__ == "__main__":
    main()
