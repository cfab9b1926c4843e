# Shared settings for the repo's scripts (sourced, not run). The cargo build cache lives
# outside the clone so that fresh clones (and CI) rebuild incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rask-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "cargo not found: install Rust (https://rustup.rs) first" >&2
    exit 1
  fi
fi
# The Python that runs Python UDFs (made by scripts/python-env.sh), unless one is given.
if [ -z "${RASK_PYTHON:-}" ] && [ -x "$HOME/.cache/rask-python/bin/python" ]; then
  export RASK_PYTHON="$HOME/.cache/rask-python/bin/python"
fi
