# check_same_outputs.py: two transform output directories hold the same bytes: every HDF5
# dataset's data, every .npy shard, stats.json, split.json and index.json (provenance times aside).
# Used by tests/test_transform.c to hold a one-pass run to its --two-passes twin.
import json
import os
import re
import sys

import h5py
import numpy as np


def files(d):
    return sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs)


def without_times(v):
    if isinstance(v, dict):
        return {k: without_times(x) for k, x in v.items() if k not in ("created", "mtime", "seconds")}
    if isinstance(v, list):
        return [without_times(x) for x in v]
    return v


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, o: out.__setitem__(name, np.asarray(o[()])) if isinstance(o, h5py.Dataset) else None)
    return out


def main(a, b):
    fa, fb = files(a), files(b)
    if fa != fb:
        sys.exit(f"check_same_outputs: the files differ: {sorted(set(fa) ^ set(fb))}")
    for rel in fa:
        pa, pb = os.path.join(a, rel), os.path.join(b, rel)
        if rel.endswith(".h5"):
            da, db = datasets(pa), datasets(pb)
            if da.keys() != db.keys():
                sys.exit(f"check_same_outputs: {rel}: datasets {sorted(da)} against {sorted(db)}")
            for name in da:
                x, y = da[name], db[name]
                same = x.tolist() == y.tolist() if x.dtype.kind == "O" else x.tobytes() == y.tobytes()  # strings: by value
                if x.dtype != y.dtype or not same:
                    sys.exit(f"check_same_outputs: {rel}:/{name}: the data differ")
        elif rel == "index.json":
            if without_times(json.load(open(pa))) != without_times(json.load(open(pb))):
                sys.exit(f"check_same_outputs: {rel} differs")
        elif rel == "stats.json":  # the same bytes but the creation time
            ta, tb = (re.sub(r'"created": *"[^"]*"', "", open(p).read()) for p in (pa, pb))
            if ta != tb:
                sys.exit(f"check_same_outputs: {rel} differs")
        elif open(pa, "rb").read() != open(pb, "rb").read():
            sys.exit(f"check_same_outputs: {rel}: the bytes differ")
    print(f"check_same_outputs: OK ({len(fa)} files)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
