# _stats.py: statistics through libh5prep: h5prep.stats (a run over FILE:DATASET inputs), load_stats
# and merge (h5prep-stats/1 files), and Accumulator (arrays from memory, h5prep_stats_update).
import ctypes
import os

import numpy as np

from . import _lib
from ._lib import FLAG_CONSTANT, FLAG_EMPTY, KEEP_DEFAULT, Moments, VarView, lib

_MOMENTS = np.dtype([("n", "<i8"), ("missing", "<i8"), ("mean", "<f8"), ("m2", "<f8"), ("min", "<f8"),
                     ("max", "<f8")])
assert _MOMENTS.itemsize == ctypes.sizeof(Moments)


def _keep(keep_axes):
    """keep_axes as (keep_first, keep_count): None for the default (the last axis), "none" or ()
    for one statistic, an int, or consecutive ints (negative count from the end)."""
    if keep_axes is None:
        return KEEP_DEFAULT, 1
    if isinstance(keep_axes, str):
        if keep_axes.strip().lower() == "none":
            return 0, 0
        keep_axes = [int(a) for a in keep_axes.split(",")]
    if isinstance(keep_axes, (int, np.integer)):
        return int(keep_axes), 1
    axes = [int(a) for a in keep_axes]
    if not axes:
        return 0, 0
    if any(b != a + 1 for a, b in zip(axes, axes[1:])):
        raise ValueError(f"keep_axes {axes}: kept axes must be consecutive and increasing")
    return axes[0], len(axes)


def _config(keep_axes=None, ddof=0, backend="auto", raw=False, threads=0, mem=None, slots=None, device=0):
    c = lib.h5prep_stats_config_default()
    c.keep_first, c.keep_count = _keep(keep_axes)
    c.ddof = int(ddof)
    c.raw = 1 if raw else 0
    c.threads = int(threads)
    c.device = int(device)
    if mem is not None:
        c.mem_bytes = int(mem)
    if slots is not None:
        c.slots = int(slots)
    if backend not in _lib.BACKENDS:
        raise ValueError(f"backend {backend!r}: one of {', '.join(_lib.BACKENDS)}")
    c.backend = _lib.BACKENDS[backend]
    return c


class VariableStats:
    """The statistics of one variable. Arrays are shaped by feature_shape: count and missing
    (int64), mean, std, var, min, max, m2 (float64; mean/min/max NaN where count is 0, var/std NaN
    where count <= ddof) and flags (uint8: 1 constant or undefined variance, 2 no values; divide by
    std only where flags == 0). sklearn-style: mean_, var_, scale_ (std, 1 where flags != 0, so
    that (x - mean_) / scale_ never divides by zero) and n_samples_seen_ (count)."""

    def __init__(self, view, ddof):
        self.name = view.name.decode()
        self.shape = tuple(int(view.shape[a]) for a in range(view.rank))
        self.keep_axes = tuple(range(view.keep_first, view.keep_first + view.keep_count))
        self.feature_shape = tuple(int(view.feature_shape[a]) for a in range(view.feature_rank))
        self.ddof = ddof
        self.read_path = view.read_path.decode() if view.read_path else None
        nf = int(view.n_features)
        raw = ctypes.string_at(ctypes.cast(view.moments, ctypes.c_void_p), nf * _MOMENTS.itemsize)
        m = np.frombuffer(raw, dtype=_MOMENTS).reshape(self.feature_shape)
        n = m["n"]
        empty = n == 0
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(n > ddof, m["m2"] / (n - ddof).astype(np.float64), np.nan)
        self.count = n.copy()
        self.missing = m["missing"].copy()
        self.mean = np.where(empty, np.nan, m["mean"])
        self.m2 = m["m2"].copy()
        self.min = np.where(empty, np.nan, m["min"])
        self.max = np.where(empty, np.nan, m["max"])
        self.var = var
        self.std = np.sqrt(var)
        # the library's rule (h5prep_moments_flags): EMPTY|CONSTANT when n == 0, CONSTANT unless var > 0
        with np.errstate(invalid="ignore"):
            flags = np.where(var > 0, 0, FLAG_CONSTANT)
        self.flags = np.where(empty, FLAG_EMPTY | FLAG_CONSTANT, flags).astype(np.uint8)

    # sklearn's StandardScaler names
    @property
    def mean_(self):
        return np.where(self.flags & FLAG_EMPTY, 0.0, self.mean)

    @property
    def var_(self):
        return self.var

    @property
    def scale_(self):
        return np.where(self.flags == 0, self.std, 1.0)

    @property
    def n_samples_seen_(self):
        return self.count

    def broadcast_shape(self, rank=None):
        """The shape that broadcasts feature arrays against a sample of the variable (axis 0
        dropped): 1 on every axis but the kept ones. rank: of the samples (default the variable's
        rank minus one)."""
        rank = len(self.shape) - 1 if rank is None else rank
        out = [1] * rank
        for k, a in enumerate(self.keep_axes):
            out[a - 1] = self.feature_shape[k]
        return tuple(out)

    def dims(self):
        """Names of the feature axes: "<variable>_axis<k>" for kept axis k."""
        base = self.name.strip("/").replace("/", "_") or "var"
        return tuple(f"{base}_axis{a}" for a in self.keep_axes)

    def to_xarray(self):
        """An xarray.Dataset of the arrays on the feature axes (dims named by dims())."""
        import xarray as xr
        dims = self.dims()
        data = {k: (dims, getattr(self, k)) for k in
                ("count", "missing", "mean", "std", "var", "min", "max", "m2", "flags")}
        return xr.Dataset(data, attrs={"name": self.name, "shape": list(self.shape),
                                       "keep_axes": list(self.keep_axes), "ddof": self.ddof})

    def __repr__(self):
        return (f"<h5prep.VariableStats {self.name} shape={self.shape} keep_axes={list(self.keep_axes)} "
                f"feature_shape={self.feature_shape}>")


class Stats:
    """Per-variable statistics (a mapping of dataset path to VariableStats), as a run, a load or an
    Accumulator left them. With one variable, its arrays and sklearn attributes are also here
    (s.mean is s["/x"].mean). write(path) writes the h5prep-stats/1 document (.json or .h5)."""

    def __init__(self, handle, ddof, owner=None):
        self._h = handle
        self._owner = owner  # an Accumulator whose handle this is: it frees it, not this object
        self.ddof = ddof
        self.variables = {}
        self._refresh()

    def _refresh(self):
        self.variables = {}
        view = VarView()
        for i in range(lib.h5prep_stats_nvars(self._h)):
            _lib.check(lib.h5prep_stats_var(self._h, i, ctypes.byref(view)))
            v = VariableStats(view, self.ddof)
            self.variables[v.name] = v

    def __del__(self):
        h, self._h = getattr(self, "_h", None), None
        if h and lib is not None and getattr(self, "_owner", None) is None:
            lib.h5prep_stats_destroy(h)

    @property
    def backend(self):
        b = lib.h5prep_stats_backend_name(self._h)
        return b.decode() if b else None

    @property
    def notice(self):
        b = lib.h5prep_stats_backend_notice(self._h)
        return b.decode() if b else None

    def __getitem__(self, name):
        key = name if name.startswith("/") else "/" + name
        try:
            return self.variables[key]
        except KeyError:
            raise KeyError(f"{name}: no such variable (have {', '.join(self.variables) or 'none'})") from None

    def __iter__(self):
        return iter(self.variables)

    def __len__(self):
        return len(self.variables)

    def __contains__(self, name):
        return (name if name.startswith("/") else "/" + name) in self.variables

    def keys(self):
        return self.variables.keys()

    def items(self):
        return self.variables.items()

    def _only(self, attr):
        if len(self.variables) != 1:
            raise AttributeError(f"{attr}: these statistics hold {len(self.variables)} variables "
                                 f"({', '.join(self.variables)}); pick one with stats[name].{attr}")
        return next(iter(self.variables.values()))

    def __getattr__(self, attr):
        if attr.startswith("__") or attr in ("_h", "_owner", "variables", "ddof"):
            raise AttributeError(attr)
        if attr in ("count", "missing", "mean", "std", "var", "min", "max", "m2", "flags", "mean_", "var_",
                    "scale_", "n_samples_seen_", "shape", "keep_axes", "feature_shape", "name"):
            return getattr(self._only(attr), attr)
        raise AttributeError(attr)

    def json(self):
        """The h5prep-stats/1 document as a string."""
        return _lib.take_string(lib.h5prep_stats_json(self._h))

    def write(self, path):
        """Writes the document; the format follows the extension (.json, .h5/.hdf5/.nc)."""
        _lib.check(lib.h5prep_stats_write(self._h, os.fsencode(path)))

    def to_xarray(self):
        """One xarray.Dataset with every variable's arrays, named "<variable>_<field>"."""
        import xarray as xr
        out = xr.Dataset()
        for v in self.variables.values():
            base = v.name.strip("/").replace("/", "_")
            for k, da in v.to_xarray().data_vars.items():
                out[f"{base}_{k}"] = da
        out.attrs["ddof"] = self.ddof
        return out

    def __repr__(self):
        return f"<h5prep.Stats {len(self.variables)} variable(s): {', '.join(self.variables)}>"


def _create(cfg):
    h = lib.h5prep_stats_create(ctypes.byref(cfg))
    if not h:
        raise MemoryError("h5prep: out of memory")
    return h


def stats(inputs, keep_axes=None, ddof=0, backend="auto", raw=False, threads=0, mem=None, slots=None, device=0,
          progress=None, out=None):
    """Streams every input once and returns its Stats.

    inputs: "FILE:DATASET" (FILE may be a glob) or a list of them; the same dataset in several
    files is one variable joined along axis 0. keep_axes: the axes kept as features (None: the
    last; "none" or (): one statistic). ddof: var = m2 / (count - ddof). backend: "auto", "cpu",
    "cuda". raw: no CF decoding. mem: staging bytes. progress: a callable given a dict
    {rows_done, rows_total, bytes_done, bytes_total, seconds} after each slab (e.g. to update a
    tqdm bar; see h5prep.tqdm_progress). out: also write the document there.
    Raises h5prep.Error (status and message); Ctrl-C stops the run and raises KeyboardInterrupt."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    cfg = _config(keep_axes, ddof, backend, raw, threads, mem, slots, device)
    hook = _lib.ProgressHook(progress) if progress else None
    if hook:
        cfg.progress = hook.c

    def fill(h):
        for arg in inputs:
            _lib.check(lib.h5prep_stats_add(h, os.fsencode(arg)))
        _lib.call(lib.h5prep_stats_run, h, progress=hook)

    return _filled(cfg, fill, ddof, out)


def load_stats(path, ddof=0):
    """A statistics file (.json or .h5, h5prep-stats/1) as Stats; var/std/flags use ddof."""
    return merge([path], ddof=ddof)


def merge(paths, ddof=0, out=None):
    """Statistics files merged exactly (Chan et al.): variables of the same name are combined,
    others added. out: also write the merged document there."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]

    def fill(h):
        for p in paths:
            _lib.check(lib.h5prep_stats_load(h, os.fsencode(p)))

    return _filled(_config(ddof=ddof), fill, ddof, out)


def _filled(cfg, fill, ddof, out):
    """Stats of a new handle that fill(handle) filled (the handle is freed if it raises);
    out: also written there."""
    h = _create(cfg)
    try:
        fill(h)
    except BaseException:
        lib.h5prep_stats_destroy(h)
        raise
    s = Stats(h, int(ddof))
    if out is not None:
        s.write(out)
    return s


_DTYPES = {"int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"}


def _as_array(x):
    """numpy view of x: a numpy array, a torch tensor (through DLPack, or .numpy() after moving it
    to the CPU), or anything np.asarray takes; C-contiguous, native byte order, a type the
    library reads (float16 and bool are widened)."""
    if not isinstance(x, np.ndarray):
        mod = type(x).__module__
        if mod.startswith("torch"):
            t = x.detach()
            if t.device.type != "cpu":
                t = t.cpu()
            if str(t.dtype) in ("torch.bfloat16", "torch.float16", "torch.bool"):
                t = t.float()
            try:
                x = np.from_dlpack(t)
            except (AttributeError, TypeError, RuntimeError, BufferError):
                x = t.numpy()
        else:
            x = np.asarray(x)
    if x.dtype.name in ("float16", "bool"):
        x = x.astype(np.float32)
    if x.dtype.name not in _DTYPES:
        raise TypeError(f"h5prep: arrays of {x.dtype} cannot be accumulated; one of {', '.join(sorted(_DTYPES))}")
    if not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    return np.ascontiguousarray(x)


class Accumulator:
    """Statistics of arrays from memory, batch by batch (h5prep_stats_update: the CPU kernels and
    the merge of a file run, so the results equal a run over the same values). Axis 0 of each
    batch is its rows; the other axes must match between batches of one name.

        acc = h5prep.Accumulator(keep_axes=-1)
        for batch in stream:
            acc.update("/x", batch)          # numpy array or torch tensor
        s = acc.stats()                       # Stats; acc.write("stats.json")

    resume: a statistics file to continue from."""

    def __init__(self, keep_axes=None, ddof=0, threads=0, resume=None):
        self.ddof = int(ddof)
        self._h = _create(_config(keep_axes, ddof, "cpu", False, threads))
        if resume is not None:
            _lib.check(lib.h5prep_stats_load(self._h, os.fsencode(resume)))

    def __del__(self):
        h, self._h = getattr(self, "_h", None), None
        if h and lib is not None:
            lib.h5prep_stats_destroy(h)

    def update(self, name, batch):
        """Folds one batch (rows along axis 0) of variable `name` into the statistics."""
        a = _as_array(batch)
        if a.ndim == 0:
            a = a.reshape(1)
        shape = (ctypes.c_uint64 * max(a.ndim, 1))(*a.shape)
        _lib.check(lib.h5prep_stats_update(self._h, name.encode(), a.ctypes.data_as(ctypes.c_void_p),
                                           a.dtype.name.encode(), a.ndim, shape))
        return self

    def stats(self):
        """The statistics so far as Stats (its arrays are a copy: later updates do not change
        them)."""
        return Stats(self._h, self.ddof, owner=self)

    def write(self, path):
        """Writes the h5prep-stats/1 document of the statistics so far (.json or .h5)."""
        _lib.check(lib.h5prep_stats_write(self._h, os.fsencode(path)))

    def __getitem__(self, name):
        return self.stats()[name]
