#!/usr/bin/env bash
# test-python.sh: the Python package's tests: a venv from Debian's /usr/bin/python3 (its numpy and
# h5py through --system-site-packages), the test dependencies, `pip install ./python`, then pytest.
# Use: bash scripts/test-python.sh [PYTEST ARGS]. The venv is kept in build-python/venv (or
# $H5PREP_PY_VENV) so that a second run installs nothing new; PATH's python3 is never used.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=/usr/bin/python3
venv=${H5PREP_PY_VENV:-$root/build-python/venv}
if ! "$base" -c "import numpy, h5py" 2>/dev/null; then
  echo "test-python: $base does not import numpy and h5py; run scripts/install-deps.sh" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  "$base" -m venv --system-site-packages "$venv"
fi
py="$venv/bin/python"
pip=("$py" -m pip --disable-pip-version-check --no-input)

# Debian's numpy stays: h5py is built against it, so the other packages must take it as it is.
constraints="$venv/constraints.txt"
"$py" -c "import numpy; print('numpy==' + numpy.__version__)" > "$constraints"

t0=$(date +%s)
"${pip[@]}" install -q -c "$constraints" pytest tqdm xarray "dask[array]" torch
t1=$(date +%s)
echo "test-python: test dependencies ready in $((t1 - t0)) s (torch $("$py" -c 'import torch; print(torch.__version__)'))"

"${pip[@]}" install -q -c "$constraints" "$root/python"
t2=$(date +%s)
echo "test-python: h5prep package built and installed in $((t2 - t1)) s"

# from the repository root, so that the installed package is the one imported (not python/h5prep)
cd "$root"
exec "$py" -m pytest python/tests -q -ra -p no:cacheprovider "$@"
