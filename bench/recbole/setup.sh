#!/usr/bin/env bash
# Create (or complete) the separate virtual environment in which RecBole 1.2.1 runs.
#
#   bash bench/recbole/setup.sh              # idempotent: does nothing when the venv works
#   RECBOLE_VENV=/some/dir bash bench/recbole/setup.sh
#
# RecBole 1.2.1 (2023) predates numpy 2, pandas 2.2 and scipy 1.12, so it lives in its own venv,
# apart from lgrec's. Pins, and why:
#   torch==2.13.0        named explicitly: here it resolves to the CPU wheel on local disk; a
#                        looser requirement pulls a multi-GB CUDA build
#   numpy<2, pandas<2.2, scipy==1.11.4
#                        RecBole 1.2.1 uses APIs removed later (np.float_/np.bool8, pandas
#                        and scipy.sparse behaviour it relies on)
#   setuptools>=77.0.3,<81
#                        RecBole imports ray (2.6.3), which imports pkg_resources; setuptools 81
#                        dropped pkg_resources, and torch 2.13.0 requires setuptools>=77.0.3
#                        (so the often-quoted setuptools<70 cannot be combined with this torch)
# constraints.txt beside this file pins everything else to the versions it was tested with.
# At run time RecBole 1.2.1 also needs TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (run_recbole.py sets it).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${RECBOLE_VENV:-$(cd "$HERE/.." && pwd)/.venv-recbole}"
PY="${PYTHON:-python3.11}"

check() {
    [ -x "$VENV/bin/python" ] || return 1
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 PYTHONWARNINGS=ignore "$VENV/bin/python" - <<'PYEOF' >/dev/null 2>&1
import recbole, torch
from recbole.quick_start import run_recbole  # noqa: F401  (pulls in ray, tensorboard, ...)
from recbole.model.general_recommender import BPR, LightGCN  # noqa: F401
from recbole.trainer import Trainer  # noqa: F401
assert recbole.__version__ == "1.2.1", recbole.__version__
assert torch.__version__.split("+")[0] == "2.13.0", torch.__version__
PYEOF
}

if check; then
    echo "recbole venv ready: $VENV"
    exit 0
fi

echo "installing RecBole 1.2.1 into $VENV"
started=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -c "$HERE/constraints.txt" \
    "recbole==1.2.1" "torch==2.13.0" \
    "setuptools>=77.0.3,<81" "numpy<2" "pandas<2.2" "scipy==1.11.4"

if ! check; then
    echo "RecBole venv at $VENV was installed but does not import; the error:" >&2
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 "$VENV/bin/python" -c \
        "from recbole.quick_start import run_recbole; from recbole.model.general_recommender import LightGCN" >&2 || true
    exit 1
fi
echo "recbole venv ready: $VENV ($(( $(date +%s) - started )) s)"
