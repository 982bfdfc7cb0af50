"""The ``lgrec`` command: one subcommand per facade verb.

Bad input ends with one readable line on stderr and exit status 2, and writes nothing.
"""

from __future__ import annotations

import functools
import json
import logging
import shlex
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lgrec.cli.format import format_explanation, metrics_table, ranked_list
from lgrec.data import FORMATS, SPLIT_METHODS, ColumnMap, DataError, Dataset, load_dataset

log = logging.getLogger("lgrec")

EXIT_BAD_INPUT = 2


def _fail(message: str) -> None:
    click.echo(f"lgrec: error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn input errors into one line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DataError as err:
            _fail(str(err))
        except KeyError as err:
            _fail(str(err.args[0]) if err.args else "unknown id")
        except (FileNotFoundError, ValueError, tomllib.TOMLDecodeError) as err:
            _fail(str(err))

    return wrapper


def data_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options that say how to read an interaction file."""
    options = [
        click.option("--format", "data_format", type=click.Choice(FORMATS), default="auto",
                     show_default=True, help="Input format; auto guesses from the path."),
        click.option("--user-col", default="user_id", show_default=True,
                     help="Column holding the user id (CSV/TSV/Parquet)."),
        click.option("--item-col", default="item_id", show_default=True,
                     help="Column holding the item id."),
        click.option("--rating-col", default=None, help="Optional rating column."),
        click.option("--weight-col", default=None, help="Optional weight column."),
        click.option("--timestamp-col", default=None,
                     help="Optional timestamp column (unix seconds or ISO-8601)."),
        click.option("--items", "items_file", type=click.Path(), default=None,
                     help="Item side table (titles, text, attributes)."),
        click.option("--rating-threshold", type=float, default=None,
                     help="Keep only interactions rated at least this (implicit feedback)."),
        click.option("--min-user", type=int, default=0, show_default=True,
                     help="k-core: drop users with fewer interactions."),
        click.option("--min-item", type=int, default=0, show_default=True,
                     help="k-core: drop items with fewer interactions."),
        click.option("--encoding", default=None, help="Text encoding of CSV/TSV files (default UTF-8)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _load(source: str, opts: dict[str, Any]) -> Dataset:
    columns = ColumnMap(
        user=opts["user_col"],
        item=opts["item_col"],
        rating=opts["rating_col"],
        weight=opts["weight_col"],
        timestamp=opts["timestamp_col"],
    )
    return load_dataset(
        source,
        format=opts["data_format"],
        columns=columns,
        items=opts["items_file"],
        encoding=opts["encoding"],
        rating_threshold=opts["rating_threshold"],
        min_user_interactions=opts["min_user"],
        min_item_interactions=opts["min_item"],
    )


DATA_KEYS = ("data_format", "user_col", "item_col", "rating_col", "weight_col", "timestamp_col",
             "items_file", "rating_threshold", "min_user", "min_item", "encoding")


def _pop_data_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: kwargs.pop(key) for key in DATA_KEYS}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.version_option(package_name="lgrec")
def main(verbose: int) -> None:
    """lgrec: recommendations from the interaction graph and from language.

    \b
    Examples:
      lgrec quickstart
      lgrec split ratings.csv --rating-col rating --out splits/
      lgrec train ml-100k --model lightgcn --out models/ml100k
      lgrec recommend models/ml100k 196 186 --k 10
      lgrec bench bench/configs/ml100k.toml
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def _show_recommendations(rec: Any, users: list[str], k: int) -> None:
    for user, items in zip(users, rec.recommend(users, k=k), strict=True):
        titles = rec.item_titles([entry.item for entry in items])
        entries = [(e.item, t, e.score) for e, t in zip(items, titles, strict=True)]
        click.echo(ranked_list(f"Top {k} for user {user}:", entries))


@main.command()
@click.option("--model", default="lightgcn", show_default=True, help="Model to train.")
@click.option("--epochs", type=int, default=None, help="Maximum epochs (default: the model's).")
@click.option("--save", "save_dir", type=click.Path(), default="lgrec_quickstart_model",
              show_default=True, help="Where to save the trained model.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--threads", type=int, default=None, help="CPU threads for torch.")
@friendly_errors
def quickstart(model: str, epochs: int | None, save_dir: str, device: str,
               threads: int | None) -> None:
    """Train on the bundled MovieLens-100K and show what the model does.

    Splits the data per user 80/10/10 (seed 2020), trains with early stopping on validation
    NDCG@10, prints the test metrics, the top 10 for three users and why the first
    recommendation was made, and saves the model. With a text model (text-lightgcn) it also
    answers a request in natural language.

    \b
    Example:
      lgrec quickstart
      lgrec quickstart --model text-lightgcn
      lgrec quickstart --model mf --save /tmp/mf
    """
    from lgrec.data import ML100K_ITEM_TEMPLATE, load_movielens100k
    from lgrec.models import MODELS
    from lgrec.recommend import Recommender
    from lgrec.recommend.presets import preset

    started = time.perf_counter()
    data = load_movielens100k()
    train, valid, test = data.split("random", valid=0.1, test=0.1, seed=2020)
    click.echo(f"{data!r}\nsplit per user 80/10/10: {len(train)} train, {len(valid)} valid, "
               f"{len(test)} test interactions")
    params = preset(model)
    params.update(device=device)
    if getattr(MODELS.get(model), "needs_text", False):
        params["item_template"] = ML100K_ITEM_TEMPLATE
    if epochs is not None:
        params["epochs"] = epochs
    if threads is not None:
        params["threads"] = threads
    click.echo(f"training {model} {params} ...")
    rec = Recommender(model, **params).fit(train, valid=valid)
    metrics = rec.evaluate(test, k=[10, 20])
    click.echo(f"trained in {rec.fit_seconds_:.1f}s ({rec.epochs_} epochs, best {rec.best_epoch_})")
    click.echo("\nTest metrics (full ranking, training and validation items masked):")
    click.echo(metrics_table({model: metrics}))
    click.echo("")
    _show_recommendations(rec, ["1", "196", "405"], 10)
    if rec.model_.needs_text:
        request = "animated movie for young children"
        results = rec.search(request, k=10)
        titles = rec.item_titles([r.item for r in results])
        click.echo("\n" + ranked_list(f"Request {request!r}:", [
            (r.item, t, r.score) for r, t in zip(results, titles, strict=True)]))
    first = rec.recommend("196", k=1)[0]
    click.echo("\nWhy " + format_explanation(rec.explain("196", first.item)))
    rec.save(save_dir)
    click.echo(f"\nmodel saved to {save_dir} ({time.perf_counter() - started:.0f}s in all)")


@main.command()
@click.argument("data")
@data_options
@click.option("--method", type=click.Choice(SPLIT_METHODS), default="random", show_default=True)
@click.option("--valid", "valid_share", type=float, default=0.1, show_default=True,
              help="Validation share.")
@click.option("--test", "test_share", type=float, default=0.1, show_default=True,
              help="Test share.")
@click.option("--seed", type=int, default=2020, show_default=True)
@click.option("--out", type=click.Path(), required=True,
              help="Directory for train/valid/test files.")
@click.option("--out-format", type=click.Choice(["csv", "tsv", "parquet"]), default="csv",
              show_default=True)
@friendly_errors
def split(data: str, method: str, valid_share: float, test_share: float, seed: int, out: str,
          out_format: str, **kwargs: Any) -> None:
    """Split DATA into train/valid/test files that other tools can read.

    DATA is a CSV/TSV/Parquet file, a RecBole .inter file or directory, a LightGCN train.txt,
    or the bundled name ml-100k.

    \b
    Examples:
      lgrec split ml-100k --method random --out splits/ml100k
      lgrec split ratings.csv --user-col userId --item-col movieId \\
          --timestamp-col timestamp --method temporal --out splits/
    """
    from lgrec.data import save_split

    dataset = _load(data, _pop_data_options(kwargs))
    parts = dataset.split(method, valid=valid_share, test=test_share, seed=seed)
    written = save_split(out, dict(zip(("train", "valid", "test"), parts, strict=True)),
                         fmt=out_format)
    for path, part in zip(written, parts, strict=True):
        click.echo(f"{path}: {len(part)} interactions")


def _read_config(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    with open(path, "rb") as handle:
        return tomllib.load(handle)


@main.command()
@click.argument("data")
@data_options
@click.option("--model", default=None, help="Model name (default lightgcn).")
@click.option("--config", "config_file", type=click.Path(exists=True), default=None,
              help="TOML file with [model] and [train] tables; flags override it.")
@click.option("--dim", type=int, default=None, help="Embedding size.")
@click.option("--layers", type=int, default=None, help="Propagation layers (graph models).")
@click.option("--epochs", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--reg", type=float, default=None, help="L2 weight.")
@click.option("--batch-size", type=int, default=None)
@click.option("--patience", type=int, default=None)
@click.option("--metric", default=None, help="Validation metric, e.g. ndcg@10.")
@click.option("--seed", type=int, default=None)
@click.option("--device", default=None, help="cpu or cuda.")
@click.option("--threads", type=int, default=None)
@click.option("--checkpoint-dir", type=click.Path(), default=None)
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint.")
@click.option("--refit", is_flag=True,
              help="After validation has chosen the epochs, train again on train and "
                   "validation together and save that model.")
@click.option("--split", "split_method", type=click.Choice(SPLIT_METHODS), default="random",
              show_default=True, help="How to carve validation and test out of DATA.")
@click.option("--valid", "valid_share", type=float, default=0.1, show_default=True)
@click.option("--test", "test_share", type=float, default=0.1, show_default=True)
@click.option("--out", type=click.Path(), required=True, help="Model directory to write.")
@friendly_errors
def train(data: str, model: str | None, config_file: str | None, split_method: str,
          valid_share: float, test_share: float, out: str, **kwargs: Any) -> None:
    """Train a model on DATA, report test metrics and save it to --out.

    DATA is a file or bundled name (see `lgrec split --help`), or a directory written by
    `lgrec split` (train/valid/test files are then used as they are).

    \b
    Examples:
      lgrec train ml-100k --model lightgcn --out models/ml100k
      lgrec train splits/ml100k --model mf --epochs 50 --out models/mf
      lgrec train ratings.csv --user-col userId --item-col movieId --config lgcn.toml --out m/
    """
    from lgrec.data import load_split
    from lgrec.recommend import Recommender
    from lgrec.recommend.presets import preset

    data_opts = _pop_data_options(kwargs)
    config = _read_config(config_file)
    model = model or config.get("model", {}).get("name", "lightgcn")
    params = preset(model)
    params.update({k: v for k, v in config.get("model", {}).items() if k != "name"})
    params.update(config.get("train", {}))
    params.update({k: v for k, v in kwargs.items() if v is not None and v is not False})
    source = Path(data)
    if source.is_dir() and (source / "train.csv").exists() or (source / "train.tsv").exists() \
            or (source / "train.parquet").exists():
        parts = load_split(source)
        train_set, valid_set, test_set = parts["train"], parts["valid"], parts["test"]
    else:
        dataset = _load(data, data_opts)
        train_set, valid_set, test_set = dataset.split(
            split_method, valid=valid_share, test=test_share, seed=params.get("seed", 2020)
        )
    click.echo(f"training {model} on {len(train_set)} interactions ...")
    rec = Recommender(model, **params).fit(train_set, valid=valid_set if len(valid_set) else None)
    rows = {}
    if len(test_set):
        rows["test"] = rec.evaluate(test_set, k=[10, 20])
        click.echo(metrics_table(rows))
    rec.save(out)
    refit = "; refitted on train and validation" if rec.refit_seconds_ else ""
    if rec.refit_epochs_:
        refit += f" for {rec.refit_epochs_} epochs"
    click.echo(f"saved to {out} (trained {rec.fit_seconds_:.1f}s, {rec.epochs_} epochs{refit})")


@main.command()
@click.argument("model_dir", type=click.Path())
@click.argument("data")
@data_options
@click.option("-k", "--k", "ks", type=int, multiple=True, default=(10, 20), show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@friendly_errors
def evaluate(model_dir: str, data: str, ks: tuple[int, ...], as_json: bool, **kwargs: Any) -> None:
    """Evaluate a saved model on the interactions in DATA (full ranking, seen items masked).

    \b
    Example:
      lgrec evaluate models/ml100k splits/ml100k/test.csv -k 10 -k 20
    """
    from lgrec.recommend import Recommender

    rec = Recommender.load(model_dir)
    test_set = _load(data, _pop_data_options(kwargs))
    metrics = rec.evaluate(test_set, k=list(ks))
    click.echo(json.dumps(metrics, indent=2) if as_json else metrics_table({"test": metrics}))


@main.command()
@click.argument("model_dir", type=click.Path())
@click.argument("users", nargs=-1, required=True)
@click.option("-k", "--k", type=int, default=10, show_default=True)
@click.option("--include-seen", is_flag=True, help="Do not mask items the user already has.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@friendly_errors
def recommend(model_dir: str, users: tuple[str, ...], k: int, include_seen: bool,
              as_json: bool) -> None:
    """Top-k items for USERS (external ids) from a saved model.

    \b
    Example:
      lgrec recommend models/ml100k 196 186 -k 5 --json
    """
    from lgrec.recommend import Recommender

    rec = Recommender.load(model_dir)
    results = rec.recommend(list(users), k=k, exclude_seen=not include_seen)
    if as_json:
        payload = {
            user: [{"item": e.item, "score": e.score, "title": t}
                   for e, t in zip(items, rec.item_titles([e.item for e in items]), strict=True)]
            for user, items in zip(users, results, strict=True)
        }
        click.echo(json.dumps(payload, indent=2))
        return
    _show_recommendations(rec, list(users), k)


@main.command()
@click.argument("model_dir", type=click.Path())
@click.argument("query")
@click.option("-k", "--k", type=int, default=10, show_default=True)
@click.option("--user", default=None, help="Personalise for this user (external id).")
@click.option("--alpha", type=float, default=0.5, show_default=True,
              help="Weight of the request against the user's taste.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@friendly_errors
def search(model_dir: str, query: str, k: int, user: str | None, alpha: float,
           as_json: bool) -> None:
    """Items for a request in natural language (needs a text model such as text-lightgcn).

    \b
    Example:
      lgrec search models/text "a funny animated movie for kids" --user 196 -k 5
    """
    from lgrec.recommend import Recommender

    rec = Recommender.load(model_dir)
    results = rec.search(query, k=k, user=user, alpha=alpha)
    titles = rec.item_titles([r.item for r in results])
    if as_json:
        click.echo(json.dumps([{"item": r.item, "score": r.score, "title": t}
                               for r, t in zip(results, titles, strict=True)], indent=2))
        return
    entries = [(r.item, t, r.score) for r, t in zip(results, titles, strict=True)]
    click.echo(ranked_list(f"Top {k} for {query!r}:", entries))


@main.command()
@click.argument("model_dir", type=click.Path())
@click.argument("user")
@click.argument("item")
@click.option("--top", type=int, default=3, show_default=True, help="Evidence items to show.")
@click.option("--llm", default=None,
              help="Generative model for a sentence: smollm2, a .gguf path, or a model name "
                   "served at $LGREC_LLM_BASE_URL.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@friendly_errors
def explain(model_dir: str, user: str, item: str, top: int, llm: str | None,
            as_json: bool) -> None:
    """Why ITEM is recommended to USER: the user's items that support it through the graph,
    their text similarity and, with --llm, one sentence.

    \b
    Example:
      lgrec explain models/ml100k 196 100 --llm smollm2
    """
    from lgrec.recommend import Recommender

    rec = Recommender.load(model_dir)
    result = rec.explain(user, item, top=top, llm=llm)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(format_explanation(result))


@main.command()
@click.argument("config_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default="BENCHMARKS.md",
              show_default=True, help="Markdown file whose section the table replaces.")
@click.option("--only", multiple=True,
              help="Run only the rows with this label or model (repeatable); the table then "
                   "holds just them.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), default=None,
              help="Also write every row's raw figures to this JSON file.")
@click.option("--keep-rows", "keep_file", type=click.Path(exists=True, dir_okay=False),
              default=None,
              help="With --only: the table's other rows come from this JSON, written by an "
                   "earlier --json run of the same config, so one row can be rerun alone.")
@click.option("--from-json", "from_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Run nothing: write the table from rows saved by earlier --json runs of this "
                   "config (repeatable; e.g. rows run one at a time on another machine).")
@friendly_errors
def bench(config_file: str, out_file: str, only: tuple[str, ...], json_file: str | None,
          keep_file: str | None, from_files: tuple[str, ...]) -> None:
    """Run the (dataset, model, params) list in CONFIG_FILE (TOML) on its fixed splits and
    write the Markdown table (Recall, NDCG, fit time, epochs, eval users/s, peak memory) into
    a section of BENCHMARKS.md. Each run is a fresh process.

    \b
    Examples:
      lgrec bench bench/configs/gowalla.toml
      lgrec bench bench/configs/gowalla.toml --only graph-filter --out /tmp/b.md
      lgrec bench bench/configs/ml100k.toml --only text-lightgcn \\
          --keep-rows bench/results/ml100k.json --json bench/results/ml100k.json
    """
    from lgrec.eval.benchmark import (
        BenchConfig,
        markdown_table,
        merge_rows,
        run_benchmark,
        write_section,
    )

    config = BenchConfig.from_toml(config_file)
    if from_files:
        saved = [row for f in from_files for row in json.loads(Path(f).read_text())]
        present = {(r["dataset"], r["label"]) for r in saved}
        config.runs = [r for r in config.runs if (r.dataset, r.label or r.model) in present]
        rows = merge_rows(config.runs, saved, [])
        command = shlex.join(["lgrec", "bench", config_file,
                              *(a for f in from_files for a in ("--from-json", f))])
    else:
        if keep_file and not only:
            raise ValueError("--keep-rows goes with --only (the rows to rerun)")
        all_runs = list(config.runs)
        if only:
            config.runs = [r for r in config.runs
                           if (r.label or r.model) in only or r.model in only]
            if not config.runs:
                raise ValueError(f"no run in {config_file} is labelled {', '.join(only)}")
        rows = run_benchmark(config)
        command = shlex.join(["lgrec", "bench", config_file,
                              *(a for o in only for a in ("--only", o))])
        if keep_file:
            rows = merge_rows(all_runs, rows, json.loads(Path(keep_file).read_text()))
            config.runs = all_runs
            command += " --keep-rows " + shlex.quote(keep_file)
    table = markdown_table(config, rows, command)
    write_section(out_file, config.section, table)
    if json_file:
        Path(json_file).write_text(json.dumps(rows, indent=2, default=str))
    click.echo(table)


if __name__ == "__main__":
    main()
