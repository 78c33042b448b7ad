# gen_mpi_case.py: the data of tests/mpi/run.sh.
#   gen_mpi_case.py OUT BAD ROWS: an (ROWS, 30, 20) float32 dataset of 1e3 + N(0, 3) in deflated
#     chunks of 8 rows (several 8 MiB blocks), and a copy whose last chunk is damaged;
#   gen_mpi_case.py --large OUT RANKS: a (1048576, 1000) float32 dataset (4 GiB as values, a few
#     MB on disk: each deflated chunk of (256, 1000) holds one value) of 512 blocks of 2048 rows,
#     whose chunks in the share of the last of RANKS ranks are damaged: that rank fails at its
#     first slab while the others have 1 GiB each to read.
import shutil
import sys
import zlib

import h5py
import numpy as np


def small(out, bad, rows):
    rng = np.random.default_rng(3)
    with h5py.File(out, "w") as f:
        x = (1e3 + 3.0 * rng.standard_normal((rows, 30, 20))).astype("f4")
        f.create_dataset("x", data=x, chunks=(8, 30, 20), compression="gzip", shuffle=True)
    shutil.copyfile(out, bad)
    with h5py.File(bad, "r") as f:
        d = f["x"]
        last = d.id.get_chunk_info(d.id.get_num_chunks() - 1)
    with open(bad, "r+b") as f:  # garbage in the middle of the last chunk: only the last rank reads it
        f.seek(last.byte_offset + last.size // 2)
        f.write(b"\xff" * min(64, last.size // 2))


def large(out, ranks):
    rows, cols, chunk = 1 << 20, 1000, 256
    block = (8 << 20) // (4 * cols) // chunk * chunk  # h5prep's block rule: 8 MiB of whole chunks
    blocks = rows // block
    first_bad = blocks * (ranks - 1) // ranks * block  # the first row of the last rank's share
    good = [zlib.compress(np.full((chunk, cols), 1e3 + k, "f4").tobytes(), 1) for k in range(7)]
    with h5py.File(out, "w") as f:
        d = f.create_dataset("x", (rows, cols), "f4", chunks=(chunk, cols), compression="gzip")
        for k, row in enumerate(range(0, rows, chunk)):
            d.id.write_direct_chunk((row, 0), b"\xff" * 64 if row >= first_bad else good[k % 7])


if sys.argv[1] == "--large":
    large(sys.argv[2], int(sys.argv[3]))
else:
    small(sys.argv[1], sys.argv[2], int(sys.argv[3]))
