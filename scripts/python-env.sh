#!/usr/bin/env bash
# Make the Python environment Rask's Python UDFs run in for tests and local runs: a venv under
# ~/.cache/rask-python with pinned pyarrow and pandas (PyFlink itself is not needed: Rask's UDF
# worker stands in for its `pyflink.table.udf` module when it is missing). Idempotent.
# scripts/env.sh exports RASK_PYTHON=<venv>/bin/python when the venv exists; a job can also
# name any Python with `SET 'python.executable' = '…'`.
set -euo pipefail
VENV="${RASK_PYTHON_VENV:-$HOME/.cache/rask-python}"
if "$VENV/bin/python" -c "import pyarrow, pandas" 2>/dev/null; then
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "pyarrow==26.0.1" "pandas==3.1.1"
"$VENV/bin/python" -c "import pyarrow, pandas; print('Python UDF environment:', '$VENV', 'pyarrow', pyarrow.__version__, 'pandas', pandas.__version__)"
