# test_stats.py: the binding of the statistics API against numpy: runs, kept axes, sklearn
# attributes, xarray, files written, loaded and merged, the in-memory Accumulator (numpy and torch),
# errors with their status, Ctrl-C, progress callbacks, and the library's ABI and exports.
import io
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import h5prep
from conftest import REPO


@pytest.fixture
def cube(tmp_path):
    """(300, 4, 6) float32 with a fill value -999 (CF) at every 17th value, and feature 5 constant."""
    rng = np.random.default_rng(1)
    x = (10 + 3 * rng.normal(size=(300, 4, 6))).astype("f4")
    x[:, :, 5] = 2.5
    flat = x.reshape(-1)
    flat[::17] = -999
    path = tmp_path / "cube.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("grp/x", data=x, chunks=(50, 4, 6))
        d.attrs["_FillValue"] = np.float32(-999)
    xm = x.astype("f8")
    xm[xm == -999] = np.nan
    return path, x, xm


def test_stats_match_numpy_per_last_axis(cube):
    path, _, xm = cube
    s = h5prep.stats(f"{path}:/grp/x", ddof=1, backend="cpu")
    assert s.backend == "cpu"
    v = s["/grp/x"]
    assert v.shape == (300, 4, 6) and v.keep_axes == (2,) and v.feature_shape == (6,)
    flat = xm.reshape(-1, 6)
    np.testing.assert_array_equal(v.count, np.sum(~np.isnan(flat), axis=0))
    np.testing.assert_array_equal(v.missing, np.sum(np.isnan(flat), axis=0))
    np.testing.assert_allclose(v.mean, np.nanmean(flat, axis=0), rtol=1e-12)
    np.testing.assert_allclose(v.var[:5], np.nanvar(flat, axis=0, ddof=1)[:5], rtol=1e-10)
    np.testing.assert_array_equal(v.min, np.nanmin(flat, axis=0))
    np.testing.assert_array_equal(v.max, np.nanmax(flat, axis=0))
    np.testing.assert_array_equal(v.flags, [0, 0, 0, 0, 0, 1])
    # sklearn-style: zero-safe scale, the count seen
    np.testing.assert_array_equal(v.scale_[5], 1.0)
    np.testing.assert_allclose(v.scale_[:5], v.std[:5])
    np.testing.assert_array_equal(v.n_samples_seen_, v.count)
    np.testing.assert_array_equal(s.mean_, v.mean_)  # one variable: its attributes on the Stats too


@pytest.mark.parametrize("keep,axes,reduce", [((1, 2), (1, 2), (0,)), ("none", (), (0, 1, 2)), (1, (1,), (0, 2))])
def test_keep_axes(cube, keep, axes, reduce):
    path, _, xm = cube
    v = h5prep.stats(f"{path}:/grp/x", keep_axes=keep)["/grp/x"]
    assert v.keep_axes == axes
    np.testing.assert_allclose(v.mean, np.nanmean(xm, axis=reduce), rtol=1e-12)
    assert v.broadcast_shape() == tuple(xm.shape[a] if a in axes else 1 for a in (1, 2))


def test_to_xarray(cube):
    pytest.importorskip("xarray")
    path, _, _ = cube
    s = h5prep.stats(f"{path}:/grp/x", keep_axes=(1, 2))
    ds = s["/grp/x"].to_xarray()
    assert ds["mean"].dims == ("grp_x_axis1", "grp_x_axis2")
    assert ds["mean"].shape == (4, 6)
    assert ds.attrs["keep_axes"] == [1, 2]
    assert "grp_x_std" in s.to_xarray()


def test_write_load_merge_equal_one_run(cube, tmp_path):
    path, x, _ = cube
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("grp/x", data=x[:120]).attrs["_FillValue"] = np.float32(-999)
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f.create_dataset("grp/x", data=x[120:]).attrs["_FillValue"] = np.float32(-999)
    whole = h5prep.stats(f"{path}:/grp/x")
    h5prep.stats(f"{tmp_path / 'a.h5'}:/grp/x", out=tmp_path / "a.json")
    h5prep.stats(f"{tmp_path / 'b.h5'}:/grp/x").write(tmp_path / "b.h5stats.h5")
    m = h5prep.merge([tmp_path / "a.json", tmp_path / "b.h5stats.h5"], out=tmp_path / "m.json")
    w, g = whole["/grp/x"], m["/grp/x"]
    assert g.shape == w.shape
    np.testing.assert_array_equal(g.count, w.count)
    np.testing.assert_array_equal(g.min, w.min)
    np.testing.assert_allclose(g.mean, w.mean, rtol=1e-12)
    np.testing.assert_allclose(g.m2, w.m2, rtol=1e-10)
    again = h5prep.load_stats(tmp_path / "m.json")
    np.testing.assert_array_equal(again["grp/x"].m2, g.m2)
    assert '"format": "h5prep-stats/1"' in again.json()


def test_accumulator_equals_file_run(cube, tmp_path):
    path, x, _ = cube
    xm = x.astype("f4").copy()
    xm[xm == -999] = np.nan  # a fill value from a file is NaN in memory
    acc = h5prep.Accumulator()
    for a, b in [(0, 1), (1, 101), (101, 101), (101, 300)]:
        acc.update("/grp/x", xm[a:b])
    got = acc.stats()["/grp/x"]
    want = h5prep.stats(f"{path}:/grp/x")["/grp/x"]
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.count, want.count)
    np.testing.assert_array_equal(got.missing, want.missing)
    np.testing.assert_array_equal(got.min, want.min)
    np.testing.assert_array_equal(got.max, want.max)
    np.testing.assert_allclose(got.mean, want.mean, rtol=1e-12)
    np.testing.assert_allclose(got.var, want.var, rtol=1e-10)
    acc.write(tmp_path / "acc.json")
    back = h5prep.load_stats(tmp_path / "acc.json")["/grp/x"]
    np.testing.assert_array_equal(back.count, want.count)
    # resuming from the file continues the same stream
    acc2 = h5prep.Accumulator(resume=tmp_path / "acc.json")
    acc2.update("grp/x", xm[:10])
    assert acc2.stats()["/grp/x"].shape[0] == 310


def test_accumulator_torch_tensors_and_dtypes():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 3, 8)).astype("f4")
    acc, ref = h5prep.Accumulator(keep_axes=1), h5prep.Accumulator(keep_axes=1)
    for k in range(0, 64, 16):
        acc.update("x", torch.from_numpy(x[k:k + 16]))       # through DLPack
        ref.update("x", x[k:k + 16])
    acc.update("y", torch.arange(10, dtype=torch.int16).reshape(5, 2))
    acc.update("h", torch.ones(4, 2, dtype=torch.bfloat16))  # widened to float32
    s, r = acc.stats(), ref.stats()
    np.testing.assert_array_equal(s["/x"].m2, r["/x"].m2)
    assert s["/x"].feature_shape == (3,)
    np.testing.assert_array_equal(s["/y"].mean, [4.0, 5.0])
    np.testing.assert_array_equal(s["/h"].flags, [1, 1])
    noncontig = x[:, :, ::2]  # copied to C order first
    a = h5prep.Accumulator().update("z", noncontig).stats()["/z"]
    np.testing.assert_allclose(a.mean, noncontig.reshape(-1, 4).mean(0), rtol=1e-6)


def test_accumulator_shape_mismatch_raises_with_status():
    acc = h5prep.Accumulator()
    acc.update("x", np.zeros((3, 4)))
    with pytest.raises(h5prep.Error) as e:
        acc.update("x", np.zeros((3, 5)))
    assert e.value.status == 9 and e.value.status_name == "ERR_SHAPE"
    assert "/x: batch of shape (3, 5), but the variable has shape (3, 4)" in e.value.message
    assert "hint:" in e.value.message
    with pytest.raises(TypeError):
        acc.update("c", np.zeros(3, dtype=complex))
    assert acc.stats()["/x"].shape == (3, 4)


def test_errors_carry_status_and_message(tmp_path):
    with pytest.raises(h5prep.Error) as e:
        h5prep.stats(f"{tmp_path}/nope.h5:/x")
    assert e.value.status == 3 and "nope.h5" in e.value.message
    with pytest.raises(h5prep.Error) as e:
        h5prep.stats(os.path.join(REPO, "data", "nc4uvt.nc") + ":/nope")
    assert e.value.status == 6 and "/nope" in str(e.value)
    with pytest.raises(h5prep.Error) as e:
        h5prep.load_stats(tmp_path / "missing.json")
    assert e.value.status == 3
    with pytest.raises(ValueError):
        h5prep.stats("a.h5:/x", backend="tpu")
    with pytest.raises(ValueError):
        h5prep.stats("a.h5:/x", keep_axes=(1, 3))


def test_info():
    found = {d["path"]: d for d in h5prep.info(os.path.join(REPO, "data", "nc4uvt.nc"))}
    assert found["/T"]["shape"] == (1, 14, 64, 128)
    assert found["/T"]["dtype"].startswith("float32")
    assert "deflate" in found["/T"]["filters"]
    assert "_FillValue" in found["/T"]["cf"]
    assert found["/T"]["dims"] == ("time", "lev", "lat", "lon")
    assert found["/T"]["file"].endswith("nc4uvt.nc")
    one = h5prep.info(os.path.join(REPO, "data", "nc4u*.nc") + ":/grp1")
    assert [d["path"] for d in one] == ["/grp1/T", "/grp1/U", "/grp1/V", "/grp1/lat", "/grp1/lev", "/grp1/lon",
                                        "/grp1/time"]
    with pytest.raises(h5prep.Error) as e:
        h5prep.info(os.path.join(REPO, "data", "nc4uvt.nc") + ":/t")
    assert e.value.status == 6 and "did you mean" in str(e.value)


@pytest.fixture
def big(tmp_path):
    """8 MiB of float64 in 64 slabs when mem is 256 KiB."""
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        f["v"] = np.arange(1 << 20, dtype="f8").reshape(-1, 16)
    return f"{path}:/v"


def test_progress_callback_and_tqdm(big):
    seen = []
    s = h5prep.stats(big, mem=256 << 10, progress=seen.append)
    assert len(seen) > 10
    assert seen[-1]["rows_done"] == seen[-1]["rows_total"] == 65536
    assert s["/v"].count[0] == 65536
    pytest.importorskip("tqdm")
    out = io.StringIO()
    with h5prep.tqdm_progress(file=out, mininterval=0) as bar:
        h5prep.stats(big, mem=256 << 10, progress=bar)
        assert bar.bar.n == 65536
    assert "65536" in out.getvalue()


def test_progress_exception_stops_the_run(big):
    calls = []

    def boom(p):
        calls.append(p)
        raise ValueError("stop here")

    with pytest.raises(ValueError, match="stop here"):
        h5prep.stats(big, mem=256 << 10, progress=boom)
    assert len(calls) == 1
    assert h5prep.stats(big)["/v"].count[0] == 65536  # the next run is not interrupted


def test_ctrl_c_interrupts_a_run_cleanly(big, tmp_path):
    """SIGINT during a run (sent from the progress callback, slowed down so that the run is
    still going): KeyboardInterrupt, no output, and the next run works."""
    if sys.platform == "win32":
        pytest.skip("POSIX signals")
    state = {"sent": False, "calls": 0}

    def slow(p):
        state["calls"] += 1
        if not state["sent"]:
            state["sent"] = True
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.02)

    t0 = time.time()
    with pytest.raises(KeyboardInterrupt):
        h5prep.stats(big, mem=256 << 10, progress=slow, out=tmp_path / "never.json")
    assert state["calls"] < 60, "the run went on to the end"
    assert time.time() - t0 < 5
    assert not (tmp_path / "never.json").exists()
    assert h5prep.stats(big)["/v"].count[0] == 65536


def test_transform_interrupt_leaves_nothing(points, tmp_path):
    from conftest import pointcloud_recipe
    recipe = pointcloud_recipe(tmp_path / "r.yaml")

    def stop(p):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)

    with pytest.raises(KeyboardInterrupt):
        h5prep.transform(str(recipe), out=str(tmp_path / "out"), inputs=[str(points[0])], mem=1 << 20,
                         progress=stop)
    assert not (tmp_path / "out").exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith("out") or ".h5prep-tmp-" in p] == []


# ---- the library's binary interface ------------------------------------------------------------

LAYOUT_C = r"""
#include <stddef.h>
#include <stdio.h>
#include "h5prep.h"
#define S(T) printf(#T " size %zu\n", sizeof(T));
#define O(T, f) printf(#T "." #f " %zu\n", offsetof(T, f));
int main(void) {
    S(h5prep_progress) S(h5prep_stats_config) S(h5prep_moments) S(h5prep_var_view)
    S(h5prep_transform_config) S(h5prep_transform_report) S(h5prep_dataset_info)
    O(h5prep_stats_config, progress) O(h5prep_stats_config, progress_user) O(h5prep_stats_config, mem_bytes)
    O(h5prep_var_view, moments) O(h5prep_var_view, n_features) O(h5prep_var_view, feature_shape)
    O(h5prep_transform_config, stage_mem) O(h5prep_transform_config, ninputs)
    O(h5prep_transform_report, split_names) O(h5prep_transform_report, seconds) O(h5prep_transform_report, nsplits)
    O(h5prep_dataset_info, cf) O(h5prep_dataset_info, chunk) O(h5prep_dataset_info, file) O(h5prep_dataset_info, dims)
    return 0;
}
"""


def test_ctypes_structures_match_the_header(tmp_path):
    """Each structure the binding declares has the size and field offsets of include/h5prep.h."""
    import ctypes
    from h5prep import _lib
    cc = next((c for c in ("cc", "gcc", "clang") if subprocess.run(["sh", "-c", f"command -v {c}"],
                                                                    capture_output=True).returncode == 0), None)
    if cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "layout.c"
    src.write_text(LAYOUT_C)
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c17", "-I", os.path.join(REPO, "include"), str(src), "-o", str(exe)], check=True)
    got = dict(line.rsplit(" ", 1) for line in subprocess.run([str(exe)], capture_output=True, text=True,
                                                              check=True).stdout.splitlines())
    types = {"h5prep_progress": _lib.Progress, "h5prep_stats_config": _lib.StatsConfig,
             "h5prep_moments": _lib.Moments, "h5prep_var_view": _lib.VarView,
             "h5prep_transform_config": _lib.TransformConfig, "h5prep_transform_report": _lib.TransformReport,
             "h5prep_dataset_info": _lib.DatasetInfo}
    for key, val in got.items():
        if key.endswith(" size"):
            t = types[key[:-5]]
            assert ctypes.sizeof(t) == int(val), key
        else:
            t, f = key.split(".")
            assert getattr(types[t], f).offset == int(val), key


def test_library_exports_only_the_public_api():
    from h5prep import _lib
    path = _lib._library_path()
    nm = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True)
    if nm.returncode != 0:
        pytest.skip("no nm")
    names = [line.split()[-1] for line in nm.stdout.splitlines() if line.strip()]
    names = [n.split("@")[0] for n in names]
    assert "h5prep_stats_update" in names and "h5prep_transform" in names
    assert [n for n in names if not n.startswith(("h5prep_", "H5PREP_"))] == []
    with open(os.path.join(REPO, "include", "h5prep.h")) as f:
        header = f.read()
    for n in names:
        if n.startswith("h5prep_"):
            assert n + "(" in header, f"{n} is exported but not declared in h5prep.h"
