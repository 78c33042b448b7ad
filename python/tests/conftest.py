# conftest.py: shared fixtures of the Python package's tests: generated HDF5 inputs and one
# transform of data/recipes/pointcloud.yaml (small shards, a bfloat16 variant) for the loader tests.
import os
import re

import h5py
import numpy as np
import pytest

import h5prep

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
POINTS = 20000


def pointcloud_recipe(dst, shard_rows=3000, cast=None):
    """data/recipes/pointcloud.yaml with smaller shards (several per split) and, with cast, every
    output cast to it; written to dst."""
    with open(os.path.join(REPO, "data", "recipes", "pointcloud.yaml")) as f:
        text = f.read()
    text = re.sub(r"shard_rows: \d+", f"shard_rows: {shard_rows}", text)
    text = text.replace("group_by: {rows: 4096}", "group_by: {rows: 1000}")
    if cast:
        text = text.replace("    normalize: zscore\n", f"    normalize: zscore\n    cast: {cast}\n")
    with open(dst, "w") as f:
        f.write(text)
    return dst


@pytest.fixture(scope="session")
def points(tmp_path_factory):
    """points.h5 with /points (N, 5): x, y, sdf and targets u = 0.5 x + sdf, v = y - x (+ noise)."""
    d = tmp_path_factory.mktemp("points")
    rng = np.random.default_rng(0)
    p = rng.normal(size=(POINTS, 5)).astype("f4")
    p[:, 3] = 0.5 * p[:, 0] + p[:, 2] + 0.05 * p[:, 3]
    p[:, 4] = p[:, 1] - p[:, 0] + 0.05 * p[:, 4]
    path = d / "points.h5"
    with h5py.File(path, "w") as f:
        f["points"] = p
    return path, p


@pytest.fixture(scope="session")
def pointcloud(points, tmp_path_factory):
    """The transform's output directory (npy shards of 3000 rows and HDF5), float32."""
    d = tmp_path_factory.mktemp("pc")
    recipe = pointcloud_recipe(d / "pointcloud.yaml")
    rep = h5prep.transform(str(recipe), out=str(d / "pointcloud"), inputs=[str(points[0])])
    return rep


@pytest.fixture(scope="session")
def pointcloud_bf16(points, tmp_path_factory):
    d = tmp_path_factory.mktemp("pcbf")
    recipe = pointcloud_recipe(d / "pointcloud.yaml", cast="bfloat16")
    return h5prep.transform(str(recipe), out=str(d / "pointcloud"), inputs=[str(points[0])])
