# dataset.py: a transform's output directory read back (h5prep.open): index.json's splits, outputs,
# shapes, dtypes and .npy shards, as numpy, dask and xarray views; h5prep.torch builds on it.
import bisect
import builtins
import json
import os

import numpy as np

FORMAT = "h5prep-dataset/1"


class Output:
    """One output of one split: name, shape (rows first), dtype ("float32", ..., "bfloat16"),
    stored_as (the numpy type on disk: uint16 for bfloat16), its .npy shards [(path, row0, rows)]
    and the split's HDF5 file (or None)."""

    def __init__(self, root, name, entry, hdf5):
        self.name = name
        self.shape = tuple(int(d) for d in entry["shape"])
        self.dtype = entry["dtype"]
        self.stored_as = entry.get("stored_as", self.dtype)
        self.shards = [(os.path.join(root, s["path"]), int(s["row0"]), int(s["rows"])) for s in entry.get("npy", [])]
        self.hdf5 = os.path.join(root, hdf5) if hdf5 else None
        self._starts = [s[1] for s in self.shards]

    @property
    def sample_shape(self):
        return self.shape[1:]

    @property
    def nbytes_per_sample(self):
        return int(np.prod(self.sample_shape, dtype=np.int64)) * np.dtype(self.stored_as).itemsize

    def __repr__(self):
        return f"<h5prep.Output {self.name} {self.shape} {self.dtype}>"


class ShardedArray:
    """The .npy shards of one output as one read-only array of `shape` (rows joined), memory-mapped:
    indexing with an int, a slice or an integer array reads only those rows. np.asarray(a) reads
    all of it. Values as stored (bfloat16 as uint16 bit patterns)."""

    def __init__(self, out):
        self.out = out
        self.shape = out.shape
        self.dtype = np.dtype(out.stored_as)
        self._maps = [None] * len(out.shards)
        self._pid = None

    def __getstate__(self):  # memory maps are opened again in each process
        return {"out": self.out, "shape": self.shape, "dtype": self.dtype}

    def __setstate__(self, st):
        self.__dict__.update(st)
        self._maps = [None] * len(self.out.shards)
        self._pid = None

    def _map(self, k):
        if self._pid != os.getpid():
            self._maps = [None] * len(self.out.shards)
            self._pid = os.getpid()
        m = self._maps[k]
        if m is None:
            m = self._maps[k] = np.load(self.out.shards[k][0], mmap_mode="r")
        return m

    def __len__(self):
        return self.shape[0]

    @property
    def ndim(self):
        return len(self.shape)

    def _shard_of(self, row):
        return bisect.bisect_right(self.out._starts, row) - 1

    def _slice(self, start, stop):
        parts = []
        row = start
        while row < stop:
            k = self._shard_of(row)
            _, row0, rows = self.out.shards[k]
            end = min(stop, row0 + rows)
            parts.append(self._map(k)[row - row0:end - row0])
            row = end
        if not parts:
            return np.empty((0,) + self.shape[1:], self.dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def take(self, rows):
        """Rows `rows` (integer array, any order, repeats allowed) as a new array: a slice when they
        are consecutive, else one gather per shard."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        n = self.shape[0]
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            rows = np.where(rows < 0, rows + n, rows)
            if rows.min() < 0 or rows.max() >= n:
                raise IndexError(f"{self.out.name}: row index out of range for {n} rows")
        if rows.size == 0:
            return np.empty((0,) + self.shape[1:], self.dtype)
        if rows.size == 1 or np.all(np.diff(rows) == 1):
            return np.array(self._slice(int(rows[0]), int(rows[-1]) + 1))
        out = np.empty((rows.size,) + self.shape[1:], self.dtype)
        shard = np.searchsorted(np.asarray(self.out._starts), rows, side="right") - 1
        for k in np.unique(shard):
            sel = np.nonzero(shard == k)[0]
            local = rows[sel] - self.out.shards[k][1]
            order = np.argsort(local, kind="stable")  # read the mapping forwards
            out[sel[order]] = self._map(int(k))[local[order]]
        return out

    def __getitem__(self, idx):
        rest = ()
        if isinstance(idx, tuple):
            idx, rest = idx[0], idx[1:]
        keep_axis0 = True
        if isinstance(idx, (int, np.integer)):
            keep_axis0 = False
            i = int(idx) + (self.shape[0] if idx < 0 else 0)
            if not 0 <= i < self.shape[0]:
                raise IndexError(f"{self.out.name}: row {idx} out of range for {self.shape[0]} rows")
            k = self._shard_of(i)
            r = self._map(k)[i - self.out.shards[k][1]]
        elif isinstance(idx, slice):
            start, stop, step = idx.indices(self.shape[0])
            r = self._slice(start, max(start, stop)) if step == 1 else self.take(np.arange(start, stop, step))
        else:
            r = self.take(idx)
        if not rest:
            return r
        return r[(slice(None),) + rest] if keep_axis0 else r[rest]

    def __array__(self, dtype=None, copy=None):
        a = np.asarray(self._slice(0, self.shape[0]))
        return a.astype(dtype) if dtype is not None else a

    def __repr__(self):
        return f"<h5prep.ShardedArray {self.out.name} {self.shape} {self.dtype} in {len(self.out.shards)} shard(s)>"


class Split:
    """One split of an output directory: name, rows, outputs {name: Output}."""

    def __init__(self, root, name, entry, described=None):
        self.root = root
        self.name = name
        self.described = described or {}
        self.rows = int(entry["rows"])
        self.hdf5 = entry.get("hdf5")
        self.outputs = {k: Output(root, k, v, self.hdf5) for k, v in entry["outputs"].items()}

    def __len__(self):
        return self.rows

    def __getitem__(self, name):
        return self.outputs[name]

    def _names(self, outputs):
        if outputs is None:
            return list(self.outputs)
        if isinstance(outputs, str):
            outputs = [outputs]
        for o in outputs:
            if o not in self.outputs:
                raise KeyError(f"{self.root}: split {self.name} has no output {o!r} (have {', '.join(self.outputs)})")
        return list(outputs)

    def _source(self, source):
        if source is None:
            has_npy = all(o.shards for o in self.outputs.values())
            source = "npy" if has_npy else "hdf5"
        if source == "npy" and not all(o.shards for o in self.outputs.values()):
            raise ValueError(f"{self.root}: split {self.name} has no .npy shards (write: npy was off)")
        if source == "hdf5" and not self.hdf5:
            raise ValueError(f"{self.root}: split {self.name} has no HDF5 file (write: hdf5 was off)")
        if source not in ("npy", "hdf5"):
            raise ValueError(f"source {source!r}: 'npy' or 'hdf5'")
        return source

    def numpy(self, outputs=None, source=None):
        """{name: array}: memory-mapped .npy shards (ShardedArray; a single shard is the np.memmap
        itself), or with source="hdf5" h5py datasets of the split's file. Values as stored."""
        names = self._names(outputs)
        source = self._source(source)
        if source == "hdf5":
            import h5py
            f = h5py.File(os.path.join(self.root, self.hdf5), "r")
            return {n: f[n] for n in names}
        out = {}
        for n in names:
            o = self.outputs[n]
            out[n] = np.load(o.shards[0][0], mmap_mode="r") if len(o.shards) == 1 else ShardedArray(o)
        return out

    def dask(self, outputs=None, chunk_rows=None):
        """{name: dask array} over the .npy shards (one chunk per shard, or chunk_rows rows)."""
        import dask.array as da
        names = self._names(outputs)
        self._source("npy")
        out = {}
        for n in names:
            o = self.outputs[n]
            parts = []
            for path, _row0, rows in o.shards:
                m = np.load(path, mmap_mode="r")
                parts.append(da.from_array(m, chunks=(chunk_rows or max(rows, 1),) + m.shape[1:], asarray=False))
            out[n] = da.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
        return out

    def xarray(self, outputs=None):
        """An xarray.Dataset: the axis names index.json gives each output ("sample", then the
        inputs' dimension names where the output keeps them, else "<output>_dim<k>"), units and
        long_name where it has them, the channel labels as the coordinate of their axis; lazy
        (dask) when dask is installed."""
        import xarray as xr
        names = self._names(outputs)
        try:
            arrays = self.dask(names)
        except ImportError:
            arrays = {n: np.asarray(a) for n, a in self.numpy(names, source="npy").items()}
        data, coords = {}, {}
        for n in names:
            o = self.outputs[n]
            meta = self.described.get(n, {})
            dims = tuple(meta.get("dims") or ("sample",) + tuple(f"{n}_dim{k}" for k in range(1, len(o.shape))))
            attrs = {"h5prep_dtype": o.dtype}
            attrs.update({k: meta[k] for k in ("units", "long_name") if k in meta})
            if "normalize" in meta:
                attrs["h5prep_normalize"] = json.dumps(meta["normalize"])
            data[n] = xr.Variable(dims, arrays[n], attrs=attrs)
            channels = meta.get("channels", {})
            if "labels" in channels:
                coords[dims[channels["axis"]]] = channels["labels"]
        return xr.Dataset(data, coords=coords, attrs={"split": self.name})

    def torch(self, outputs=None, source=None, as_dict=False, transform=None):
        """A map-style torch Dataset over the split (see h5prep.torch.SplitDataset)."""
        from .torch import SplitDataset
        return SplitDataset(self, outputs=outputs, source=source, as_dict=as_dict, transform=transform)

    def __repr__(self):
        outs = ", ".join(f"{k} {v.shape} {v.dtype}" for k, v in self.outputs.items())
        return f"<h5prep.Split {self.name}: {self.rows} rows; {outs}>"


class Dataset:
    """A transform's output directory: splits {name: Split}, index (index.json as a dict),
    stats_path (its stats.json, or None)."""

    def __init__(self, root):
        self.root = os.fspath(root)
        path = os.path.join(self.root, "index.json")
        try:
            with builtins.open(path) as f:
                self.index = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no index.json; is {self.root} the output directory of "
                                    f"'h5prep transform'?") from None
        if self.index.get("format") != FORMAT:
            raise ValueError(f"{path}: format {self.index.get('format')!r}, expected {FORMAT!r}")
        described = self.index.get("outputs", {})
        self.splits = {k: Split(self.root, k, v, described) for k, v in self.index["splits"].items()}
        st = self.index.get("stats")
        self.stats_path = os.path.join(self.root, st) if st else None

    def __getitem__(self, split):
        try:
            return self.splits[split]
        except KeyError:
            raise KeyError(f"{self.root}: no split {split!r} (have {', '.join(self.splits)})") from None

    def __iter__(self):
        return iter(self.splits)

    def __len__(self):
        return len(self.splits)

    def keys(self):
        return self.splits.keys()

    def stats(self):
        """The run's statistics (stats.json) as h5prep.Stats."""
        from ._stats import load_stats
        if not self.stats_path:
            raise FileNotFoundError(f"{self.root}: index.json names no statistics file")
        return load_stats(self.stats_path)

    def __repr__(self):
        return f"<h5prep.Dataset {self.root}: " + ", ".join(f"{k} {v.rows}" for k, v in self.splits.items()) + ">"


def open(path):  # noqa: A001 - h5prep.open, like xarray.open_dataset
    """The output directory of a transform (its index.json) as a Dataset."""
    return Dataset(path)
