"""Token-level slicing of documents and memories with the drafting model's own tokenizer."""

from __future__ import annotations

import re
from dataclasses import dataclass

from memocr.errors import InputError
from memocr.models.base import Tokenizer

_REPLACEMENT = "\ufffd"
_MAX_CHARACTER_TOKENS = 4  # a UTF-8 character is at most 4 bytes, so at most 4 byte tokens


@dataclass(frozen=True)
class Chunk:
    text: str
    tokens: int


def chunk_document(text: str, tokenizer: Tokenizer, chunk_tokens: int) -> tuple[list[Chunk], int]:
    """Split ``text`` into consecutive chunks of ``chunk_tokens`` tokens (the last one holds the rest).

    The document is tokenized once and each slice decoded back, so chunk boundaries are exactly the
    model's token boundaries (moved by a token or three where a cut would split a character).
    Returns the chunks and the document's length in tokens.
    """
    if chunk_tokens < 1:
        raise InputError(f"chunk size must be at least 1 token, got {chunk_tokens}")
    ids = tokenizer.encode(text)
    chunks = []
    start = 0
    while start < len(ids):
        end = min(start + chunk_tokens, len(ids))
        chunk = tokenizer.decode(ids[start:end])
        # Byte-level tokenizers can cut a character (CJK, emoji) in two; move the cut past it.
        for _ in range(_MAX_CHARACTER_TOKENS):
            if end == len(ids) or not chunk.endswith(_REPLACEMENT):
                break
            end += 1
            chunk = tokenizer.decode(ids[start:end])
        chunks.append(Chunk(chunk, end - start))
        start = end
    return chunks, len(ids)


def truncate_to_tokens(text: str, tokenizer: Tokenizer, max_tokens: int) -> tuple[str, int]:
    """The first ``max_tokens`` tokens of ``text`` (how text-memory baselines meet a budget)."""
    ids = tokenizer.encode(text)
    kept = ids[:max_tokens]
    return (text if len(kept) == len(ids) else tokenizer.decode(kept)), len(kept)


_THINK_END = "</think>"
_LEADING_FENCE = re.compile(r"^```[A-Za-z]*[ \t]*\n")
_TRAILING_FENCE = re.compile(r"\n?```\s*$")


def clean_memory(response: str) -> str:
    """The memory a drafting response holds: anything up to a closing think tag and a wrapping
    Markdown fence (```markdown ... ```) removed, surrounding whitespace stripped.

    An HTML memory keeps its ```html fence: the HTML renderer looks for it.
    """
    if _THINK_END in response:
        response = response.rsplit(_THINK_END, 1)[1]
    response = response.strip()
    if response.startswith("```html"):
        return response
    if _LEADING_FENCE.match(response):
        response = _LEADING_FENCE.sub("", response, count=1)
        response = _TRAILING_FENCE.sub("", response)
    return response.strip()
