"""No file a command writes holds a credential: a model spec with ``user:password@`` and ``api_key=``
goes through eval, report, analyze and a tiny training run, then every file they wrote is searched."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_openai import FakeOpenAIServer
from memocr.cli import main
from test_eval_runner import POISON, QUESTIONS, _dataset, _reply

SECRETS = [b"SECRET123", b"user:pw", b"pw@"]
# train-tiny, smaller still, with a text memory (no browser): one question, two rollouts of one turn.
TINY_TRAIN = ["--n", "2", "--batch-questions", "1", "--offline-docs", "4", "--chunk-tokens", "1200"]
TINY_TRAIN += ["--budget", "16", "--max-memory-tokens", "16", "--max-answer-tokens", "8"]
TINY_TRAIN += ["--memory", "text", "--weight-aug-m", "0", "--weight-aug-q", "0", "--max-steps", "1"]


def with_credentials(spec: str) -> str:
    return spec.replace("openai://", "openai://user:pw@") + "&api_key=SECRET123"


def leaks(folder: Path) -> list[str]:
    return [
        f"{path}: {secret.decode()}"
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        for secret in SECRETS
        if secret in path.read_bytes()
    ]


@pytest.mark.slow
def test_eval_report_analyze_and_train_write_no_credential(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    with FakeOpenAIServer() as server:
        server.state.reply_fn = _reply
        spec = with_credentials(server.spec)
        dataset = _dataset(tmp_path / "toy.jsonl", [*QUESTIONS, POISON])  # one fails: its error is kept
        argv = ["--dataset", str(dataset), "--mode", "text", "--budget", "64,16", "--model", spec]
        assert main(["eval", *argv, "--out", str(run)]) == 1
        assert main(["eval", *argv, "--out", str(run)]) == 1  # resumes (the stored spec matches), retries
        assert main(["report", str(run)]) == 0
        assert main(["analyze", str(run), "--no-oracle", "--model", spec]) == 0
    assert (run / "report" / "index.html").is_file() and (run / "analysis" / "analysis-config.yaml").is_file()

    from memocr.train import engine

    build_engine = engine.build_engine

    def local_engine(spec: str, *args, **kwargs):  # no vLLM server here: generate with the policy itself
        return build_engine("local", *args, **kwargs)

    monkeypatch.setattr(engine, "build_engine", local_engine)
    train = tmp_path / "train"
    engine_spec = "openai://user:pw@127.0.0.1:9/v1?model=policy&api_key=SECRET123"
    assert main(["train", *TINY_TRAIN, "--engine", engine_spec, "--out", str(train)]) == 0
    assert (train / "checkpoint-1" / "memocr-train.json").is_file()

    printed = capsys.readouterr()
    assert leaks(tmp_path) == [] and not any(s.decode() in printed.out + printed.err for s in SECRETS)
