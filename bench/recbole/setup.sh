#!/usr/bin/env bash
# Create (or complete) the separate virtual environment in which RecBole 1.2.1 runs.
#
#   bash bench/recbole/setup.sh            # idempotent: does nothing if the venv works
#   RECBOLE_VENV=/path bash bench/recbole/setup.sh
#
# RecBole 1.2.1 (2023) predates numpy 2, pandas 2.2, scipy 1.12 and setuptools 70, so it lives
# in its own venv, apart from lgrec's. torch is pinned to 2.13.0 explicitly: on this machine that
# resolves to the CPU wheel on local disk, whereas a looser requirement would pull a CUDA build.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${RECBOLE_VENV:-$HERE/../.venv-recbole}"
PY="${PYTHON:-python3.11}"

check() {
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 "$VENV/bin/python" - <<'PYEOF' >/dev/null 2>&1
import recbole, torch
from recbole.quick_start import run_recbole  # noqa: F401  (pulls in the run-time imports)
from recbole.model.general_recommender import LightGCN, BPR  # noqa: F401
assert recbole.__version__ == "1.2.1", recbole.__version__
assert torch.__version__.startswith("2.13.0"), torch.__version__
PYEOF
}

if [ -x "$VENV/bin/python" ] && check; then
    echo "recbole venv ready: $VENV"
    exit 0
fi

echo "creating recbole venv at $VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade "pip" "setuptools<70" "wheel"
"$VENV/bin/python" -m pip install --quiet \
    "recbole==1.2.1" "torch==2.13.0" \
    "setuptools<70" "numpy<2" "pandas<2.2" "scipy==1.11.4" \
    "colorlog==4.7.2" "colorama==0.4.4" "tensorboard" "texttable" "thop" "psutil" \
    "tqdm" "pyyaml" "scikit-learn<1.6" "plotly"

if ! check; then
    echo "recbole venv at $VENV installed but 'import recbole' still fails:" >&2
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 "$VENV/bin/python" -c \
        "from recbole.quick_start import run_recbole; from recbole.model.general_recommender import LightGCN" >&2
    exit 1
fi
echo "recbole venv ready: $VENV"
