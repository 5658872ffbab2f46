#!/usr/bin/env bash
# The whole test suite: pytest, ruff and mypy --strict. Installs first (idempotent).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
"$here/scripts/install.sh" >/dev/null
venv="${ORCH_VENV:-$here/.venv}"
status=0
"$venv/bin/python" -m pytest "$@" || status=$?
"$venv/bin/ruff" check orchestrator tests benchmarks || status=$?
"$venv/bin/mypy" --strict orchestrator/ || status=$?
exit $status
