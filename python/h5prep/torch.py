# torch.py: h5prep for PyTorch: Normalize (mean and scale from a statistics file as module buffers,
# broadcast by the variable's kept axes) and SplitDataset (a map-style Dataset over a transform's
# output, batched reads through __getitems__, safe with DataLoader workers).
import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ._lib import FLAG_CONSTANT, FLAG_EMPTY
from ._stats import Stats, load_stats

__all__ = ["Normalize", "SplitDataset", "Batch", "collate"]


class Normalize(nn.Module):
    """y = (x - mean) / scale, with mean and scale buffers shaped to broadcast against samples
    (and batches of samples) of a variable: its kept axes carry the features, the others are 1.
    inverse(y) = y * scale + mean. Build it with from_stats."""

    def __init__(self, mean, scale, name=None, method="zscore"):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean))
        self.register_buffer("scale", torch.as_tensor(scale))
        self.name = name
        self.method = method

    @classmethod
    def from_stats(cls, stats, name, method="zscore", dtype=torch.float32, ddof=0):
        """stats: a statistics file (.json/.h5, e.g. a transform's stats.json) or h5prep.Stats;
        name: the variable ("/x"). method "zscore": mean and std (with ddof), "minmax": min and
        max - min. Zero-safe by flags: a feature with no values is left as it is (shift 0, scale 1)
        and one with zero spread is shifted and divided by 1, as the transform does."""
        if not isinstance(stats, Stats):
            stats = load_stats(os.fspath(stats), ddof=ddof)
        v = stats[name]
        flags = v.flags
        empty = (flags & FLAG_EMPTY) != 0
        if method == "zscore":
            shift = np.where(empty, 0.0, v.mean)
            scale = np.where((flags & FLAG_CONSTANT) == 0, v.std, 1.0)
        elif method == "minmax":
            shift = np.where(empty, 0.0, v.min)
            rng = v.max - v.min
            with np.errstate(invalid="ignore"):
                ok = ~empty & np.isfinite(rng) & (rng > 0)
            scale = np.where(ok, rng, 1.0)
        else:
            raise ValueError(f"method {method!r}: 'zscore' or 'minmax'")
        shape = v.broadcast_shape()
        mean = torch.as_tensor(shift.reshape(shape), dtype=dtype)
        sc = torch.as_tensor(scale.reshape(shape), dtype=dtype)
        return cls(mean, sc, name=v.name, method=method)

    def forward(self, x):
        return (x - self.mean) / self.scale

    def inverse(self, y):
        return y * self.scale + self.mean

    def extra_repr(self):
        return f"name={self.name!r}, method={self.method!r}, shape={tuple(self.mean.shape)}"


class Batch(Sequence):
    """What SplitDataset.__getitems__ returns: the batch as read (`tensors`: a tuple or dict of
    tensors with the batch axis first), also a sequence of its samples (views, made when asked
    for) so that DataLoader's default collate stacks them; collate returns `tensors` as they are."""

    def __init__(self, tensors, n):
        self.tensors = tensors
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, j):
        if isinstance(j, slice):
            return [self[k] for k in range(*j.indices(self.n))]
        if not -self.n <= j < self.n:
            raise IndexError(j)
        if isinstance(self.tensors, dict):
            return {k: v[j] for k, v in self.tensors.items()}
        return tuple(t[j] for t in self.tensors)


def collate(batch):
    """A DataLoader collate_fn for SplitDataset: the batch as read (no second copy); other
    batches go to torch's default_collate."""
    if isinstance(batch, Batch):
        return batch.tensors
    return torch.utils.data.default_collate(batch)


def _to_tensor(a, dtype_name):
    t = torch.from_numpy(np.ascontiguousarray(a))
    if dtype_name == "bfloat16":
        t = t.view(torch.bfloat16)
    return t


class SplitDataset(torch.utils.data.Dataset):
    """A map-style Dataset over one split of a transform's output: item i is a tuple of tensors
    (one per output, in the order of `outputs`; a dict with as_dict=True), bfloat16 outputs as
    torch.bfloat16. source "npy" reads the memory-mapped shards, "hdf5" the split's HDF5 file,
    opened lazily in each process (DataLoader workers included). __getitems__ reads a whole batch
    at once (one gather per shard); pass collate_fn=h5prep.torch.collate to skip the stacking
    copy. transform: applied to each batch's tuple/dict (e.g. a Normalize)."""

    def __init__(self, split, outputs=None, source=None, as_dict=False, transform=None):
        self.names = split._names(outputs)
        self.source = split._source(source)
        self.rows = split.rows
        self.as_dict = as_dict
        self.transform = transform
        self.outs = [split.outputs[n] for n in self.names]
        self.h5_path = os.path.join(split.root, split.hdf5) if split.hdf5 else None
        self._arrays = None
        self._pid = None

    def __getstate__(self):
        st = dict(self.__dict__)
        st["_arrays"], st["_pid"] = None, None  # opened again in each worker
        return st

    def _open(self):
        if self._pid == os.getpid() and self._arrays is not None:
            return self._arrays
        if self.source == "hdf5":
            import h5py
            f = h5py.File(self.h5_path, "r")
            self._h5 = f
            self._arrays = [f[n] for n in self.names]
        else:
            from .dataset import ShardedArray
            self._arrays = [ShardedArray(o) for o in self.outs]
        self._pid = os.getpid()
        return self._arrays

    def __len__(self):
        return self.rows

    def _pack(self, tensors):
        if self.as_dict:
            tensors = dict(zip(self.names, tensors))
        else:
            tensors = tuple(tensors)
        return self.transform(tensors) if self.transform is not None else tensors

    def _read(self, arr, rows):
        if self.source == "npy":
            return arr.take(rows)
        # h5py: increasing unique indices, or a slice when consecutive
        if rows.size and np.all(np.diff(rows) == 1):
            return arr[int(rows[0]):int(rows[-1]) + 1]
        uniq, inv = np.unique(rows, return_inverse=True)
        return arr[uniq][inv]

    def __getitem__(self, i):
        if isinstance(i, (list, tuple, np.ndarray, torch.Tensor)):
            return self.__getitems__(i).tensors
        i = int(i)
        if i < 0:
            i += self.rows
        if not 0 <= i < self.rows:
            raise IndexError(f"row {i} out of range for {self.rows} rows")
        arrays = self._open()
        rows = np.array([i], dtype=np.int64)
        return self._pack([_to_tensor(self._read(a, rows)[0], o.dtype) for a, o in zip(arrays, self.outs)])

    def __getitems__(self, indices):
        rows = np.asarray(indices, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < -self.rows or rows.max() >= self.rows):
            raise IndexError(f"row index out of range for {self.rows} rows")
        rows = np.where(rows < 0, rows + self.rows, rows)
        arrays = self._open()
        tensors = [_to_tensor(self._read(a, rows), o.dtype) for a, o in zip(arrays, self.outs)]
        return Batch(self._pack(tensors), int(rows.size))
