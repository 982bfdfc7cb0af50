"""On-disk caches for text vectors and generated text.

Vectors are keyed by (model id, SHA-256 of the text): one SQLite file per model id holds one
row per text, the vector stored as raw little-endian float32 bytes (no pickle). Generated text
lives in one more SQLite file keyed by a hash of (model id, prompt, parameters).

SQLite in WAL mode with a busy timeout makes concurrent readers and writers in several
processes safe; rows are only ever inserted with the same content for the same key, so two
processes racing to fill the same text both end with the same row.

Location: the ``cache_dir`` argument, else ``$LGREC_CACHE_DIR/text``, else
``$XDG_CACHE_HOME/lgrec/text``, else ``~/.cache/lgrec/text``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from lgrec.text.encoder import SentenceEncoder, _check_texts

logger = logging.getLogger(__name__)

_VECTOR_DTYPE = np.dtype("<f4")
# SQLite builds before 3.32 allow at most 999 bound parameters per statement.
_SQL_CHUNK = 900
_BUSY_TIMEOUT_S = 60.0


class CacheError(RuntimeError):
    """The cache on disk does not match what it is being used for."""


def default_cache_dir() -> Path:
    """Return the directory for lgrec's text caches (see the module docstring for the order)."""
    root = os.environ.get("LGREC_CACHE_DIR")
    if root:
        return Path(root).expanduser() / "text"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "lgrec" / "text"


def text_key(text: str) -> bytes:
    """Return the cache key of ``text``: the 32-byte SHA-256 digest of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).digest()


def _model_file_name(model_id: str) -> str:
    """A readable, collision-free file name for ``model_id``.

    Model ids can be paths or contain ``/``; the readable part is only for people browsing the
    directory, the hash suffix is what keeps two ids apart.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._")[-60:] or "model"
    digest = hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:12]
    return f"{slug}-{digest}.sqlite"


class _SqliteStore:
    """A small SQLite key-value file, opened lazily and reopened after ``fork``."""

    _schema: tuple[str, ...] = ()

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None
        # One connection per store, shared by threads; the lock serialises its use.
        self._lock = threading.RLock()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        # A connection inherited through fork must not be used by the child.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
        # WAL lets readers run while another process writes; NORMAL sync is durable across
        # process crashes, which is all a cache needs.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        with conn:
            for statement in self._schema:
                conn.execute(statement)
        self._conn, self._pid = conn, os.getpid()
        self._on_open(conn)
        return conn

    def _on_open(self, conn: sqlite3.Connection) -> None:
        """Hook for subclasses to check metadata once the file is open."""

    def close(self) -> None:
        """Close the connection (it is reopened on next use)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _select_many(self, sql: str, keys: Sequence[bytes]) -> list[tuple]:
        """Run ``sql`` (with one ``{marks}`` placeholder list) over ``keys`` in chunks."""
        rows: list[tuple] = []
        with self._lock:
            conn = self._connect()
            for start in range(0, len(keys), _SQL_CHUNK):
                chunk = keys[start : start + _SQL_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows.extend(conn.execute(sql.format(marks=marks), chunk).fetchall())
        return rows

    def _write_many(self, sql: str, rows: Iterable[tuple]) -> None:
        with self._lock:
            conn = self._connect()
            # BEGIN IMMEDIATE takes the write lock up front, so a concurrent writer waits on
            # the busy timeout instead of failing half-way through the transaction.
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(sql, rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


class VectorCache(_SqliteStore):
    """Vectors of one model, keyed by the SHA-256 of their text.

    Parameters
    ----------
    cache_dir:
        Directory of the text caches; the file is ``<cache_dir>/vectors/<model>.sqlite``.
        ``None`` uses :func:`default_cache_dir`.
    model_id:
        Model the vectors come from.
    dim:
        Vector width; a file written for another width is refused.
    """

    _schema = (
        "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL) "
        "WITHOUT ROWID",
    )

    def __init__(self, cache_dir: str | os.PathLike[str] | None, model_id: str, dim: int) -> None:
        root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        super().__init__(root / "vectors" / _model_file_name(model_id))
        self.model_id = model_id
        self.dim = int(dim)

    def _on_open(self, conn: sqlite3.Connection) -> None:
        with conn:
            conn.executemany(
                "INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)",
                [("model_id", self.model_id), ("dim", str(self.dim)), ("dtype", "<f4")],
            )
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        if meta.get("model_id") != self.model_id or meta.get("dim") != str(self.dim):
            raise CacheError(
                f"vector cache {self.path} holds model {meta.get('model_id')!r} with "
                f"{meta.get('dim')} dims, not {self.model_id!r} with {self.dim}: "
                "remove the file or use another cache directory"
            )

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """Return the cached vectors among ``keys`` (missing keys are simply absent)."""
        found: dict[bytes, np.ndarray] = {}
        rows = self._select_many("SELECT key, vec FROM vectors WHERE key IN ({marks})", keys)
        nbytes = self.dim * _VECTOR_DTYPE.itemsize
        for key, blob in rows:
            if len(blob) != nbytes:
                # A damaged row is treated as missing; the next put overwrites it.
                logger.warning("ignoring a damaged vector row in %s", self.path)
                continue
            found[bytes(key)] = np.frombuffer(blob, dtype=_VECTOR_DTYPE)
        return found

    def put_many(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store ``vectors[i]`` under ``keys[i]``."""
        vectors = np.ascontiguousarray(vectors, dtype=_VECTOR_DTYPE)
        if vectors.shape != (len(keys), self.dim):
            raise ValueError(
                f"expected vectors of shape {(len(keys), self.dim)}, got {vectors.shape}"
            )
        self._write_many(
            "INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)",
            ((key, vectors[i].tobytes()) for i, key in enumerate(keys)),
        )

    def __len__(self) -> int:
        with self._lock:
            return int(self._connect().execute("SELECT COUNT(*) FROM vectors").fetchone()[0])


class TextCache(_SqliteStore):
    """Generated text keyed by an opaque digest (see :func:`lgrec.text.llm.request_key`).

    The file is ``<cache_dir>/generations.sqlite``; ``None`` uses :func:`default_cache_dir`.
    """

    _schema = (
        "CREATE TABLE IF NOT EXISTS generations ("
        "key BLOB PRIMARY KEY, model_id TEXT NOT NULL, text TEXT NOT NULL) WITHOUT ROWID",
    )

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None) -> None:
        root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        super().__init__(root / "generations.sqlite")

    def get(self, key: bytes) -> str | None:
        """Return the text stored under ``key``, or ``None``."""
        rows = self._select_many("SELECT text FROM generations WHERE key IN ({marks})", [key])
        return rows[0][0] if rows else None

    def put(self, key: bytes, model_id: str, text: str) -> None:
        """Store ``text`` under ``key``."""
        self._write_many(
            "INSERT OR REPLACE INTO generations (key, model_id, text) VALUES (?, ?, ?)",
            [(key, model_id, text)],
        )

    def __len__(self) -> int:
        with self._lock:
            conn = self._connect()
            return int(conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0])


class CachedEncoder:
    """A :class:`~lgrec.text.encoder.SentenceEncoder` that remembers every vector on disk.

    Only texts missing from the cache reach the wrapped encoder; after each call
    ``last_encoded`` is the number of distinct texts that were encoded and ``last_cached`` the
    number of distinct texts served from the cache, so the second encoding of the same texts
    reports ``last_encoded == 0``.

    Parameters
    ----------
    encoder:
        The encoder to wrap.
    cache_dir:
        Directory of the text caches; ``None`` uses :func:`default_cache_dir`.
    chunk_size:
        Missing texts are encoded and written in chunks of this many, so an interrupted long
        run keeps what it already encoded.
    """

    def __init__(
        self,
        encoder: SentenceEncoder,
        cache_dir: str | os.PathLike[str] | None = None,
        chunk_size: int = 4096,
    ) -> None:
        self.encoder = encoder
        self.model_id = encoder.model_id
        self.dim = int(encoder.dim)
        self.cache = VectorCache(cache_dir, self.model_id, self.dim)
        self.chunk_size = int(chunk_size)
        self.last_encoded = 0
        self.last_cached = 0

    def __repr__(self) -> str:
        return f"CachedEncoder({self.encoder!r}, cache={str(self.cache.path)!r})"

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Encode ``texts`` like the wrapped encoder, reading and filling the cache."""
        texts = _check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        unique = list(dict.fromkeys(texts))
        keys = [text_key(t) for t in unique]
        found = self.cache.get_many(keys)
        missing = [i for i, key in enumerate(keys) if key not in found]
        vectors: dict[str, np.ndarray] = {
            unique[i]: found[keys[i]] for i in range(len(unique)) if keys[i] in found
        }
        for start in range(0, len(missing), self.chunk_size):
            chunk = missing[start : start + self.chunk_size]
            encoded = self.encoder.encode([unique[i] for i in chunk], batch_size=batch_size)
            encoded = np.asarray(encoded, dtype=np.float32)
            self.cache.put_many([keys[i] for i in chunk], encoded)
            for row, i in enumerate(chunk):
                vectors[unique[i]] = encoded[row]
        for row, text in enumerate(texts):
            out[row] = vectors[text]
        self.last_encoded = len(missing)
        self.last_cached = len(unique) - len(missing)
        logger.info(
            "encoded %d texts, %d from cache (%s)",
            self.last_encoded,
            self.last_cached,
            self.model_id,
        )
        return out

    def close(self) -> None:
        """Close the cache file."""
        self.cache.close()
