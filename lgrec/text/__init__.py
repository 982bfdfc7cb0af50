"""Language models for lgrec: sentence encoders, their vector cache, row templates and
generative backends with the prompts for profiles, intents and explanations.

Nothing here knows about graphs. Heavy libraries (sentence-transformers, llama-cpp-python) are
imported only when a model is loaded, so importing this package is cheap.

    from lgrec.text import CachedEncoder, load_encoder, rows_to_text

    encoder = CachedEncoder(load_encoder())          # bundled all-MiniLM-L6-v2, offline
    texts = rows_to_text(items, template="{title} ({year}). Genres: {genres}",
                         list_columns=["genres"])
    vectors = encoder.encode(texts)                  # (n, 384) float32, unit rows
"""

from lgrec.text.cache import (
    CachedEncoder,
    CacheError,
    TextCache,
    VectorCache,
    default_cache_dir,
    text_key,
)
from lgrec.text.encoder import (
    DEFAULT_ENCODER,
    EncoderError,
    SentenceEncoder,
    SentenceTransformerEncoder,
    bundled_model_dir,
    load_encoder,
)
from lgrec.text.llm import (
    DEFAULT_LLM,
    CachedLLM,
    ChatBackend,
    LlamaCppBackend,
    LLMError,
    OpenAIBackend,
    default_gguf_path,
    load_llm,
)
from lgrec.text.prompts import (
    Explanation,
    display_name,
    explain_recommendation,
    explanation_messages,
    fallback_explanation,
    generate_profile,
    intent_messages,
    mentioned,
    profile_messages,
    rewrite_intent,
)
from lgrec.text.templates import rows_to_text

__all__ = [
    "DEFAULT_ENCODER",
    "DEFAULT_LLM",
    "CacheError",
    "CachedEncoder",
    "CachedLLM",
    "ChatBackend",
    "EncoderError",
    "Explanation",
    "LLMError",
    "LlamaCppBackend",
    "OpenAIBackend",
    "SentenceEncoder",
    "SentenceTransformerEncoder",
    "TextCache",
    "VectorCache",
    "bundled_model_dir",
    "default_cache_dir",
    "default_gguf_path",
    "display_name",
    "explain_recommendation",
    "explanation_messages",
    "fallback_explanation",
    "generate_profile",
    "intent_messages",
    "load_encoder",
    "load_llm",
    "mentioned",
    "profile_messages",
    "rewrite_intent",
    "rows_to_text",
    "text_key",
]
