"""RULER-HotpotQA: lengths from a dev pool, questions taken from an eval file, records streamed."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from data_helpers import documents, write_hotpot_json
from memocr.cli import main
from memocr.data import load_records, ruler
from memocr.data.sources import read_questions
from memocr.errors import InputError
from memocr.eval.config import EvalConfig
from memocr.eval.questions import load_questions


def test_each_length_holds_that_many_documents_and_the_gold_paragraph(tmp_path):
    prepared = ruler.prepare(read_questions(write_hotpot_json(tmp_path / "dev.json", 6, extra_paragraphs=8)))
    items = ruler.select(prepared, n=4)
    for length in (5, 20, 40):
        path = tmp_path / f"eval_{length}.jsonl"
        assert ruler.write_length(prepared, items, length, path) == 4
        for record in load_records(path):
            i = record.index
            assert len(documents(record.context)) == record.num_docs == length
            assert f"Item {i}\nItem {i} is kept by Keeper{i}." in record.context
            assert record.input == f"Who keeps hotpot item {i}?"  # kept as written
            assert record.supporting_facts == [f"Item {i} is kept by Keeper{i}."]
            assert record.dataset == "ruler_hotpotqa"


def test_questions_follow_the_index_of_an_eval_file(tmp_path):
    prepared = ruler.prepare(read_questions(write_hotpot_json(tmp_path / "dev.json", 6)))
    eval_200 = tmp_path / "eval_200.json"
    rows = [{"context": "", "input": "q", "answers": ["a"], "num_docs": 200, "index": i} for i in (4, 1)]
    eval_200.write_text(json.dumps(rows))
    assert [item.source.row for item in ruler.select(prepared, indices_from=eval_200)] == [4, 1]
    rows.append({"context": "", "input": "q", "answers": ["a"], "num_docs": 200, "index": 99})
    eval_200.write_text(json.dumps(rows))
    with pytest.raises(InputError, match=r"eval_200\.json: question index 99"):
        ruler.select(prepared, indices_from=eval_200)


def test_memory_stays_far_below_one_record_at_thousands_of_documents(tmp_path):
    """4,000 documents of ~1 KB: a record is ~4.5 MB; writing it must not hold it (or the list of
    formatted documents) in memory: the peak is bounded by index lists and one document."""
    source = write_hotpot_json(tmp_path / "dev.json", 4, extra_paragraphs=1000, size=1000)
    prepared = ruler.prepare(read_questions(source))
    items = ruler.select(prepared, n=2)
    path = tmp_path / "eval_4000.jsonl"
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        ruler.write_length(prepared, items, 4000, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    record_bytes = path.stat().st_size / 2
    assert record_bytes > 4_000_000
    assert peak < record_bytes / 8, f"peak {peak:,} bytes for records of {record_bytes:,.0f}"
    assert [len(documents(r.context)) for r in load_records(path)] == [4000, 4000]


def test_cli_builds_every_asked_length(tmp_path, capsys):
    source = write_hotpot_json(tmp_path / "dev.json", 5, extra_paragraphs=10)
    argv = ["data", "build", "ruler-hotpotqa", "--source", str(source), "--n", "3", "--num-docs", "10,30"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    for length in (10, 30):
        assert [
            r.num_docs for r in load_records(tmp_path / "out" / f"eval_ruler_hotpotqa_{length}.jsonl")
        ] == [length] * 3
    assert "eval_ruler_hotpotqa_30.jsonl: 3 questions, 30 documents each" in capsys.readouterr().out
    # The evaluation finds the built files under the name the build command was given, or the records'.
    for name in ("ruler-hotpotqa", "ruler_hotpotqa"):
        config = EvalConfig(dataset=[name], length=[10, 30], data_dir=tmp_path / "out")
        assert [(q.dataset, q.num_docs) for q in load_questions(config)] == [("ruler_hotpotqa", 10)] * 3 + [
            ("ruler_hotpotqa", 30)
        ] * 3


def test_source_without_paragraphs_is_refused(tmp_path):
    path = tmp_path / "nq.jsonl"
    path.write_text(json.dumps({"question": "q", "golden_answers": ["a"]}) + "\n")
    with pytest.raises(InputError, match="carry no paragraphs"):
        ruler.prepare(read_questions(path))
