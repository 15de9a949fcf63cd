"""Tiny FlashRAG / HotpotQA / passage-corpus files for the data tests, written into tmp_path."""

from __future__ import annotations

import json
import re
from pathlib import Path


def multi_hop_row(i: int, distractors: int = 3, text_key: str = "sentences") -> dict:
    """A HotpotQA-like FlashRAG row: two gold paragraphs (one supporting sentence each) and
    ``distractors`` paragraphs shared with the neighbouring question (so the pool has duplicates)."""
    titles = [f"Gold {i}A", f"Gold {i}B"] + [f"Shared {(i + k) % 7}" for k in range(distractors)]
    sentences = [
        [f"Gold {i}A opens here.", f" Its keeper is Person{i}."],
        [f"Person{i} lives in Town{i}.", " Nothing else matters."],
    ] + [[f"Shared paragraph {(i + k) % 7} says little.", " Really."] for k in range(distractors)]
    question = f"Where does the keeper of Gold {i}A live" + ("?" if i % 2 else "")
    return {
        "id": f"q{i}",
        "question": question,
        "golden_answers": [f"Town{i}"],
        "metadata": {
            "type": "bridge",
            "level": "hard",
            "context": {"title": titles, text_key: sentences},
            "supporting_facts": {"title": [f"Gold {i}A", f"Gold {i}B"], "sent_id": [1, 0]},
        },
    }


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_flashrag(path: Path, questions: int = 12, **kwargs) -> Path:
    return write_jsonl(path, [multi_hop_row(i, **kwargs) for i in range(questions)])


def write_hotpot_json(path: Path, questions: int = 6, extra_paragraphs: int = 0, size: int = 40) -> Path:
    """The original HotpotQA layout: ``context = [[title, [sentences]]]``; each question brings two
    gold paragraphs and ``extra_paragraphs`` unique filler ones of about ``size`` characters."""
    rows = []
    for i in range(questions):
        filler = [
            [f"Filler {i}-{k}", [f"Filler text {i}-{k} " + "x" * size + "."]] for k in range(extra_paragraphs)
        ]
        rows.append(
            {
                "_id": f"h{i}",
                "question": f"Who keeps hotpot item {i}?",
                "answer": f"Keeper{i}",
                "context": [
                    [f"Item {i}", [f"Item {i} is kept by Keeper{i}."]],
                    [f"Side {i}", ["Side note."]],
                    *filler,
                ],
                "supporting_facts": [[f"Item {i}", 0]],
                "type": "bridge",
                "level": "easy",
            }
        )
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def write_corpus(path: Path, flashrag_style: bool = False) -> Path:
    """Passages: one holding each single-hop answer ``Answer{i}`` (i < 4), a second one for i == 0,
    and 30 that hold none."""
    passages = [
        (f"Topic {i}", f"Some intro. The thing is called Answer{i} by all. Closing words.") for i in range(4)
    ]
    passages.append(("Topic 0 again", "Another mention of answer0 here."))
    passages += [(f"Noise {k}", f"Noise passage number {k} about nothing.") for k in range(30)]
    if flashrag_style:
        rows = [{"id": str(k), "contents": f'"{t}"\n{x}'} for k, (t, x) in enumerate(passages)]
    else:
        rows = [{"title": t, "text": x} for t, x in passages]
    return write_jsonl(path, rows)


def single_hop_rows(count: int = 5) -> list[dict]:
    """NQ-like FlashRAG rows: question and answers only; question 4's answer is in no passage."""
    return [
        {"id": f"nq{i}", "question": f"what is thing {i} called", "golden_answers": [f"Answer{i}"]}
        for i in range(count)
    ]


def documents(context: str) -> list[str]:
    """The documents of a context, each ``title\\ntext``, checking the ``Document i:`` numbering."""
    parts = re.split(r"(?:^|\n\n)Document (\d+):\n", context)
    assert parts[0] == ""
    numbers, texts = parts[1::2], parts[2::2]
    assert numbers == [str(i + 1) for i in range(len(numbers))]
    return texts
