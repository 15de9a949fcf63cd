"""Chunking, truncation and memory clean-up."""

from __future__ import annotations

import pytest

from memocr.chunking import chunk_document, clean_memory, truncate_to_tokens
from scripted_model import WordTokenizer


def test_chunks_cover_the_document_in_order_with_a_short_last_chunk():
    tokenizer = WordTokenizer()
    text = " ".join(str(i) for i in range(12))
    chunks, total = chunk_document(text, tokenizer, 5)
    assert [chunk.text for chunk in chunks] == ["0 1 2 3 4", "5 6 7 8 9", "10 11"]
    assert [chunk.tokens for chunk in chunks] == [5, 5, 2]
    assert total == 12


class ByteTokenizer:
    """One token per UTF-8 byte, like the byte fallback of BPE tokenizers."""

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")


def test_chunks_never_cut_a_character_in_two():
    text = "港口🎉图书馆" * 7
    chunks, total = chunk_document(text, ByteTokenizer(), 5)
    assert "".join(chunk.text for chunk in chunks) == text
    assert all("\ufffd" not in chunk.text for chunk in chunks)
    assert sum(chunk.tokens for chunk in chunks) == total
    assert total == len(text.encode("utf-8"))


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError, match="chunk size"):
        chunk_document("a b", WordTokenizer(), 0)


def test_truncation_keeps_the_first_tokens_and_leaves_short_text_alone():
    tokenizer = WordTokenizer()
    assert truncate_to_tokens("a b c d", tokenizer, 2) == ("a b", 2)
    assert truncate_to_tokens("a  b", tokenizer, 5) == ("a  b", 2)


@pytest.mark.parametrize(
    ("response", "memory"),
    [
        ("# Title\n\ntext", "# Title\n\ntext"),
        ("```markdown\n# Title\n```", "# Title"),
        ("```\n- item\n```\n", "- item"),
        ("<think>reasoning</think>\n\n# Kept", "# Kept"),
        ("<think>a</think>x<think>b</think> final", "final"),
        ("```html\n<h1>x</h1>\n```", "```html\n<h1>x</h1>\n```"),
        ("   \n", ""),
    ],
)
def test_clean_memory(response, memory):
    assert clean_memory(response) == memory
