"""The offline set: deterministic two-hop questions about invented entities among distractors."""

from __future__ import annotations

from data_helpers import documents
from memocr.cli import main
from memocr.data import OFFLINE_LENGTHS, build_offline, load_records

N = 10


def test_deterministic_and_seeded():
    assert build_offline(20, N) == build_offline(20, N)
    assert [r.input for r in build_offline(20, N, seed=1)] != [r.input for r in build_offline(20, N)]


def test_records_have_the_asked_documents_ids_and_short_answers():
    for length in OFFLINE_LENGTHS:
        records = build_offline(length, N)
        assert [r.id for r in records] == [f"offline-{length}-{i}" for i in range(N)]
        for record in records:
            assert record.dataset == "offline" and record.num_docs == length
            assert len(documents(record.context)) == length
            (answer,) = record.answers
            assert 1 <= len(answer.split()) <= 3
            assert record.input.endswith("?")


def test_two_hops_in_two_documents_and_the_answer_once():
    for record in build_offline(64, N):
        first, bridge, answer = record.extra["entities"]
        hop1, hop2 = record.supporting_facts
        assert first in record.input and bridge not in record.input and answer not in record.input
        assert first in hop1 and bridge in hop1 and answer not in hop1
        assert bridge in hop2 and answer in hop2
        assert record.context.count(answer) == 1
        docs = documents(record.context)
        holding = [[k for k, doc in enumerate(docs) if fact in doc] for fact in (hop1, hop2)]
        assert holding == [[k] for k in record.extra["evidence_idx"]]
        assert holding[0] != holding[1]
        assert docs[holding[0][0]].startswith(first + "\n")
        assert docs[holding[1][0]].startswith(bridge + "\n")


def test_distractors_never_name_the_question_entities():
    for record in build_offline(200, N):
        gold = set(record.extra["evidence_idx"])
        for k, doc in enumerate(documents(record.context)):
            if k not in gold:
                assert not any(name in doc for name in record.extra["entities"]), doc


def test_every_template_is_used():
    assert len({r.extra["template"] for r in build_offline(20, 5)}) == 5


def test_same_question_and_gold_at_every_length_only_distractors_grow():
    sets = [build_offline(length, N) for length in OFFLINE_LENGTHS]
    for records in zip(*sets, strict=True):
        assert len({(r.input, tuple(r.answers), tuple(r.supporting_facts)) for r in records}) == 1
        gold = [{documents(r.context)[k] for k in r.extra["evidence_idx"]} for r in records]
        assert gold[0] == gold[1] == gold[2]
        docs = [set(documents(r.context)) for r in records]
        assert docs[0] < docs[1] < docs[2]


def test_lengths_span_one_chunk_to_about_twenty_thousand_tokens():
    # Measured with the SmolLM2 tokenizer: about 1.8 tokens per word here; see docs/data.md.
    words = [sum(len(r.context.split()) for r in build_offline(length, 4)) / 4 for length in OFFLINE_LENGTHS]
    assert 800 < words[0] < 1400
    assert 9000 < words[-1] < 14000


def test_cli_writes_the_offline_files(tmp_path, capsys):
    assert main(["data", "build", "offline", "--n", "3", "--out", str(tmp_path)]) == 0
    for length in OFFLINE_LENGTHS:
        assert load_records(tmp_path / f"eval_offline_{length}.jsonl") == build_offline(length, 3)
    assert capsys.readouterr().out.count("wrote") == len(OFFLINE_LENGTHS)
