"""Every command refuses an output path it cannot write with one line and exit code 2, before any work:
a folder setting that is a file, a path under a file (which stops root too), a file setting that is
a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from memocr.cli import main


def commands(tmp_path: Path) -> dict[str, list[str]]:
    """Each command's arguments, but for its output setting (flag last, value to come)."""
    document = tmp_path / "doc.md"
    document.write_text("# Notes\n\nThe tide mill was rebuilt twice.\n", encoding="utf-8")
    return {
        "report": ["report", str(tmp_path), "--out"],
        "analyze": ["analyze", str(tmp_path), "--out"],
        "ask": ["ask", "--doc", str(document), "--question", "Who?", "--trace-dir"],
        "train": ["train", "--out"],
        "eval": ["eval", "--out"],
        "render": ["render", str(document), "-o"],
        "data build": ["data", "build", "offline", "--out"],
    }


def one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str], message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert message in err


@pytest.mark.parametrize("command", ["report", "analyze", "ask", "train", "eval", "data build"])
def test_an_output_folder_that_is_a_file(tmp_path, capsys, command):
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    one_line_exit_2([*commands(tmp_path)[command], str(taken)], capsys, f"{taken} is a file, not a folder")
    assert taken.read_text() == "not a folder"


@pytest.mark.parametrize("command", ["report", "analyze", "ask", "train", "eval", "render", "data build"])
def test_an_output_path_under_a_file(tmp_path, capsys, command):
    blocker = tmp_path / "somefile"
    blocker.write_text("")
    target = blocker / "sub" / ("out.png" if command == "render" else "run")
    one_line_exit_2([*commands(tmp_path)[command], str(target)], capsys, f"{blocker} is a file")


def test_an_output_image_that_is_a_folder(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    one_line_exit_2([*commands(tmp_path)["render"], str(folder)], capsys, f"{folder} is a folder, not a file")


def test_a_default_output_folder_is_checked_too(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("data").write_text("")  # memocr data build writes to data/eval by default
    one_line_exit_2(["data", "build", "offline"], capsys, "cannot create data/eval: data is a file")


def test_any_os_error_naming_a_path_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    def run(args):
        raise IsADirectoryError(21, "Is a directory", str(tmp_path))

    monkeypatch.setattr("memocr.commands.report.run", run)
    one_line_exit_2(["report", str(tmp_path)], capsys, f"cannot use {tmp_path}: Is a directory")
