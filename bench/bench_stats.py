#!/usr/bin/env python3
"""Benchmark `h5prep stats` against the H5Dread limit, numpy/h5py and dask on one HDF5 file.

What it measures
    Per-feature count, mean, std (ddof 0), min and max of a float32 dataset /x of shape (N, 512),
    stored uncompressed and contiguous (no chunking, no filters), read from a warm page cache.
    Contenders, all run in the same invocation on the same file:

      limit   build/bench_h5read FILE /x: a plain C loop of H5Dread into one reused buffer.
              Its time is the read loop as the binary prints it (no process start, no open).
      h5prep  build/h5prep stats FILE:/x -o OUT.json --quiet --backend cpu (threads: every core).
              Wall-clock time of the whole process.
      numpy   h5py read_direct of 64 MiB row slabs into one reused buffer; per slab the float64
              mean and M2 (sum of squared deviations) and min/max, merged across slabs with
              Chan's formula. Timed in-process, single-threaded.
      dask    dask.array.from_array(h5py dataset, chunks=(rows of 64 MiB, 512)) and
              da.compute(mean(dtype='f8'), std(dtype='f8'), min, max) on the default threaded
              scheduler. Timed in-process.

    Before any timing, h5prep's JSON is checked against the numpy result (mean and std within
    rtol 1e-9 plus atol 1e-9 * std of the feature; min, max and count exactly) and against
    dask (mean and std within rtol 1e-8 plus atol 1e-8 * std; min and max exactly). The script
    stops with a message if they disagree. These checking runs are each contender's warm-up
    run; the first bench_h5read run warms the page cache and is the limit's warm-up.

    Then every contender runs --repeat times, in rounds (limit, h5prep, numpy, dask, limit, ...),
    and the median and the spread (min..max) are reported. GB/s = N * 512 * 4 bytes (the dataset
    as stored) / seconds / 1e9.

Output
    A table on stdout, and bench/results/stats_uncompressed.csv and .md with the same numbers
    plus machine info, git commit and UTC date (--quick writes stats_uncompressed_quick.*).

How to run (from the repository root, after building h5prep and bench_h5read in build/)
    python3 -m pip install -r bench/requirements.txt
    python3 bench/bench_stats.py --quick      # 64 MiB smoke test
    python3 bench/bench_stats.py              # 1 GiB, 3 timed runs per contender

The input file is generated once (seeded) in --workdir and reused while its shape, layout and
seed match. Both binaries are copied into WORKDIR/bin before the first run, so that a rebuild of
build/ during the benchmark cannot mix two versions; the .md and .csv record the copy's sha256.
"""

import argparse
import csv
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
import h5py
import numpy as np

REPO = Path(__file__).resolve().parent.parent
FEATURES = 512
ITEMSIZE = 4  # float32
SLAB_BYTES = 64 << 20
QUICK_GIB = 1 / 16  # 64 MiB
SEED_ATTR = "h5prep_bench_seed"
CONTENDERS = ("limit", "h5prep", "numpy", "dask")
NUMPY_TOL = 1e-9  # rtol, and atol as a multiple of the feature's std
DASK_TOL = 1e-8


def parse_args():
    p = argparse.ArgumentParser(
        description="Benchmark `h5prep stats` against the H5Dread limit, numpy/h5py and dask "
        "on a seeded, uncompressed, contiguous float32 HDF5 dataset /x of shape (N, 512).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--gib", type=float, default=1.0, help="size of the dataset in GiB (2**30 bytes)")
    p.add_argument("--quick", action="store_true", help="smoke test: a 64 MiB dataset (overrides --gib)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per contender (at least 3)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/h5prep-bench"),
                   help="where the input file and h5prep's output go")
    p.add_argument("--h5prep", type=Path, default=REPO / "build" / "h5prep",
                   help="h5prep binary (copied into WORKDIR/bin first, then run from there)")
    p.add_argument("--h5read", type=Path, default=REPO / "build" / "bench_h5read",
                   help="bench_h5read binary, the H5Dread limit (copied like --h5prep)")
    args = p.parse_args()
    if args.repeat < 3:
        p.error("--repeat must be at least 3")
    if args.quick:
        args.gib = QUICK_GIB
    if args.gib <= 0:
        p.error("--gib must be positive")
    for binary in (args.h5prep, args.h5read):
        if not os.access(binary, os.X_OK):
            p.error(f"{binary} is not an executable; build it with cmake --build build")
    return args


def slab_rows():
    """Rows in one 64 MiB slab, the read unit of the numpy and dask contenders."""
    return SLAB_BYTES // (FEATURES * ITEMSIZE)


# ---------------------------------------------------------------------------------------------
# Input file


def is_reusable(path, rows, seed):
    """True when path holds /x with the expected shape, dtype, contiguous layout and seed."""
    try:
        with h5py.File(path, "r") as f:
            x = f["x"]
            return (x.shape == (rows, FEATURES) and x.dtype == np.float32 and x.chunks is None
                    and x.compression is None and x.attrs.get(SEED_ATTR) == seed)
    except (OSError, KeyError):
        return False


def generate(path, rows, seed):
    """Writes /x slab by slab: standard normal * per-feature scale + per-feature offset.

    The file is written under a temporary name and renamed when complete, and the seed marker
    is set last, so an interrupted run never leaves a file that looks reusable.
    """
    rng = np.random.default_rng(seed)
    scale = (10.0 ** rng.uniform(-2, 2, FEATURES)).astype(np.float32)
    offset = (rng.standard_normal(FEATURES) * 100).astype(np.float32)
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        x = f.create_dataset("x", shape=(rows, FEATURES), dtype=np.float32)  # contiguous
        step = slab_rows()
        for r in range(0, rows, step):
            block = rng.standard_normal((min(step, rows - r), FEATURES), dtype=np.float32)
            block *= scale
            block += offset
            x[r:r + len(block)] = block
        x.attrs[SEED_ATTR] = seed
    tmp.replace(path)


def input_file(workdir, gib, seed):
    rows = int(gib * 2**30) // (FEATURES * ITEMSIZE)
    if rows < 1:
        sys.exit("bench_stats: --gib is too small for one row of 512 float32")
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"x_{rows}x{FEATURES}_f32_seed{seed}.h5"
    if is_reusable(path, rows, seed):
        print(f"reusing {path}")
    else:
        print(f"generating {path} ({rows} x {FEATURES} float32) ...", flush=True)
        t0 = time.perf_counter()
        generate(path, rows, seed)
        print(f"  done in {time.perf_counter() - t0:.1f} s")
    return path, rows


# ---------------------------------------------------------------------------------------------
# Contenders: each returns (seconds, statistics or None)


def run_limit(binary, path, nbytes):
    out = subprocess.run([str(binary), str(path), "/x"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench_stats: bench_h5read failed ({out.returncode}): {out.stderr.strip()}")
    done, seconds, _ = out.stdout.split()
    if int(done) != nbytes:
        sys.exit(f"bench_stats: bench_h5read read {done} bytes, expected {nbytes}")
    return float(seconds), None


def run_h5prep(binary, path, out_json):
    cmd = [str(binary), "stats", f"{path}:/x", "-o", str(out_json), "--quiet", "--backend", "cpu"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"bench_stats: {' '.join(cmd)} failed ({out.returncode}):\n{out.stderr.strip()}")
    var = json.loads(out_json.read_text())["variables"]["/x"]
    stats = {k: np.asarray(var[k], dtype=np.float64) for k in ("count", "missing", "mean", "std", "min", "max")}
    return seconds, stats


def chan_merge(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Combines two (count, mean, M2) states exactly (Chan, Golub and LeVeque)."""
    n = n_a + n_b
    delta = mean_b - mean_a
    return n, mean_a + delta * (n_b / n), m2_a + m2_b + delta * delta * (n_a * n_b / n)


def run_numpy(path):
    t0 = time.perf_counter()
    with h5py.File(path, "r") as f:
        x = f["x"]
        rows, step = x.shape[0], slab_rows()
        buf = np.empty((min(step, rows), FEATURES), dtype=np.float32)
        dev = np.empty(buf.shape, dtype=np.float64)
        n, mean, m2 = 0, np.zeros(FEATURES), np.zeros(FEATURES)
        lo = np.full(FEATURES, np.inf, dtype=np.float32)
        hi = np.full(FEATURES, -np.inf, dtype=np.float32)
        for r in range(0, rows, step):
            k = min(step, rows - r)
            x.read_direct(buf, np.s_[r:r + k], np.s_[0:k])
            b, d = buf[:k], dev[:k]
            slab_mean = b.mean(axis=0, dtype=np.float64)
            np.subtract(b, slab_mean, out=d)
            np.square(d, out=d)
            n, mean, m2 = chan_merge(n, mean, m2, k, slab_mean, d.sum(axis=0))
            np.minimum(lo, b.min(axis=0), out=lo)
            np.maximum(hi, b.max(axis=0), out=hi)
    seconds = time.perf_counter() - t0
    stats = {"count": np.full(FEATURES, float(n)), "mean": mean, "std": np.sqrt(m2 / n),
             "min": lo.astype(np.float64), "max": hi.astype(np.float64)}
    return seconds, stats


def run_dask(path):
    t0 = time.perf_counter()
    with h5py.File(path, "r") as f:
        x = da.from_array(f["x"], chunks=(slab_rows(), FEATURES))
        mean, std, lo, hi = da.compute(x.mean(axis=0, dtype="f8"), x.std(axis=0, dtype="f8"),
                                       x.min(axis=0), x.max(axis=0))
    seconds = time.perf_counter() - t0
    stats = {"mean": mean, "std": std, "min": lo.astype(np.float64), "max": hi.astype(np.float64)}
    return seconds, stats


# ---------------------------------------------------------------------------------------------
# Checks


def compare(name, got, ref, tol):
    """Exits unless got agrees with ref: mean/std within tol, count/min/max exactly."""
    scale = ref["std"]
    problems = []
    for key in ("mean", "std"):
        err = np.abs(got[key] - ref[key])
        bad = err > tol * np.abs(ref[key]) + tol * scale
        if bad.any():
            j = int(np.argmax(err / (np.abs(ref[key]) + scale)))
            problems.append(f"{key}: {bad.sum()} features off, e.g. feature {j}: "
                            f"{float(got[key][j])!r} vs {float(ref[key][j])!r}")
    for key in ("count", "min", "max"):
        if key in got and key in ref and not np.array_equal(got[key], ref[key]):
            j = int(np.argmax(got[key] != ref[key]))
            problems.append(f"{key}: differs, e.g. feature {j}: {float(got[key][j])!r} vs {float(ref[key][j])!r}")
    if problems:
        sys.exit(f"bench_stats: {name} disagrees:\n  " + "\n  ".join(problems))
    worst = max(float(np.max(np.abs(got[k] - ref[k]) / (np.abs(ref[k]) + scale))) for k in ("mean", "std"))
    print(f"  {name}: agrees (largest |diff| / (|ref| + std) = {worst:.1e}, tolerance {tol:.0e})")


def check(h5p, ref, dsk, rows):
    if not np.array_equal(h5p["missing"], np.zeros(FEATURES)):
        sys.exit(f"bench_stats: h5prep counts missing values in finite data: {h5p['missing'].max():.0f}")
    if not np.array_equal(h5p["count"], np.full(FEATURES, float(rows))):
        sys.exit(f"bench_stats: h5prep count {h5p['count'].min():.0f}, expected {rows}")
    compare("h5prep vs numpy", h5p, ref, NUMPY_TOL)
    compare("h5prep vs dask ", h5p, dsk, DASK_TOL)


# ---------------------------------------------------------------------------------------------
# Report


def summarize(times, nbytes):
    """Per contender: median and spread of seconds and GB/s."""
    rows = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        rows[name] = {"median_s": med, "min_s": min(ts), "max_s": max(ts), "gbps": nbytes / med / 1e9,
                      "min_gbps": nbytes / max(ts) / 1e9, "max_gbps": nbytes / min(ts) / 1e9}
    base = rows["h5prep"]["median_s"]
    for r in rows.values():
        r["vs_h5prep"] = r["median_s"] / base  # > 1: h5prep is faster; for limit: h5prep's fraction
    return rows


def table_lines(rows):
    lines = [f"{'contender':<10} {'median s':>9} {'GB/s':>7}  {'spread s (min..max)':<21} "
             f"{'spread GB/s':<15} {'s / h5prep s':>12}"]
    for name, r in rows.items():
        lines.append(f"{name:<10} {r['median_s']:>9.3f} {r['gbps']:>7.2f}  "
                     f"{r['min_s']:.3f}..{r['max_s']:<14.3f} {r['min_gbps']:.2f}..{r['max_gbps']:<9.2f} "
                     f"{r['vs_h5prep']:>12.2f}")
    return lines


def ratio_lines(rows):
    return [f"h5prep vs dask:  {rows['dask']['vs_h5prep']:.2f}x faster (dask median s / h5prep median s)",
            f"h5prep vs numpy: {rows['numpy']['vs_h5prep']:.2f}x faster (numpy median s / h5prep median s)",
            f"h5prep / H5Dread limit: {rows['limit']['vs_h5prep']:.2f} "
            f"(h5prep GB/s / limit GB/s = limit median s / h5prep median s)"]


def git_commit():
    """Short HEAD, with "-dirty" when src/, include/ or CMakeLists.txt differ from it."""
    git = ["git", "-C", str(REPO)]
    head = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return "uncommitted"
    diff = subprocess.run(git + ["diff", "--quiet", "HEAD", "--", "src", "include", "CMakeLists.txt"])
    return head.stdout.strip() + ("-dirty" if diff.returncode else "")


def machine_info():
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.startswith("model name")),
                 platform.processor() or "unknown")
    meminfo = Path("/proc/meminfo").read_text()
    mem_kib = next(int(l.split()[1]) for l in meminfo.splitlines() if l.startswith("MemTotal:"))
    return {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "commit": git_commit(),
            "cpu": model, "cores": os.cpu_count(), "mem_gib": round(mem_kib / 2**20, 1),
            "python": platform.python_version(), "numpy": np.__version__, "h5py": h5py.__version__,
            "hdf5": h5py.version.hdf5_version, "dask": dask.__version__}


def write_results(rows, info, header, suffix):
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"stats_uncompressed{suffix}"
    fields = ["contender", "median_s", "gbps", "min_s", "max_s", "min_gbps", "max_gbps", "vs_h5prep"]
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields + list(header) + list(info))
        for name, r in rows.items():
            w.writerow([name] + [f"{r[k]:.6g}" for k in fields[1:]] + list(header.values()) + list(info.values()))
    md = ["# h5prep stats: uncompressed contiguous float32, warm page cache", ""]
    md += [f"- {k}: {v}" for k, v in {**header, **info}.items()]
    md += ["", "```"] + table_lines(rows) + ["", *ratio_lines(rows), "```", ""]
    stem.with_suffix(".md").write_text("\n".join(md))
    return stem


def snapshot(binary, workdir):
    """Copies a binary into workdir/bin, so that a rebuild during the run changes no contender."""
    dest = workdir / "bin" / binary.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, dest)
    return dest


def main():
    args = parse_args()
    path, rows = input_file(args.workdir, args.gib, args.seed)
    args.h5prep, args.h5read = snapshot(args.h5prep, args.workdir), snapshot(args.h5read, args.workdir)
    nbytes = rows * FEATURES * ITEMSIZE
    out_json = args.workdir / "h5prep_stats.json"
    contenders = {"limit": lambda: run_limit(args.h5read, path, nbytes),
                  "h5prep": lambda: run_h5prep(args.h5prep, path, out_json),
                  "numpy": lambda: run_numpy(path),
                  "dask": lambda: run_dask(path)}

    print("warming the page cache (bench_h5read) ...")
    contenders["limit"]()
    print("checking results (these runs are the warm-up runs) ...")
    results = {name: contenders[name]()[1] for name in ("h5prep", "numpy", "dask")}
    check(results["h5prep"], results["numpy"], results["dask"], rows)

    print(f"timing: {args.repeat} rounds of {', '.join(CONTENDERS)} ...", flush=True)
    times = {name: [] for name in CONTENDERS}
    for i in range(args.repeat):
        for name in CONTENDERS:
            times[name].append(contenders[name]()[0])
        print(f"  round {i + 1}: " + "  ".join(f"{n} {times[n][-1]:.3f} s" for n in CONTENDERS), flush=True)

    summary = summarize(times, nbytes)
    header = {"file": str(path), "shape": f"({rows}, {FEATURES}) float32, contiguous, no filters",
              "bytes": nbytes, "gbps_formula": "N*512*4 / median s / 1e9", "repeat": args.repeat,
              "h5prep_threads": "default (every core)",
              "h5prep_sha256": hashlib.sha256(args.h5prep.read_bytes()).hexdigest()[:16]}
    info = machine_info()
    print()
    print(f"{nbytes} bytes = N*512*4 = {rows}*512*4; GB/s = bytes / s / 1e9; median of {args.repeat} runs")
    print(f"{info['cpu']}, {info['cores']} cores, {info['mem_gib']} GiB; commit {info['commit']}, {info['date_utc']}")
    print("\n".join(table_lines(summary)))
    print()
    print("\n".join(ratio_lines(summary)))
    stem = write_results(summary, info, header, "_quick" if args.quick else "")
    print(f"\nwrote {stem}.csv and {stem}.md")


if __name__ == "__main__":
    main()
