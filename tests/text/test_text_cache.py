"""The on-disk vector and text caches, with real files and real processes."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lgrec.text import CachedEncoder, CacheError, TextCache, VectorCache, default_cache_dir

REPO_ROOT = Path(__file__).resolve().parents[2]


class HashEncoder:
    """A deterministic stand-in encoder that counts what it is asked to encode.

    Used where the model itself is beside the point (concurrency, bookkeeping); the cache
    behaviour with the real model is tested against MiniLM below.
    """

    model_id = "test/hash-encoder"
    dim = 8

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts, batch_size: int = 64) -> np.ndarray:
        self.calls.append(list(texts))
        return np.stack([_hash_vector(t) for t in texts]) if texts else np.zeros((0, 8), "f4")


def _hash_vector(text: str) -> np.ndarray:
    raw = np.frombuffer(hashlib.sha256(text.encode()).digest(), dtype=np.uint8)[:8]
    vec = raw.astype(np.float32) + 1.0
    return vec / np.linalg.norm(vec)


def test_second_encoding_encodes_nothing(minilm, tmp_path, caplog) -> None:
    texts = ["Toy Story (1995)", "GoldenEye (1995)", "Four Rooms (1995)", "Toy Story (1995)"]
    cached = CachedEncoder(minilm, tmp_path)
    with caplog.at_level(logging.INFO, logger="lgrec.text.cache"):
        first = cached.encode(texts)
    assert (cached.last_encoded, cached.last_cached) == (3, 0)
    assert "encoded 3 texts, 0 from cache" in caplog.text
    np.testing.assert_allclose(first, minilm.encode(texts), atol=1e-6)

    # A new wrapper (as in a second run of the same job) reads the same file.
    again = CachedEncoder(minilm, tmp_path)
    second = again.encode(texts)
    assert (again.last_encoded, again.last_cached) == (0, 3)
    np.testing.assert_array_equal(first, second)

    mixed = again.encode(["GoldenEye (1995)", "Copycat (1995)"])
    assert (again.last_encoded, again.last_cached) == (1, 1)
    np.testing.assert_allclose(mixed[1], minilm.encode(["Copycat (1995)"])[0], atol=1e-6)
    assert len(again.cache) == 4


def test_only_missing_texts_reach_the_encoder(tmp_path) -> None:
    inner = HashEncoder()
    cached = CachedEncoder(inner, tmp_path, chunk_size=2)
    out = cached.encode(["a", "b", "c", "a"])
    assert inner.calls == [["a", "b"], ["c"]]  # chunks of two, duplicates once
    cached.encode(["c", "d", "a"])
    assert inner.calls[-1] == ["d"]
    np.testing.assert_array_equal(out[0], out[3])
    assert cached.encode([]).shape == (0, 8)


def test_cache_location(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LGREC_CACHE_DIR", str(tmp_path / "root"))
    assert default_cache_dir() == tmp_path / "root" / "text"
    cached = CachedEncoder(HashEncoder())
    cached.encode(["x"])
    files = list((tmp_path / "root" / "text" / "vectors").glob("*.sqlite"))
    assert len(files) == 1 and files[0].name.startswith("test_hash-encoder-")
    monkeypatch.delenv("LGREC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "lgrec" / "text"


def test_vectors_are_raw_float32_not_pickle(tmp_path) -> None:
    cache = VectorCache(tmp_path, "m", 4)
    cache.put_many([b"k" * 32], np.array([[1, 2, 3, 4]], dtype=np.float32))
    cache.close()
    with sqlite3.connect(cache.path) as conn:
        (blob,) = conn.execute("SELECT vec FROM vectors").fetchone()
    assert np.frombuffer(blob, dtype="<f4").tolist() == [1, 2, 3, 4]


def test_dimension_mismatch_is_refused(tmp_path) -> None:
    VectorCache(tmp_path, "m", 4).put_many([b"k"], np.ones((1, 4), np.float32))
    with pytest.raises(CacheError, match="4 dims"):
        VectorCache(tmp_path, "m", 8).get_many([b"k"])


# Run by each writer process: a stand-in encoder defined inline, so the child needs nothing
# from the test module (whatever pytest's import mode) and only lgrec.text from the package.
_WRITER = """
import hashlib, os, sys, time
import numpy as np
from lgrec.text import CachedEncoder

class HashEncoder:
    model_id = "test/hash-encoder"
    dim = 8
    def encode(self, texts, batch_size=64):
        rows = []
        for t in texts:
            raw = np.frombuffer(hashlib.sha256(t.encode()).digest(), dtype=np.uint8)[:8]
            vec = raw.astype(np.float32) + 1.0
            rows.append(vec / np.linalg.norm(vec))
        time.sleep(0.01)  # keep each chunk's write interleaved with the other writers
        return np.stack(rows)

cache_dir, start, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
while not os.path.exists(go):  # all writers start together
    time.sleep(0.01)
CachedEncoder(HashEncoder(), cache_dir, chunk_size=25).encode(
    [f"text {i}" for i in range(start, start + 400)]
)
"""


def test_concurrent_processes_share_one_cache(tmp_path) -> None:
    go = tmp_path / "go"
    cache_dir = tmp_path / "cache"
    # Overlapping ranges: the processes race to write the same keys.
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(cache_dir), str(start), str(go)], cwd=REPO_ROOT
        )
        for start in (0, 200, 300)
    ]
    try:
        time.sleep(0.5)
        go.touch()
        codes = [p.wait(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert codes == [0, 0, 0]
    inner = HashEncoder()
    cached = CachedEncoder(inner, cache_dir)
    out = cached.encode([f"text {i}" for i in range(700)])
    assert cached.last_encoded == 0 and inner.calls == []
    np.testing.assert_array_equal(out[699], _hash_vector("text 699"))


def test_text_cache_round_trip(tmp_path) -> None:
    cache = TextCache(tmp_path)
    assert cache.get(b"k") is None
    cache.put(b"k", "model", "héllo\nworld")
    assert TextCache(tmp_path).get(b"k") == "héllo\nworld"
    assert len(cache) == 1
