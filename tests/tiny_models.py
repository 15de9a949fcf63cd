"""The tiny random models of `memocr.models.tiny`, under the name the tests have always imported."""

from memocr.models.tiny import (
    CHATML_TEMPLATE,
    QWEN_SPECIAL_TOKENS,
    build_tiny_qwen2_5_vl,
    build_tiny_text_lm,
    build_tiny_tokenizer,
)

__all__ = [
    "CHATML_TEMPLATE",
    "QWEN_SPECIAL_TOKENS",
    "build_tiny_qwen2_5_vl",
    "build_tiny_text_lm",
    "build_tiny_tokenizer",
]
