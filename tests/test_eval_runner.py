"""`memocr eval`'s runner against a fake OpenAI-compatible server on 127.0.0.1 and real Chromium:
records per question × mode × budget, drafting shared by budgets, failures recorded, resume after a
partial run, after `kill -9` and a torn line, settings changes refused, and the same run on a local Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from fake_openai import FakeOpenAIServer
from memocr.cli import main
from memocr.data.record import QARecord
from memocr.errors import ConfigError
from memocr.eval.config import EvalConfig
from memocr.eval.results import read_drafts, read_results
from memocr.eval.runner import evaluate

QUESTIONS = {
    "Which river runs through Velmora?": "Tarn",
    "Who founded Ashby Glassworks?": "Orla Penhallow",
    "Where was the Kestrel Bridge built?": "Larch Crossing",
}
# The model "knows" every answer but this one's, so accuracy is 2/3 in every cell.
WRONG = "Where was the Kestrel Bridge built?"
POISON = "Which poisoned question fails?"


def _text(body: dict) -> str:
    parts = []
    for message in body["messages"]:
        content = message["content"]
        parts += [content] if isinstance(content, str) else [p.get("text", "") for p in content]
    return "\n".join(parts)


def _reply(body: dict) -> str:
    prompt = _text(body)
    question = next((q for q in [*QUESTIONS, POISON] if q in prompt), None)
    if question == POISON:
        raise ValueError("poisoned question")
    gold = QUESTIONS[question]
    if "Your answer:" not in prompt:  # a drafting turn
        return f"# {gold}\n\nNotes about **{gold}** from the article."
    return "\\boxed{Nowhere}" if question == WRONG else f"\\boxed{{{gold}}}"


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer() as fake:
        fake.state.reply_fn = _reply
        yield fake


def _dataset(path: Path, questions: list[str]) -> Path:
    with path.open("w", encoding="utf-8") as stream:
        for index, question in enumerate(questions):
            record = QARecord(
                id=f"toy-{index}",
                dataset="toy",
                input=question,
                answers=[QUESTIONS.get(question, "x")],
                context=f"Document 1:\nA page about {question}\n\nDocument 2:\nFiller text.",
                num_docs=2,
                index=index,
                supporting_facts=["A page about it."],
            )
            stream.write(json.dumps(record.to_dict()) + "\n")
    return path


def _config(tmp_path: Path, server, **overrides) -> EvalConfig:
    if "dataset" not in overrides:
        overrides["dataset"] = [str(_dataset(tmp_path / "toy.jsonl", list(QUESTIONS)))]
    values = {
        "mode": ["visual", "text"],
        "budget": [256, 16],
        "model": server.spec,
        "out": tmp_path / "run",
        "concurrency": 2,
    }
    return EvalConfig(**(values | overrides))


def _drafting_calls(server) -> int:
    return sum("Your answer:" not in _text(body) for body in server.state.requests)


def test_one_record_per_question_mode_budget_and_drafting_shared_by_budgets(tmp_path, server):
    server.state.requests.clear()
    config = _config(tmp_path, server)
    outcome = evaluate(config, progress=False)

    records = read_results(config.out)
    assert len(records) == len(outcome.records) == 3 * 2 * 2
    assert Counter(r.key for r in records).most_common(1)[0][1] == 1
    assert _drafting_calls(server) == 3 * 2  # one drafting pass per question × mode, not per budget
    for record in records:
        gold_known = record.golds[0] != "Larch Crossing"
        assert record.sub_em == (1.0 if gold_known else 0.0)
        assert record.seed == config.question_seed(record.question_id)
        assert (config.out / record.trace).is_dir()
        if record.mode == "visual":
            assert record.visual_tokens is not None and record.visual_tokens <= record.budget
            assert (config.out / record.trace / f"budget-{record.budget}.png").is_file()
        else:
            assert record.memory_tokens is not None and record.memory_tokens <= record.budget
    assert {(d.question_id, d.mode) for d in read_drafts(config.out)} == {
        (f"toy-{i}", mode) for i in range(3) for mode in ("visual", "text")
    }
    saved = yaml.safe_load((config.out / "config.yaml").read_text())
    assert saved["model"] == server.spec and saved["budget"] == [256, 16]
    # Every request carried the question's own seed.
    assert {body["seed"] for body in server.state.requests} == {
        config.question_seed(f"toy-{i}") for i in range(3)
    }


def test_a_failed_question_is_recorded_and_the_run_goes_on_then_is_retried(tmp_path, server):
    dataset = _dataset(tmp_path / "poisoned.jsonl", [*QUESTIONS, POISON])
    config = _config(tmp_path, server, dataset=[str(dataset)], mode=["text"])
    outcome = evaluate(config, progress=False)

    failed = [r for r in read_results(config.out) if r.failed]
    assert {(r.question_id, r.budget) for r in failed} == {("toy-3", 256), ("toy-3", 16)}
    assert failed[0].error["stage"] == "drafting" and "poisoned" in failed[0].error["message"]
    assert failed[0].sub_em is None
    assert len(outcome.records) == 4 * 2

    again = evaluate(config, progress=False)
    assert again.units == 1  # only the failed question is run again
    assert Counter(r.key for r in read_results(config.out)).most_common(1)[0][1] == 1


@pytest.mark.slow
def test_resume_answers_missing_budgets_from_the_stored_memory_without_drafting(tmp_path, server):
    config = _config(tmp_path, server, budget=[256])
    evaluate(config, progress=False)
    server.state.requests.clear()

    more = _config(tmp_path, server, budget=[256, 64, 16])
    outcome = evaluate(more, progress=False)

    assert _drafting_calls(server) == 0
    assert {r.budget for r in outcome.records} == {64, 16}
    assert outcome.skipped == 0 and outcome.units == 3 * 2
    records = read_results(more.out)
    assert len(records) == 3 * 2 * 3
    assert all(not r.failed for r in records)
    # The resumed answers are scored from the stored memory and carry its drafting time.
    first = {r.key[:-1]: r.seconds["draft"] for r in records if r.budget == 256}
    assert all(r.seconds["draft"] == first[r.key[:-1]] for r in records)

    rerun = evaluate(more, progress=False)
    assert rerun.units == 0 and rerun.skipped == 3 * 2 and not rerun.records


def test_changed_answer_settings_are_refused_in_an_existing_run(tmp_path, server):
    config = _config(tmp_path, server, mode=["text"], budget=[16])
    evaluate(config, progress=False)
    with pytest.raises(ConfigError, match=r"temperature: 0\.0 → 0\.7"):
        evaluate(_config(tmp_path, server, mode=["text"], budget=[16], temperature=0.7), progress=False)


@pytest.mark.slow
def test_resume_after_kill_9_and_a_torn_line_loses_and_duplicates_nothing(tmp_path, server):
    server.state.delay = 0.3
    try:
        out = tmp_path / "run"
        dataset = _dataset(tmp_path / "toy.jsonl", list(QUESTIONS))
        argv = [
            "--dataset", str(dataset), "--mode", "text", "--budget", "256,64,16",
            "--model", server.spec, "--out", str(out), "--concurrency", "1",
        ]  # fmt: skip
        process = subprocess.Popen(
            [sys.executable, "-m", "memocr.cli", "eval", *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        results = out / "results.jsonl"
        deadline = time.monotonic() + 60
        while not (results.exists() and results.read_text().count("\n") >= 3):
            assert process.poll() is None, "the run finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kept = results.read_text().count("\n")
        assert kept < 9
        with results.open("a") as stream:  # what a write cut short by the kill leaves
            stream.write('{"question_id": "toy-2", "dataset": "to')
    finally:
        server.state.delay = 0.0

    assert main(["eval", *argv]) == 0
    records = read_results(out)
    assert len(records) == 3 * 3
    assert all(not r.failed for r in records)
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(lines) == 3 * 3  # the killed run's records kept, none written twice, the torn line gone


def test_cli_prints_the_summary_table(tmp_path, server, capsys):
    dataset = _dataset(tmp_path / "toy.jsonl", list(QUESTIONS))
    argv = ["eval", "--dataset", str(dataset), "--mode", "text", "--budget", "64,16"]
    assert main([*argv, "--model", server.spec, "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "| text | 64 | toy | 2 | 3 | 0 | 66.7 |" in out
    assert "memocr report" in out


def test_unknown_named_dataset_says_how_to_build_it(tmp_path, server, capsys):
    argv = ["eval", "--dataset", "hotpotqa", "--data-dir", str(tmp_path), "--model", server.spec]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    assert "memocr data build hotpotqa" in capsys.readouterr().err


@pytest.mark.slow
def test_the_same_run_on_a_local_ray_cluster(tmp_path, server):
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    try:
        local = _config(tmp_path, server, out=tmp_path / "local")
        on_ray = _config(tmp_path, server, out=tmp_path / "ray", ray_address="local", ray_workers=2)
        evaluate(local, progress=False)
        evaluate(on_ray, progress=False)
    finally:
        ray.shutdown()

    def comparable(run_dir):
        return {
            r.key: (r.prediction, r.sub_em, r.visual_tokens, r.memory_tokens) for r in read_results(run_dir)
        }

    assert len(comparable(on_ray.out)) == 3 * 2 * 2
    assert comparable(on_ray.out) == comparable(local.out)
    assert len(read_drafts(on_ray.out)) == 3 * 2


@pytest.mark.parametrize(
    ("content", "flags", "message"),
    [
        ("", [], "has no questions"),
        ('{"input": "q?", "answers": ["a"]}\n', [], "line 1: missing field 'context'"),
        ("not json\n", [], "line 1: not valid JSON"),
        (None, ["--dataset", "notes.txt"], "a dataset name (e.g. hotpotqa)"),
        (None, ["--dataset", "offline", "--mode", "visual,bogus"], "must be a list of values from 'visual'"),
        (None, ["--dataset", "offline", "--budget", "0"], "budget (--budget) must be at least 1"),
    ],
)
def test_bad_input_is_one_line_naming_it_and_exit_2(tmp_path, capsys, content, flags, message):
    argv = ["eval", "--out", str(tmp_path / "run"), "--model", "openai://127.0.0.1:9/v1?model=none"]
    if content is not None:
        dataset = tmp_path / "set.jsonl"
        dataset.write_text(content)
        flags = ["--dataset", str(dataset)]
    assert main(argv + flags) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_bare_command_is_the_main_job_sized_run_and_overlaps_only_server_requests():
    from memocr.eval.questions import load_questions

    questions = load_questions(EvalConfig())
    assert [(q.dataset, q.num_docs) for q in questions] == [("offline", 20)] * 3
    assert EvalConfig().in_flight == 1  # the embedded model answers one request at a time
    assert EvalConfig(model="openai://127.0.0.1:8000/v1?model=m").in_flight == 8
    assert EvalConfig(model="openai://127.0.0.1:8000/v1?model=m", concurrency=2).in_flight == 2


def test_cli_exits_1_while_failed_answers_remain_and_the_same_command_retries_them(tmp_path, server, capsys):
    dataset = _dataset(tmp_path / "poisoned.jsonl", [*QUESTIONS, POISON])
    argv = ["eval", "--dataset", str(dataset), "--mode", "text", "--budget", "64,16", "--model", server.spec]
    argv += ["--out", str(tmp_path / "run"), "--concurrency", "2"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "2 answer(s) failed" in err and "run the same command again" in err and "poisoned" in err
    server.state.requests.clear()
    assert main(argv) == 1  # the failed question is asked again, the finished ones are not
    assert {_text(body).count(POISON) > 0 for body in server.state.requests} == {True}
    capsys.readouterr()
    answering = server.state.reply_fn
    server.state.reply_fn = lambda body: "\\boxed{x}" if POISON in _text(body) else answering(body)
    try:
        assert main(argv) == 0
    finally:
        server.state.reply_fn = answering
    assert "answer(s) failed" not in capsys.readouterr().err
    assert not [r for r in read_results(tmp_path / "run") if r.failed]


OLD_CONFIG = """\
dataset: [offline]
length: []
data_dir: data
n: null
mode: [visual, text]
budget: [1024, 256, 64, 16]
model: openai://user:pw@127.0.0.1:8000/v1?model=m&api_key=SECRET123
chunk_tokens: null
max_memory_tokens: null
max_answer_tokens: null
temperature: 0.0
top_p: 1.0
seed: 0
scoring: paper
profile: full
concurrency: null
out: runs/eval
ray_address: null
ray_workers: null
"""


def test_a_run_directory_started_before_the_settings_were_shared_still_resumes(tmp_path):
    """Its config.yaml (older field order, a spec with credentials) resumes; a changed setting does not."""
    from memocr.eval.run_dir import RunDirectory

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(OLD_CONFIG)
    (run / "results.jsonl").write_text("")
    spec = "openai://user:pw@127.0.0.1:8000/v1?model=m&api_key=SECRET123"
    RunDirectory(EvalConfig(model=spec, out=run)).open()
    stored = (run / "config.yaml").read_text()
    assert "SECRET123" not in stored and "pw@" not in stored
    assert yaml.safe_load(stored)["model"] == "openai://127.0.0.1:8000/v1?model=m"
    resumed = EvalConfig(model=spec.replace("SECRET123", "OTHER"), out=run)
    RunDirectory(resumed).open()  # a new key, same model
    # Started when the profile was always named: left unset now, it stays the directory's.
    assert resumed.profile == "full" == yaml.safe_load((run / "config.yaml").read_text())["profile"]
    with pytest.raises(ConfigError, match=r"profile: 'full' → 'memocr-v1'"):
        RunDirectory(EvalConfig(model=spec, out=run, profile="memocr-v1")).open()
