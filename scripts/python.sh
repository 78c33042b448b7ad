#!/usr/bin/env bash
# python.sh: prints the Python that h5prep's scripts and tests use, by CMake's rule: $H5PREP_PYTHON,
# else the first of /usr/bin/python3 and python3 on PATH that imports numpy and h5py.
# Use: PY=$(bash scripts/python.sh) (exit 1 with a message when there is none).
for py in "${H5PREP_PYTHON:-}" /usr/bin/python3 "$(command -v python3 || true)"; do
  [ -n "$py" ] && [ -x "$py" ] && "$py" -c "import numpy, h5py" 2>/dev/null && { echo "$py"; exit 0; }
done
echo "python.sh: no python3 that imports numpy and h5py; run scripts/install-deps.sh or set H5PREP_PYTHON" >&2
exit 1
