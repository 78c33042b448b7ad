# _transform.py: h5prep.transform (a YAML recipe run by libh5prep into an output directory) and
# h5prep.info (the datasets of one HDF5/netCDF-4 file).
import ctypes
import os
from dataclasses import dataclass, field

from . import _lib
from ._lib import INFO_FN, TransformReport, lib
from ._stats import _config


@dataclass
class Report:
    """What a transform did: its output directory, backend, samples per split, bytes and time."""
    out_dir: str
    backend: str
    notice: str
    passes: int  # 1: read, normalized, cast and written at once; 2: staged between (staged_why says why)
    staged_why: str
    staged_in_memory: bool
    samples: int
    splits: dict = field(default_factory=dict)  # split name -> rows
    bytes_read: int = 0
    bytes_written: int = 0
    seconds: float = 0.0

    def open(self):
        """The output directory as an h5prep.Dataset."""
        from .dataset import open as open_dataset
        return open_dataset(self.out_dir)


def transform(recipe, out=None, inputs=None, overwrite=False, backend="auto", threads=0, mem=None, stage_mem=None,
              device=0, progress=None, two_passes=False):
    """Runs the recipe (a YAML file; paths in it are relative to the working directory).

    out: the output directory (replaces the recipe's write.dir). inputs: a glob or list of globs
    replacing the files of the recipe's first input. overwrite: replace an existing output
    directory (a transform's) once the new one is complete. stage_mem: bytes of memory the outputs
    may wait in between the passes (default: half the free memory). two_passes: stage every row and
    write in a second pass even where one pass would do. progress: as for stats().
    Returns a Report; report.open() opens the output. Raises h5prep.Error; Ctrl-C stops the run,
    removes the partial output and raises KeyboardInterrupt."""
    cfg = lib.h5prep_transform_config_default()
    cfg.engine = _config(None, 0, backend, False, threads, mem, None, device)
    hook = _lib.ProgressHook(progress) if progress else None
    if hook:
        cfg.engine.progress = hook.c
    keep = []
    if out is not None:
        keep.append(os.fsencode(out))
        cfg.out_dir = keep[-1]
    if inputs is not None:
        if isinstance(inputs, (str, os.PathLike)):
            inputs = [inputs]
        arr = (ctypes.c_char_p * len(inputs))(*[os.fsencode(i) for i in inputs])
        keep.append(arr)
        cfg.inputs = ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p))
        cfg.ninputs = len(inputs)
    cfg.overwrite = 1 if overwrite else 0
    cfg.two_passes = 1 if two_passes else 0
    if stage_mem is not None:
        cfg.stage_mem = int(stage_mem)
    rep = TransformReport()
    _lib.call(lib.h5prep_transform, os.fsencode(recipe), ctypes.byref(cfg), ctypes.byref(rep), progress=hook)
    splits = {rep.split_names[k].value.decode(): int(rep.split_rows[k]) for k in range(rep.nsplits)}
    return Report(out_dir=rep.out_dir.decode(), backend=rep.backend.decode(), notice=rep.notice.decode(),
                  passes=int(rep.passes), staged_why=rep.staged_why.decode(), staged_in_memory=bool(rep.staged_in_memory), samples=int(rep.samples), splits=splits,
                  bytes_read=int(rep.bytes_read), bytes_written=int(rep.bytes_written), seconds=float(rep.seconds))


def info(path):
    """The datasets of HDF5/netCDF-4 files: a list of dicts {file, path, shape, dtype, chunks (None
    when contiguous), filters, cf, dims (each axis's netCDF-4 dimension name, None where none)}.
    `path` is FILE or FILE:DATASET (only that dataset, or the datasets under a group), FILE a path
    or a glob, as `h5prep info` takes it."""
    found = []

    def text(s):
        return s.decode() if s else ""

    def cb(d, _user):
        q = d.contents
        found.append({
            "file": text(q.file),
            "path": text(q.path),
            "shape": tuple(int(q.shape[a]) for a in range(q.rank)),
            "dtype": text(q.dtype),
            "chunks": tuple(int(q.chunk[a]) for a in range(q.chunk_rank)) if q.chunk_rank else None,
            "filters": text(q.filters),
            "cf": text(q.cf),
            "dims": tuple(q.dims[a].decode() if q.dims[a] else None for a in range(q.rank)),
        })

    fn = INFO_FN(cb)
    _lib.check(lib.h5prep_info(os.fsencode(path), fn, None))
    return found
