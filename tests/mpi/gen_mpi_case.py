# gen_mpi_case.py: the data of tests/mpi/run.sh: an (N, 30, 20) float32 dataset of 1e3 + N(0, 3)
# in deflated chunks of 8 rows (several 8 MiB blocks), and a copy whose last chunk is damaged.
import shutil
import sys

import h5py
import numpy as np

out, bad, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
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
