"""`SamplingParams`: the one sampling type every backend takes, its checks, and how the agent builds it."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from memocr.agent import AgentSettings
from memocr.errors import ConfigError
from memocr.models import SamplingParams


def test_defaults_are_greedy_unseeded_and_without_logprobs():
    sampling = SamplingParams(max_tokens=16)
    assert (sampling.temperature, sampling.top_p, sampling.seed, sampling.logprobs) == (0.0, 1.0, None, False)


def test_values_are_normalised_to_their_types():
    sampling = SamplingParams(max_tokens=np.int64(8), temperature=1, top_p=np.float32(0.5), seed=np.int32(3))
    assert sampling == SamplingParams(max_tokens=8, temperature=1.0, top_p=0.5, seed=3)
    assert type(sampling.max_tokens) is int and type(sampling.seed) is int
    assert type(sampling.temperature) is float and type(sampling.top_p) is float


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_tokens": 0}, "max_tokens must be at least 1, got 0"),
        ({"max_tokens": 2.5}, "max_tokens must be a whole number, got 2.5"),
        ({"max_tokens": True}, "max_tokens must be a whole number, got True"),
        ({"temperature": -0.5}, "temperature must be at least 0, got -0.5"),
        ({"temperature": math.nan}, "temperature must be at least 0, got nan"),
        ({"temperature": "1"}, "temperature must be a number, got '1'"),
        ({"top_p": 0}, r"top_p must be in \(0, 1\], got 0.0"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\], got 1.5"),
        ({"seed": "7"}, "seed must be a whole number, got '7'"),
        ({"seed": 7.0}, "seed must be a whole number, got 7.0"),
        ({"logprobs": 1}, "logprobs must be true or false, got 1"),
    ],
)
def test_bad_values_are_config_errors_naming_the_setting(fields, message):
    with pytest.raises(ConfigError, match=f"^sampling setting {message}$"):
        SamplingParams(**{"max_tokens": 4, **fields})


def test_is_frozen_and_with_seed_changes_only_the_seed():
    sampling = SamplingParams(max_tokens=32, temperature=1.0, top_p=0.9, seed=1, logprobs=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sampling.seed = 2  # type: ignore[misc]
    reseeded = sampling.with_seed(2)
    assert reseeded == dataclasses.replace(sampling, seed=2) and sampling.seed == 1
    assert sampling.with_seed(None).seed is None
    with pytest.raises(ConfigError, match="seed must be a whole number"):
        sampling.with_seed("2")  # type: ignore[arg-type]


def test_agent_settings_build_each_calls_sampling_with_the_questions_seed_first():
    settings = AgentSettings(temperature=0.8, top_p=0.95, seed=5)
    assert settings.sampling(64) == SamplingParams(max_tokens=64, temperature=0.8, top_p=0.95, seed=5)
    assert settings.sampling(64, seed=42).seed == 42
    assert AgentSettings(seed=None).sampling(8).seed is None
