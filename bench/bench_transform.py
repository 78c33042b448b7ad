#!/usr/bin/env python3
"""Benchmark of `h5prep transform data/recipes/3dcorrection.yaml` against the same pipeline written
with dask (as a notebook would) and with numpy/h5py, on one seeded ~1 GiB input, in one run.

How to run (from the repository root)
    cmake --build build -j2                        # builds build/h5prep and build/bench_h5read
    python3 -m pip install -r bench/requirements.txt
    python3 bench/bench_transform.py --rows 2000   # smoke test; results go to WORKDIR/results
    python3 bench/bench_transform.py               # the table: bench/results/transform.{md,csv}
    python3 bench/bench_transform.py --rows 2000 --no-h5prep   # dask and numpy only (no binary)

Input: scripts/gen_3dcorrection.py --rows N (default 57,358 rows = 1 GiB at 18,720 bytes per
row), contiguous, seed --seed, cached in WORKDIR and reused while its `gen_3dcorrection`
attribute matches. Outputs go to WORKDIR/transform/<contender>/ and are replaced by every run.

Contenders, each timed from nothing open to every output file written
    h5prep-cpu  build/h5prep transform RECIPE --input IN --out OUT -q --backend cpu (process wall):
                two passes, the recipe normalizes with this run's train statistics
    h5prep-1pass the same recipe with every output's factors from the warm-up's stats.json
                (`normalize: {..., stats: FILE}`), so it runs in one pass; the same outputs
    write-loop  the limit: build/bench_h5read --write, one new file of as many bytes as h5prep's
                outputs in 8 MiB write(2) calls, no fsync (as h5prep); the loop's own clock.
                `× write-loop` of an h5prep row is the share of this machine's write rate it runs at
    dask        da.from_array on the h5py datasets (64 MiB chunks of rows), x/y/edge/x_flat/y_flat
                built with da.concatenate/da.pad (zeros)/da.broadcast_to/da.stack/reshape;
                one dask.compute of count, nanmean, nanstd (float64), nanmin, nanmax over the train
                rows; (v - mean) / std (divisor 1 where std is 0) cast to float32; per split
                da.to_hdf5(<split>.h5, {"/x": norm[idx], ...}) with the rows in the manifest's
                order; the npy shards of 65,536 rows are np.save'd from the HDF5 just written
                (the cheap way: no second compute); stats.json and index.json as h5prep writes
                them. Threaded scheduler (every core).
    numpy       the same with whole numpy arrays in one process: h5py reads each variable whole,
                numpy builds the outputs (float32), float64 statistics over the train rows,
                normalizes split by split, writes <split>.h5 (chunks of 256 rows, as the recipe
                says) and the npy shards with np.save.
All three use the split of h5prep's split.json (taken from its warm-up run), so their outputs are
the same; with --no-h5prep a seeded numpy permutation with the same counts stands in for it.

Protocol. Each contender runs once (the warm-up, which also reads the input into the page cache);
the dask and numpy outputs are compared with the reference (h5prep's, else numpy's): stats.json
mean/std within 1e-9 relative, every dataset of val.h5 and /y and /edge of train.h5 within
float32 tolerance (rtol 1e-6, atol 1e-6, NaN in the same places); a disagreement stops the bench.
Then --repeat rounds run every contender in turn, each after an os.sync() (not timed) so that
no run pays for writing back the previous one's outputs; the clock starts after the previous
output directory is removed; the tables give the median and the spread.
Bytes = bytes of the input file's 8 variables = N * 18,720; GB/s = bytes / median s / 1e9. The page
cache is not dropped: the share of the input resident in it (mincore) is reported before the
warm-ups and before the timed rounds. The h5prep binary is copied to WORKDIR/bin first.
"""

import argparse
import csv
import ctypes
import datetime
import hashlib
import json
import mmap
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import dask
import dask.array as da
import h5py
import numpy as np

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20
ROW_BYTES = 18720  # 4 * (17 + 137*27 + 138*2 + 136*1 + 4*138)
GIB_ROWS = (1 << 30) // ROW_BYTES  # 57,358
VARIABLES = {"sca_inputs": (17,), "col_inputs": (137, 27), "hl_inputs": (138, 2), "inter_inputs": (136, 1),
             "flux_dn_sw": (138,), "flux_up_sw": (138,), "flux_dn_lw": (138,), "flux_up_lw": (138,)}
FLUXES = ("flux_dn_sw", "flux_up_sw", "flux_dn_lw", "flux_up_lw")
OUTPUTS = ("x", "y", "edge", "x_flat", "y_flat")
SPLITS = ("train", "val", "test")
FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
SEED = 42  # the recipe's split seed
HDF5_CHUNK_ROWS = 256  # the recipe's write.hdf5.chunk_rows
SHARD_ROWS = 65536  # the recipe's write.npy.shard_rows
DASK_CHUNK_BYTES = 64 * MIB
STATS_RTOL = 1e-9
ATOL, RTOL = 1e-6, 1e-6
CONTENDERS = ("h5prep-cpu", "h5prep-1pass", "dask", "numpy", "write-loop")


def parse_args():
    p = argparse.ArgumentParser(
        description="Time `h5prep transform` on the 3dcorrection recipe against dask and numpy/h5py "
        "versions of the same pipeline; see the module docstring of bench/bench_transform.py.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rows", type=int, default=None,
                   help=f"input rows (default {GIB_ROWS:,} = 1 GiB); with --rows the results go to "
                   "WORKDIR/results, not bench/results")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per contender (at least 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated input")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/h5prep-bench"), help="inputs and outputs")
    p.add_argument("--h5prep", type=Path, default=REPO / "build" / "h5prep", help="h5prep binary")
    p.add_argument("--h5read", type=Path, default=REPO / "build" / "bench_h5read",
                   help="the limits' binary (its --write loop)")
    p.add_argument("--recipe", type=Path, default=REPO / "data" / "recipes" / "3dcorrection.yaml")
    p.add_argument("--no-h5prep", action="store_true",
                   help="time dask and numpy only; the split is a seeded numpy permutation")
    a = p.parse_args()
    if a.repeat < 3:
        p.error("--repeat must be at least 3")
    if a.rows is not None and a.rows < 10:
        p.error("--rows must be at least 10 (every split needs a row)")
    if not a.no_h5prep:
        if not os.access(a.h5prep, os.X_OK):
            p.error(f"{a.h5prep} is not an executable; build it (cmake --build build -j2) or pass --no-h5prep")
        if not a.recipe.is_file():
            p.error(f"recipe {a.recipe} not found")
        if not os.access(a.h5read, os.X_OK):
            p.error(f"{a.h5read} is not an executable; build it (cmake --build build -j2 --target bench_h5read)")
    return a


# ---------------------------------------------------------------------------------------------
# Input and split


def input_file(args, rows):
    """The cached generated input; (re)generated with scripts/gen_3dcorrection.py when stale."""
    path = args.workdir / f"3dcorrection-{rows}-seed{args.seed}.h5"
    want = {"version": 1, "rows": rows, "seed": args.seed, "chunk_rows": 0, "gzip": 0, "nan_fraction": 0.0}
    try:
        with h5py.File(path, "r") as f:
            if json.loads(f.attrs["gen_3dcorrection"]) == want:
                return path
    except (OSError, KeyError):
        pass
    print(f"input: generating {path} ...", flush=True)
    subprocess.run([sys.executable, str(REPO / "scripts" / "gen_3dcorrection.py"), "--rows", str(rows),
                    "--seed", str(args.seed), "-o", str(path)], check=True)
    return path


def split_counts(n):
    counts, prev, cum = [], 0, 0.0
    for name in SPLITS[:-1]:
        cum += FRACTIONS[name]
        bound = min(n, int(np.floor(cum * n + 0.5)))
        counts.append(bound - prev)
        prev = bound
    return counts + [n - prev]


def numpy_split(n, path):
    """Stands in for h5prep's split (--no-h5prep): same counts, a numpy permutation."""
    perm = np.random.default_rng(SEED).permutation(n)
    splits, r = {}, 0
    for name, c in zip(SPLITS, split_counts(n)):
        splits[name] = {"count": c, "indices": perm[r:r + c].tolist()}
        r += c
    doc = {"format": "h5prep-split/1", "seed": SEED, "generator": "numpy permutation (bench stand-in)",
           "fractions": FRACTIONS, "group_by": "none", "shuffle": True, "n": n, "splits": splits}
    path.write_text(json.dumps(doc))
    return path


def load_split(path):
    doc = json.loads(Path(path).read_text())
    return {s: np.asarray(doc["splits"][s]["indices"], dtype=np.int64) for s in SPLITS}


# ---------------------------------------------------------------------------------------------
# What the peers write besides the data: stats.json and index.json in h5prep's formats


def finish_stats(count, missing, mean, var, vmin, vmax):
    """float64 arrays per feature -> the h5prep-stats/1 fields (NaN where JSON has null)."""
    none = count == 0
    flags = np.where(none, 3, np.where(var == 0, 1, 0))
    return {"count": count, "missing": missing, "mean": mean, "var": var, "std": np.sqrt(var),
            "min": vmin, "max": vmax, "m2": var * count, "flags": flags}


def write_stats(path, stats, inp):
    def js(a):
        return [None if isinstance(v, float) and not np.isfinite(v) else v for v in a.tolist()]
    variables = {f"/{k}": {"feature_shape": list(np.shape(s["count"])),
                           **{f: js(np.asarray(v).ravel()) for f, v in s.items()}} for k, s in stats.items()}
    doc = {"format": "h5prep-stats/1", "provenance": {"tool": "bench_transform.py", "ddof": 0,
                                                      "inputs": [{"path": str(inp)}]}, "variables": variables}
    Path(path).write_text(json.dumps(doc))


def divisor_and_mean(st):
    return np.where(st["flags"] == 0, st["std"], 1.0), np.nan_to_num(st["mean"])


def write_shards(out, split, name, rows, get):
    """np.save shards of SHARD_ROWS rows; get(r0, r1) returns the rows. -> index.json entries."""
    (out / split).mkdir(exist_ok=True)
    shards = []
    for i, r0 in enumerate(range(0, rows, SHARD_ROWS)):
        r1 = min(rows, r0 + SHARD_ROWS)
        rel = f"{split}/{name}-{i:05d}.npy"
        np.save(out / rel, get(r0, r1))
        shards.append({"path": rel, "row0": r0, "rows": r1 - r0})
    return shards


def write_index(out, index):
    (out / "index.json").write_text(json.dumps({"format": "h5prep-dataset/1", "splits": index}))


def fresh_dir(out, split_path):
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copy(split_path, out / "split.json")


# ---------------------------------------------------------------------------------------------
# Contenders


def run_h5prep(binary, recipe, inp, out):
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(binary), "transform", str(recipe), "--input", str(inp), "--out", str(out), "-q", "--backend", "cpu"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"h5prep failed (exit {r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    return seconds


def one_pass_recipe(recipe, stats_path, dest):
    """The recipe with every output's factors taken from stats_path (a transform's stats.json, whose
    variables are /<output>), so that h5prep runs it in one pass; written to dest."""
    text = recipe.read_text()
    per_level = "normalize: {method: zscore, keep_axes: [1, 2]}"
    plain = "normalize: zscore\n"
    if text.count(per_level) + text.count(plain) != len(OUTPUTS):
        sys.exit(f"{recipe}: expected {len(OUTPUTS)} zscore normalize lines to point at a stats file")
    text = text.replace(per_level, f"normalize: {{method: zscore, keep_axes: [1, 2], stats: {stats_path}}}")
    text = text.replace(plain, f"normalize: {{method: zscore, stats: {stats_path}}}\n")
    dest.write_text(text)
    return dest


def run_write_loop(h5read, out, nbytes):
    """The limit: bench_h5read --write of nbytes (the size of h5prep's outputs) into one new file in
    out, in 8 MiB write calls; the loop's own clock."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    r = subprocess.run([str(h5read), "--write", str(out / "blob"), str(nbytes)], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench_h5read --write failed: {r.stderr}")
    return float(r.stdout.split()[1])


def tree_bytes(path):
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def dask_outputs(f):
    n = f["sca_inputs"].shape[0]
    rows = max(1, DASK_CHUNK_BYTES // (4 * int(np.prod(VARIABLES["col_inputs"]))))
    v = {k: da.from_array(f[k], chunks=(rows,) + VARIABLES[k]) for k in VARIABLES}
    inter = da.pad(v["inter_inputs"], ((0, 0), (1, 1), (0, 0)), mode="constant")  # zeros, as the notebook
    sca = da.broadcast_to(v["sca_inputs"][:, None, :], (n, 138, 17))
    x = da.concatenate([v["hl_inputs"], inter, sca], axis=-1)
    y = da.stack([v[k] for k in FLUXES], axis=-1)
    x_flat = da.concatenate([v[k].reshape(n, -1) for k in ("hl_inputs", "inter_inputs", "sca_inputs", "col_inputs")],
                            axis=1)
    y_flat = da.concatenate([v[k] for k in FLUXES], axis=1)
    return {"x": x, "y": y, "edge": v["col_inputs"], "x_flat": x_flat, "y_flat": y_flat}


def run_dask(inp, split_path, out):
    fresh_dir(out, split_path)
    t0 = time.perf_counter()
    idx = load_split(split_path)
    train = np.sort(idx["train"])
    with h5py.File(inp, "r") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore", da.PerformanceWarning)  # out-of-order take: expected here
        outs = dask_outputs(f)
        lazy = {}
        for k, o in outs.items():
            t = o[train]
            axes = (0,)  # per level and feature (per column for the flat outputs), as the notebook
            lazy[k] = ((~da.isnan(t)).sum(axis=axes), da.isnan(t).sum(axis=axes),
                       da.nanmean(t, axis=axes, dtype=np.float64), da.nanvar(t, axis=axes, dtype=np.float64),
                       da.nanmin(t, axis=axes).astype(np.float64), da.nanmax(t, axis=axes).astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            (done,) = dask.compute(lazy)
        stats = {k: finish_stats(*(np.asarray(a) for a in v)) for k, v in done.items()}
        write_stats(out / "stats.json", stats, inp)
        norm = {}
        for k, o in outs.items():
            div, mean = divisor_and_mean(stats[k])
            norm[k] = ((o.astype(np.float64) - mean) / div).astype(np.float32)
        index = {}
        for s in SPLITS:
            da.to_hdf5(str(out / f"{s}.h5"), {f"/{k}": norm[k][idx[s]] for k in OUTPUTS})
            index[s] = {"rows": len(idx[s]), "hdf5": f"{s}.h5", "outputs": {}}
            with h5py.File(out / f"{s}.h5", "r") as h:
                for k in OUTPUTS:
                    d = h[k]
                    index[s]["outputs"][k] = {"shape": list(d.shape), "dtype": "float32",
                                              "npy": write_shards(out, s, k, len(d), lambda r0, r1: d[r0:r1])}
        write_index(out, index)
    return time.perf_counter() - t0


def numpy_outputs(f):
    d = {k: f[k][()] for k in VARIABLES}
    n = len(d["sca_inputs"])
    inter = np.pad(d["inter_inputs"], ((0, 0), (1, 1), (0, 0)), mode="constant")  # zeros, as the notebook
    sca = np.broadcast_to(d["sca_inputs"][:, None, :], (n, 138, 17))
    x = np.concatenate([d["hl_inputs"], inter, sca], axis=-1)
    y = np.stack([d[k] for k in FLUXES], axis=-1)
    x_flat = np.concatenate([d[k].reshape(n, -1) for k in ("hl_inputs", "inter_inputs", "sca_inputs", "col_inputs")],
                            axis=1)
    y_flat = np.concatenate([d[k] for k in FLUXES], axis=1)
    return {"x": x, "y": y, "edge": d["col_inputs"], "x_flat": x_flat, "y_flat": y_flat}


def numpy_stats(t):
    """Over the samples (axis 0), per element of a sample, shaped like one sample."""
    r = t.reshape(t.shape[0], -1).astype(np.float64)  # np.nanvar of float32 subtracts the mean in float32
    nan = np.isnan(r)
    missing = nan.sum(axis=0)
    count = len(r) - missing
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN features: NaN statistics
        st = finish_stats(count, missing, np.nanmean(r, axis=0), np.nanvar(r, axis=0),
                          np.nanmin(r, axis=0), np.nanmax(r, axis=0))
    return {k: np.asarray(v).reshape(t.shape[1:]) for k, v in st.items()}


def run_numpy(inp, split_path, out):
    fresh_dir(out, split_path)
    t0 = time.perf_counter()
    idx = load_split(split_path)
    train = np.sort(idx["train"])
    with h5py.File(inp, "r") as f:
        outs = numpy_outputs(f)
    stats = {k: numpy_stats(o[train]) for k, o in outs.items()}
    write_stats(out / "stats.json", stats, inp)
    index = {}
    for s in SPLITS:
        index[s] = {"rows": len(idx[s]), "hdf5": f"{s}.h5", "outputs": {}}
        with h5py.File(out / f"{s}.h5", "w") as h:
            for k, o in outs.items():
                div, mean = divisor_and_mean(stats[k])
                v = ((o[idx[s]].astype(np.float64) - mean) / div).astype(np.float32)
                h.create_dataset(k, data=v, chunks=(max(1, min(HDF5_CHUNK_ROWS, len(v))),) + v.shape[1:])
                index[s]["outputs"][k] = {"shape": list(v.shape), "dtype": "float32",
                                          "npy": write_shards(out, s, k, len(v), lambda r0, r1: v[r0:r1])}
    write_index(out, index)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# Checks, page cache, timing


def compare_outputs(name, out, ref, ref_name):
    """Stops the bench when out's stats.json or data disagree with ref's."""
    st = {d: json.loads((d / "stats.json").read_text())["variables"] for d in (out, ref)}
    for k in OUTPUTS:
        for field in ("mean", "std"):
            a, b = (np.asarray(st[d][f"/{k}"][field], dtype=float) for d in (out, ref))
            bad = ~(np.abs(a - b) <= STATS_RTOL * (np.abs(b) + 1e-300) + 1e-12 * np.abs(
                np.asarray(st[ref][f"/{k}"]["mean"], dtype=float))) & ~(np.isnan(a) & np.isnan(b))
            if bad.any():
                i = int(np.argmax(bad))
                sys.exit(f"check: {name} and {ref_name} disagree: /{k} {field}[{i}]: {a[i]!r} vs {b[i]!r}")
    pairs = [("val", k) for k in OUTPUTS] + [("train", "y"), ("train", "edge")]
    for s, k in pairs:
        with h5py.File(out / f"{s}.h5", "r") as fa, h5py.File(ref / f"{s}.h5", "r") as fb:
            a, b = fa[k][()], fb[k][()]
        if a.shape != b.shape or a.dtype != np.float32:
            sys.exit(f"check: {name} {s}.h5:/{k} is {a.dtype} {a.shape}, {ref_name}'s is {b.dtype} {b.shape}")
        w, g = b.astype(np.float64), a.astype(np.float64)
        with np.errstate(invalid="ignore"):
            bad = (np.isnan(w) != np.isnan(g)) | (~np.isnan(w) & ~(np.abs(g - w) <= ATOL + RTOL * np.abs(w)))
        if bad.any():
            pos = np.unravel_index(int(np.argmax(bad)), bad.shape)
            sys.exit(f"check: {name} and {ref_name} disagree: {s}.h5:/{k}{list(pos)}: {a[pos]!r} vs {b[pos]!r}")
    print(f"check: {name} agrees with {ref_name} (stats.json mean/std; val.h5 all outputs, train.h5 /y /edge)")


def resident_share(path):
    """Share of the file's pages in the page cache (mincore on a private mapping); None if unknown."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        size = path.stat().st_size
        page = mmap.PAGESIZE
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_COPY) as mm:
            addr = ctypes.addressof(ctypes.c_char.from_buffer(mm))
            vec = (ctypes.c_ubyte * ((size + page - 1) // page))()
            if libc.mincore(ctypes.c_void_p(addr), ctypes.c_size_t(size), vec) != 0:
                return None
            share = sum(b & 1 for b in vec) / len(vec)
            del addr
            return share
    except (OSError, ValueError, AttributeError, BufferError):
        return None


def fmt_share(s):
    return "unknown" if s is None else f"{s:.0%}"


def git_commit():
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return "uncommitted"
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src", "include", "kernels",
                            "CMakeLists.txt"], capture_output=True, text=True).stdout.strip()
    return head.stdout.strip() + ("-dirty" if dirty else "")


def machine_info(binary):
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")),
                 platform.processor() or "unknown")
    mem_kib = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                   if ln.startswith("MemTotal:"))
    return {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "commit": git_commit(), "cpu": model, "cores": os.cpu_count(), "mem_gib": round(mem_kib / 2**20, 1),
            "h5prep_sha256": hashlib.sha256(binary.read_bytes()).hexdigest()[:16] if binary else "not run",
            "hdf5_h5py": h5py.version.hdf5_version, "python": platform.python_version(),
            "numpy": np.__version__, "h5py": h5py.__version__, "dask": dask.__version__}


def summarize(times, nbytes):
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        rows.append({"contender": name, "median_s": med, "min_s": min(ts), "max_s": max(ts),
                     "gbps": nbytes / med / 1e9, "min_gbps": nbytes / max(ts) / 1e9, "max_gbps": nbytes / min(ts) / 1e9})
    by = {r["contender"]: r["median_s"] for r in rows}
    for r in rows:
        for peer in CONTENDERS:
            r[f"x_{peer}"] = by[peer] / r["median_s"] if peer in by else None
    return rows


def write_csv(path, rows, info, extra):
    fields = list(rows[0])
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(fields + list(extra) + list(info))
        for r in rows:
            w.writerow([("" if r[k] is None else f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in fields]
                       + list(extra.values()) + list(info.values()))


def write_markdown(path, rows, info, extra, args):
    def f(v, spec):
        return "" if v is None else format(v, spec)
    peers = [c for c in CONTENDERS if any(r["contender"] == c for r in rows)]
    md = ["# h5prep transform benchmark (3dcorrection recipe)", "",
          f"{info['cpu']}, {info['cores']} cores, {info['mem_gib']} GiB; commit {info['commit']}; {info['date_utc']}.",
          "", f"Reproduce: `python3 bench/bench_transform.py{f' --rows {args.rows}' if args.rows else ''}` "
          "(see its docstring for what each contender does).", "",
          f"Input: {extra['rows']:,} rows of scripts/gen_3dcorrection.py (seed {args.seed}), contiguous, "
          f"{extra['bytes'] / 1e9:.3f} GB. Bytes = bytes of the input's 8 variables = N × 18,720; GB/s = bytes / "
          f"median s / 1e9. Median and spread (min..max) of {args.repeat} runs after a checked warm-up run "
          "(outputs agree with the reference within float32 tolerance, statistics within 1e-9). "
          "`× X` = X's median s / this median s. Outputs: 5 tensors × 3 splits in HDF5 and npy shards, "
          "plus split.json, stats.json, index.json.", "",
          f"Page cache not dropped: input resident {extra['resident_start']} before the warm-ups, "
          f"{extra['resident_timed']} before the timed rounds (warm). Each timed run starts after an "
          "os.sync() (not timed), so that none pays for writing back the previous run's outputs.", "",
          "| contender | median s | spread s | input GB/s | " + " | ".join(f"× {p}" for p in peers) + " |",
          "|---|---|---|---|" + "---|" * len(peers)]
    for r in rows:
        md.append(f"| {r['contender']} | {r['median_s']:.3f} | {r['min_s']:.3f}..{r['max_s']:.3f} | {r['gbps']:.3f} | "
                  + " | ".join(f(r[f"x_{p}"], ".2f") for p in peers) + " |")
    md += ["", "## Run", ""] + [f"- {k}: {v}" for k, v in info.items()] + [""]
    Path(path).write_text("\n".join(md))


def main():
    args = parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = args.rows or GIB_ROWS
    inp = input_file(args, rows)
    nbytes = rows * ROW_BYTES
    base = args.workdir / "transform"
    base.mkdir(exist_ok=True)
    outs = {c: base / c for c in CONTENDERS}
    binary = None
    if not args.no_h5prep:
        binary = args.workdir / "bin" / "h5prep"
        binary.parent.mkdir(exist_ok=True)
        shutil.copy2(args.h5prep, binary)
    resident_start = resident_share(inp)
    print(f"input: {inp}, {rows:,} rows, {nbytes / 1e9:.3f} GB; resident in the page cache: {fmt_share(resident_start)}")

    runs, times = {}, {}
    if binary:
        runs["h5prep-cpu"] = lambda: run_h5prep(binary, args.recipe, inp, outs["h5prep-cpu"])
        times["h5prep-cpu"] = [runs["h5prep-cpu"]()]
        print(f"warm-up: h5prep-cpu {times['h5prep-cpu'][0]:.3f} s", flush=True)
        split_path = base / "split.json"
        shutil.copy(outs["h5prep-cpu"] / "split.json", split_path)
        factors = base / "factors.json"
        shutil.copy(outs["h5prep-cpu"] / "stats.json", factors)
        recipe1 = one_pass_recipe(args.recipe, factors, base / "one_pass.yaml")
        runs["h5prep-1pass"] = lambda: run_h5prep(binary, recipe1, inp, outs["h5prep-1pass"])
        times["h5prep-1pass"] = [runs["h5prep-1pass"]()]
        print(f"warm-up: h5prep-1pass {times['h5prep-1pass'][0]:.3f} s", flush=True)
        out_bytes = tree_bytes(outs["h5prep-cpu"])
        runs["write-loop"] = lambda: run_write_loop(args.h5read, outs["write-loop"], out_bytes)
        times["write-loop"] = [runs["write-loop"]()]
        print(f"warm-up: write-loop {times['write-loop'][0]:.3f} s ({out_bytes / 1e9:.3f} GB, h5prep's outputs)",
              flush=True)
    else:
        split_path = numpy_split(rows, base / "split.json")
    runs["dask"] = lambda: run_dask(inp, split_path, outs["dask"])
    runs["numpy"] = lambda: run_numpy(inp, split_path, outs["numpy"])
    for name in ("numpy", "dask"):
        times[name] = [runs[name]()]
        print(f"warm-up: {name} {times[name][0]:.3f} s", flush=True)
    ref = "h5prep-cpu" if binary else "numpy"
    for name in runs:
        if name not in (ref, "write-loop"):
            compare_outputs(name, outs[name], outs[ref], ref)
    resident_timed = resident_share(inp)
    print(f"timing: {args.repeat} rounds; input resident in the page cache: {fmt_share(resident_timed)}", flush=True)
    times = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, run in runs.items():
            os.sync()  # the previous run's dirty pages are on disk before this one starts (not timed)
            times[name].append(run())
    results = summarize({c: times[c] for c in CONTENDERS if c in times}, nbytes)
    for r in results:
        print(f"{r['contender']:<11} {r['median_s']:8.3f} s ({r['min_s']:.3f}..{r['max_s']:.3f})  {r['gbps']:6.3f} GB/s"
              + "".join(f"  {r[f'x_{p}']:.2f}x {p}" for p in CONTENDERS if r.get(f"x_{p}") and p != r["contender"]))
    info = machine_info(binary)
    extra = {"rows": rows, "bytes": nbytes, "resident_start": fmt_share(resident_start),
             "resident_timed": fmt_share(resident_timed)}
    dest = REPO / "bench" / "results" if args.rows is None else args.workdir / "results"
    dest.mkdir(parents=True, exist_ok=True)
    stem = "transform" if args.rows is None else f"transform_{rows}"
    write_csv(dest / f"{stem}.csv", results, info, extra)
    write_markdown(dest / f"{stem}.md", results, info, extra, args)
    print(f"wrote {dest / stem}.csv and .md")


if __name__ == "__main__":
    main()
