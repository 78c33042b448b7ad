# h5prep: the Python package of h5prep: libh5prep (streaming statistics, recipe transforms) through
# ctypes, statistics of arrays from memory, and readers of a transform's output for numpy/torch.
"""h5prep: normalization statistics and model-ready tensors from HDF5/netCDF-4.

    s = h5prep.stats("data/*.nc:/T", keep_axes=-1)          # Stats: s.mean, s.std, s.flags ...
    h5prep.transform("recipe.yaml", out="prep")              # Report
    ds = h5prep.open("prep"); ds["train"].torch(outputs=["x", "y"])
    norm = h5prep.torch.Normalize.from_stats("prep/stats.json", "/x")

h5prep.torch is imported on first use (it needs torch)."""
from ._lib import Error, Interrupted, lib as _clib
from ._stats import Accumulator, Stats, VariableStats, load_stats, merge, stats
from ._transform import Report, info, transform
from .dataset import Dataset, ShardedArray, Split, open

__version__ = _clib.h5prep_version().decode()
__all__ = ["Accumulator", "Dataset", "Error", "Interrupted", "Report", "ShardedArray", "Split", "Stats",
           "VariableStats", "info", "load_stats", "merge", "open", "stats", "tqdm_progress", "transform"]


def tqdm_progress(**tqdm_args):
    """A progress callback for stats()/transform() that drives a tqdm bar over the rows; close it
    with .close() (or use it as a context manager)."""
    from tqdm import tqdm

    class _Bar:
        def __init__(self):
            self.bar = tqdm(unit="rows", **tqdm_args)

        def __call__(self, p):
            if self.bar.total != p["rows_total"]:
                self.bar.total = p["rows_total"]
            self.bar.update(p["rows_done"] - self.bar.n)

        def close(self):
            self.bar.close()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

    return _Bar()


def __getattr__(name):
    if name == "torch":
        import importlib
        return importlib.import_module(".torch", __name__)
    raise AttributeError(f"module 'h5prep' has no attribute {name!r}")
