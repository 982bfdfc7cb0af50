#!/usr/bin/env bash
# The GPU checks, in one go, for a machine with a CUDA GPU (e.g. one lent for a session):
# the CUDA tests, then each row of bench/configs/gowalla_cuda.toml in its own `lgrec bench
# --only` call, its figures saved as soon as it ends (a cut-off run keeps the rows before it).
# Afterwards, anywhere: lgrec bench bench/configs/gowalla_cuda.toml --from-json OUT/row*.json
#
# usage: bash bench/cuda_check.sh [OUT_DIR] [CONFIG]
set -uo pipefail
out=${1:-bench/_work/cuda}
config=${2:-bench/configs/gowalla_cuda.toml}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
python -m pytest -q -p no:cacheprovider tests/train/test_cuda.py 2>&1 | tee "$out/test_cuda.log"
python - "$config" >"$out/labels.txt" <<'PY'
import sys
from lgrec.eval.benchmark import BenchConfig
for run in BenchConfig.from_toml(sys.argv[1]).runs:
    print(run.label or run.model)
PY
n=0
while IFS= read -r label; do
    n=$((n + 1))
    python -m lgrec -v bench "$config" --only "$label" --json "$out/row$n.json" \
        --out "$out/bench.md" >/dev/null || echo "row $n ($label) failed"
    python -c "import json,sys; r=json.load(open(sys.argv[1]))[0]; print(r['label'], r['metrics'], round(r['fit_seconds'],1), 's', r['epochs'], 'epochs')" "$out/row$n.json" 2>/dev/null
done <"$out/labels.txt"
rm -f "$out/labels.txt"
