#!/usr/bin/env python3
"""gen_3dcorrection.py: writes a synthetic input in the layout of the ECMWF radiation (3D
correction) dataset, the input of data/recipes/3dcorrection.yaml, its tests and its benchmark.

Variables (float32, one row per atmospheric column, 137 full levels, 138 half levels, top first):
    sca_inputs   (N, 17)        skin temperature [K], cos(solar zenith) (0 at night, ~30% of
                                the rows), solar irradiance 1361 W m-2 (a CONSTANT feature),
                                6 diffuse and 6 direct shortwave albedos, 2 longwave emissivities
    col_inputs   (N, 137, 27)   full-level pressure [Pa] (1 .. ~1e5, increasing downwards: a large
                                offset), temperature [K], specific humidity (1e-6 .. 1e-2), ozone,
                                CO2 (6.3e-4 with 1e-7 noise: nearly constant), CH4, N2O, 4 CFCs,
                                cloud fraction (mostly exact zeros), liquid and ice water content,
                                liquid and ice effective radii [m], 11 aerosol mixing ratios
                                (log-uniform 1e-12 .. 1e-7)
    hl_inputs    (N, 138, 2)    half-level pressure [Pa] (0 at the top) and temperature [K]
    inter_inputs (N, 136, 1)    cloud overlap parameter between adjacent layers (0.3 .. 1)
    flux_dn_sw, flux_up_sw, flux_dn_lw, flux_up_lw   (N, 138) fluxes [W m-2], 0 .. ~1400;
                                shortwave fluxes are 0 at night, flux_dn_lw is 0 at the top
The magnitudes span 1e-12 .. 1e5 and include constant features, exact zeros and large offsets,
so that statistics and normalization computed carelessly (float32 sums, one-pass variance,
dividing by a zero std) show their errors. --nan-fraction puts NaN into col_inputs.

Determinism: rows are made in blocks of 4096 with numpy.random.default_rng([seed, block]) (and
[seed, block, 1] for the NaN mask), so row i depends only on --seed and i: the same seed gives
the same bytes whatever --chunk-rows or --gzip, and the first rows of a bigger file equal a
smaller file's. Memory stays at one block (~80 MB) for any --rows (5 million rows = 94 GB fine).
The file is written as PATH.tmp-<pid> and renamed when complete; its root attribute
`gen_3dcorrection` holds the parameters as JSON. Needs only numpy and h5py.

Examples
    python3 scripts/gen_3dcorrection.py --rows 20000 -o 3dcorrection.h5
    python3 scripts/gen_3dcorrection.py --rows 1000 --chunk-rows 256 --gzip 4 -o small-gz.h5
    python3 scripts/gen_3dcorrection.py --rows 500 --nan-fraction 0.01 --seed 7 -o hostile.h5
Bytes: 18,720 per row (4,680 float32), so 1 GiB is about 57,000 rows.
"""

import argparse
import json
import os
import sys
import time

import h5py
import numpy as np

BLOCK_ROWS = 4096  # rows made per RNG stream; fixed so the values never depend on options
LEVELS = 137  # full levels; half levels = LEVELS + 1, interfaces = LEVELS - 1
SOLAR_CONSTANT = 1361.0
SIGMA = 5.670374e-8  # Stefan-Boltzmann constant, W m-2 K-4

VARIABLES = {  # name: shape of one row
    "sca_inputs": (17,),
    "col_inputs": (LEVELS, 27),
    "hl_inputs": (LEVELS + 1, 2),
    "inter_inputs": (LEVELS - 1, 1),
    "flux_dn_sw": (LEVELS + 1,),
    "flux_up_sw": (LEVELS + 1,),
    "flux_dn_lw": (LEVELS + 1,),
    "flux_up_lw": (LEVELS + 1,),
}
ROW_BYTES = 4 * sum(int(np.prod(s)) for s in VARIABLES.values())  # 18720

# col_inputs features 7..10 (CFCs) and 16..26 (aerosols): log10 of the (low, high) mixing ratio
TRACE_GASES = [(-10.0, -9.0), (-9.7, -8.7), (-10.3, -9.3), (-10.5, -9.5)]
AEROSOLS = 11


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Write a seeded synthetic 3D-correction radiation dataset (the input of "
        "data/recipes/3dcorrection.yaml): sca_inputs (N,17), col_inputs (N,137,27), hl_inputs "
        "(N,138,2), inter_inputs (N,136,1) and four fluxes (N,138), float32, with physical "
        "magnitudes (pressure ~1e5 Pa, temperatures 200-320 K, mixing ratios 1e-12..1e-2, fluxes "
        "0..1400 W m-2), a constant feature and large offsets. 18,720 bytes per row.",
        epilog="Example: %(prog)s --rows 20000 -o 3dcorrection.h5   (374 MB, a few seconds). "
        "Row i depends only on --seed and i. See the module docstring for each feature.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rows", type=int, required=True, help="N, the number of columns (rows)")
    p.add_argument("--seed", type=int, default=0, help="seed of numpy.random.default_rng")
    p.add_argument("-o", "--output", required=True, help="HDF5 file to write (replaced if it exists)")
    p.add_argument("--chunk-rows", type=int, default=0,
                   help="0: contiguous datasets; K: chunked along axis 0 with K rows per chunk")
    p.add_argument("--gzip", type=int, default=0, help="deflate level 1-9 (needs --chunk-rows); 0: none")
    p.add_argument("--nan-fraction", type=float, default=0.0,
                   help="fraction of the col_inputs values set to NaN (hostile-input tests)")
    a = p.parse_args(argv)
    if a.rows < 0:
        p.error(f"--rows must be >= 0, got {a.rows}")
    if a.seed < 0:
        p.error(f"--seed must be >= 0 (numpy seeds are non-negative), got {a.seed}")
    if a.chunk_rows < 0:
        p.error(f"--chunk-rows must be >= 0, got {a.chunk_rows}")
    if not 0 <= a.gzip <= 9:
        p.error(f"--gzip must be 0..9, got {a.gzip}")
    if a.gzip and not a.chunk_rows:
        p.error("--gzip needs chunked datasets: add --chunk-rows K (e.g. 256)")
    if not 0.0 <= a.nan_fraction <= 1.0:
        p.error(f"--nan-fraction must be in [0, 1], got {a.nan_fraction}")
    return a


def make_block(seed, block, rows, nan_fraction):
    """The values of rows [block * BLOCK_ROWS, + rows): a dict of float32 arrays (rows, ...)."""
    rng = np.random.default_rng([seed, block])
    f32 = np.float32
    L = LEVELS
    s_half = (np.arange(L + 1, dtype=f32) / f32(L))  # (138,) 0 at the top .. 1 at the surface
    s_full = f32(0.5) * (s_half[1:] + s_half[:-1])  # (137,)

    # Per-column scalars (rows, 1)
    ts = rng.uniform(220.0, 315.0, (rows, 1)).astype(f32)  # skin temperature
    ps = (1.0e5 + 1500.0 * rng.standard_normal((rows, 1))).astype(f32)  # surface pressure
    mu0 = rng.uniform(-0.4, 1.0, (rows, 1)).clip(0.0, None).astype(f32)  # ~30% night
    cloudiness = rng.uniform(0.0, 1.0, (rows, 1)).astype(f32)

    sca = np.empty((rows, 17), f32)
    sca[:, 0:1] = ts
    sca[:, 1:2] = mu0
    sca[:, 2] = SOLAR_CONSTANT
    alb = rng.uniform(0.05, 0.9, (rows, 1)).astype(f32)
    sca[:, 3:15] = (alb + rng.uniform(-0.04, 0.04, (rows, 12)).astype(f32)).clip(0.0, 1.0)
    sca[:, 15:17] = rng.uniform(0.9, 1.0, (rows, 2)).astype(f32)

    # Half levels: pressure 0 at the top, ps at the surface; temperature 210 K aloft .. ts
    noise = rng.standard_normal((rows, L + 1, 2), dtype=f32)
    hl = np.empty((rows, L + 1, 2), f32)
    hl[:, :, 0] = ps * s_half ** f32(2.5)
    hl[:, :, 1] = f32(210.0) + (ts - f32(210.0)) * s_half ** f32(1.5) + f32(2.0) * noise[:, :, 1]

    # Full levels: 27 features
    u = rng.random((rows, L, 27), dtype=f32)
    col = np.empty((rows, L, 27), f32)
    col[:, :, 0] = f32(0.5) * (hl[:, 1:, 0] + hl[:, :-1, 0])
    col[:, :, 1] = f32(0.5) * (hl[:, 1:, 1] + hl[:, :-1, 1])
    col[:, :, 2] = np.exp(f32(np.log(1e-6)) + f32(np.log(1e4)) * s_full ** f32(2.0)
                          * (f32(0.6) + f32(0.4) * u[:, :, 2]))  # specific humidity 1e-6..1e-2
    col[:, :, 3] = f32(1e-7) + f32(1e-5) * np.exp(-((s_full - f32(0.1)) / f32(0.08)) ** 2) * u[:, :, 3]
    col[:, :, 4] = f32(6.3e-4) + f32(1e-7) * (u[:, :, 4] - f32(0.5))  # CO2: nearly constant
    col[:, :, 5] = f32(9.5e-7) + f32(1e-8) * u[:, :, 5]
    col[:, :, 6] = f32(4.9e-7) + f32(5e-9) * u[:, :, 6]
    for j, (lo, hi) in enumerate(TRACE_GASES):
        col[:, :, 7 + j] = f32(10.0) ** (f32(lo) + f32(hi - lo) * u[:, :, 7 + j])
    cloudy = u[:, :, 11] < cloudiness * f32(0.4)  # mostly clear: many exact zeros
    col[:, :, 11] = np.where(cloudy, u[:, :, 12], f32(0.0))
    warm = col[:, :, 1] > f32(253.0)
    col[:, :, 12] = np.where(cloudy & warm, f32(1e-3) * u[:, :, 13], f32(0.0))
    col[:, :, 13] = np.where(cloudy & ~warm, f32(2e-4) * u[:, :, 13], f32(0.0))
    col[:, :, 14] = f32(5e-6) + f32(1e-5) * u[:, :, 14]
    col[:, :, 15] = f32(2e-5) + f32(8e-5) * u[:, :, 15]
    col[:, :, 16:] = f32(10.0) ** (f32(-12.0) + f32(5.0) * u[:, :, 16:])

    inter = (f32(0.3) + f32(0.7) * rng.random((rows, L - 1, 1), dtype=f32))

    # Fluxes on half levels (rows, 138)
    cloud_col = col[:, :, 11].mean(axis=1, keepdims=True)
    jitter = f32(1.0) + f32(0.01) * noise[:, :, 0]
    dn_sw = (f32(SOLAR_CONSTANT) * mu0 * (f32(1.0) - f32(0.3) * s_half ** f32(1.2)
                                         * (f32(1.0) + cloud_col)) * jitter).clip(0.0, None)
    up_sw = sca[:, 3:9].mean(axis=1, keepdims=True) * dn_sw[:, -1:] * (f32(0.6) + f32(0.4) * s_half)
    emis = SIGMA * ts.astype(np.float64) ** 4
    dn_lw = (emis * 0.85 * s_half ** 0.7).astype(f32) * jitter
    up_lw = (emis * (0.8 + 0.2 * s_half)).astype(f32) * jitter

    if nan_fraction > 0:
        mask = np.random.default_rng([seed, block, 1]).random(col.shape, dtype=f32) < nan_fraction
        col[mask] = np.nan
    return {"sca_inputs": sca, "col_inputs": col, "hl_inputs": hl, "inter_inputs": inter,
            "flux_dn_sw": dn_sw, "flux_up_sw": up_sw.astype(f32), "flux_dn_lw": dn_lw, "flux_up_lw": up_lw}


def layout_of(a):
    if not a.chunk_rows:
        return "contiguous"
    return f"chunks of {a.chunk_rows} rows" + (f", gzip {a.gzip}" if a.gzip else "")


def write(a):
    tmp = f"{a.output}.tmp-{os.getpid()}"
    try:
        with h5py.File(tmp, "w") as f:
            dsets = {}
            for name, row in VARIABLES.items():
                kw = {}
                if a.chunk_rows:
                    kw["chunks"] = (max(1, min(a.chunk_rows, a.rows)),) + row
                    if a.rows == 0:
                        kw["maxshape"] = (None,) + row  # a fixed 0-length axis cannot be chunked
                    if a.gzip:
                        kw.update(compression="gzip", compression_opts=a.gzip)
                dsets[name] = f.create_dataset(name, shape=(a.rows,) + row, dtype=np.float32, **kw)
            for block, r0 in enumerate(range(0, a.rows, BLOCK_ROWS)):
                # always a whole block, so that row i does not depend on --rows
                values = make_block(a.seed, block, BLOCK_ROWS, a.nan_fraction)
                r1 = min(a.rows, r0 + BLOCK_ROWS)
                for name, v in values.items():
                    dsets[name][r0:r1] = v[:r1 - r0]
            f.attrs["gen_3dcorrection"] = json.dumps(
                {"version": 1, "rows": a.rows, "seed": a.seed, "chunk_rows": a.chunk_rows,
                 "gzip": a.gzip, "nan_fraction": a.nan_fraction})
        os.replace(tmp, a.output)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def main(argv=None):
    a = parse_args(argv)
    t0 = time.perf_counter()
    try:
        write(a)
    except OSError as e:
        print(f"gen_3dcorrection: cannot write {a.output}: {e}", file=sys.stderr)
        return 1
    dt = time.perf_counter() - t0
    print(f"gen_3dcorrection: wrote {a.output}: {a.rows} rows x 8 variables, "
          f"{a.rows * ROW_BYTES / 1e9:.3f} GB float32, {layout_of(a)}, seed {a.seed}, "
          f"nan-fraction {a.nan_fraction:g}, {dt:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
