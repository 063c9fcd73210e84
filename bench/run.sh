#!/usr/bin/env bash
# The whole benchmark suite in one command: bash bench/run.sh [suite options]
#
# Makes the benchmark's own environments under bench/.venv (ignored by git) the first time:
#   bench/.venv/main   incr (editable, from this checkout) and DVC, the peer timed side by side
#   bench/.venv/zenml  ZenML and scikit-learn, for the ZenML figures
# A peer that does not install is reported and skipped; incr itself must install.
# Then runs bench/suite.py with the main environment. Options go to suite.py (see --help);
# --setup-only makes the environments and stops. BENCH_REINSTALL=1 rebuilds them.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
python="${PYTHON:-python3}"
main="$here/.venv/main"
zenml="$here/.venv/zenml"

if [ "${BENCH_REINSTALL:-0}" = 1 ]; then
    rm -rf "$here/.venv"
fi

make_venv() {  # make_venv DIR: a fresh venv with a current pip, unless DIR has one
    [ -x "$1/bin/python" ] && return 0
    "$python" -m venv "$1" && "$1/bin/python" -m pip install -q --upgrade pip
}

if [ ! -x "$main/bin/incr" ]; then
    echo "bench: installing incr into $main" >&2
    if ! { make_venv "$main" && "$main/bin/python" -m pip install -q -e "$repo"; }; then
        echo "bench: installing incr failed; nothing to measure" >&2
        exit 1
    fi
fi
if [ ! -x "$main/bin/dvc" ] && [ ! -e "$main/.dvc-failed" ]; then
    echo "bench: installing dvc into $main" >&2
    if ! "$main/bin/python" -m pip install -q dvc; then
        echo "bench: installing dvc failed; the DVC columns are skipped" >&2
        touch "$main/.dvc-failed"
    fi
fi
if [ ! -x "$zenml/bin/zenml" ] && [ ! -e "$here/.venv/.zenml-failed" ]; then
    echo "bench: installing zenml into $zenml" >&2
    if ! { make_venv "$zenml" && "$zenml/bin/python" -m pip install -q 'zenml[local]' scikit-learn; }; then
        echo "bench: installing zenml failed; the ZenML figures are skipped" >&2
        touch "$here/.venv/.zenml-failed"
    fi
fi

for arg in "$@"; do
    [ "$arg" = --setup-only ] && exit 0
done
exec "$main/bin/python" "$here/suite.py" --zenml-python "$zenml/bin/python" "$@"
