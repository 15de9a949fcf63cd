"""`memocr ask` end to end: the embedded tiers, a tiny Qwen2.5-VL through transformers, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from memocr.cli import main
from memocr.errors import ModelError
from memocr.models.tiny import build_tiny_qwen2_5_vl
from scripted_model import ScriptedModel

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
QUESTION = "Who designed the library?"
DOCUMENT = (
    "The harbour town grew around its fish market. " * 40
    + "The library was designed by Ines Varga. "
    + "The tide mill was rebuilt twice after storms. " * 40
    + "Ines Varga was born in Kestrel Ford. "
    + "The lighthouse keeper kept a log of every ship. " * 40
)


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("doc") / "town.md"
    path.write_text(DOCUMENT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory) -> Path:
    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny-vlm"))


def ask(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "memocr.cli", "ask", *args], capture_output=True, text=True, timeout=600
    )


def read_trace(trace_dir: Path) -> dict:
    (line,) = (trace_dir / "traces.jsonl").read_text().splitlines()
    return json.loads(line)


@pytest.mark.model
@pytest.mark.slow
def test_tiny_embedded_tier_answers_at_every_budget_and_writes_the_trace(document, tmp_path):
    budgets = ["1024", "256", "64", "16"]
    result = ask(
        "--doc", str(document), "--question", QUESTION, "--model", "embedded:tiny", "--chunk-tokens", "500",
        "--max-memory-tokens", "64", "--max-answer-tokens", "32",
        *[arg for b in budgets for arg in ("--budget", b)], "--trace-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for budget in budgets:
        assert f"budget {int(budget):>5}:" in result.stdout
    trace = read_trace(tmp_path)
    assert trace["model"] == "embedded:tiny" and trace["mode"] == "visual"
    assert len(trace["steps"]) >= 3
    assert [a["budget"] for a in trace["answers"]] == [1024, 256, 64, 16]
    for answer in trace["answers"]:
        assert answer["visual_tokens"] <= answer["budget"]
        assert answer["ocr_text"] is not None
        assert (tmp_path / answer["image_path"]).is_file()
    assert (tmp_path / trace["render"]["image_path"]).is_file()
    assert (tmp_path / trace["question_id"] / "memory.md").read_text() == trace["final_memory"]
    assert trace["question_id"].startswith("ask-")


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.all_cores
@pytest.mark.timeout(1800)  # about 3 minutes with the machine to itself (all_cores); far more on a shared one
def test_default_embedded_tier_answers_the_shipped_document_question_from_the_image(tmp_path):
    """The README's demo: the quality tier (Qwen2.5-Coder-1.5B, joined from its chunk wheels on first
    use), with the settings and prompts it suggests, reads the shipped 7,566-token document in four
    chunks. The answer needs the library's architect (first chunk) and her birthplace (last chunk), with
    other architects and villages between, read back by OCR from the rendered memory. Every core, as in
    the README's command: with one thread the float sums fall in another order, and the greedy drafts
    differ (one thread drafted a longer first memory, never added the birthplace and answered "Edda
    Vale"; docs/models.md)."""
    result = ask(
        "--config", str(EXAMPLES / "demo.yaml"), "--budget", "16",
        "--trace-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    trace = read_trace(tmp_path)
    assert trace["model"] == "embedded" and trace["chunks_total"] == 4
    # Four drafting turns, then the headline turn that puts the answer first, in the largest type.
    assert [step.get("headline", False) for step in trace["steps"]] == [False] * 4 + [True]
    assert trace["prompts"] == {
        "draft": "draft-markdown-layout-brief@v2",
        "headline": "headline-brief@v1",
        "answer": "answer-image-brief@v2",
        "system": "system-source-only@v1",
    }
    assert trace["final_memory"].startswith("# Answer: ")
    assert trace["render"]["profile"] == "compact"  # the tier's suggestion: smaller body text
    (answer,) = trace["answers"]
    assert answer["answer"] == "Larch Crossing", (trace["final_memory"], answer["response"])


@pytest.mark.slow
def test_tiny_qwen2_5_vl_through_transformers_counts_its_image_tokens(document, tiny_vlm, tmp_path):
    result = ask(
        "--doc", str(document), "--question", QUESTION, "--model", f"hf://{tiny_vlm}",
        "--chunk-tokens", "2000", "--max-memory-tokens", "16", "--max-answer-tokens", "8",
        "--budget", "64", "--budget", "16", "--trace-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    trace = read_trace(tmp_path)
    assert trace["model"].startswith("hf://")
    for answer in trace["answers"]:
        # The model's own count of image tokens is the count the budget promised.
        assert answer["reported_image_tokens"] == answer["visual_tokens"] <= answer["budget"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["text", "visual-plain", "visual-html"])
def test_other_modes_run_through_the_cli(document, tiny_vlm, tmp_path, mode):
    result = ask(
        "--doc", str(document), "--question", QUESTION, "--model", f"hf://{tiny_vlm}", "--mode", mode,
        "--chunk-tokens", "4000", "--max-memory-tokens", "8", "--max-answer-tokens", "4",
        "--budget", "32", "--trace-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    trace = read_trace(tmp_path)
    assert trace["mode"] == mode
    assert (trace["render"] is None) == (mode == "text")


def run_main(capsys, *args: str) -> tuple[int, str]:
    code = main(["ask", *args])
    return code, capsys.readouterr().err


def test_bad_input_gives_one_clear_message_and_exit_code_2(document, tmp_path, capsys):
    empty = tmp_path / "empty.md"
    empty.write_text("  \n")
    latin1 = tmp_path / "latin1.md"
    latin1.write_bytes("caf\xe9".encode("latin-1"))
    cases = [
        (("--doc", str(tmp_path / "missing.md"), "--question", "q"), "cannot read document"),
        (("--doc", str(empty), "--question", "q"), "is empty"),
        (("--doc", str(latin1), "--question", "q"), "not UTF-8"),
        (("--doc", str(document), "--question", "  "), "question is empty"),
        (("--doc", str(document), "--question", "q", "--budget", "0"), "at least 1"),
        (("--doc", str(document), "--question", "q", "--model", "telepathy://x"), "telepathy"),
        (("--question", "q"), "no document"),
    ]
    for args, message in cases:
        code, err = run_main(capsys, *args)
        assert code == 2, args
        assert message in err and "Traceback" not in err, (args, err)


def test_unreachable_server_is_one_clear_message(document, capsys):
    code, err = run_main(
        capsys, "--doc", str(document), "--question", "q", "--model", "openai://127.0.0.1:9/v1?model=m"
    )
    assert code == 2
    assert "127.0.0.1:9" in err and "Traceback" not in err


def test_non_integer_budget_is_refused_by_the_parser():
    result = ask("--doc", "x.md", "--question", "q", "--budget", "1.5")
    assert result.returncode == 2
    assert "invalid int value" in result.stderr and "Traceback" not in result.stderr


def test_the_readme_demo_config_is_a_valid_ask_config():
    import argparse

    from memocr.commands.ask import AskConfig, add_arguments, check_config
    from memocr.config import config_from_args, read_input

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    root = Path(__file__).resolve().parent.parent
    config = config_from_args(AskConfig, parser.parse_args(["--config", str(root / "examples/demo.yaml")]))
    check_config(config)
    assert config.budget == [1024, 256, 64, 16] and config.model == "embedded"
    assert "Saltgate" in config.question
    assert len(read_input(str(root / config.doc), "document", "").split()) > 5000


@pytest.mark.slow
def test_openai_compatible_server_gets_fitted_images_and_processor_limits(document, tmp_path, capsys):
    import base64
    import io

    from PIL import Image

    from fake_openai import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        code = main(
            ["ask", "--doc", str(document), "--question", QUESTION, "--model", server.spec,
             "--chunk-tokens", "2000", "--budget", "256", "--budget", "16", "--trace-dir", str(tmp_path)]
        )  # fmt: skip
        requests = server.state.requests
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "budget   256: Paris" in out and "budget    16: Paris" in out
    answer_requests = [r for r in requests if "<article>" not in str(r["messages"])]
    assert len(answer_requests) == 2
    for request, budget in zip(answer_requests, (256, 16), strict=True):
        (image_part,) = [p for p in request["messages"][0]["content"] if p["type"] == "image_url"]
        png = base64.b64decode(image_part["image_url"]["url"].split(",", 1)[1])
        width, height = Image.open(io.BytesIO(png)).size
        assert (width // 28) * (height // 28) <= budget and width % 28 == height % 28 == 0
        assert request["mm_processor_kwargs"] == {"min_pixels": 784, "max_pixels": width * height}
    assert read_trace(tmp_path)["answers"][1]["visual_tokens"] <= 16


def scripted(monkeypatch, reply, context_length=None) -> ScriptedModel:
    """Make `memocr ask` use a scripted model whatever --model says."""
    model = ScriptedModel(reply, context_length=context_length)
    monkeypatch.setattr("memocr.models.load_model", lambda spec: model)
    return model


def text_reply_failing_at_draft(number: int):
    drafts = 0

    def reply(prompt: str, images: list) -> str:
        nonlocal drafts
        if "<section>" in prompt:
            drafts += 1
            if drafts == number:
                raise ModelError("the server answered 500 twice")
            return f"# Draft {drafts}"
        return "\\boxed{Ines Varga}"

    return reply


def test_a_model_failure_mid_run_is_one_message_exit_1_and_keeps_the_drafts(
    document, tmp_path, monkeypatch, capsys
):
    scripted(monkeypatch, text_reply_failing_at_draft(3))
    code, err = run_main(
        capsys, "--doc", str(document), "--question", QUESTION, "--mode", "text",
        "--chunk-tokens", "100", "--trace-dir", str(tmp_path),
    )  # fmt: skip
    assert code == 1 and "Traceback" not in err
    assert "drafting chunk 3 of" in err and "the server answered 500 twice" in err
    assert "2 finished draft(s)" in err
    trace = read_trace(tmp_path)
    (folder,) = [path for path in tmp_path.iterdir() if path.is_dir()]
    assert str(folder) in err
    steps = [json.loads(line) for line in (folder / "steps.jsonl").read_text().splitlines()]
    assert [step["memory"] for step in steps] == ["# Draft 1", "# Draft 2"]
    assert trace["error"]["stage"] == "drafting" and trace["error"]["chunk_index"] == 2
    assert trace["final_memory"] == "# Draft 2" and trace["answers"] == []


def test_settings_that_cannot_fit_the_context_are_refused_before_any_work(
    document, tmp_path, monkeypatch, capsys
):
    model = scripted(monkeypatch, text_reply_failing_at_draft(0), context_length=4096)
    code, err = run_main(
        capsys, "--doc", str(document), "--question", QUESTION, "--mode", "text",
        "--chunk-tokens", "5000", "--trace-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err
    room = 4096 - 132  # the drafting prompt with the question and the chat-format margin
    assert "4,096-token context" in err and f"e.g. --chunk-tokens {room // 2:,} --max-memory-tokens" in err
    assert model.calls == [] and not (tmp_path / "runs").exists()
    code, err = run_main(
        capsys, "--doc", str(document), "--question", QUESTION, "--mode", "text",
        "--chunk-tokens", "3000", "--max-memory-tokens", "1000",
    )  # fmt: skip
    assert code == 2 and f"--chunk-tokens to at most {room - 2000:,} or --max-memory-tokens to at most" in err


def test_without_flags_the_settings_fit_the_model_and_say_so(document, tmp_path, monkeypatch, capsys):
    model = scripted(monkeypatch, text_reply_failing_at_draft(0), context_length=1024)
    monkeypatch.chdir(tmp_path)
    code, err = run_main(capsys, "--doc", str(document), "--question", QUESTION, "--mode", "text")
    assert code == 0, err
    assert "chunk_tokens 5000 ->" in err and "1,024-token context" in err
    trace = read_trace(tmp_path / "runs" / "ask")  # the default trace folder
    assert trace["settings"]["context_length"] == 1024
    for call in model.calls:
        assert len(call["prompt"].split()) + call["sampling"].max_tokens <= 1024


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("profile: fulll\n", "profile (--profile) must be one of 'full', 'memocr-v1', 'compact'"),
        ("mode: pictures\n", "mode (--mode) must be one of 'visual'"),
        ("budget: [64, big]\n", "budget (--budget) must be a list of whole numbers"),
        ("chunk_tokens: 0\n", "chunk_tokens (--chunk-tokens) must be at least 1"),
        ("doc: missing.md\n", "missing.md"),
    ],
)
def test_a_bad_yaml_setting_fails_at_once_with_one_message(tmp_path, monkeypatch, capsys, yaml_text, message):
    model = scripted(monkeypatch, text_reply_failing_at_draft(0))
    path = tmp_path / "ask.yaml"
    (tmp_path / "doc.md").write_text(DOCUMENT)
    path.write_text("doc: doc.md\nquestion: q?\n" + yaml_text)
    code, err = run_main(capsys, "--config", str(path))
    assert code == 2 and message in err and "Traceback" not in err
    assert model.calls == []
