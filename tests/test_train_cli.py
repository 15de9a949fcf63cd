"""`memocr train` from the command line: the shipped tiny config (the default), then `memocr ask` on
its checkpoint."""

from __future__ import annotations

import pytest

from memocr.cli import main

# train-tiny, smaller still: one question, two rollouts, one drafting turn each, short answers.
FAST = [
    "--n",
    "2",
    "--batch-questions",
    "1",
    "--offline-docs",
    "4",
    "--chunk-tokens",
    "1200",
    "--budget",
    "16",
]
FAST += ["--max-memory-tokens", "16", "--max-answer-tokens", "8"]


@pytest.mark.slow
def test_train_without_a_config_runs_train_tiny_then_ask_uses_its_checkpoint(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["train", "--max-steps", "1", "--out", str(out), *FAST]) == 0
    printed = capsys.readouterr().out
    assert "step 1/1: reward std" in printed and f"{out}/checkpoint-1" in printed
    assert (out / "base-model" / "config.json").is_file()  # train-tiny builds its model on first use
    document = tmp_path / "doc.txt"
    document.write_text("Orsa Thelwick was born in Kelvaford in 1840.", encoding="utf-8")
    ask = ["ask", "--model", f"hf://{out / 'checkpoint-1'}", "--doc", str(document), "--question", "Where?"]
    options = ["--budget", "16", "--max-memory-tokens", "16", "--max-answer-tokens", "8"]
    assert main([*ask, *options, "--trace-dir", str(tmp_path / "ask")]) == 0
    assert "budget    16" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--config", "no-such-config"], "no config file no-such-config"),
        (["--config", "train-tiny", "--data", "missing.parquet"], "missing.parquet: no such file"),
        (["--batch-questions", "3", "--mini-batch-questions", "2"], "multiple of mini_batch_questions"),
    ],
)
def test_mistakes_are_one_line_errors(tmp_path, capsys, flags: list[str], message: str) -> None:
    assert main(["train", *flags, "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_an_unknown_setting_in_a_yaml_file_is_named(tmp_path, capsys) -> None:
    config = tmp_path / "mine.yaml"
    config.write_text("model: tiny\nbatch_size: 4\n", encoding="utf-8")
    assert main(["train", "--config", str(config)]) == 2
    assert "unknown setting(s) batch_size" in capsys.readouterr().err
