#!/usr/bin/env python3
"""The benchmark harness of issue 4: `h5prep stats` against numpy/h5py, dask and xarray, in the
shapes users have, next to the limits (a plain C H5Dread loop, a memcpy), all in one run.

How to run (from the repository root)
    cmake --build build -j2                    # builds build/h5prep and build/bench_h5read
    python3 -m pip install -r bench/requirements.txt
    python3 bench/bench.py --quick             # smoke test: tiny inputs, results in WORKDIR/results
    python3 bench/bench.py                     # the table: bench/results/bench.{csv,md,png}
    python3 bench/bench.py --scale 8           # 8x the sizes and radar files, for a GPU node

Inputs (generated once with a seeded numpy RNG in --workdir, reused while the parameters and the
seed recorded in each file's `h5prep_bench` attribute match). Every case comes in two layouts:
"contiguous" (uncompressed, no chunks) and "deflate" (chunked, shuffle + gzip level 4, the usual
netCDF-4 settings; 4 MiB chunks along axis 0, netCDF-C's default chunk size).
    weather3d     /x (N, 138, 20) float32, per-feature statistics of the last axis (--keep-axes -1)
    weather-flat  /x (N, 4128) float32, per-feature statistics of the last axis
    cfd           /x (N, 5) float32, per-feature statistics of the last axis
    columns512    /x (N, 512) float32, per-feature statistics of the last axis (issue 2's file)
    radar         FILES netCDF-4 files, each with 6 moments DBZ VEL ZDR RHO PHI WIDTH of shape
                  (2, 120, 240) float32 and _FillValue -9999 on about 30% of the gates; one
                  statistic per moment over all files (--keep-axes none, a glob 'dir/*.nc:/DBZ')
    radar-empty   FILES/2 files as radar with moments of shape (2, 1, 1): the per-file overhead
Sizes: 1 GiB per contiguous big case, 512 MiB (before compression) per deflate big case and 200
radar files (0.28 GB); --scale multiplies all three (--scale 10: 2000 radar files). The radar
default is small because xarray needs about 50 ms and dask about 27 ms per file here: with 2000
files their 4 runs per layout alone would take 10 minutes. Values are offset + scale * N(0, 1) per
feature, bit-rounded to 10 mantissa bits as netCDF producers do, so that deflate compresses them
2-4x like real data instead of barely at all.

Contenders, timed from nothing open to the numbers in memory
    h5prep-cpu   build/h5prep stats ... -o OUT.json --quiet --backend cpu; process wall time
                 (H5PREP_ISA=generic|avx2|avx512 in the environment forces the CPU kernels' path;
                 the path that ran, provenance.cpu_isa, is recorded as h5prep_cpu_isa)
    h5prep-cuda  the same with --backend cuda, only when `nvidia-smi -L` lists a GPU
    numpy        h5py read_direct of 64 MiB slabs (whole chunks) into one reused buffer; per slab
                 float64 count/mean/M2/min/max per feature, fill values masked, merged with
                 Chan's formula; radar: per file and moment. Single-threaded, in-process.
    dask         da.from_array(h5py dataset, 64 MiB chunks, whole HDF5 chunks) (radar: one per
                 file and moment, concatenated along axis 0); fill values set to NaN with
                 da.where; one da.compute of count (radar), nanmean/nanstd (dtype float64),
                 nanmin, nanmax (plain mean/std/min/max without fill values), threaded scheduler
    xarray       radar only: xr.open_mfdataset(files, engine="h5netcdf", combine="nested",
                 concat_dim="sweep") (mask_and_scale: fill -> NaN); one dask.compute of count,
                 mean(dtype f8), std(dtype f8), min, max of every moment. file_cache_maxsize is
                 raised above the file count: xarray's default (128 open files) makes it reopen
                 files while computing, 1.5x slower at 200 files.
    H5Dread      the limit: build/bench_h5read, a C loop of H5Dread into one reused buffer, 16 MiB
                 slabs of whole chunks (radar: open, read each moment whole, close, per file).
                 For deflate inputs it is HDF5's single-threaded decode rate.
    memcpy       bench_h5read --memcpy: the same bytes copied in 16 MiB slabs between two reused
                 buffers (cache-warm: a ceiling on copying, not a DRAM stream)
    H5Fopen      radar only: bench_h5read --open, H5Fopen + H5Dopen of the 6 moments + close
                 per file, no read: HDF5's own floor of the per-file cost
The H5Dread, memcpy and H5Fopen times are the C loop's own clock (no process start).

Protocol. Per case: one H5Dread run warms the page cache; every other contender runs once and
its statistics are checked against numpy's (mean: |d| <= 1e-9 (|ref| + std); std: |d| <= 1e-9 std;
count, min and max exactly; h5prep's count + missing must also be every value); a disagreement
stops the harness. These runs are the warm-ups. Then --repeat rounds run every contender in turn;
the tables give the median and the spread (min..max). Bytes moved = uncompressed bytes of the
datasets = N * prod(row shape) * 4 (radar: FILES * 6 * 2*120*240 * 4); GB/s = bytes / median s
/ 1e9. Binaries are copied to WORKDIR/bin first, so a rebuild of build/ during the run changes no
contender; the results record their sha256, the machine, the commit and the date.
"""

import argparse
import concurrent.futures
import csv
import dataclasses
import datetime
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import dask
import dask.array as da
import h5netcdf
import h5py
import matplotlib
import numpy as np
import xarray as xr

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20
PARAM_ATTR = "h5prep_bench"
GENERATOR = 1  # bump when the generated values change, so old files are not reused
KEEP_BITS = 10  # mantissa bits kept by the bit-rounding of generated values
SLAB_BYTES = 64 * MIB  # read unit of the numpy and dask contenders
H5PREP_ISAS = set()  # provenance.cpu_isa of every h5prep-cpu run: the CPU kernels' path (H5PREP_ISA)
TOL = 1e-9  # mean: |d| <= TOL (|ref| + std); std: |d| <= TOL std; count/min/max exact

BIG_SHAPES = {"weather3d": (138, 20), "weather-flat": (4128,), "cfd": (5,), "columns512": (512,)}
RADAR_SHAPE = (2, 120, 240)
RADAR_EMPTY_SHAPE = (2, 1, 1)
RADAR_DIMS = ("sweep", "azimuth", "range")
RADAR_FILL = -9999.0
RADAR_FILES = 200  # default; xarray and dask take 30-80 ms per file, see the module docstring
RADAR_EMPTY_FILES = 100  # per-file costs are flat from a few dozen files on
MOMENTS = {"DBZ": (15.0, 12.0), "VEL": (0.0, 10.0), "ZDR": (0.5, 1.5),  # (mean, std) of values
           "RHO": (0.97, 0.02), "PHI": (90.0, 40.0), "WIDTH": (2.0, 1.0)}
CASES = ("weather3d", "weather-flat", "cfd", "columns512", "radar", "radar-empty")
LAYOUTS = ("contiguous", "deflate")
PEERS = ("numpy", "dask", "xarray")
LIMITS = ("H5Dread", "memcpy", "H5Fopen")
ORDER = ("h5prep-cpu", "h5prep-cuda") + PEERS + LIMITS
BARS = ("h5prep-cpu", "h5prep-cuda") + PEERS  # contenders drawn as GB/s bars
COLORS = {"h5prep-cpu": "#d62728", "h5prep-cuda": "#9467bd", "numpy": "#1f77b4", "dask": "#ff7f0e",
          "xarray": "#2ca02c", "H5Dread": "#222222", "H5Fopen": "#999999"}
# Targets of issues 4 and 2 (columns512 is issue 2's 1 GiB (N, 512) file):
# (cases, layout, what h5prep is compared with, the ratio it needs)
TARGETS = [(("weather3d", "weather-flat", "cfd", "columns512"), "contiguous", "H5Dread", 0.5),
           (("weather3d", "weather-flat", "cfd", "columns512"), "contiguous", "dask", 10.0),
           (("weather3d", "weather-flat", "cfd"), "deflate", "H5Dread", 1.7),
           (("weather3d", "weather-flat", "cfd"), "deflate", "dask", 5.0),
           (("radar",), "contiguous", "dask", 5.0), (("radar",), "contiguous", "xarray", 5.0),
           (("radar",), "deflate", "dask", 5.0), (("radar",), "deflate", "xarray", 5.0)]


def parse_args():
    p = argparse.ArgumentParser(
        description="Benchmark `h5prep stats` against numpy/h5py, dask and xarray and the "
        "H5Dread/memcpy limits on seeded inputs in the users' shapes. See the module docstring "
        "of bench/bench.py for what is timed and how.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 16 MiB big cases, 24 radar files; results go to WORKDIR/results")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiplies the sizes (1 GiB contiguous, 512 MiB deflate) and the radar file "
                   f"count ({RADAR_FILES})")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per contender (at least 3)")
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of " + ", ".join(CASES))
    p.add_argument("--layouts", default=",".join(LAYOUTS), help="comma-separated subset of " + ", ".join(LAYOUTS))
    p.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    p.add_argument("--chunk-mib", type=float, default=4.0, help="chunk size of the deflate big cases")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/h5prep-bench"),
                   help="where inputs, binary copies and h5prep's outputs go")
    p.add_argument("--results", type=Path, default=None,
                   help="where the tables go (default bench/results, with --quick WORKDIR/results); "
                        "use another folder for a subset of the cases")
    p.add_argument("--h5prep", type=Path, default=REPO / "build" / "h5prep", help="h5prep binary")
    p.add_argument("--h5read", type=Path, default=REPO / "build" / "bench_h5read",
                   help="bench_h5read binary (bench/h5read_loop.c)")
    args = p.parse_args()
    if args.repeat < 3:
        p.error("--repeat must be at least 3")
    if args.scale <= 0 or args.chunk_mib <= 0:
        p.error("--scale and --chunk-mib must be positive")
    args.cases = [c for c in args.cases.split(",") if c]
    args.layouts = [lay for lay in args.layouts.split(",") if lay]
    for value, valid in ((args.cases, CASES), (args.layouts, LAYOUTS)):
        if not value or set(value) - set(valid):
            p.error(f"expected a comma-separated subset of {', '.join(valid)}, got {','.join(value)}")
    for binary in (args.h5prep, args.h5read):
        if not os.access(binary, os.X_OK):
            p.error(f"{binary} is not an executable; build it with: cmake --build build -j2")
    return args


def sizes(args):
    """(contiguous bytes, deflate bytes, radar files) of this run."""
    if args.quick:
        return 16 * MIB, 16 * MIB, 24
    return int(args.scale * 1024 * MIB), int(args.scale * 512 * MIB), max(1, round(args.scale * RADAR_FILES))


def empty_files(radar_files):
    return max(1, radar_files * RADAR_EMPTY_FILES // RADAR_FILES)


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclasses.dataclass
class Case:
    name: str  # one of CASES
    layout: str  # one of LAYOUTS
    paths: list  # input files, sorted
    datasets: tuple  # dataset names, "/x" or the moments
    row_shape: tuple  # shape of one row (axis 0 removed)
    rows: int  # rows of each dataset in one file
    chunk_rows: int  # rows of an HDF5 chunk; 0 when contiguous
    keep: str  # h5prep --keep-axes
    fill: float  # _FillValue, or None

    @property
    def title(self):
        return f"{self.name} {self.layout}"

    @property
    def features(self):
        return 1 if self.keep == "none" else self.row_shape[-1]

    @property
    def nbytes(self):
        """Uncompressed bytes of every dataset of every file: the bytes moved."""
        return len(self.paths) * len(self.datasets) * self.rows * int(np.prod(self.row_shape)) * 4

    def stored_bytes(self):
        return sum(p.stat().st_size for p in self.paths)

    @property
    def many_files(self):
        return self.name.startswith("radar")

    def h5prep_inputs(self):
        if self.many_files:
            return [f"{self.paths[0].parent}/*.nc:{d}" for d in self.datasets]
        return [f"{self.paths[0]}:{self.datasets[0]}"]

    def slab_rows(self):
        """Rows of the numpy/dask read unit: about SLAB_BYTES, whole chunks."""
        rows = max(1, SLAB_BYTES // (int(np.prod(self.row_shape)) * 4))
        if self.chunk_rows:
            rows = max(1, rows // self.chunk_rows) * self.chunk_rows
        return min(rows, self.rows)


def bitround(x):
    """Rounds float32 x in place to KEEP_BITS mantissa bits (round half up on the magnitude)."""
    u = x.view(np.uint32)
    drop = 23 - KEEP_BITS
    u += np.uint32(1 << (drop - 1))
    u &= np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)


def storage(layout, chunks):
    if layout == "contiguous":
        return {}
    return {"chunks": chunks, "compression": "gzip", "compression_opts": 4, "shuffle": True}


def params_of(case, seed):
    return json.dumps({"generator": GENERATOR, "seed": seed, "case": case.name, "layout": case.layout,
                       "rows": case.rows, "row_shape": case.row_shape, "chunk_rows": case.chunk_rows})


def is_current(path, params):
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get(PARAM_ATTR) == params
    except OSError:
        return False


def write_big(case, seed, params):
    """Writes /x slab by slab: offset + scale * N(0, 1) per feature of the last axis, bit-rounded."""
    rng = np.random.default_rng([seed, CASES.index(case.name)])
    f_count = case.row_shape[-1]
    scale = (10.0 ** rng.uniform(-2, 2, f_count)).astype(np.float32)
    offset = (rng.standard_normal(f_count) * 100).astype(np.float32)
    path = case.paths[0]
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        x = f.create_dataset("x", shape=(case.rows,) + case.row_shape, dtype=np.float32,
                             **storage(case.layout, (case.chunk_rows,) + case.row_shape))
        step = case.slab_rows()
        for r in range(0, case.rows, step):
            block = rng.standard_normal((min(step, case.rows - r),) + case.row_shape, dtype=np.float32)
            block *= scale
            block += offset
            bitround(block)
            x[r:r + len(block)] = block
        f.attrs[PARAM_ATTR] = params  # last: an interrupted write never looks current
    tmp.replace(path)


def write_radar(case, index, seed, params):
    """One radar file: 6 moments; each ray is filled with _FillValue beyond a random gate."""
    rng = np.random.default_rng([seed, 100, index])
    shape = (case.rows,) + case.row_shape
    gates = shape[-1]
    cutoff = rng.uniform(0.5, 0.9, shape[:-1] + (1,)) * gates  # mean 0.7: ~30% fill
    no_echo = np.arange(gates) >= cutoff if gates > 1 else rng.random(shape) < 0.3
    path = case.paths[index]
    tmp = path.with_suffix(".tmp")
    with h5netcdf.File(tmp, "w") as f:
        f.dimensions = dict(zip(RADAR_DIMS, shape))
        for name, (mean, std) in MOMENTS.items():
            values = (rng.standard_normal(shape, dtype=np.float32) * np.float32(std)) + np.float32(mean)
            bitround(values)
            values[no_echo] = RADAR_FILL
            f.create_variable(name, RADAR_DIMS, np.float32, data=values, fillvalue=np.float32(RADAR_FILL),
                              **storage(case.layout, shape))
        f.attrs[PARAM_ATTR] = params
    tmp.replace(path)


def make_case(name, layout, args):
    """The Case of this run (paths named by their parameters, so sizes never mix)."""
    contiguous, deflate, files = sizes(args)
    if name in BIG_SHAPES:
        row_shape = BIG_SHAPES[name]
        row_bytes = int(np.prod(row_shape)) * 4
        rows = max(1, (contiguous if layout == "contiguous" else deflate) // row_bytes)
        chunk_rows = 0 if layout == "contiguous" else min(rows, max(1, int(args.chunk_mib * MIB) // row_bytes))
        path = args.workdir / f"{name}-{layout}-{rows}x{'x'.join(map(str, row_shape))}.h5"
        return Case(name, layout, [path], ("/x",), row_shape, rows, chunk_rows, "-1", None)
    row_shape = (RADAR_SHAPE if name == "radar" else RADAR_EMPTY_SHAPE)[1:]
    files = files if name == "radar" else empty_files(files)
    folder = args.workdir / f"{name}-{layout}-{files}"
    paths = [folder / f"{i:05d}.nc" for i in range(files)]
    return Case(name, layout, paths, tuple("/" + m for m in MOMENTS), row_shape, RADAR_SHAPE[0],
                0 if layout == "contiguous" else RADAR_SHAPE[0], "none", RADAR_FILL)


def write_input(job):
    case, index, seed, params = job
    if case.many_files:
        write_radar(case, index, seed, params)
    else:
        write_big(case, seed, params)


def prepare_inputs(cases, seed):
    """Writes every input that is missing or was generated with other parameters, in parallel."""
    jobs = []
    for case in cases:
        params = params_of(case, seed)
        case.paths[0].parent.mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(case.paths):
            if not is_current(path, params):
                jobs.append((case, i, seed, params))
    if not jobs:
        print("inputs: reusing the files in place")
        return
    print(f"inputs: writing {len(jobs)} files ...", flush=True)
    t0 = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(os.cpu_count()) as pool:
        for _ in pool.map(write_input, jobs, chunksize=max(1, len(jobs) // (8 * os.cpu_count()))):
            pass
    os.sync()  # no writeback of the new files during the timings
    print(f"inputs: done in {time.perf_counter() - t0:.0f} s")


def file_list(case, workdir):
    """A text file naming case's files, one a line, for bench_h5read --files/--open."""
    path = workdir / f"{case.name}-{case.layout}-{len(case.paths)}.list"
    path.write_text("".join(f"{p}\n" for p in case.paths))
    return path


# ---------------------------------------------------------------------------------------------
# Contenders: each takes a Case and returns (seconds, {dataset: {count, mean, std, min, max}})


def run_c(binary, *argv):
    out = subprocess.run([str(binary), *map(str, argv)], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench: {binary.name} {' '.join(map(str, argv))} failed ({out.returncode}): {out.stderr.strip()}")
    done, seconds, _ = out.stdout.split()
    return int(done), float(seconds)


def run_h5dread(binary, case, listing):
    if case.many_files:
        done, seconds = run_c(binary, "--files", listing, *case.datasets)
    else:
        done, seconds = run_c(binary, case.paths[0], case.datasets[0])
    if done != case.nbytes:
        sys.exit(f"bench: bench_h5read read {done} bytes of {case.title}, expected {case.nbytes}")
    return seconds, None


def run_memcpy(binary, case):
    return run_c(binary, "--memcpy", case.nbytes)[1], None


def run_h5fopen(binary, listing, case):
    return run_c(binary, "--open", listing, *case.datasets)[1], None


def run_h5prep(binary, backend, case, out_json):
    cmd = [str(binary), "stats", *case.h5prep_inputs(), "--keep-axes", case.keep,
           "-o", str(out_json), "--quiet", "--backend", backend]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({out.returncode}):\n{out.stderr.strip()}")
    doc = json.loads(out_json.read_text())
    if backend == "cpu":
        H5PREP_ISAS.add(doc["provenance"].get("cpu_isa", "not recorded"))
    variables = doc["variables"]
    stats = {}
    for name in case.datasets:
        var = variables[name]
        stats[name] = {k: np.asarray(var[k], dtype=np.float64)
                       for k in ("count", "missing", "mean", "std", "min", "max")}
    return seconds, stats


class Moments:
    """Per-feature float64 (count, mean, M2, min, max), merged with Chan's formula."""

    def __init__(self, features, fill):
        self.fill = fill
        self.n = np.zeros(features)
        self.mean = np.zeros(features)
        self.m2 = np.zeros(features)
        self.lo = np.full(features, np.inf)
        self.hi = np.full(features, -np.inf)
        self.dev = np.empty(0)  # float64 scratch, reused across blocks of one size

    def add(self, x):
        """x: (samples, features) float32."""
        if self.fill is None:
            n = np.full(x.shape[1], float(len(x)))
            mean = x.mean(axis=0, dtype=np.float64)
            if self.dev.shape != x.shape:
                self.dev = np.empty(x.shape)
            dev = np.subtract(x, mean, out=self.dev)
            lo, hi = x.min(axis=0), x.max(axis=0)
        else:
            valid = x != self.fill
            n = valid.sum(axis=0).astype(np.float64)
            mean = np.where(valid, x, 0).sum(axis=0, dtype=np.float64) / np.maximum(n, 1)
            dev = np.where(valid, x - mean, 0.0)
            lo = np.where(valid, x, np.inf).min(axis=0)
            hi = np.where(valid, x, -np.inf).max(axis=0)
        np.square(dev, out=dev)
        self.merge(n, mean, dev.sum(axis=0), lo, hi)

    def merge(self, n_b, mean_b, m2_b, lo, hi):
        n = self.n + n_b
        w = np.divide(n_b, n, out=np.zeros_like(n), where=n > 0)
        delta = mean_b - self.mean
        self.mean = self.mean + delta * w
        self.m2 = self.m2 + m2_b + delta * delta * self.n * w
        self.n = n
        np.minimum(self.lo, lo, out=self.lo)
        np.maximum(self.hi, hi, out=self.hi)

    def result(self):
        return {"count": self.n, "mean": self.mean, "std": np.sqrt(self.m2 / self.n),
                "min": self.lo, "max": self.hi}


def run_numpy(case):
    t0 = time.perf_counter()
    acc = {name: Moments(case.features, case.fill) for name in case.datasets}
    buf = np.empty((case.slab_rows(),) + case.row_shape, dtype=np.float32)
    for path in case.paths:
        with h5py.File(path, "r") as f:
            for name in case.datasets:
                x = f[name]
                for r in range(0, case.rows, len(buf)):
                    k = min(len(buf), case.rows - r)
                    x.read_direct(buf, np.s_[r:r + k], np.s_[0:k])
                    acc[name].add(buf[:k].reshape(-1, case.features))
    seconds = time.perf_counter() - t0
    return seconds, {name: m.result() for name, m in acc.items()}


def dask_stats(x, axis, fill):
    """Lazy count/mean/std/min/max of dask array x over axis, float64 moments, fill -> NaN."""
    if fill is None:
        reduced = x.size if axis is None else int(np.prod([x.shape[a] for a in axis]))
        return {"count": reduced, "mean": x.mean(axis=axis, dtype="f8"), "std": x.std(axis=axis, dtype="f8"),
                "min": x.min(axis=axis), "max": x.max(axis=axis)}
    x = da.where(x == np.float32(fill), np.float32(np.nan), x)
    return {"count": da.count_nonzero(~da.isnan(x), axis=axis),
            "mean": da.nanmean(x, axis=axis, dtype="f8"), "std": da.nanstd(x, axis=axis, dtype="f8"),
            "min": da.nanmin(x, axis=axis), "max": da.nanmax(x, axis=axis)}


def as_features(stats, case):
    """Computed statistics as float64 arrays of shape (features,)."""
    return {k: np.broadcast_to(np.asarray(v, dtype=np.float64), (case.features,)) for k, v in stats.items()}


def run_dask(case):
    t0 = time.perf_counter()
    files = [h5py.File(p, "r") for p in case.paths]
    try:
        lazy = {}
        for name in case.datasets:
            parts = [da.from_array(f[name], chunks=(case.slab_rows(),) + case.row_shape) for f in files]
            x = parts[0] if len(parts) == 1 else da.concatenate(parts, axis=0)
            axis = None if case.keep == "none" else tuple(range(x.ndim - 1))
            lazy[name] = dask_stats(x, axis, case.fill)
        (done,) = da.compute(lazy)
    finally:
        for f in files:
            f.close()
    seconds = time.perf_counter() - t0
    return seconds, {name: as_features(s, case) for name, s in done.items()}


def run_xarray(case):
    t0 = time.perf_counter()
    with (xr.set_options(file_cache_maxsize=max(128, len(case.paths) + 1)),
          xr.open_mfdataset(case.paths, engine="h5netcdf", combine="nested", concat_dim="sweep") as ds):
        lazy = {}
        for name in case.datasets:
            v = ds[name.lstrip("/")]
            lazy[name] = {"count": v.count(), "mean": v.mean(dtype="f8"), "std": v.std(dtype="f8"),
                          "min": v.min(), "max": v.max()}
        (done,) = dask.compute(lazy)
    seconds = time.perf_counter() - t0
    return seconds, {name: as_features({k: v.values for k, v in s.items()}, case)
                     for name, s in done.items()}


def gpu_name():
    """The GPUs `nvidia-smi -L` lists, or "" when there is none."""
    if not shutil.which("nvidia-smi"):
        return ""
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 and "GPU" in out.stdout else ""


def contenders_for(case, bins, workdir, gpu):
    """{name: callable() -> (seconds, stats or None)} for case, in ORDER."""
    listing = file_list(case, workdir) if case.many_files else None
    out_json = workdir / "h5prep-stats.json"
    runs = {"h5prep-cpu": lambda: run_h5prep(bins["h5prep"], "cpu", case, out_json),
            "numpy": lambda: run_numpy(case),
            "dask": lambda: run_dask(case),
            "H5Dread": lambda: run_h5dread(bins["h5read"], case, listing)}
    if case.name != "radar-empty":  # no bytes worth copying there
        runs["memcpy"] = lambda: run_memcpy(bins["h5read"], case)
    if gpu:
        runs["h5prep-cuda"] = lambda: run_h5prep(bins["h5prep"], "cuda", case, out_json)
    if case.many_files:
        runs["xarray"] = lambda: run_xarray(case)
        runs["H5Fopen"] = lambda: run_h5fopen(bins["h5read"], listing, case)
    return {name: runs[name] for name in ORDER if name in runs}


# ---------------------------------------------------------------------------------------------
# Checks


def compare(title, got, ref):
    """Exits unless got agrees with ref (see TOL); returns the largest scaled difference."""
    problems, worst = [], 0.0
    for name, r in ref.items():
        g = got[name]
        for key, scale in (("mean", np.abs(r["mean"]) + r["std"]), ("std", r["std"])):
            err = np.abs(g[key] - r[key])
            bad = ~(err <= TOL * scale)
            worst = max(worst, float(np.max(err / np.maximum(scale, 1e-300))))
            if bad.any():
                j = int(np.argmax(bad))
                problems.append(f"{name} {key}: {int(bad.sum())} of {bad.size} features off, e.g. "
                                f"feature {j}: {g[key][j]!r} vs {r[key][j]!r}")
        for key in ("count", "min", "max"):
            if not np.array_equal(g[key], r[key]):
                j = int(np.argmax(g[key] != r[key]))
                problems.append(f"{name} {key}: differs, e.g. feature {j}: {g[key][j]!r} vs {r[key][j]!r}")
    if problems:
        sys.exit(f"bench: {title} disagrees with numpy (tolerance {TOL:g}):\n  " + "\n  ".join(problems))
    return worst


def check_h5prep_total(case, stats):
    """h5prep's count + missing must be every value of the feature."""
    per_feature = len(case.paths) * case.rows * int(np.prod(case.row_shape)) // case.features
    for name, s in stats.items():
        total = s["count"] + s["missing"]
        if not np.all(total == per_feature):
            sys.exit(f"bench: h5prep on {case.title} {name}: count + missing = {total.min():.0f}.."
                     f"{total.max():.0f}, expected {per_feature} per feature")


def check(case, runs):
    """Runs each contender once (the warm-up) and compares its statistics with numpy's."""
    runs["H5Dread"]()  # warms the page cache
    ref = runs["numpy"]()[1]
    for name, run in runs.items():
        if name == "numpy":
            continue
        stats = run()[1]
        if stats is None:
            continue
        if name.startswith("h5prep"):
            check_h5prep_total(case, stats)
        worst = compare(f"{name} on {case.title}", stats, ref)
        print(f"  {name:<11} agrees with numpy (largest |d|/scale {worst:.1e} <= {TOL:g})")


def cpu_seconds():
    """(CPU seconds the whole machine spent busy, incl. steal; those of this process and its
    finished children), for telling how much other work shared the machine."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    t = os.times()
    return ((user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK"),
            t.user + t.system + t.children_user + t.children_system)


def measure(case, runs, repeat):
    """({contender: [seconds] * repeat}, share of the machine's CPU time used by others meanwhile),
    contenders interleaved round by round."""
    times = {name: [] for name in runs}
    (busy0, own0), t0 = cpu_seconds(), time.perf_counter()
    for i in range(repeat):
        for name, run in runs.items():
            times[name].append(run()[0])
        print(f"  round {i + 1}: " + "  ".join(f"{n} {t[-1]:.3f}" for n, t in times.items()), flush=True)
    (busy1, own1), wall = cpu_seconds(), time.perf_counter() - t0
    others = max(0.0, (busy1 - busy0) - (own1 - own0)) / (wall * os.cpu_count())
    if others > 0.05:
        print(f"  warning: other processes used {others:.0%} of the machine's CPU time during these rounds")
    return times, others


# ---------------------------------------------------------------------------------------------
# Report


def summarize(case, times, others):
    """One row per contender: median/spread in s and GB/s, ratios to the peers and the limits."""
    med = {name: statistics.median(ts) for name, ts in times.items()}
    stored = case.stored_bytes()
    rows = []
    for name, ts in times.items():
        moves_data = name != "H5Fopen" and case.name != "radar-empty"  # else only ms/file counts
        row = {"case": case.name, "layout": case.layout, "contender": name, "files": len(case.paths),
               "bytes": case.nbytes if moves_data else 0, "stored_bytes": stored, "median_s": med[name],
               "min_s": min(ts), "max_s": max(ts),
               "gbps": case.nbytes / med[name] / 1e9 if moves_data else None,
               "min_gbps": case.nbytes / max(ts) / 1e9 if moves_data else None,
               "max_gbps": case.nbytes / min(ts) / 1e9 if moves_data else None,
               "ms_per_file": 1e3 * med[name] / len(case.paths), "others_cpu": others}
        for other in PEERS + ("H5Dread", "memcpy", "h5prep-cpu"):
            # how many times faster this contender is than `other` (= its rate / other's rate)
            row[f"x_{other}"] = med[other] / med[name] if other in med and moves_data else None
        rows.append(row)
    return rows


def target_rows(rows):
    """Each issue-4 target that this run measured: measured ratio, required ratio, pass/miss."""
    by = {(r["case"], r["layout"], r["contender"]): r for r in rows}
    out = []
    for cases, layout, peer, need in TARGETS:
        for case in cases:
            for h5p in ("h5prep-cpu", "h5prep-cuda"):
                r = by.get((case, layout, h5p))
                if r is None or r[f"x_{peer}"] is None:
                    continue
                got = r[f"x_{peer}"]
                out.append({"contender": h5p, "case": case, "layout": layout, "versus": peer,
                            "need": need, "got": got, "ok": got >= need})
    return out


def fmt(value, spec):
    return "" if value is None else format(value, spec)


def inputs_table(cases):
    lines = ["| case | layout | files | datasets of shape | storage | uncompressed MB | stored MB | ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for c in cases:
        shape = ", ".join(map(str, (c.rows,) + c.row_shape))
        datasets = "/x" if len(c.datasets) == 1 else f"{len(c.datasets)} moments"
        storage_text = ("contiguous" if not c.chunk_rows else
                        f"chunks ({', '.join(map(str, (c.chunk_rows,) + c.row_shape))}), shuffle + gzip 4")
        stored = c.stored_bytes()
        lines.append(f"| {c.name} | {c.layout} | {len(c.paths)} | {datasets} ({shape}) float32 | {storage_text} "
                     f"| {c.nbytes / 1e6:.1f} | {stored / 1e6:.1f} | {c.nbytes / stored:.2f} |")
    return lines


def results_table(rows):
    head = ["case", "layout", "contender", "median s", "spread s", "GB/s", "ms/file",
            "× H5Dread", "× memcpy", "× numpy", "× dask", "× xarray"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["case"], r["layout"], r["contender"], f"{r['median_s']:.3f}",
                 f"{r['min_s']:.3f}..{r['max_s']:.3f}", fmt(r["gbps"], ".2f"), f"{r['ms_per_file']:.3f}"
                 if r["files"] > 1 else "", fmt(r["x_H5Dread"], ".2f"), fmt(r["x_memcpy"], ".2f"),
                 fmt(r["x_numpy"], ".2f"), fmt(r["x_dask"], ".2f"), fmt(r["x_xarray"], ".2f")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def targets_table(targets):
    lines = ["| h5prep | case | layout | versus | needed | measured | result |", "|---|---|---|---|---|---|---|"]
    for t in targets:
        lines.append(f"| {t['contender']} | {t['case']} | {t['layout']} | {t['versus']} | ≥ {t['need']:g}× "
                     f"| {t['got']:.2f}× | {'pass' if t['ok'] else '**miss**'} |")
    return lines


def overhead_table(rows):
    """ms per file of each contender on the radar files and on the empty-ish ones."""
    by = {(r["case"], r["layout"], r["contender"]): r["ms_per_file"] for r in rows if r["files"] > 1}
    groups = [(c, lay) for c in ("radar", "radar-empty") for lay in LAYOUTS
              if any(k[:2] == (c, lay) for k in by)]
    if not any(c == "radar-empty" for c, _ in groups):
        return []
    head = [f"{c} {lay} ms/file" for c, lay in groups]
    lines = ["| contender | " + " | ".join(head) + " | empty-ish ÷ radar contiguous |",
             "|" + "---|" * (len(head) + 2)]
    for name in ORDER:
        cells = [by.get((c, lay, name)) for c, lay in groups]
        if cells[-1] is None:
            continue
        full = by.get(("radar", "contiguous", name))
        share = f"{cells[-1] / full:.0%}" if full else ""
        lines.append(f"| {name} | " + " | ".join(fmt(v, ".3f") for v in cells) + f" | {share} |")
    return lines


def interference_lines(rows):
    seen = {}
    for r in rows:
        seen.setdefault(f"{r['case']} {r['layout']}", r["others_cpu"])
    return ["CPU time used by other processes during the timed rounds, as a share of the machine's: "
            + ", ".join(f"{k} {v:.0%}" for k, v in seen.items()) + "."]


def git_commit():
    """Short HEAD, with "-dirty" when src/, include/, kernels/ or CMakeLists.txt differ from it."""
    git = ["git", "-C", str(REPO)]
    head = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return "uncommitted"
    dirty = subprocess.run(git + ["status", "--porcelain", "--", "src", "include", "kernels", "CMakeLists.txt"],
                           capture_output=True, text=True).stdout.strip()
    return head.stdout.strip() + ("-dirty" if dirty else "")


def machine_info(bins, gpu):
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    meminfo = Path("/proc/meminfo").read_text()
    mem_kib = next(int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:"))
    c_hdf5 = subprocess.run([str(bins["h5read"]), "--version"], capture_output=True, text=True).stdout.strip()
    return {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "commit": git_commit(), "cpu": model, "cores": os.cpu_count(), "mem_gib": round(mem_kib / 2**20, 1),
            "gpu": gpu or "none (h5prep-cuda skipped)",
            "h5prep_sha256": hashlib.sha256(bins["h5prep"].read_bytes()).hexdigest()[:16],
            "h5prep_cpu_isa": ",".join(sorted(H5PREP_ISAS)) or "n/a",
            "hdf5_c": c_hdf5, "hdf5_h5py": h5py.version.hdf5_version, "python": platform.python_version(),
            "numpy": np.__version__, "h5py": h5py.__version__, "dask": dask.__version__,
            "xarray": xr.__version__, "h5netcdf": h5netcdf.__version__}


def write_csv(path, rows, info):
    fields = list(rows[0])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields + list(info))
        for r in rows:
            w.writerow([("" if r[k] is None else f"{r[k]:.6g}" if isinstance(r[k], float) else r[k])
                        for k in fields] + list(info.values()))


def write_markdown(path, cases, rows, targets, info, args, png_name):
    md = ["# h5prep stats benchmark", "",
          f"{info['cpu']}, {info['cores']} cores, {info['mem_gib']} GiB; GPU: {info['gpu']}; "
          f"h5prep-cpu kernels: {info['h5prep_cpu_isa']}; "
          f"commit {info['commit']}; {info['date_utc']}.", "",
          f"Reproduce: `python3 bench/bench.py{' --quick' if args.quick else ''}"
          f"{f' --scale {args.scale:g}' if args.scale != 1 else ''}` (see its docstring for what is timed).", "",
          f"Bytes moved = uncompressed bytes of the datasets (N × prod(row shape) × 4; radar: files × 6 × "
          f"2·120·240 × 4). GB/s = bytes / median s / 1e9. Median and spread (min..max) of {args.repeat} runs "
          f"after a checked warm-up run; statistics agree with numpy float64 (mean within {TOL:g}·(|mean| + std), "
          f"std within {TOL:g}·std, count/min/max exactly). `× X` = how many times faster than X "
          f"(X's median s / this median s), i.e. this row's GB/s ÷ X's GB/s.",
          "", f"![benchmark]({png_name})", "", "## Targets of issue 4", ""]
    md += targets_table(targets) if targets else ["(no target case measured in this run)"]
    md += ["", "## Results", ""] + results_table(rows)
    md += ["", "## Inputs", "", "Seed " + str(args.seed) + "; ratio = uncompressed / stored bytes (file sizes).",
           ""] + inputs_table(cases)
    overhead = overhead_table(rows)
    if overhead:
        md += ["", "## Per-file overhead", "",
               "radar-empty holds the same 6 moments per file with shape (2, 1, 1): its time per file is "
               "what a contender spends on a file besides the data. H5Fopen = HDF5's own floor (open the "
               "file and its 6 datasets, close).", ""] + overhead
    md += ["", "## Run", ""] + interference_lines(rows) + [""] + [f"- {k}: {v}" for k, v in info.items()] + [""]
    Path(path).write_text("\n".join(md))


def plot(path, rows, info):
    """Grouped bars of GB/s per case and contender (one panel per layout, log scale) with the
    H5Dread and memcpy limits and the issue-4 target for h5prep marked; a panel of ms per file."""
    layouts = [lay for lay in LAYOUTS if any(r["layout"] == lay and r["gbps"] for r in rows)]
    per_file = [r for r in rows if r["files"] > 1 and r["contender"] in COLORS]
    panels = len(layouts) + (1 if per_file else 0)
    fig, axes = plt.subplots(panels, 1, figsize=(12, 4.4 * panels), squeeze=False)
    for ax, layout in zip(axes[:, 0], layouts):
        bars_panel(ax, [r for r in rows if r["layout"] == layout and r["gbps"]], layout)
    if per_file:
        per_file_panel(axes[-1, 0], per_file)
    fig.suptitle(f"h5prep stats, warm page cache · {info['cpu']}, {info['cores']} cores, {info['mem_gib']} GiB"
                 f" · commit {info['commit']} · {info['date_utc']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def legend_outside(ax):
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))


def bars_panel(ax, rows, layout):
    cases = [c for c in CASES if any(r["case"] == c for r in rows)]
    names = [n for n in BARS if any(r["contender"] == n for r in rows)]
    by = {(r["case"], r["contender"]): r for r in rows}
    width = 0.8 / len(names)
    for i, case in enumerate(cases):
        for j, name in enumerate(names):
            r = by.get((case, name))
            if r is None:
                continue
            x = i - 0.4 + width * (j + 0.5)
            ax.bar(x, r["gbps"], width, color=COLORS[name], label=name,
                   yerr=[[r["gbps"] - r["min_gbps"]], [r["max_gbps"] - r["gbps"]]], capsize=2)
            if name == "h5prep-cpu" and r["x_dask"]:
                need = target_for(case, layout, "dask")
                color = "black" if need is None else "green" if r["x_dask"] >= need else "red"
                ax.annotate(f"{r['x_dask']:.1f}×\ndask", (x, r["gbps"]), xytext=(0, 3), textcoords="offset points",
                            ha="center", fontsize=7, color=color)
        for limit, style, label in (("H5Dread", "k-", "H5Dread loop (1 thread)"), ("memcpy", "k:", "memcpy")):
            r = by.get((case, limit))
            if r:
                ax.plot([i - 0.45, i + 0.45], [r["gbps"]] * 2, style, lw=1.5, label=label)
        need = target_for(case, layout, "H5Dread")
        if need and (case, "H5Dread") in by:
            ax.plot([i - 0.45, i + 0.45], [need * by[(case, "H5Dread")]["gbps"]] * 2, "r--", lw=1,
                    label=f"target for h5prep: {need:g}× H5Dread")
    ax.set_yscale("log")
    ax.set_ylim(top=ax.get_ylim()[1] * 2)
    ax.set_xticks(range(len(cases)), cases)
    ax.set_ylabel("GB/s (uncompressed bytes / s)")
    ax.set_title("uncompressed, contiguous" if layout == "contiguous" else "shuffle + deflate (gzip 4), chunked")
    ax.grid(axis="y", which="both", alpha=0.3)
    legend_outside(ax)
    ax.text(1.01, 0, "h5prep-cpu ÷ dask above\nits bar: green = issue-4\ntarget met, red = missed",
            transform=ax.transAxes, fontsize=7, va="bottom")


def target_for(case, layout, peer):
    """The ratio issue 4 asks of h5prep over peer on (case, layout), or None."""
    return next((need for cases, lay, p, need in TARGETS if case in cases and lay == layout and p == peer), None)


def per_file_panel(ax, rows):
    groups = [(c, lay) for c in ("radar", "radar-empty") for lay in LAYOUTS
              if any(r["case"] == c and r["layout"] == lay for r in rows)]
    names = [n for n in ORDER if n in COLORS and any(r["contender"] == n for r in rows)]
    by = {(r["case"], r["layout"], r["contender"]): r for r in rows}
    height = 0.8 / len(names)
    for i, (case, layout) in enumerate(groups):
        for j, name in enumerate(names):
            r = by.get((case, layout, name))
            if r:
                y = i - 0.4 + height * (j + 0.5)
                ax.barh(y, r["ms_per_file"], height, color=COLORS[name], label=name)
                ax.annotate(f"{r['ms_per_file']:.2f}", (r["ms_per_file"], y), xytext=(2, 0),
                            textcoords="offset points", va="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_xlim(right=ax.get_xlim()[1] * 2)
    ax.set_yticks(range(len(groups)), [f"{c} {lay}\n({by[(c, lay, 'numpy')]['files']} files)" for c, lay in groups])
    ax.invert_yaxis()
    ax.set_xlabel("ms per file (6 moments each; radar-empty: moments of shape (2, 1, 1))")
    ax.set_title("many small files: cost per file (lower is better)")
    ax.grid(axis="x", which="both", alpha=0.3)
    legend_outside(ax)


def print_report(rows, targets):
    print()
    for r in rows:
        print(f"{r['case']:<12} {r['layout']:<10} {r['contender']:<11} {r['median_s']:>9.4f} s "
              f"({r['min_s']:.4f}..{r['max_s']:.4f})  {fmt(r['gbps'], '>7.2f')} GB/s"
              + (f"  {r['ms_per_file']:.3f} ms/file" if r["files"] > 1 else ""))
    print()
    for t in targets:
        print(f"target: {t['contender']} {t['case']} {t['layout']}: {t['got']:.2f}x {t['versus']} "
              f"(need >= {t['need']:g}x): {'pass' if t['ok'] else 'MISS'}")


def snapshot(binary, workdir):
    """Copies a binary into workdir/bin, so that a rebuild during the run changes no contender."""
    dest = workdir / "bin" / binary.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, dest)
    return dest


def main():
    args = parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    bins = {"h5prep": snapshot(args.h5prep, args.workdir), "h5read": snapshot(args.h5read, args.workdir)}
    gpu = gpu_name()
    print("h5prep-cuda: " + (f"measured on {gpu}" if gpu else "skipped, `nvidia-smi -L` lists no GPU"))
    cases = [make_case(name, layout, args) for name in args.cases for layout in args.layouts
             if not (name == "radar-empty" and layout == "deflate")]  # nothing to compress
    prepare_inputs(cases, args.seed)
    rows = []
    for case in cases:
        print(f"{case.title}: {len(case.paths)} file(s), {case.nbytes / 1e9:.3f} GB; checking ...", flush=True)
        runs = contenders_for(case, bins, args.workdir, gpu)
        check(case, runs)
        rows += summarize(case, *measure(case, runs, args.repeat))
    targets = target_rows(rows)
    print_report(rows, targets)
    info = machine_info(bins, gpu)
    out = args.results or (args.workdir / "results" if args.quick else REPO / "bench" / "results")
    out.mkdir(parents=True, exist_ok=True)
    stem = out / ("bench_quick" if args.quick else "bench")
    write_csv(stem.with_suffix(".csv"), rows, info)
    plot(stem.with_suffix(".png"), rows, info)
    write_markdown(stem.with_suffix(".md"), cases, rows, targets, info, args, stem.with_suffix(".png").name)
    print(f"\nwrote {stem}.csv, .md and .png")


if __name__ == "__main__":
    main()
