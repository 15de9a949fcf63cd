"""`memocr ask` with only --doc and --question fits its settings to each backend's context window.

Each backend is given a small window (llama.cpp through the spec's n_ctx option, a tiny Qwen2.5-VL
with a short max_position_embeddings, a fake OpenAI-compatible server that declares max_model_len and
refuses longer requests as vLLM does). The run must finish with every request inside the window.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memocr.cli import main
from memocr.models.tiny import build_tiny_qwen2_5_vl

QUESTION = "Who designed the library?"
DOCUMENT = (
    "The harbour town grew around its fish market. " * 30
    + "The library was designed by Ines Varga. "
    + "The tide mill was rebuilt twice after storms. " * 30
)


def ask(tmp_path: Path, capsys, *args: str) -> tuple[dict, str]:
    doc = tmp_path / "doc.md"
    doc.write_text(DOCUMENT, encoding="utf-8")
    code = main(
        ["ask", "--doc", str(doc), "--question", QUESTION, "--trace-dir", str(tmp_path / "runs"), *args]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    (line,) = (tmp_path / "runs" / "traces.jsonl").read_text().splitlines()
    return json.loads(line), err


@pytest.mark.model
@pytest.mark.slow
def test_embedded_llama_cpp_with_a_small_context(tmp_path, capsys):
    trace, err = ask(tmp_path, capsys, "--model", "embedded:tiny?n_ctx=1024&n_threads=1", "--mode", "text")
    settings = trace["settings"]
    assert settings["context_length"] == 1024
    assert settings["chunk_tokens"] < 2000 and "chunk_tokens 2000 ->" in err  # the model's suggestion, fitted
    assert len(trace["steps"]) >= 2
    for turn in [*trace["steps"], *trace["answers"]]:
        assert turn["prompt_tokens"] + turn["completion_tokens"] <= 1024


@pytest.mark.slow
def test_tiny_qwen2_5_vl_with_a_small_context(tmp_path, capsys):
    model = build_tiny_qwen2_5_vl(tmp_path / "vlm", max_position_embeddings=1200)
    trace, _ = ask(tmp_path, capsys, "--model", f"hf://{model}", "--budget", "256", "--budget", "16")
    settings = trace["settings"]
    assert settings["context_length"] == 1200
    assert settings["chunk_tokens"] + 2 * settings["max_memory_tokens"] < 1200
    for turn in [*trace["steps"], *trace["answers"]]:
        assert turn["prompt_tokens"] + turn["completion_tokens"] <= 1200
    assert [answer["reported_image_tokens"] <= answer["budget"] for answer in trace["answers"]] == [
        True,
        True,
    ]


def test_openai_compatible_server_that_declares_its_context(tmp_path, capsys):
    from fake_openai import FakeOpenAIServer, context_error

    with FakeOpenAIServer() as server:
        server.state.context_length = 3000  # the fake tokenizer counts characters
        trace, _ = ask(tmp_path, capsys, "--model", server.spec, "--mode", "text")
        requests = server.state.requests
    assert trace["settings"]["context_length"] == 3000
    assert len(trace["steps"]) >= 2 and len(requests) == len(trace["steps"]) + 1
    assert all(context_error(request, 3000) is None for request in requests)
