#!/usr/bin/env bash
# Create (or refresh) the isolated benchmark venv `.venv-bench` at the repo root.
#
# PySpark and Dask live ONLY in this venv; they must never be installed into
# the project's main `.venv`. The project itself is installed there too (see
# below); without it the harness puts the repo root on PYTHONPATH for Vega jobs.
#
# Idempotent: stamp files record the requirement set and the project's sources,
# so repeated runs (e.g. every `make bench`) skip pip once the venv is current.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${REPO_ROOT}/.venv-bench"
PYTHON_BIN="${BENCH_PYTHON:-python3}"
LOCK="${REPO_ROOT}/requirements/bench.txt"   # PySpark, Dask, psutil and Vega's own, hashed
BUILD_LOCK="${REPO_ROOT}/requirements/build.txt"
PIP_LOCKED=(-m pip install --quiet --disable-pip-version-check --require-hashes --no-deps
            --no-build-isolation)
STAMP="${VENV}/.bench-stamp"
METADATA_STAMP="${VENV}/.vega-metadata-stamp"

log() { echo "[setup_env] $*" >&2; }

project_installable() {
    [[ -f "${REPO_ROOT}/setup.cfg" || -f "${REPO_ROOT}/setup.py" || -f "${REPO_ROOT}/pyproject.toml" ]]
}

wanted_stamp() {
    sha256sum "${LOCK}" | cut -d' ' -f1
}

# A digest of what the installed project's dependencies come from.
metadata_hash() {
    (cd "${REPO_ROOT}" && cat setup.cfg pyproject.toml 2>/dev/null | sha256sum | cut -d' ' -f1)
}

if [[ ! -x "${VENV}/bin/python" ]]; then
    log "creating ${VENV}"
    "${PYTHON_BIN}" -m venv "${VENV}"
    "${VENV}/bin/python" "${PIP_LOCKED[@]}" -r "${BUILD_LOCK}"
fi

if [[ ! -f "${STAMP}" || "$(cat "${STAMP}")" != "$(wanted_stamp)" ]]; then
    log "installing ${LOCK} into ${VENV}"
    "${VENV}/bin/python" "${PIP_LOCKED[@]}" -r "${LOCK}"
    wanted_stamp > "${STAMP}"
fi

# The project is installed (its dependencies came from the lock) as a regular (non-editable)
# install, reinstalled when its metadata changes; the harness puts the repo root
# first on PYTHONPATH, so Vega jobs run the working tree's code. (An editable
# install adds an import hook costing every Python process about 10 ms at
# start-up, which the trivial and local-cluster workloads would measure.) A
# broken project install must not block the benchmark of the other engines.
if project_installable; then
    if [[ ! -f "${METADATA_STAMP}" || "$(cat "${METADATA_STAMP}")" != "$(metadata_hash)" ]]; then
        log "installing the project"
        if ! (cd "${REPO_ROOT}" && "${VENV}/bin/python" -m pip install --quiet --no-deps --no-build-isolation .); then
            log "WARNING: 'pip install .' failed; Vega jobs fall back to PYTHONPATH" \
                "(will retry on the next run)"
            exit 0
        fi
        metadata_hash > "${METADATA_STAMP}"
    fi
else
    log "no setup.cfg/setup.py/pyproject.toml yet: skipping the project install" \
        "(the harness adds the repo root to PYTHONPATH instead)"
fi
log "done"
