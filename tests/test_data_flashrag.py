"""FlashRAG builders: document counts, gold paragraphs, the released shuffle, sampling, errors, NQ."""

from __future__ import annotations

import json
import random
import sys

import pytest

from data_helpers import documents, multi_hop_row, single_hop_rows, write_corpus, write_flashrag, write_jsonl
from memocr.cli import main
from memocr.data import contexts, flashrag, load_records
from memocr.data.sources import read_hub, read_questions
from memocr.errors import InputError


def built(tmp_path, lengths=(10, 20), n=5, seed=42, **kwargs):
    questions = read_questions(write_flashrag(tmp_path / "dev.jsonl", **kwargs))
    return flashrag.build_dataset("hotpotqa", questions, lengths, n, seed=seed)


def test_contexts_hold_n_distinct_documents_including_every_own_paragraph(tmp_path):
    sets = built(tmp_path)
    for length, records in sets.items():
        assert len(records) == 5
        for record in records:
            docs = documents(record.context)
            assert len(docs) == record.num_docs == length
            assert len(set(docs)) == length
            row = multi_hop_row(record.index)["metadata"]["context"]
            own = [f"{t}\n{''.join(s)}" for t, s in zip(row["title"], row["sentences"], strict=True)]
            assert set(own) <= set(docs)
            assert record.id == f"hotpotqa-{length}-{record.index}"


def test_supporting_facts_are_the_named_sentences_verbatim(tmp_path):
    for record in built(tmp_path)[10]:
        i = record.index
        assert record.supporting_facts == [f"Its keeper is Person{i}.", f"Person{i} lives in Town{i}."]
        for fact in record.supporting_facts:
            assert fact in record.context
        assert record.answers == [f"Town{i}"]


def test_question_mark_appended_only_when_missing(tmp_path):
    for record in built(tmp_path, n=12)[10]:
        assert record.input == f"Where does the keeper of Gold {record.index}A live?"


def test_same_seed_same_files_other_seed_other_sample(tmp_path):
    first, again = built(tmp_path), built(tmp_path)
    assert first == again
    other = built(tmp_path, seed=7)
    assert [r.index for r in other[10]] != [r.index for r in first[10]]


def test_questions_are_the_released_seed_42_sample(tmp_path):
    records = built(tmp_path, n=5)[10]
    assert [r.index for r in records] == random.Random(42).sample(range(12), 5)
    assert [r.index for r in built(tmp_path, n=50)[10]] == list(range(12))  # fewer than n: all, in order


def test_shuffle_is_the_released_random_4_permutation(tmp_path):
    records = built(tmp_path, lengths=(20,))[20]
    perm = contexts.shuffle_order(20)
    # Own paragraphs come first before the shuffle: gold A (0) and gold B (1) land where perm puts 0 and 1.
    expected = [perm.index(0), perm.index(1)]
    for record in records:
        assert record.extra["evidence_idx"] == expected
        docs = documents(record.context)
        assert docs[expected[0]].startswith(f"Gold {record.index}A\n")
        assert docs[expected[1]].startswith(f"Gold {record.index}B\n")
    assert expected != [0, 1]


def test_padding_differs_between_questions(tmp_path):
    sets = built(tmp_path, lengths=(10, 20))
    pads = [frozenset(documents(r.context)) for r in sets[10]]
    assert len(set(pads)) == len(pads)


def test_fewer_documents_than_own_paragraphs_keeps_the_gold_ones(tmp_path):
    for record in built(tmp_path, lengths=(3,), distractors=4)[3]:
        docs = documents(record.context)
        assert len(docs) == 3
        assert {d.split("\n")[0] for d in docs} >= {f"Gold {record.index}A", f"Gold {record.index}B"}


def test_small_pool_gives_every_document_once(tmp_path):
    records = built(tmp_path, lengths=(500,), n=2)[500]
    pool_size = 12 * 2 + 7  # two gold paragraphs per question, 7 shared ones
    for record in records:
        docs = documents(record.context)
        assert len(docs) == len(set(docs)) == record.num_docs == pool_size


def test_two_wiki_content_key_and_dropped_questions(tmp_path):
    rows = [multi_hop_row(i, text_key="content") for i in range(6)]
    rows[2]["metadata"]["supporting_facts"]["title"][0] = "Not A Paragraph"
    questions = read_questions(write_jsonl(tmp_path / "2wiki.jsonl", rows))
    prepared = flashrag.prepare("2wikimultihopqa", questions)
    assert prepared.dropped == 1
    assert 2 not in {item.source.row for item in prepared.items}
    (record, *_) = flashrag.build(prepared, prepared.items[:1], 8)
    assert record.dataset == "2wikimultihopqa" and len(documents(record.context)) == 8


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda row: row.pop("golden_answers"), r"line 3: missing field 'golden_answers'"),
        (
            lambda row: row.update(golden_answers=[]),
            r"line 3: field 'golden_answers' must be a non-empty list",
        ),
        (lambda row: row.update(question=""), r"line 3: field 'question' must be a non-empty string"),
        (
            lambda row: row["metadata"]["context"]["sentences"].pop(),
            r"line 3: field 'metadata.context.sentences' must be a list as long as 'metadata.context.title'",
        ),
        (
            lambda row: row["metadata"]["supporting_facts"].update(sent_id=["1", 0]),
            r"line 3: field 'metadata.supporting_facts.sent_id' must be a list of integers",
        ),
    ],
)
def test_malformed_rows_name_file_line_and_field(tmp_path, change, message):
    rows = [multi_hop_row(i) for i in range(4)]
    change(rows[2])
    path = write_jsonl(tmp_path / "dev.jsonl", rows)
    with pytest.raises(InputError, match=r"dev\.jsonl " + message):
        read_questions(path)


def test_single_hop_needs_a_corpus(tmp_path):
    questions = read_questions(write_jsonl(tmp_path / "nq.jsonl", single_hop_rows()))
    with pytest.raises(InputError, match="--corpus"):
        flashrag.build_dataset("nq", questions, (10,), 5)


@pytest.mark.parametrize("flashrag_style", [False, True])
def test_single_hop_gold_passage_holds_the_answer_once(tmp_path, flashrag_style):
    questions = read_questions(write_jsonl(tmp_path / "nq.jsonl", single_hop_rows()))
    corpus = write_corpus(tmp_path / "corpus.jsonl", flashrag_style=flashrag_style)
    prepared = flashrag.prepare("nq", questions, corpus)
    assert prepared.dropped == 1  # question 4's answer is in no passage
    records = list(flashrag.build(prepared, prepared.items, 12))
    assert sorted(r.index for r in records) == [0, 1, 2, 3]
    for record in records:
        i = record.index
        docs = documents(record.context)
        assert len(docs) == 12
        holding = [d for d in docs if flashrag.holds_answer(d, record.answers)]
        assert len(holding) == 1  # the other answer0 passage is never padding
        (fact,) = record.supporting_facts
        assert fact in holding[0] and flashrag.holds_answer(fact, record.answers)
        if holding[0].startswith(f"Topic {i}\n"):
            assert fact == f"The thing is called Answer{i} by all."
        else:
            assert (i, fact) == (0, "Another mention of answer0 here.")
        assert record.input == f"what is thing {i} called?"


def test_holds_answer_matches_whole_words_only():
    assert flashrag.holds_answer("It was in PARIS, France.", ["Paris"])
    assert not flashrag.holds_answer("Parisian food", ["Paris"])
    assert flashrag.holds_answer("the U.S. army", ["U.S."])


def test_cli_writes_released_file_names_in_each_format(tmp_path, capsys):
    source = write_flashrag(tmp_path / "dev.jsonl")
    out = tmp_path / "out"
    for fmt in ("jsonl", "json", "parquet"):
        argv = ["data", "build", "hotpotqa", "--source", str(source), "--num-docs", "10,20", "--n", "3"]
        assert main([*argv, "--out", str(out), "--format", fmt]) == 0
        for length in (10, 20):
            records = load_records(out / f"eval_hotpotqa_{length}.{fmt}")
            assert [r.num_docs for r in records] == [length] * 3
    assert "wrote" in capsys.readouterr().out
    assert isinstance(json.loads((out / "eval_hotpotqa_10.json").read_text()), list)
    assert (out / "eval_hotpotqa.config.yaml").is_file()


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    assert main(["data", "build", "hotpotqa", "--source", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl: no such file" in capsys.readouterr().err
    assert (
        main(["data", "build", "nq", "--source", str(write_jsonl(tmp_path / "nq.jsonl", single_hop_rows()))])
        == 2
    )
    assert "--corpus" in capsys.readouterr().err


def test_hub_without_datasets_package_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails as if not installed
    with pytest.raises(InputError, match=r"needs the `datasets` package .* --source"):
        read_hub("hotpotqa")
