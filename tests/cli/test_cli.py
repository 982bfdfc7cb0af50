"""The lgrec command, run as a real subprocess: exit codes, messages, nothing half written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def lgrec(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lgrec", *args], capture_output=True, text=True, cwd=cwd,
        timeout=600,
    )


@pytest.mark.parametrize(
    "command", ["quickstart", "train", "evaluate", "recommend", "split", "search", "explain"]
)
def test_every_command_has_help_with_examples(command):
    result = lgrec(command, "--help")
    assert result.returncode == 0
    assert "Example" in result.stdout


BAD_INPUTS = {
    "missing column": ("userId,item_id\n1,2\n", "r.csv:1: field 'user_id': missing column"),
    "non-numeric rating": ("user_id,item_id,rating\n1,2,4\n1,3,x\n",
                           "r.csv:3: field 'rating': expected a number, found 'x'"),
    "bad timestamp": ("user_id,item_id,ts\n1,2,2020-01-01\n1,3,soon\n",
                      "r.csv:3: field 'ts': expected unix seconds or an ISO-8601 date"),
    "empty file": ("", "r.csv: file is empty"),
    "empty id": ("user_id,item_id\n1,2\n,3\n", "r.csv:3: field 'user_id': empty id"),
    "encoding": (b"user_id,item_id\n1,2\n\xff\xfe,3\n", "r.csv:3: cannot decode byte 0xff"),
}


@pytest.mark.parametrize(
    ("case", "command"),
    [(case, "split") for case in sorted(BAD_INPUTS)] + [("missing column", "train"),
                                                        ("encoding", "train")],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, case, command):
    content, expected = BAD_INPUTS[case]
    data = tmp_path / "r.csv"
    if isinstance(content, bytes):
        data.write_bytes(content)
    else:
        data.write_text(content)
    out = tmp_path / "out"
    extra = ["--rating-col", "rating"] if "rating" in case else []
    extra += ["--timestamp-col", "ts"] if "timestamp" in case else []
    result = lgrec(command, str(data), *extra, "--out", str(out), "--epochs", "1") \
        if command == "train" else lgrec(command, str(data), *extra, "--out", str(out))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == f"lgrec: error: {tmp_path}/{expected}" or lines[0].startswith(
        f"lgrec: error: {tmp_path}/{expected}"
    )
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


def test_split_train_evaluate_recommend(tmp_path):
    splits, model = tmp_path / "splits", tmp_path / "model"
    result = lgrec("split", "ml-100k", "--out", str(splits), "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert {p.name for p in splits.iterdir()} == {"train.csv", "valid.csv", "test.csv"}
    result = lgrec("train", str(splits), "--model", "mf", "--epochs", "2", "--dim", "8",
                   "--refit", "--out", str(model))
    assert result.returncode == 0, result.stderr
    assert "ndcg@10" in result.stdout
    assert "refitted on train and validation for 2 epochs" in result.stdout
    result = lgrec("evaluate", str(model), str(splits / "test.csv"), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert 0 < metrics["ndcg@10"] < 1
    result = lgrec("recommend", str(model), "196", "1", "-k", "3", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert list(payload) == ["196", "1"] and len(payload["196"]) == 3
    assert payload["1"][0]["title"]
    result = lgrec("explain", str(model), "196", payload["196"][0]["item"], "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["evidence"]) == 3
    result = lgrec("search", str(model), "anything")
    assert result.returncode == 2 and "cannot read requests" in result.stderr
    result = lgrec("recommend", str(model), "nobody")
    assert result.returncode == 2
    assert result.stderr.strip() == "lgrec: error: unknown user 'nobody'"


def test_missing_model_dir(tmp_path):
    result = lgrec("recommend", str(tmp_path / "none"), "1")
    assert result.returncode == 2
    assert "not an lgrec model directory" in result.stderr
