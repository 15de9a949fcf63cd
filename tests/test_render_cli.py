"""`memocr render`: JSON metadata on stdout, image files, and one clear message (exit 2) for bad input."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from hostile import BLANK, HOSTILE, SAMPLE
from memocr.budget import visual_tokens
from memocr.cli import main

pytestmark = pytest.mark.chromium

LONG = "# Top\n\n" + "\n\n".join(f"Paragraph {i} with **bold** words." for i in range(80))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict | None, str]:
    code = main(["render", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def test_markdown_file_with_budget_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memory = tmp_path / "memory.md"
    memory.write_text(LONG, encoding="utf-8")
    out = tmp_path / "memory.png"
    code, report, _ = run_cli(capsys, str(memory), "--budget", "64", "--profile", "memocr-v1", "-o", str(out))
    assert code == 0 and report is not None
    image = Image.open(out)
    assert image.size == (report["width"], report["height"])
    assert report["visual_tokens"] == visual_tokens(*image.size) <= 64
    assert report["rendered_height"] == 656 and report["clipped_px"] > 0
    assert report["content_chars"] == len(LONG) and report["profile"] == "memocr-v1"
    assert report["seconds"] > 0


@pytest.mark.slow
def test_html_file_and_stdin(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    page = tmp_path / "memory.html"
    page.write_text("```html\n<h1>Key fact</h1>\n```", encoding="utf-8")
    code, report, _ = run_cli(capsys, str(page), "-o", str(tmp_path / "memory.jpg"))
    assert code == 0 and report["input"] == "html" and report["clipped_px"] == 0
    assert (tmp_path / "memory.jpg").read_bytes().startswith(b"\xff\xd8")

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("# From stdin 漢字".encode())))
    code, report, _ = run_cli(capsys, "-")
    assert code == 0 and report["input"] == "markdown" and report["content_bytes"] > report["content_chars"]


def _file(directory: Path, name: str, data: bytes) -> Path:
    (directory / name).write_bytes(data)
    return directory / name


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (lambda d: d / "missing.md", [], "cannot read memory"),
        (lambda d: d, [], "cannot read memory"),
        (lambda d: _file(d, "latin1.md", b"caf\xe9"), [], "not UTF-8"),
        (lambda d: _file(d, "ok.md", b"# x"), ["--budget", "0"], "at least 1"),
        (lambda d: _file(d, "ok.md", b"# x"), ["-o", "x.gif"], ".png"),
    ],
)
def test_bad_input_is_one_message_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make, extra: list[str], message: str
) -> None:
    code, _, err = run_cli(capsys, str(make(tmp_path)), *extra)
    assert code == 2
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_no_file_given(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys)
    assert code == 2 and "no memory given" in err


def test_empty_memory_is_one_message_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, str(_file(tmp_path, "blank.md", b" \n\t \n")))
    assert code == 2 and "is empty" in err and err.count("\n") == 1


@pytest.mark.slow
def test_size_caps_are_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memory = _file(tmp_path, "wide.md", b'<div style="width:60000px">x</div>\n\n' + LONG.encode())
    code, report, _ = run_cli(capsys, str(memory), "--max-width", "500", "--max-height", "300")
    assert code == 0 and (report["width"], report["height"]) == (500, 300)
    assert report["content_width"] >= 60000 and report["clipped_px"] > 0
    code, _, err = run_cli(capsys, str(memory), "--max-width", "0")
    assert code == 2 and "max_width" in err


# A sample of the hostile memories (the renderer's own tests run them all); profiles, inputs and
# budgets vary from memory to memory.
_SETTINGS = [("full", "markdown", "1"), ("memocr-v1", "markdown", "16"), ("full", "html", "1024")]


@pytest.mark.slow
@pytest.mark.parametrize("index_name", list(enumerate(SAMPLE)), ids=lambda pair: pair[1])
def test_hostile_memories_render_or_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], index_name: tuple[int, str]
) -> None:
    index, name = index_name
    profile, input_format, budget = _SETTINGS[index % len(_SETTINGS)]
    memory = _file(tmp_path, "memory.txt", HOSTILE[name].encode("utf-8"))
    out = tmp_path / "memory.png"
    argv = [str(memory), "--profile", profile, "--input", input_format, "--budget", budget, "-o", str(out)]
    code, report, err = run_cli(capsys, *argv)
    if name in BLANK:
        assert code == 2 and "is empty" in err and "Traceback" not in err
        return
    assert code == 0, err
    image = Image.open(out)
    assert image.size == (report["width"], report["height"])
    assert report["visual_tokens"] == visual_tokens(*image.size) <= int(budget)
    assert report["content_chars"] == len(HOSTILE[name])
    assert (report["profile"], report["input"]) == (profile, input_format)
