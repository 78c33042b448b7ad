# _lib.py: libh5prep.so loaded with ctypes, and the structures and functions of include/h5prep.h
# declared for it; the rest of the package calls the library only through `lib` and `call`.
import ctypes
import os
import signal
import threading
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_int, c_int64, c_size_t,
                    c_uint, c_uint64, c_void_p)

MAX_RANK = 32
MAX_SPLITS = 8
MAX_SPLIT_NAME = 63
KEEP_DEFAULT = -1000
STAGE_MEM_AUTO = ctypes.c_size_t(-1).value
FLAG_CONSTANT = 1
FLAG_EMPTY = 2

# h5prep_status (stable; the CLI's exit codes)
STATUS_NAMES = {
    0: "OK", 1: "ERR_INTERNAL", 2: "ERR_USAGE", 3: "ERR_FILE_NOT_FOUND", 4: "ERR_NOT_HDF5", 5: "ERR_CORRUPT",
    6: "ERR_NO_DATASET", 7: "ERR_NOT_DATASET", 8: "ERR_DTYPE", 9: "ERR_SHAPE", 10: "ERR_EMPTY", 11: "ERR_AXES",
    12: "ERR_OUTPUT", 13: "ERR_NOMEM", 14: "ERR_BACKEND", 15: "ERR_STATE", 16: "ERR_INTERRUPTED",
}
OK = 0
ERR_USAGE = 2
ERR_INTERRUPTED = 16

BACKENDS = {"auto": 0, "cpu": 1, "cuda": 2}


class Progress(Structure):
    _fields_ = [("rows_done", c_uint64), ("rows_total", c_uint64), ("bytes_done", c_uint64),
                ("bytes_total", c_uint64), ("seconds", c_double)]


PROGRESS_FN = CFUNCTYPE(None, POINTER(Progress), c_void_p)


class StatsConfig(Structure):
    _fields_ = [("keep_first", c_int), ("keep_count", c_int), ("ddof", c_int), ("raw", c_int),
                ("mem_bytes", c_size_t), ("slots", c_int), ("threads", c_int), ("backend", c_int),
                ("device", c_int), ("progress", PROGRESS_FN), ("progress_user", c_void_p),
                # the quantile sketch (include/h5prep.h): the C layout, not yet used from Python
                ("quantiles", POINTER(c_double)), ("nquantiles", c_size_t), ("histogram_bins", c_int),
                ("sketch_alpha", c_double), ("sketch_buckets", c_int)]


class Moments(Structure):
    _fields_ = [("n", c_int64), ("missing", c_int64), ("mean", c_double), ("m2", c_double), ("min", c_double),
                ("max", c_double)]


class VarView(Structure):
    _fields_ = [("name", c_char_p), ("rank", c_int), ("shape", c_uint64 * MAX_RANK), ("keep_first", c_int),
                ("keep_count", c_int), ("feature_rank", c_int), ("feature_shape", c_uint64 * MAX_RANK),
                ("n_features", c_uint64), ("moments", POINTER(Moments)), ("read_path", c_char_p),
                ("ntendencies", c_int), ("tendency_lags", POINTER(c_int)), ("tendencies", POINTER(Moments))]


class TransformConfig(Structure):
    _fields_ = [("engine", StatsConfig), ("out_dir", c_char_p), ("inputs", POINTER(c_char_p)),
                ("ninputs", c_size_t), ("overwrite", c_int), ("stage_mem", c_size_t), ("two_passes", c_int)]


class TransformReport(Structure):
    _fields_ = [("out_dir", c_char * 4096), ("backend", c_char * 16), ("notice", c_char * 256),
                ("passes", c_int), ("staged_why", c_char * 128), ("staged_in_memory", c_int), ("samples", c_uint64), ("split_rows", c_uint64 * MAX_SPLITS),
                ("split_names", (c_char * (MAX_SPLIT_NAME + 1)) * MAX_SPLITS), ("nsplits", c_int),
                ("bytes_read", c_uint64), ("bytes_written", c_uint64), ("seconds", c_double)]


class DatasetInfo(Structure):
    _fields_ = [("path", c_char_p), ("rank", c_int), ("shape", c_uint64 * MAX_RANK), ("dtype", c_char_p),
                ("chunk_rank", c_int), ("chunk", c_uint64 * MAX_RANK), ("filters", c_char_p), ("cf", c_char_p),
                ("file", c_char_p), ("dims", c_char_p * MAX_RANK)]


INFO_FN = CFUNCTYPE(None, POINTER(DatasetInfo), c_void_p)


def _library_path():
    """$H5PREP_LIBRARY, else the libh5prep.so installed inside this package."""
    env = os.environ.get("H5PREP_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("libh5prep.so", "libh5prep.dylib"):
        p = os.path.join(here, name)
        if os.path.exists(p):
            return p
    raise ImportError(f"h5prep: libh5prep.so is not in {here}; install the package with "
                      f"'python3 -m pip install ./python' or set H5PREP_LIBRARY to a built libh5prep.so")


def _declare(lib):
    S = c_void_p  # h5prep_stats * (opaque)
    sigs = {
        "h5prep_version": (c_char_p, []),
        "h5prep_status_str": (c_char_p, [c_int]),
        "h5prep_last_error": (c_char_p, []),
        "h5prep_interrupt": (None, []),
        "h5prep_interrupt_reset": (None, []),
        "h5prep_stats_config_default": (StatsConfig, []),
        "h5prep_stats_create": (S, [POINTER(StatsConfig)]),
        "h5prep_stats_destroy": (None, [S]),
        "h5prep_stats_add": (c_int, [S, c_char_p]),
        "h5prep_stats_run": (c_int, [S]),
        "h5prep_stats_backend_name": (c_char_p, [S]),
        "h5prep_stats_backend_notice": (c_char_p, [S]),
        "h5prep_stats_load": (c_int, [S, c_char_p]),
        "h5prep_stats_write": (c_int, [S, c_char_p]),
        "h5prep_stats_json": (c_void_p, [S]),  # malloc'd char *: freed with libc free
        "h5prep_stats_nvars": (c_size_t, [S]),
        "h5prep_stats_var": (c_int, [S, c_size_t, POINTER(VarView)]),
        "h5prep_moments_variance": (c_double, [POINTER(Moments), c_int]),
        "h5prep_moments_flags": (c_uint, [POINTER(Moments), c_int]),
        "h5prep_transform_config_default": (TransformConfig, []),
        "h5prep_transform": (c_int, [c_char_p, POINTER(TransformConfig), POINTER(TransformReport)]),
        "h5prep_info": (c_int, [c_char_p, INFO_FN, c_void_p]),
        "h5prep_stats_update": (c_int, [S, c_char_p, c_void_p, c_char_p, c_int, POINTER(c_uint64)]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = args


lib = ctypes.CDLL(_library_path())
_declare(lib)
_libc = ctypes.CDLL(None)
_libc.free.argtypes = [c_void_p]
_libc.free.restype = None

_run_lock = threading.Lock()  # one interruptible run at a time: the interrupt request is process-wide


def take_string(ptr):
    """A malloc'd C string as str, freed."""
    if not ptr:
        raise MemoryError("h5prep: out of memory")
    try:
        return ctypes.string_at(ptr).decode()
    finally:
        _libc.free(ptr)


class Error(RuntimeError):
    """A failing call of libh5prep: `status` (int, the CLI's exit code), `status_name`
    ("ERR_NO_DATASET"), and the library's message, which names the file and dataset and may end
    with a line "hint: ..."."""

    def __init__(self, status, message):
        self.status = int(status)
        self.status_name = STATUS_NAMES.get(self.status, str(self.status))
        self.message = message
        super().__init__(f"{message} [{self.status_name}, status {self.status}]")


class Interrupted(Error):
    """A run stopped by h5prep_interrupt() from outside this package: nothing was written."""


def error_for(status, message):
    return (Interrupted if status == ERR_INTERRUPTED else Error)(status, message)


def check(status):
    """Raises the library's error for a status other than OK (in the calling thread)."""
    if status != OK:
        raise error_for(status, lib.h5prep_last_error().decode(errors="replace"))


def call(fn, *args, progress=None):
    """Runs fn(*args) (a long library call returning a status) in a worker thread. On the main
    thread, SIGINT (Ctrl-C) is taken over for the call: it asks the library to stop at the next
    slab (h5prep_interrupt, which leaves no output behind) and, once the call has returned,
    KeyboardInterrupt is raised (or the handler that was there before is called). The wait cannot
    be cut short, so nothing the library still uses (callbacks, configs) is freed under it. The
    error message is read in the worker, where the library keeps it. progress (a ProgressHook)
    is called from the library's computing thread; an exception it raises stops the run and is
    raised here."""
    state = {}

    def work():
        # SIGINT blocked here and so in every thread the library starts from here: Ctrl-C goes to
        # the main thread, never into a library thread's system call (EINTR)
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
        try:
            st = fn(*args)
            state["status"] = st
            if st != OK:
                state["message"] = lib.h5prep_last_error().decode(errors="replace")
        except BaseException as e:  # noqa: BLE001 - carried to the caller's thread
            state["exc"] = e

    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(signum)
        lib.h5prep_interrupt()

    with _run_lock:
        main = threading.current_thread() is threading.main_thread()
        prev = signal.getsignal(signal.SIGINT) if main else None
        take = main and prev not in (signal.SIG_IGN, None)
        if take:
            signal.signal(signal.SIGINT, on_sigint)
        try:
            lib.h5prep_interrupt_reset()
            t = threading.Thread(target=work, name="h5prep-run", daemon=True)
            t.start()
            while t.is_alive():
                t.join(0.05)
            lib.h5prep_interrupt_reset()
        finally:
            if take:
                signal.signal(signal.SIGINT, prev)
    if interrupted:
        if callable(prev) and prev is not signal.default_int_handler:
            prev(signal.SIGINT, None)
        raise KeyboardInterrupt("h5prep: interrupted; the run stopped and left no output")
    if "exc" in state:
        raise state["exc"]
    if progress is not None and progress.error is not None:
        raise progress.error
    st = state["status"]
    if st != OK:
        raise error_for(st, state.get("message", ""))


class ProgressHook:
    """Wraps a Python progress callback for the library (kept alive for the run): called with a
    dict {rows_done, rows_total, bytes_done, bytes_total, seconds}; its first exception stops the
    run (h5prep_interrupt) and is raised by call()."""

    def __init__(self, fn):
        self.fn = fn
        self.error = None

        def cb(p, _user):
            if self.error is not None:
                return
            q = p.contents
            try:
                self.fn({"rows_done": q.rows_done, "rows_total": q.rows_total, "bytes_done": q.bytes_done,
                         "bytes_total": q.bytes_total, "seconds": q.seconds})
            except BaseException as e:  # noqa: BLE001 - raised again by call()
                self.error = e
                lib.h5prep_interrupt()

        self.c = PROGRESS_FN(cb)
