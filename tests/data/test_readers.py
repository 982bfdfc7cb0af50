"""Every class of bad input gets an error naming file, line and field, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lgrec.data import ColumnMap, DataError, Dataset, read_interactions, read_lightgcn

COLUMNS = ColumnMap(user="user_id", item="item_id", rating="rating", timestamp="ts")


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_reads_csv_with_column_mapping(tmp_path):
    path = write(tmp_path, "r.csv", "user_id,item_id,rating,ts\nu1,i1,4,100\nu2,i1,3.5,200\n")
    frame = read_interactions(path, COLUMNS)
    assert frame.columns.tolist() == ["user", "item", "rating", "timestamp"]
    assert frame["rating"].tolist() == [4.0, 3.5]
    assert frame["user"].tolist() == ["u1", "u2"]


def test_reads_tsv_and_parquet(tmp_path):
    tsv = write(tmp_path, "r.tsv", "user_id\titem_id\nu1\ti1\n")
    assert read_interactions(tsv).shape == (1, 2)
    parquet = tmp_path / "r.parquet"
    pd.DataFrame({"user_id": ["a", "b"], "item_id": [1, 2]}).to_parquet(parquet)
    frame = read_interactions(parquet)
    assert frame["item"].tolist() == ["1", "2"]


def test_iso_timestamps(tmp_path):
    path = write(tmp_path, "r.csv", "user_id,item_id,ts\nu,i,2024-01-01T00:00:00Z\n")
    frame = read_interactions(path, ColumnMap(timestamp="ts"))
    assert frame["timestamp"].iloc[0] == pytest.approx(1704067200.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("userid,item_id,rating,ts\nu1,i1,4,1\n", "r.csv:1: field 'user_id': missing column"),
        ("user_id,item_id,rating,ts\nu1,i1,4,1\nu2,i2,five,2\n",
         "r.csv:3: field 'rating': expected a number, found 'five'"),
        ("user_id,item_id,rating,ts\nu1,i1,4,1\nu2,i2,4,yesterday\n",
         "r.csv:3: field 'ts': expected a number, found 'yesterday'"),
        ("user_id,item_id,rating,ts\nu1,i1,4,2024-01-01\nu2,i2,4,yesterday\n",
         "r.csv:3: field 'ts': expected unix seconds or an ISO-8601 date, found 'yesterday'"),
        ("user_id,item_id,rating,ts\nu1,i1,4,1\n,i2,4,2\n", "r.csv:3: field 'user_id': empty id"),
        ("user_id,item_id,rating,ts\nu1,,4,1\n", "r.csv:2: field 'item_id': empty id"),
        ("user_id,item_id,rating,ts\n", "r.csv:2: file has a header but no rows"),
        ("", "r.csv: file is empty"),
    ],
)
def test_bad_input_messages(tmp_path, text, expected):
    path = write(tmp_path, "r.csv", text)
    with pytest.raises(DataError) as info:
        read_interactions(path, COLUMNS)
    assert str(info.value).startswith(f"{tmp_path}/{expected}")


def test_missing_column_suggests_the_close_name(tmp_path):
    path = write(tmp_path, "r.csv", "userid,item_id\nu1,i1\n")
    with pytest.raises(DataError, match="did you mean 'userid'"):
        read_interactions(path)


def test_bad_encoding_names_the_line(tmp_path):
    path = write(tmp_path, "r.csv", b"user_id,item_id\nu1,i1\nu\xe9,i2\n")
    with pytest.raises(DataError) as info:
        read_interactions(path)
    assert info.value.line == 3
    assert "cannot decode byte 0xe9" in str(info.value)
    # The right encoding makes it readable.
    assert read_interactions(path, encoding="latin-1")["user"].tolist() == ["u1", "ué"]


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_interactions(tmp_path / "nope.csv")


def test_bad_parquet_row(tmp_path):
    path = tmp_path / "r.parquet"
    pd.DataFrame({"user_id": ["a", ""], "item_id": ["1", "2"]}).to_parquet(path)
    with pytest.raises(DataError) as info:
        read_interactions(path)
    assert info.value.field == "user_id" and info.value.line == 2


def test_lightgcn_reader(tmp_path):
    path = write(tmp_path, "train.txt", "0 1 2 3\n1 2\n\n2 0 3\n")
    frame = read_lightgcn(path)
    assert frame["user"].tolist() == ["0", "0", "0", "1", "2", "2"]
    bad = write(tmp_path, "bad.txt", "0 1 2\n1 x\n")
    with pytest.raises(DataError) as info:
        read_lightgcn(bad)
    assert (info.value.line, info.value.field) == (2, "item 1")


def test_recbole_bad_type(tmp_path):
    path = write(tmp_path, "x.inter", "user_id:token\titem_id:tokn\nu\ti\n")
    with pytest.raises(DataError, match="unknown RecBole field type 'tokn'"):
        Dataset.from_recbole(path)
