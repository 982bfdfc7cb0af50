"""The benchmark runner: TOML config in, real runs in fresh processes, Markdown table out."""

from __future__ import annotations

import json
import re
import shlex

import numpy as np
import pytest
from click.testing import CliRunner

from lgrec.cli.main import main
from lgrec.eval.benchmark import (
    BenchConfig,
    BenchDataset,
    load_split,
    machine_description,
    markdown_table,
    run_benchmark,
)

CONFIG = """
title = "tiny"
section = "bench-tiny"
k = [20]
target = "a paper"

[[datasets]]
name = "ml"
train = "ml-100k"
seed = 7

[[runs]]
dataset = "ml"
model = "popularity"

[[runs]]
dataset = "ml"
model = "graph-filter"
label = "gf"
params = { rank = 32, alpha = 1.5 }

[[references]]
dataset = "ml"
name = "a paper"
recall = 0.30
ndcg = 0.25
"""


def test_bench_cli_writes_table_section(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG)
    out = tmp_path / "BENCH.md"
    out.write_text("# mine\n\nkept text\n")
    raw = tmp_path / "rows.json"
    result = CliRunner().invoke(main, ["bench", str(config), "--out", str(out),
                                       "--json", str(raw)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# mine\n\nkept text\n")
    assert text.count("<!-- bench-tiny:start -->") == 1
    rows = json.loads(raw.read_text())
    assert [r["label"] for r in rows] == ["popularity", "gf"]
    popularity, graph_filter = (r["metrics"]["ndcg@20"] for r in rows)
    # Real fits on the bundled data: the graph filter is far above popularity.
    assert graph_filter > popularity + 0.1
    assert all(r["peak_rss_mib"] > 50 and r["eval_users_per_second"] > 0 for r in rows)
    assert "| ml | gf |" in text and "*a paper* (published)" in text
    assert "Best lgrec model on ml by NDCG@20: **gf**" in text
    # Running again replaces the section rather than appending a second one.
    again = CliRunner().invoke(main, ["bench", str(config), "--out", str(out), "--only", "gf"])
    assert again.exit_code == 0, again.output
    assert out.read_text().count("<!-- bench-tiny:start -->") == 1
    assert "| ml | popularity |" not in out.read_text()


def test_bench_config_rejects_unknown_keys(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(CONFIG.replace('model = "popularity"', 'model = "popularity"\nepoch = 3'))
    with pytest.raises(ValueError, match=r"runs\[0\]: unknown key\(s\) epoch"):
        BenchConfig.from_toml(config)
    result = CliRunner().invoke(main, ["bench", str(config)])
    assert result.exit_code == 2 and "unknown key(s) epoch" in result.output


def write_lightgcn_split(directory):
    """A LightGCN-format train.txt (40 users x 10 of 50 items) and test.txt (one item each)."""
    train = directory / "train.txt"
    test = directory / "test.txt"
    rng = np.random.default_rng(0)
    train.write_text("".join(
        f"{u} " + " ".join(map(str, rng.choice(50, 10, replace=False))) + "\n" for u in range(40)
    ))
    test.write_text("".join(f"{u} {u % 50}\n" for u in range(40)))
    return train, test


def test_carve_out_validation_keeps_test_file_apart(tmp_path):
    train, test = write_lightgcn_split(tmp_path)
    spec = BenchDataset(name="t", train=str(train), test=str(test), valid_users=10,
                        valid_fraction=0.5, seed=3)
    fit, valid, held_test, seen = load_split(spec)
    assert len(fit) + len(valid) == len(seen) == 400
    assert 0 < len(valid) <= 10 * 10
    assert len(np.unique(valid.users_array)) <= 10
    assert len(held_test) == 40


def test_a_run_without_validation_fits_on_the_whole_training_file(tmp_path):
    train, test = write_lightgcn_split(tmp_path)
    config = tmp_path / "whole.toml"
    config.write_text(f"""
title = "whole"
[[datasets]]
name = "t"
train = "{train}"
test = "{test}"
valid_users = 10
valid_fraction = 0.5

[[runs]]
dataset = "t"
model = "mf"
label = "validated"
params = {{ epochs = 2, dim = 8, progress = false }}

[[runs]]
dataset = "t"
model = "mf"
label = "whole file"
validation = false
params = {{ epochs = 2, dim = 8, progress = false, lr_schedule = [0.02, 0.01] }}
""")
    parsed = BenchConfig.from_toml(config)
    validated, whole = run_benchmark(parsed, isolate=False)
    assert validated["train_interactions"] + validated["valid_interactions"] == 400
    assert validated["valid_interactions"] > 0 and validated["valid_curve"]
    assert (whole["train_interactions"], whole["valid_interactions"]) == (400, 0)
    assert whole["validation"] is False and not whole["valid_curve"]
    table = markdown_table(parsed, [validated, whole], "lgrec bench whole.toml")
    assert "t / whole file: " in table and "no validation: fitted once on the whole" in table
    assert table.count("no validation: fitted once") == 1
    whole_line = next(line for line in table.splitlines() if line.startswith("| t | whole file"))
    assert " | 2 | " in whole_line  # epochs run, no best epoch without validation


def test_seeds_repeat_a_run_and_the_table_gives_mean_and_spread(tmp_path):
    config = tmp_path / "seeds.toml"
    config.write_text("seeds = [1, 2]\n" + CONFIG.split("[[runs]]")[0] + """
[[runs]]
dataset = "ml"
model = "mf"
params = { epochs = 2, progress = false }

[[runs]]
dataset = "ml"
model = "popularity"
seeds = []
""")
    parsed = BenchConfig.from_toml(config)
    rows = run_benchmark(parsed, isolate=False)
    mf, popularity = rows
    assert [f["params"]["seed"] for f in mf["fits"]] == [1, 2]
    scores = [f["metrics"]["ndcg@20"] for f in mf["fits"]]
    assert scores[0] != scores[1]  # the seed reaches the model's start and its sampler
    assert mf["metrics"]["ndcg@20"] == pytest.approx(np.mean(scores))
    assert mf["metrics_sd"]["ndcg@20"] == pytest.approx(np.std(scores, ddof=1))
    assert mf["params"] == {"epochs": 2, "progress": False}
    assert "fits" not in popularity and "metrics_sd" not in popularity
    curve = mf["fits"][0]["valid_curve"]  # one record per validation, for the time budget
    assert [r["epoch"] for r in curve] == [1, 2] and curve[1]["elapsed_s"] >= curve[0]["elapsed_s"]
    kept = max(curve, key=lambda r: r["ndcg@10"])  # the stopping metric picks the kept epoch
    assert kept["ndcg@20"] == mf["fits"][0]["valid_metrics"]["ndcg@20"]
    table = markdown_table(parsed, rows, "lgrec bench seeds.toml")
    recalls = [f["metrics"]["recall@20"] for f in mf["fits"]]
    assert (f"| ml | mf | {np.mean(recalls):.4f} ± {np.std(recalls, ddof=1):.4f} | "
            f"{np.mean(scores):.4f} ± {np.std(scores, ddof=1):.4f} |") in table
    assert "2 (2), 2 (2)" in table and "seeds (1, 2, the split fixed)" in table


def test_keep_rows_reruns_one_row_and_keeps_the_others(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG)
    out, first = tmp_path / "BENCH.md", tmp_path / "first.json"
    assert CliRunner().invoke(main, ["bench", str(config), "--out", str(out),
                                     "--json", str(first)]).exit_code == 0
    before = json.loads(first.read_text())
    assert before[1]["valid_metrics"]["ndcg@10"] > 0  # the closed-form model's own validation
    merged_file = tmp_path / "merged.json"
    result = CliRunner().invoke(main, ["bench", str(config), "--out", str(out), "--only", "gf",
                                       "--keep-rows", str(first), "--json", str(merged_file)])
    assert result.exit_code == 0, result.output
    merged = json.loads(merged_file.read_text())
    assert [r["label"] for r in merged] == ["popularity", "gf"]
    assert merged[0] == {**before[0], "kept": True}
    assert "kept" not in merged[1]
    text = out.read_text()
    assert "| ml | popularity † |" in text and "| ml | gf |" in text
    assert "--keep-rows" in text and "† kept from an earlier run" in text
    command = re.search(r"Command: `(.*)`", text).group(1)  # pasted into a shell, runs the same
    assert shlex.split(command) == ["lgrec", "bench", str(config), "--only", "gf",
                                    "--keep-rows", str(first)]
    alone = CliRunner().invoke(main, ["bench", str(config), "--keep-rows", str(first)])
    assert alone.exit_code == 2 and "goes with --only" in alone.output


def test_from_json_writes_the_table_from_rows_run_elsewhere_one_at_a_time(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG)
    parts = []
    for label in ("gf", "popularity"):
        part = tmp_path / f"{label}.json"
        result = CliRunner().invoke(main, ["bench", str(config), "--only", label, "--out",
                                           str(tmp_path / "scratch.md"), "--json", str(part)])
        assert result.exit_code == 0, result.output
        parts.append(part)
    rows = json.loads(parts[0].read_text())
    rows[0]["machine"] = "a lent box, GPU Example 9000"
    parts[0].write_text(json.dumps(rows))
    out = tmp_path / "BENCH.md"
    result = CliRunner().invoke(main, ["bench", str(config), "--out", str(out),
                                       "--from-json", str(parts[0]), "--from-json", str(parts[1])])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    # Config order, not file order; the machine is the one each row recorded.
    assert text.index("| ml | popularity |") < text.index("| ml | gf |")
    assert f"{rows[0]['metrics']['ndcg@20']:.4f}" in text
    # Rows from two machines: the header says which rows ran on each.
    machine_line = re.search(r"Machine: (.*)", text).group(1)
    assert machine_line.startswith(f"{machine_description()} (rows: popularity); ")
    assert machine_line.endswith("a lent box, GPU Example 9000 (rows: gf)")


@pytest.mark.parametrize(("has_bfloat16", "word"), [(True, "with"), (False, "without")])
def test_machine_description_says_whether_the_cpu_has_bfloat16_products(
        monkeypatch: pytest.MonkeyPatch, has_bfloat16: bool, word: str) -> None:
    # Two CPUs of one model name ("AMD EPYC") can differ in this, and with it in the speed of
    # the softmax rows.
    from lgrec.train import precision

    monkeypatch.setattr(precision, "_cpu_has_bfloat16", lambda: has_bfloat16)
    description = machine_description()
    assert f" ({word} bfloat16 products), " in description
    assert description.index(word) < description.index(" cores")


def test_epochs_cell_names_the_refit():
    from lgrec.eval.benchmark import _epochs_cell

    assert _epochs_cell([{"epochs": 18, "best_epoch": 12}]) == "18 (12)"
    assert _epochs_cell([{"epochs": 18, "best_epoch": 12, "refit_seconds": 300.0,
                          "refit_epochs": 12}]) == "18 (12) + refit 12"
    assert _epochs_cell([{"epochs": 0, "best_epoch": 0, "refit_seconds": 9.0,
                          "refit_epochs": 0}]) \
        == "closed form, refit"
    assert _epochs_cell([{"epochs": 0, "best_epoch": 0}]) == "closed form"
