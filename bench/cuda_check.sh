#!/usr/bin/env bash
# The GPU checks, in one go, for a machine with a CUDA GPU (e.g. one lent for a session):
# the CUDA tests, then each row of bench/configs/gowalla_cuda.toml in its own `lgrec bench
# --only` call, its figures saved as soon as it ends (a cut-off run keeps the rows before it).
# Afterwards, anywhere: lgrec bench bench/configs/gowalla_cuda.toml --from-json OUT/row*.json
#
# usage: bash bench/cuda_check.sh [OUT_DIR] [CONFIG]
# The Gowalla rows read ../shared/data/gowalla beside the checkout (on a lent machine, carry a
# copy of it and link it there).
# The interpreter is $PYTHON, else python3 (GPU images often have no plain `python`); lgrec
# need not be installed there: the checkout is put on PYTHONPATH.
set -uo pipefail
py=${PYTHON:-python3}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bench/_work/cuda}
config=$(realpath "${2:-$root/bench/configs/gowalla_cuda.toml}")
mkdir -p "$out" && out=$(cd "$out" && pwd)
cd "$root"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
"$py" - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
"$py" -m pytest -q -p no:cacheprovider tests/train/test_cuda.py 2>&1 | tee "$out/test_cuda.log"
"$py" - "$config" >"$out/labels.txt" <<'PY'
import sys
from lgrec.eval.benchmark import BenchConfig
for run in BenchConfig.from_toml(sys.argv[1]).runs:
    print(run.label or run.model)
PY
n=0
while IFS= read -r label; do
    n=$((n + 1))
    "$py" -m lgrec -v bench "$config" --only "$label" --json "$out/row$n.json" \
        --out "$out/bench.md" >/dev/null || echo "row $n ($label) failed"
    "$py" -c "import json,sys; r=json.load(open(sys.argv[1]))[0]; print(r['label'], r['metrics'], round(r['fit_seconds'],1), 's', r['epochs'], 'epochs')" "$out/row$n.json" 2>/dev/null
done <"$out/labels.txt"
rm -f "$out/labels.txt"
