#!/usr/bin/env python3
"""Benchmark of h5prep's PyTorch loader (h5prep.open(DIR)["train"].torch()) against the loaders
people write by hand over a transform's output: a per-sample Dataset over np.load(mmap_mode="r")
shards, and one over an h5py Dataset; samples/s and GB/s through torch's DataLoader with 0 and 2
workers, shuffled and in order.

How to run (from the repository root; needs the Python package and torch)
    bash scripts/test-python.sh                         # builds the venv build-python/venv
    build-python/venv/bin/python bench/bench_loader.py  # the table: bench/results/loader.{md,csv}
    build-python/venv/bin/python bench/bench_loader.py --rows 20000 --samples 5000   # smoke test

Data: a seeded input /x of shape (N, 64, 16) float32 (4 KiB per row) and /y (N, 8), transformed
by h5prep with the recipe below into WORKDIR/out (z-scored x and y, train 90 %, npy shards of
16,384 rows and HDF5 chunks of 256 rows); made once per --rows and reused.

Contenders, each a map-style torch Dataset giving (x, y) of the train split through
DataLoader(batch_size=B, shuffle=S, num_workers=W, drop_last=False)
    h5prep        ds["train"].torch(outputs=["x", "y"]) with collate_fn=h5prep.torch.collate: a
                  batch is read with __getitems__, one gather per shard (npy, mmap)
    h5prep-hdf5   the same over the split's HDF5 file (source="hdf5", opened in each worker)
    npy-mmap      by hand: np.load(path, mmap_mode="r") per shard (opened in each worker), item i
                  found with bisect on the shards' row0, torch.from_numpy(np.array(m[j])); the
                  default collate stacks the samples
    h5py          by hand: h5py.File opened in each worker, item i = f["x"][i], f["y"][i];
                  default collate
Protocol: one untimed pass over --samples samples of each contender first (page cache warm: the
data fits in memory, so this measures the loaders, not the disk), then --repeat timed passes of
--samples samples each; the table gives the median. GB/s = samples * (bytes of x + y per sample)
/ s / 1e9. Worker start-up is inside the timed pass (a new iterator each pass, as each epoch of
a DataLoader without persistent_workers); the rate after the first batch leaves it out.
"""
import argparse
import bisect
import csv
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import h5prep
import h5prep.torch as ht

RECIPE = """\
inputs:
  - files: {input}
    variables: [x, y]
outputs:
  x: {{from: x, normalize: zscore}}
  y: {{from: y, normalize: zscore}}
split:
  fractions: {{train: 0.9, val: 0.1}}
  seed: 0
write:
  dir: out
  hdf5: {{chunk_rows: 256}}
  npy: {{shard_rows: 16384}}
"""


class NpyMmap(Dataset):
    """The hand-written loader over the npy shards of index.json."""

    def __init__(self, split, names):
        self.shards = {n: [(p, r0) for p, r0, _ in split.outputs[n].shards] for n in names}
        self.row0 = [r0 for _, r0 in self.shards[names[0]]]
        self.names = names
        self.n = split.rows
        self.maps = None

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.maps is None:
            self.maps = {n: [np.load(p, mmap_mode="r") for p, _ in s] for n, s in self.shards.items()}
        k = bisect.bisect_right(self.row0, i) - 1
        j = i - self.row0[k]
        return tuple(torch.from_numpy(np.array(self.maps[n][k][j])) for n in self.names)


class H5py(Dataset):
    """The hand-written loader over the split's HDF5 file."""

    def __init__(self, path, names, n):
        self.path, self.names, self.n = path, names, n
        self.f = None

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.f is None:
            self.f = h5py.File(self.path, "r")
        return tuple(torch.from_numpy(self.f[n][i]) for n in self.names)


def make_data(workdir, rows):
    os.makedirs(workdir, exist_ok=True)
    inp = os.path.join(workdir, f"in-{rows}.h5")
    out = os.path.join(workdir, f"out-{rows}")
    if not os.path.exists(os.path.join(out, "index.json")):
        rng = np.random.default_rng(0)
        with h5py.File(inp, "w") as f:
            dx = f.create_dataset("x", (rows, 64, 16), "f4")
            for r in range(0, rows, 8192):
                n = min(8192, rows - r)
                dx[r:r + n] = rng.normal(size=(n, 64, 16)).astype("f4")
            f["y"] = rng.normal(size=(rows, 8)).astype("f4")
        recipe = os.path.join(workdir, "loader.yaml")
        with open(recipe, "w") as f:
            f.write(RECIPE.format(input=inp))
        h5prep.transform(recipe, out=out, overwrite=True)
        os.remove(inp)
    return h5prep.open(out)


def timed_pass(ds, collate, batch, shuffle, workers, samples):
    kw = {"collate_fn": collate} if collate else {}
    loader = DataLoader(ds, batch_size=batch, shuffle=shuffle, num_workers=workers,
                        generator=torch.Generator().manual_seed(1), **kw)
    t0 = time.perf_counter()
    n = n_first = 0
    t_first = None
    for xb, _yb in loader:
        n += xb.shape[0]
        if t_first is None:  # the workers are up once the first batch is here
            t_first, n_first = time.perf_counter(), n
        if n >= samples:
            break
    t1 = time.perf_counter()
    del loader
    return n, t1 - t0, (n - n_first) / (t1 - t_first) if t1 > t_first else float("nan")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100000, help="input rows (4.03 KiB each)")
    ap.add_argument("--samples", type=int, default=20000, help="samples per timed pass")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", default=os.path.join("build-python", "bench-loader"))
    ap.add_argument("--results", default=os.path.join("bench", "results"))
    a = ap.parse_args()

    torch.set_num_threads(1)
    ds = make_data(a.workdir, a.rows)
    tr = ds["train"]
    names = ["x", "y"]
    per_sample = sum(tr.outputs[n].nbytes_per_sample for n in names)
    contenders = {
        "h5prep": (tr.torch(outputs=names), ht.collate),
        "h5prep-hdf5": (tr.torch(outputs=names, source="hdf5"), ht.collate),
        "npy-mmap": (NpyMmap(tr, names), None),
        "h5py": (H5py(os.path.join(tr.root, tr.hdf5), names, tr.rows), None),
    }
    samples = min(a.samples, tr.rows)
    rows = []
    for shuffle in (True, False):
        for workers in (0, 2):
            for name, (d, collate) in contenders.items():
                timed_pass(d, collate, a.batch, shuffle, workers, samples)  # warm-up
                times, steady = [], []
                for _ in range(a.repeat):
                    n, dt, st = timed_pass(d, collate, a.batch, shuffle, workers, samples)
                    times.append(dt)
                    steady.append(st)
                med = statistics.median(times)
                rows.append({"order": "shuffled" if shuffle else "sequential", "workers": workers,
                             "contender": name, "samples": n, "median_s": med,
                             "samples_per_s": n / med, "gb_per_s": n * per_sample / med / 1e9,
                             "steady_samples_per_s": statistics.median(steady)})
                print(f"{rows[-1]['order']:10} workers={workers} {name:12} {n / med:10.0f} samples/s "
                      f"{rows[-1]['gb_per_s']:6.3f} GB/s, after the first batch "
                      f"{rows[-1]['steady_samples_per_s']:10.0f} samples/s", flush=True)

    os.makedirs(a.results, exist_ok=True)
    with open(os.path.join(a.results, "loader.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    base = {(r["order"], r["workers"]): r["samples_per_s"] for r in rows if r["contender"] == "npy-mmap"}
    lines = [
        "# h5prep loader benchmark", "",
        f"{cpu_model()}, {os.cpu_count()} cores; torch {torch.__version__}, numpy {np.__version__}, "
        f"h5py {h5py.__version__}, Python {platform.python_version()}; commit {commit}; {now}.", "",
        "Reproduce: `build-python/venv/bin/python bench/bench_loader.py` (see its docstring).", "",
        f"Train split of {tr.rows:,} samples of x (64, 16) and y (8,) float32 ({per_sample:,} bytes per sample), "
        f"npy shards of 16,384 rows, HDF5 chunks of 256 rows; batches of {a.batch}; {samples:,} samples per pass; "
        f"median of {a.repeat} passes after a warm-up (page cache warm). `× npy-mmap` = samples/s over the "
        "hand-written np.load(mmap_mode='r') loader's.", "",
        "`after 1st batch` = samples/s from the first batch's arrival to the end of the pass (without "
        "the workers' start-up).", "",
        "| order | workers | contender | samples/s | GB/s | × npy-mmap | after 1st batch samples/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['order']} | {r['workers']} | {r['contender']} | {r['samples_per_s']:,.0f} | "
                     f"{r['gb_per_s']:.3f} | {r['samples_per_s'] / base[(r['order'], r['workers'])]:.2f} | "
                     f"{r['steady_samples_per_s']:,.0f} |")
    with open(os.path.join(a.results, "loader.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
