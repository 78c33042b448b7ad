#!/usr/bin/env python3
"""What the statistics beyond the moments cost: `h5prep stats` with --weights, --tendency and
--quantiles against the plain moments and the H5Dread loop, on one 1 GiB (N, 138, 20) float32
file, in one run.

How to run (from the repository root)
    cmake --build build -j2                          # builds build/h5prep and build/bench_h5read
    python3 bench/bench_stats_options.py             # the table: bench/results/stats_options.{md,csv}
    python3 bench/bench_stats_options.py --rows 4000 # smoke test; results go to WORKDIR/results

Input: /x (N, 138, 20) float32, N = 97,000 (1 GiB) by default, contiguous, values offset +
scale * N(0, 1) per level and feature (seeded), and /w (138, 1) float64 level weights, generated
once in WORKDIR and reused while its `h5prep_bench_options` attribute matches.

Contenders, each `build/h5prep stats IN:/x --keep-axes 1,2 --backend cpu -q -o OUT.json` (2,760
features, per level and feature, the normalization factors of such data), process wall time and
CPU time (user + system of the child):
    moments      the plain statistics
    weights      --weights IN:/w (a weight per level, broadcast over the features)
    tendency     --tendency 1 (the statistics of x[t+1] - x[t] too)
    quantiles    --quantiles 0.01,0.5,0.99 (the mergeable sketch too)
    H5Dread      the limit: build/bench_h5read IN /x, a loop of H5Dread into one reused buffer
Protocol: one warm-up run of each (the file comes into the page cache), then --repeat rounds of
every contender in turn; median and spread. `× moments` = this median / the moments' median. The
CPU kernels' path (provenance.cpu_isa) and the CPU model are recorded with the results.
"""

import argparse
import csv
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parent.parent
GIB_ROWS = 97_000
SHAPE = (138, 20)


def parse_args():
    p = argparse.ArgumentParser(description="The cost of --weights, --tendency and --quantiles against the plain "
                                "moments; see the module docstring of bench/bench_stats_options.py.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rows", type=int, default=None,
                   help=f"rows of the input (default {GIB_ROWS:,} = 1 GiB); with --rows the results go to "
                   "WORKDIR/results, not bench/results")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per contender (at least 3)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/h5prep-bench"), help="inputs and outputs")
    p.add_argument("--h5prep", type=Path, default=REPO / "build" / "h5prep", help="h5prep binary")
    p.add_argument("--h5read", type=Path, default=REPO / "build" / "bench_h5read", help="the H5Dread loop")
    a = p.parse_args()
    if a.repeat < 3:
        p.error("--repeat must be at least 3")
    for b in (a.h5prep, a.h5read):
        if not os.access(b, os.X_OK):
            p.error(f"{b} is not an executable; build it (cmake --build build -j2)")
    return a


def input_file(workdir, rows):
    path = workdir / f"options-{rows}.h5"
    want = json.dumps({"version": 1, "rows": rows, "shape": SHAPE, "seed": 0})
    try:
        with h5py.File(path, "r") as f:
            if f.attrs["h5prep_bench_options"] == want:
                return path
    except (OSError, KeyError):
        pass
    print(f"input: generating {path} ...", flush=True)
    rng = np.random.default_rng(0)
    offset = rng.uniform(-300, 300, SHAPE).astype(np.float32)
    scale = rng.uniform(0.5, 20, SHAPE).astype(np.float32)
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        x = f.create_dataset("x", (rows,) + SHAPE, dtype=np.float32)
        step = 4096
        for r in range(0, rows, step):
            n = min(step, rows - r)
            x[r:r + n] = offset + scale * rng.standard_normal((n,) + SHAPE, dtype=np.float32)
        f["w"] = np.cos(np.linspace(-1.4, 1.4, SHAPE[0]))[:, None]
        f.attrs["h5prep_bench_options"] = want
    tmp.replace(path)
    return path


def timed(cmd):
    """(wall s, CPU s of the child) of one run; the run must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"failed (exit {r.returncode}): {' '.join(map(str, cmd))}\n{r.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    args = parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = args.rows or GIB_ROWS
    inp = input_file(args.workdir, rows)
    out = args.workdir / "options-out.json"
    base = [str(args.h5prep), "stats", f"{inp}:/x", "--keep-axes", "1,2", "--backend", "cpu", "-q", "-o", str(out)]
    runs = {"moments": base, "weights": base + ["--weights", f"{inp}:/w"], "tendency": base + ["--tendency", "1"],
            "quantiles": base + ["--quantiles", "0.01,0.5,0.99"], "H5Dread": [str(args.h5read), str(inp), "/x"]}
    isa = set()
    for name, cmd in runs.items():  # warm-ups
        w, c = timed(cmd)
        if name != "H5Dread":
            isa.add(json.loads(out.read_text())["provenance"].get("cpu_isa", "not recorded"))
        print(f"warm-up: {name} {w:.3f} s wall, {c:.3f} CPU-s", flush=True)
    times = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, cmd in runs.items():
            times[name].append(timed(cmd))
    nbytes = rows * SHAPE[0] * SHAPE[1] * 4
    ref = statistics.median(t[0] for t in times["moments"])
    ref_cpu = statistics.median(t[1] for t in times["moments"])
    results = []
    for name, ts in times.items():
        walls, cpus = [t[0] for t in ts], [t[1] for t in ts]
        med, cpu = statistics.median(walls), statistics.median(cpus)
        results.append({"contender": name, "median_s": med, "min_s": min(walls), "max_s": max(walls),
                        "cpu_s": cpu, "gbps": nbytes / med / 1e9, "x_moments": med / ref, "cpu_x_moments": cpu / ref_cpu})
        print(f"{name:<10} {med:7.3f} s ({min(walls):.3f}..{max(walls):.3f})  {cpu:7.3f} CPU-s  "
              f"{nbytes / med / 1e9:6.2f} GB/s  {med / ref:5.2f}x moments wall, {cpu / ref_cpu:5.2f}x CPU")
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")),
                 platform.processor() or "unknown")
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    info = {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "commit": commit,
            "cpu": model, "cores": os.cpu_count(), "cpu_isa": ",".join(sorted(isa)), "rows": rows, "bytes": nbytes}
    dest = REPO / "bench" / "results" if args.rows is None else args.workdir / "results"
    dest.mkdir(parents=True, exist_ok=True)
    stem = "stats_options" if args.rows is None else f"stats_options_{rows}"
    with open(dest / f"{stem}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(results[0]) + list(info))
        for r in results:
            w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in r.values()] + list(info.values()))
    md = ["# The cost of --weights, --tendency and --quantiles", "",
          f"{model}, {os.cpu_count()} cores; CPU kernels `{info['cpu_isa']}` (the weighted reduction and the sketch "
          f"are scalar on every path); commit {commit}; {info['date_utc']}.", "",
          f"Input: /x ({rows:,}, 138, 20) float32, {nbytes / 1e9:.2f} GB, contiguous, in the page cache; "
          "`h5prep stats IN:/x --keep-axes 1,2 --backend cpu` (2,760 features) with each option; median and spread "
          f"of {args.repeat} runs after a warm-up. Reproduce: `python3 bench/bench_stats_options.py`.", "",
          "| contender | median s | spread s | CPU-s | GB/s | × moments (wall) | × moments (CPU) |",
          "|---|---|---|---|---|---|---|"]
    for r in results:
        md.append(f"| {r['contender']} | {r['median_s']:.3f} | {r['min_s']:.3f}..{r['max_s']:.3f} | {r['cpu_s']:.3f} | "
                  f"{r['gbps']:.2f} | {r['x_moments']:.2f} | {r['cpu_x_moments']:.2f} |")
    (dest / f"{stem}.md").write_text("\n".join(md) + "\n")
    print(f"wrote {dest / stem}.csv and .md")


if __name__ == "__main__":
    main()
