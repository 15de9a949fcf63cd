"""Record files: JSONL, JSON and MemAgent Parquet round trips, atomic writes, errors that name the input."""

from __future__ import annotations

import json

import pytest

from memocr.data import QARecord, RecordWriter, iter_records, load_records, write_records
from memocr.errors import InputError


def records(count: int = 3) -> list[QARecord]:
    return [
        QARecord(
            id=f"hotpotqa-50-{i}",
            dataset="hotpotqa",
            input=f"Question {i} — é?",
            answers=[f"Answer {i}", "alias"],
            context=f'Document 1:\nTitle\n"quoted" text\twith tab {i}\n\nDocument 2:\nX\nY',
            num_docs=2,
            index=i,
            supporting_facts=[f"text\twith tab {i}"],
            extra={"evidence_idx": [0], "level": "hard"},
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_round_trip(tmp_path, suffix):
    path = tmp_path / f"set{suffix}"
    assert write_records(path, records()) == 3
    loaded = load_records(path)
    if suffix == ".parquet":  # MemAgent's schema keeps no free-form extras
        assert [r.extra for r in loaded] == [{}, {}, {}]
        loaded = [QARecord(**{**r.to_dict(), "extra": records()[0].extra}) for r in loaded]
    assert loaded == records()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_parquet_uses_memagent_schema(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "dev.parquet"
    write_records(path, records(1))
    row = pq.read_table(path).to_pylist()[0]
    assert row["data_source"] == "hotpotqa"
    assert row["prompt"] == [{"role": "user", "content": "Question 0 — é?"}]
    assert row["ability"] == "memory"
    assert row["reward_model"] == {"style": "rule", "ground_truth": ["Answer 0", "alias"]}
    assert {k: row["extra_info"][k] for k in ("index", "question", "num_docs")} == {
        "index": 0,
        "question": "Question 0 — é?",
        "num_docs": 2,
    }


def test_reads_memagent_parquet_without_our_keys(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {
            "data_source": "hotpotqa",
            "prompt": [{"role": "user", "content": "Who?"}],
            "context": "Document 1:\nA\nB",
            "ability": "memory",
            "reward_model": {"style": "rule", "ground_truth": ["Ann"]},
            "extra_info": {"index": 7, "question": "Who?", "num_docs": 200},
        }
    ]
    path = tmp_path / "hotpotqa_dev.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    (record,) = load_records(path)
    assert (record.id, record.input, record.answers, record.num_docs, record.index) == (
        "hotpotqa-200-7",
        "Who?",
        ["Ann"],
        200,
        7,
    )


def test_released_json_file_loads_with_the_dataset_named(tmp_path):
    path = tmp_path / "eval_hotpotqa_50.json"
    path.write_text(
        json.dumps(
            [{"context": "c", "input": "q?", "answers": ["a"], "num_docs": 50, "index": 3, "level": "hard"}],
            indent=4,
        )
    )
    (record,) = load_records(path, dataset="hotpotqa")
    assert (record.id, record.dataset, record.extra) == ("hotpotqa-50-3", "hotpotqa", {"level": "hard"})


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_records_without_a_dataset_name_take_the_file_stem(tmp_path, suffix):
    from memocr.eval.config import EvalConfig
    from memocr.eval.questions import load_questions

    rows = [{"context": "c", "input": "q?", "answers": ["a"], "num_docs": 24, "index": i} for i in range(2)]
    rows.append({**rows[0], "index": 2, "dataset": "hotpotqa"})  # a record's own name wins
    path = tmp_path / f"my_questions{suffix}"
    text = "".join(json.dumps(row) + "\n" for row in rows) if suffix == ".jsonl" else json.dumps(rows)
    path.write_text(text)
    expected = [("my_questions-24-0", "my_questions"), ("my_questions-24-1", "my_questions")]
    expected.append(("hotpotqa-24-2", "hotpotqa"))
    assert [(r.id, r.dataset) for r in load_records(path)] == expected
    assert [(q.id, q.dataset) for q in load_questions(EvalConfig(dataset=[str(path)]))] == expected


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match=r"nope\.jsonl: no such file"):
        load_records(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match=r"unknown record file type '\.csv'"):
        load_records(tmp_path / "set.csv")


def test_bad_json_line_is_named(tmp_path):
    path = tmp_path / "set.jsonl"
    write_records(path, records(3))
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:20] + "}"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"set\.jsonl line 2: not valid JSON"):
        load_records(path)


def test_torn_last_line_is_reported_as_cut_short(tmp_path):
    path = tmp_path / "set.jsonl"
    write_records(path, records(3))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    with pytest.raises(InputError, match=r"line 3: the last record is cut short"):
        load_records(path)


def test_records_stream_before_a_bad_line(tmp_path):
    path = tmp_path / "set.jsonl"
    write_records(path, records(2))
    with path.open("a") as handle:
        handle.write("{not json}\n")
    stream = iter_records(path)
    assert next(stream).index == 0 and next(stream).index == 1
    with pytest.raises(InputError, match="line 3"):
        next(stream)


def test_wrong_field_type_names_file_line_and_field(tmp_path):
    path = tmp_path / "set.jsonl"
    rows = [r.to_dict() for r in records(2)]
    rows[1]["answers"] = [1, 2]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(InputError, match=r"set\.jsonl line 2: field 'answers' must be"):
        load_records(path)
    json_path = tmp_path / "set.json"
    rows[1]["answers"] = ["ok"]
    rows[0]["num_docs"] = "50"
    json_path.write_text(json.dumps(rows))
    with pytest.raises(InputError, match=r"set\.json row 1: field 'num_docs' must be an integer"):
        load_records(json_path)


def test_truncated_json_list_names_the_line(tmp_path):
    path = tmp_path / "set.json"
    write_records(path, records(3))
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(InputError, match=r"set\.json line \d+: not valid JSON .*not written completely"):
        load_records(path)


def test_truncated_parquet_is_an_input_error(tmp_path):
    path = tmp_path / "set.parquet"
    write_records(path, records(3))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"set\.parquet: not a readable Parquet file"):
        load_records(path)


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, suffix):
    path = tmp_path / f"set{suffix}"
    write_records(path, records(1))
    before = path.read_bytes()

    def failing():
        yield from records(2)
        raise RuntimeError("killed mid-way")

    with pytest.raises(RuntimeError):
        write_records(path, failing())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_write_pieces_equals_write_of_the_joined_context(tmp_path):
    record = records(1)[0]
    pieces = ["Document 1:\n", 'a "quoted"\n', "ünïcode\t", "end"]
    with RecordWriter(tmp_path / "a.jsonl") as writer:
        writer.write_pieces(record, pieces)
    whole = QARecord(**{**record.to_dict(), "context": "".join(pieces)})
    write_records(tmp_path / "b.jsonl", [whole])
    assert load_records(tmp_path / "a.jsonl") == [whole] == load_records(tmp_path / "b.jsonl")
