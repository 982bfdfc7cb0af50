"""The bundled all-MiniLM-L6-v2 encoder, loaded offline."""

from __future__ import annotations

import numpy as np
import pytest

from lgrec.text import EncoderError, SentenceEncoder, bundled_model_dir, load_encoder


def test_shape_dtype_and_unit_rows(minilm) -> None:
    vectors = minilm.encode(["Toy Story (1995)", "GoldenEye (1995)", "Toy Story (1995)"])
    assert isinstance(minilm, SentenceEncoder)
    assert minilm.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert minilm.dim == 384
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Duplicates are encoded once and returned at every position.
    np.testing.assert_array_equal(vectors[0], vectors[2])


def test_order_and_batching_do_not_change_vectors(minilm) -> None:
    texts = ["a", "a much longer text about space travel and robots", "medium length text"]
    one_batch = minilm.encode(texts, batch_size=64)
    tiny_batches = minilm.encode(texts[::-1], batch_size=1)[::-1]
    np.testing.assert_allclose(one_batch, tiny_batches, atol=1e-5)


def test_semantic_sanity(minilm) -> None:
    query, toy_story, horror = minilm.encode(
        [
            "animated film for kids",
            "Toy Story (1995). Animation Children's Comedy",
            "The Texas Chainsaw Massacre (1974). Horror",
        ]
    )
    assert float(query @ toy_story) > float(query @ horror) + 0.1


def test_empty_input(minilm) -> None:
    assert minilm.encode([]).shape == (0, 384)


def test_bad_input(minilm) -> None:
    with pytest.raises(TypeError, match="list of texts"):
        minilm.encode("a single string")
    with pytest.raises(TypeError, match="text 1"):
        minilm.encode(["ok", None])


def test_local_directory_loads_the_same_model(minilm) -> None:
    # A directory path goes through the same loader; its id is the resolved path.
    local = load_encoder(str(bundled_model_dir()), progress=False)
    assert local.model_id == str(bundled_model_dir().resolve())
    np.testing.assert_allclose(
        local.encode(["Heat (1995)"]), minilm.encode(["Heat (1995)"]), atol=1e-6
    )


def test_missing_directory_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(EncoderError, match="does not exist"):
        load_encoder(str(tmp_path / "no-such-model"))
