"""The OpenAI-compatible backend against a fake server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import io
import socket
import threading
from typing import ClassVar

import httpx
import pytest
from PIL import Image

import memocr.models.openai_compat as openai_compat
from fake_openai import FakeOpenAIServer, fake_logprob
from memocr.budget import fit_to_budget, processor_kwargs
from memocr.models import ContextLengthError, ModelError, ModelUnavailableError, SamplingParams, load_model
from memocr.models.openai_compat import OpenAICompat


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def fake(server):
    """The shared server with its recorded state reset for each test."""
    state = server.state
    assert state.idle.wait(timeout=10), "a request of an earlier test is still being answered"
    state.requests.clear()
    state.headers.clear()
    state.models_headers.clear()
    state.tokenize_requests.clear()
    state.fail_times, state.fail_status, state.delay, state.max_in_flight = 0, 503, 0.0, 0
    state.context_length = None
    state.logprobs_served = state.token_ids_served = True
    state.usage = {"prompt_tokens": 42, "completion_tokens": 5, "total_tokens": 47}
    return server


def _model(fake, **options) -> OpenAICompat:
    return load_model(fake.spec, backoff=0.01, **options)


def _question_with_image(image: Image.Image) -> list[dict]:
    return [
        {"role": "system", "content": "You answer from the image."},
        {
            "role": "user",
            "content": [{"type": "image", "image": image}, {"type": "text", "text": "Where was she born?"}],
        },
    ]


def _decode_data_url(url: str) -> Image.Image:
    header, data = url.split(",", 1)
    assert header == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_image_is_sent_at_its_fitted_size_with_processor_kwargs_and_sampling(fake):
    image = fit_to_budget(Image.new("RGB", (600, 800), "white"), 64)
    fake.state.delay = 0.05

    async def ask():
        async with _model(fake) as model:
            return await model.chat(
                _question_with_image(image),
                SamplingParams(max_tokens=77, temperature=0.7, top_p=0.95, seed=11),
            )

    completion = asyncio.run(ask())
    (body,) = fake.state.requests
    assert body["model"] == "fake/MemOCR"
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"]) == (77, 0.7, 0.95, 11)
    assert body["mm_processor_kwargs"] == processor_kwargs([image])
    system, user = body["messages"]
    assert system == {"role": "system", "content": "You answer from the image."}
    image_part, text_part = user["content"]
    sent = _decode_data_url(image_part["image_url"]["url"])
    assert sent.size == image.size
    assert text_part == {"type": "text", "text": "Where was she born?"}
    assert completion.text == "\\boxed{Paris}"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (42, 5)
    assert completion.usage.image_tokens is None  # the fake, like vLLM, does not report it
    assert completion.seconds >= 0.05  # the wall time of the call, server time included


def test_text_only_request_has_no_processor_kwargs_and_no_seed_when_unset(fake):
    completion = asyncio.run(
        _model(fake).chat([{"role": "user", "content": "hi"}], SamplingParams(max_tokens=8))
    )
    (body,) = fake.state.requests
    assert "mm_processor_kwargs" not in body
    assert "seed" not in body
    assert body["temperature"] == 0.0
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert completion.text == "\\boxed{Paris}"
    assert not {"logprobs", "return_token_ids", "return_tokens_as_token_ids"} & set(body)
    assert (completion.prompt_ids, completion.completion_ids, completion.logprobs) == (None, None, None)


LOGPROBS = SamplingParams(max_tokens=8, temperature=1.0, seed=5, logprobs=True)
REPLY_IDS = [ord(ch) for ch in "\\boxed{Paris}"]  # the fake's ids: one per character, its code point


def test_logprobs_ask_vllm_for_token_ids_and_log_probs(fake):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    completion = asyncio.run(_model(fake).chat(messages, LOGPROBS))
    (body,) = fake.state.requests
    assert body["logprobs"] is True
    assert body["return_token_ids"] is True and body["return_tokens_as_token_ids"] is True
    assert completion.completion_ids == REPLY_IDS
    assert completion.logprobs == [fake_logprob(i) for i in range(len(REPLY_IDS))]
    assert completion.prompt_ids == [ord(ch) for ch in "Be brief.hi"]


def test_logprobs_take_token_ids_from_the_logprob_tokens_on_older_vllm(fake):
    fake.state.token_ids_served = False  # vLLM before 0.10.2: no token_ids, no prompt_token_ids
    completion = asyncio.run(_model(fake).chat([{"role": "user", "content": "hi"}], LOGPROBS))
    assert completion.completion_ids == REPLY_IDS
    assert completion.logprobs == [fake_logprob(i) for i in range(len(REPLY_IDS))]
    assert completion.prompt_ids is None


def test_a_server_without_logprobs_is_an_error_not_a_silent_none(fake):
    fake.state.logprobs_served = False
    with pytest.raises(ModelError, match="fake/MemOCR: token log-probabilities are not available"):
        asyncio.run(_model(fake).chat([{"role": "user", "content": "hi"}], LOGPROBS))


def test_image_tokens_are_taken_from_the_server_when_reported(fake):
    fake.state.usage = {
        "prompt_tokens": 80,
        "completion_tokens": 3,
        "prompt_tokens_details": {"image_tokens": 54},
    }
    completion = asyncio.run(
        _model(fake).chat([{"role": "user", "content": "hi"}], SamplingParams(max_tokens=8))
    )
    assert completion.usage.image_tokens == 54


def test_retries_after_503_then_succeeds(fake):
    fake.state.fail_times = 2
    completion = asyncio.run(
        _model(fake, max_retries=3).chat([{"role": "user", "content": "q"}], SamplingParams(max_tokens=4))
    )
    assert completion.text == "\\boxed{Paris}"
    assert len(fake.state.requests) == 3


def test_gives_up_after_bounded_retries(fake):
    fake.state.fail_times = 10
    with pytest.raises(ModelError, match="503"):
        asyncio.run(
            _model(fake, max_retries=2).chat([{"role": "user", "content": "q"}], SamplingParams(max_tokens=4))
        )
    assert len(fake.state.requests) == 3


def test_client_errors_are_not_retried(fake):
    fake.state.fail_times, fake.state.fail_status = 1, 400
    with pytest.raises(ModelError, match="400") as error:
        asyncio.run(_model(fake).chat([{"role": "user", "content": "q"}], SamplingParams(max_tokens=4)))
    assert not isinstance(error.value, ModelUnavailableError)
    assert len(fake.state.requests) == 1


def test_concurrency_is_limited(fake):
    fake.state.delay = 0.05
    model = _model(fake, max_concurrency=2)

    async def many():
        return await asyncio.gather(
            *(
                model.chat([{"role": "user", "content": str(i)}], SamplingParams(max_tokens=4))
                for i in range(6)
            )
        )

    assert len(asyncio.run(many())) == 6
    assert fake.state.max_in_flight == 2


class _RecordedClient(httpx.AsyncClient):
    made: ClassVar[list[httpx.AsyncClient]] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.made.append(self)


def test_model_can_be_used_from_successive_event_loops_and_leaves_no_client_open(fake, monkeypatch):
    monkeypatch.setattr(_RecordedClient, "made", [])
    monkeypatch.setattr(openai_compat.httpx, "AsyncClient", _RecordedClient)
    model = _model(fake)
    for _ in range(2):
        asyncio.run(model.chat([{"role": "user", "content": "q"}], SamplingParams(max_tokens=4)))
    assert len(fake.state.requests) == 2
    assert len(_RecordedClient.made) == 2
    assert all(client.is_closed for client in _RecordedClient.made)


def test_read_timeout_is_one_attempt_and_a_clear_error(fake):
    fake.state.delay = 1.0
    model = _model(fake, timeout=0.2, max_retries=3)
    with pytest.raises(ModelError, match=r"no answer within the timeout of 0\.2 s") as error:
        asyncio.run(model.chat([{"role": "user", "content": "q"}], SamplingParams(max_tokens=4)))
    assert not isinstance(error.value, ModelUnavailableError)
    assert len(fake.state.requests) == 1


def test_backoff_does_not_hold_a_concurrency_slot(fake):
    """With one slot, a request waiting to retry lets the next request through meanwhile."""
    fake.state.fail_times = 1
    model = load_model(fake.spec, backoff=0.5, max_concurrency=1)

    async def both():
        return await asyncio.gather(
            model.chat([{"role": "user", "content": "first"}], SamplingParams(max_tokens=4)),
            model.chat([{"role": "user", "content": "second"}], SamplingParams(max_tokens=4)),
        )

    asyncio.run(both())
    order = [request["messages"][0]["content"] for request in fake.state.requests]
    assert order == ["first", "second", "first"]


def test_api_key_comes_from_the_standard_environment_variable(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    asyncio.run(_model(fake).chat([{"role": "user", "content": "q"}], SamplingParams(max_tokens=4)))
    assert fake.state.headers[0]["authorization"] == "Bearer sk-test"


def test_api_key_option_wins_and_stays_out_of_the_name(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-environment")
    model = load_model(f"{fake.spec}&api_key=sk-secret-option")
    asyncio.run(model.chat([{"role": "user", "content": "q"}], SamplingParams(max_tokens=4)))
    assert fake.state.headers[0]["authorization"] == "Bearer sk-secret-option"
    assert model.name == fake.spec
    assert "sk-secret" not in repr(model)


def test_userinfo_is_sent_as_basic_auth_and_stays_out_of_the_name_and_errors(fake):
    spec = fake.spec.replace("127.0.0.1", "reader:pa%24%24word@127.0.0.1")
    model = load_model(spec)
    asyncio.run(model.chat([{"role": "user", "content": "q"}], SamplingParams(max_tokens=4)))
    assert model.context_length is None
    expected = "Basic " + base64.b64encode(b"reader:pa$$word").decode()
    assert fake.state.headers[0]["authorization"] == expected
    assert fake.state.models_headers[0]["authorization"] == expected
    assert model.name == fake.spec
    assert "pa%24%24word" not in repr(model) and "reader" not in model.base_url
    fake.state.fail_times, fake.state.fail_status = 1, 400
    with pytest.raises(ModelError) as error:
        asyncio.run(model.chat([{"role": "user", "content": "q"}], SamplingParams(max_tokens=4)))
    assert "pa%24%24word" not in str(error.value) and "pa$$word" not in str(error.value)


def test_context_length_option_needs_no_request(fake):
    fake.state.context_length = 4096
    assert _model(fake, context_length=1024).context_length == 1024
    assert fake.state.models_headers == []


def test_context_length_is_asked_from_the_server_once(fake):
    fake.state.context_length = 4096
    model = _model(fake)
    assert (model.context_length, model.context_length) == (4096, 4096)
    assert len(fake.state.models_headers) == 1


def test_context_length_is_unknown_when_the_server_does_not_say(fake):
    assert _model(fake).context_length is None


def test_context_length_is_unknown_while_the_server_is_unreachable():
    server = FakeOpenAIServer().start()
    model = load_model(server.spec)
    server.stop()
    assert model.context_length is None


@pytest.mark.parametrize(
    ("content", "max_tokens", "expected"),
    [
        (
            "x" * 60,
            50,
            "the prompt (60 tokens) plus max_tokens (50) = 110 tokens does not fit the context of 100",
        ),
        (
            "x" * 150,
            5,
            "the prompt (150 tokens) plus max_tokens (5) = 155 tokens does not fit the context of 100",
        ),
    ],
)
def test_server_context_refusal_is_a_context_error_naming_the_numbers(fake, content, max_tokens, expected):
    fake.state.context_length = 100
    with pytest.raises(ContextLengthError) as error:
        asyncio.run(
            _model(fake).chat([{"role": "user", "content": content}], SamplingParams(max_tokens=max_tokens))
        )
    assert expected in str(error.value)
    assert len(fake.state.requests) == 1  # not retried


def test_request_that_fits_the_server_context_is_answered(fake):
    fake.state.context_length = 100
    completion = asyncio.run(
        _model(fake).chat([{"role": "user", "content": "x" * 60}], SamplingParams(max_tokens=40))
    )
    assert completion.text == "\\boxed{Paris}"


def test_stopped_server_gives_one_clear_error():
    server = FakeOpenAIServer().start()
    model = load_model(server.spec, backoff=0.01, max_retries=1)
    server.stop()
    with pytest.raises(ModelUnavailableError) as error:
        asyncio.run(model.chat([{"role": "user", "content": "q"}], SamplingParams(max_tokens=4)))
    message = str(error.value)
    assert server.base_url in message
    assert "start it" in message


def test_dropped_connections_are_retried_then_a_model_error():
    """A server that accepts each connection and closes it without an answer."""
    accepted = []
    listener = socket.create_server(("127.0.0.1", 0))

    def drop_connections():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # the listener was closed
                return
            accepted.append(connection)
            connection.close()

    threading.Thread(target=drop_connections, daemon=True).start()
    port = listener.getsockname()[1]
    model = load_model(f"openai://127.0.0.1:{port}/v1?model=m", backoff=0.01, max_retries=2)
    try:
        with pytest.raises(ModelError, match="failed 3 times") as error:
            asyncio.run(model.chat([{"role": "user", "content": "q"}], SamplingParams(max_tokens=4)))
    finally:
        listener.close()
    assert not isinstance(error.value, ModelUnavailableError)
    assert len(accepted) == 3


def test_tokenizer_uses_the_server_tokenize_endpoints(fake):
    tokenizer = _model(fake).tokenizer
    ids = tokenizer.encode("Warsaw, 1867")
    assert ids == [ord(ch) for ch in "Warsaw, 1867"]
    assert tokenizer.decode(ids[:6]) == "Warsaw"
    assert fake.state.tokenize_requests[0]["add_special_tokens"] is False
    assert fake.state.tokenize_requests[0]["model"] == "fake/MemOCR"


def test_tokenizer_can_be_a_local_one(fake, tmp_path):
    from memocr.models.tiny import build_tiny_tokenizer

    build_tiny_tokenizer().save_pretrained(tmp_path)
    tokenizer = _model(fake, tokenizer=f"hf://{tmp_path}").tokenizer
    assert tokenizer.decode(tokenizer.encode("Marie Curie")) == "Marie Curie"
    assert not fake.state.tokenize_requests
