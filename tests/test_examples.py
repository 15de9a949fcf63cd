"""The shipped sample document really poses a two-hop question over a long read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load((EXAMPLES / "harbour_town.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def document(spec: dict) -> str:
    return (EXAMPLES / spec["document"]).read_text(encoding="utf-8")


def test_spec_is_complete(spec: dict) -> None:
    assert spec["question"].endswith("?")
    assert spec["answers"] and all(isinstance(a, str) and a for a in spec["answers"])
    assert len(spec["evidence"]) == 2


def test_document_is_long_enough_to_need_several_chunks(document: str) -> None:
    assert len(document.split()) >= 5000


def test_each_evidence_sentence_occurs_exactly_once(spec: dict, document: str) -> None:
    for sentence in spec["evidence"]:
        assert document.count(sentence) == 1, sentence


def test_evidence_sentences_lie_far_apart(spec: dict, document: str) -> None:
    first, second = (document.index(sentence) / len(document) for sentence in spec["evidence"])
    assert second - first >= 0.4


def test_answer_is_not_given_away_early(spec: dict, document: str) -> None:
    first_half = document[: len(document) // 2].lower()
    for answer in spec["answers"]:
        assert answer.lower() not in first_half
