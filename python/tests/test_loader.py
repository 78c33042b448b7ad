# test_loader.py: a transform's output read back: h5prep.open over index.json, numpy/dask/xarray
# views, the torch Dataset (npy and HDF5, batched reads, DataLoader workers, bfloat16), Normalize,
# and a short real training loop over the transformed point cloud.
import os

import h5py
import numpy as np
import pytest

import h5prep

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

import h5prep.torch as ht  # noqa: E402


def test_open_splits_and_numpy_views(pointcloud):
    ds = h5prep.open(pointcloud.out_dir)
    assert set(ds) == {"train", "val", "test"}
    assert sum(len(ds[k]) for k in ds) == 20000
    tr = ds["train"]
    assert len(tr) == pointcloud.splits["train"]
    assert tr["inputs"].shape == (len(tr), 3) and tr["targets"].dtype == "float32"
    assert len(tr["inputs"].shards) > 1
    a = tr.numpy()["inputs"]
    with h5py.File(os.path.join(pointcloud.out_dir, "train.h5")) as f:
        want = f["inputs"][:]
    np.testing.assert_array_equal(np.asarray(a), want)
    np.testing.assert_array_equal(a[2990:3010], want[2990:3010])           # across two shards
    rows = np.array([5, 2999, 3000, len(tr) - 1, 5, 0])
    np.testing.assert_array_equal(a[rows], want[rows])
    np.testing.assert_array_equal(a[-1], want[-1])
    np.testing.assert_array_equal(a[::7, 1], want[::7, 1])
    h5 = tr.numpy(source="hdf5")["targets"]
    assert h5.shape == (len(tr), 2)
    with pytest.raises(KeyError):
        ds["nope"]
    with pytest.raises(KeyError):
        tr.numpy(outputs=["nope"])


def test_open_refuses_what_is_not_an_output(tmp_path):
    with pytest.raises(FileNotFoundError, match="index.json"):
        h5prep.open(tmp_path)


def test_dask_and_xarray_views(pointcloud):
    pytest.importorskip("dask")
    xr = pytest.importorskip("xarray")
    tr = h5prep.open(pointcloud.out_dir)["train"]
    d = tr.dask()["inputs"]
    np.testing.assert_array_equal(d.compute(), np.asarray(tr.numpy()["inputs"]))
    x = tr.xarray()
    assert isinstance(x, xr.Dataset)
    assert x["inputs"].dims == ("sample", "inputs_dim1")
    assert h5prep.open(pointcloud.out_dir).index["outputs"]["inputs"]["dims"] == ["sample", "inputs_dim1"]
    assert x["inputs"].attrs["h5prep_normalize"].startswith('{"method": "zscore"')
    np.testing.assert_array_equal(x["inputs"].values, np.asarray(tr.numpy()["inputs"]))


def test_outputs_are_zscored_with_train_stats(pointcloud):
    ds = h5prep.open(pointcloud.out_dir)
    a = np.asarray(ds["train"].numpy()["inputs"], dtype="f8")
    np.testing.assert_allclose(a.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(a.std(0), 1, rtol=1e-4)
    st = ds.stats()["/inputs"]
    assert st.count[0] == len(ds["train"])


@pytest.mark.parametrize("source", ["npy", "hdf5"])
def test_torch_dataset_items_batches_and_workers(pointcloud, source):
    tr = h5prep.open(pointcloud.out_dir)["train"]
    want_x = torch.from_numpy(np.asarray(tr.numpy()["inputs"]))
    want_y = torch.from_numpy(np.asarray(tr.numpy()["targets"]))
    d = tr.torch(outputs=["inputs", "targets"], source=source)
    assert len(d) == len(tr)
    x, y = d[3001]
    assert torch.equal(x, want_x[3001]) and torch.equal(y, want_y[3001])
    b = d.__getitems__([7, 3, 3000, 9000])
    assert torch.equal(b.tensors[0], want_x[[7, 3, 3000, 9000]])
    # default collate (stacks the samples) and h5prep's (the batch as read) agree, with 2 workers
    g = torch.Generator().manual_seed(0)
    seen = torch.zeros(len(d), dtype=torch.int64)
    for collate in (None, ht.collate):
        kw = {"collate_fn": collate} if collate else {}
        loader = DataLoader(d, batch_size=500, shuffle=True, num_workers=2, generator=g, **kw)
        n = 0
        for xb, yb in loader:
            assert xb.shape[1:] == (3,) and yb.shape[1:] == (2,) and xb.dtype == torch.float32
            n += xb.shape[0]
        assert n == len(d)
    # every row comes exactly once in a sequential pass
    loader = DataLoader(d, batch_size=777, num_workers=2, collate_fn=ht.collate)
    got = torch.cat([xb for xb, _ in loader])
    assert torch.equal(got, want_x)
    del seen


def test_torch_dict_items(pointcloud):
    d = h5prep.open(pointcloud.out_dir)["val"].torch(outputs="targets", as_dict=True)
    item = d[0]
    assert set(item) == {"targets"} and item["targets"].shape == (2,)
    batch = next(iter(DataLoader(d, batch_size=4, collate_fn=ht.collate)))
    assert batch["targets"].shape == (4, 2)


def test_bfloat16_outputs_come_back_as_bfloat16(pointcloud, pointcloud_bf16):
    f32 = h5prep.open(pointcloud.out_dir)["train"]
    bf = h5prep.open(pointcloud_bf16.out_dir)["train"]
    assert bf["inputs"].dtype == "bfloat16" and bf["inputs"].stored_as == "uint16"
    for source in ("npy", "hdf5"):
        x, _ = bf.torch(source=source)[10]
        assert x.dtype == torch.bfloat16
        want = torch.from_numpy(np.array(f32.numpy()["inputs"][10]))
        torch.testing.assert_close(x.float(), want, rtol=1e-2, atol=1e-2)
    xb, yb = next(iter(DataLoader(bf.torch(), batch_size=8, num_workers=2, collate_fn=ht.collate)))
    assert xb.dtype == torch.bfloat16 and xb.shape == (8, 3)


def test_normalize_from_stats_broadcasts_by_keep_axes(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(loc=3.0, scale=2.0, size=(200, 6, 4)).astype("f4")
    x[:, 2, :] = 7.0                      # a constant feature: shifted, divided by 1
    acc = h5prep.Accumulator(keep_axes=1)  # features along axis 1: (6,)
    acc.update("/x", x)
    acc.write(tmp_path / "stats.json")
    norm = ht.Normalize.from_stats(str(tmp_path / "stats.json"), "/x")
    assert norm.mean.shape == (6, 1) and norm.scale.shape == (6, 1)
    assert set(dict(norm.named_buffers())) == {"mean", "scale"}
    t = torch.from_numpy(x)
    y = norm(t)
    assert torch.isfinite(y).all()
    np.testing.assert_allclose(y.double().mean(dim=(0, 2)).numpy(), 0, atol=1e-5)
    std = y.double().std(dim=(0, 2), unbiased=False).numpy()
    np.testing.assert_allclose(np.delete(std, 2), 1, rtol=1e-4)
    assert torch.equal(y[:, 2], torch.zeros_like(y[:, 2]))
    torch.testing.assert_close(norm.inverse(y), t, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(norm(t[0]), y[0])          # one sample broadcasts too
    mm = ht.Normalize.from_stats(acc.stats(), "x", method="minmax")
    z = mm(t)
    assert float(z[:, [0, 1, 3, 4, 5]].min()) == pytest.approx(0, abs=1e-6)
    assert float(z[:, [0, 1, 3, 4, 5]].max()) == pytest.approx(1, abs=1e-6)
    sd = norm.state_dict()
    assert set(sd) == {"mean", "scale"}


def test_short_training_loop_over_a_transform(pointcloud):
    """A tiny MLP trained for a few steps on the transformed point cloud (inputs -> targets, both
    z-scored by the transform) with 2 workers: the validation loss falls; Normalize.inverse maps
    predictions back to the targets' units."""
    torch.manual_seed(0)
    ds = h5prep.open(pointcloud.out_dir)
    train = DataLoader(ds["train"].torch(outputs=["inputs", "targets"]), batch_size=256, shuffle=True,
                       num_workers=2, collate_fn=ht.collate, persistent_workers=False)
    val_x, val_y = ds["val"].torch(outputs=["inputs", "targets"]).__getitems__(range(len(ds["val"]))).tensors
    model = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = torch.nn.MSELoss()
    with torch.no_grad():
        before = loss_fn(model(val_x), val_y).item()
    steps = 0
    for _epoch in range(3):
        for xb, yb in train:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            steps += 1
    with torch.no_grad():
        after = loss_fn(model(val_x), val_y).item()
    assert steps >= 30
    assert after < 0.2 * before, (before, after)
    denorm = ht.Normalize.from_stats(ds.stats_path, "/targets")
    with torch.no_grad():
        pred = denorm.inverse(model(val_x))
    assert pred.shape == val_y.shape and torch.isfinite(pred).all()
