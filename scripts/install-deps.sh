#!/usr/bin/env bash
# install-deps.sh: installs what h5prep needs to build and test on Debian 12 (run as root, or
# with sudo available). Each package is named in README.md with the reason it is there.
set -euo pipefail

packages=(
  build-essential cmake pkg-config   # compiler and build
  libhdf5-dev hdf5-tools             # HDF5 (reads netCDF-4 too); h5dump/h5ls for inspection
  libjansson-dev                     # JSON documents (h5prep-stats/1) read and written
  libdeflate-dev                     # fast inflate for decoding compressed chunks in parallel
  libyaml-dev                        # YAML recipes of `h5prep transform`
  libcsv-dev                         # CSV catalogs of per-file labels (RFC 4180)
  libcriterion-dev                   # the test runner
  python3-numpy python3-h5py         # the 3dcorrection generator; tests read outputs back as numpy does
  clang libclang-rt-14-dev           # libFuzzer (scripts/fuzz.sh); CI's corpus replay needs only gcc
  python3-venv                       # scripts/test-python.sh: the Python package's venv (pip inside it)
  python3-xarray python3-h5netcdf    # tests open the HDF5 outputs with xarray (engine h5netcdf): named dimensions
  python3-dask                       # tests open npy: {layout: dask} outputs with dask.array.from_npy_stack
  openmpi-bin libopenmpi-dev         # MPI: `h5prep stats` over mpirun/srun ranks, and its tests (mpirun)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: installed ${missing[*]}"
else
  echo "install-deps: all packages present"
fi
