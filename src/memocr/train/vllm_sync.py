"""Pushing the trainer's weights into a vLLM server after each training step (the scale path).

NOT RUN in this repository's tests or by its authors: it needs GPUs, a vLLM server started with its
weight-transfer endpoints and the ``trl`` and ``vllm`` packages on the trainer. It is kept to the
one thing memocr needs from TRL, ``trl.generation.vllm_generation.VLLMGeneration.sync_weights``:
rank 0 opens an NCCL group with the server (``VLLMClient.init_communicator``) and, on every sync,
every rank walks the parameters (gathering FSDP/ZeRO-3 shards, PEFT merged) while rank 0 streams
them to the server, then the server's prefix cache is reset. Generation itself goes through memocr's
``openai_compat`` backend (so rollouts run the same `MemoryAgent` code as inference); TRL's own
``VLLMGeneration.generate`` is a collective over ranks and is never called, since ranks roll out
different numbers of turns. Server side (see docs/training.md)::

    VLLM_SERVER_DEV_MODE=1 vllm serve Qwen/Qwen2.5-VL-7B-Instruct --served-model-name policy \
        --weight-transfer-config '{"backend": "nccl"}' --max-logprobs -1
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from memocr.errors import ConfigError


class VllmWeightSync:
    """``sync()`` pushes the current weights of ``model`` to the server of ``engine`` (collective)."""

    def __init__(self, engine: str, model: Any, accelerator: Any, tokenizer: Any, group_port: int) -> None:
        try:
            from trl.generation.vllm_generation import VLLMGeneration
        except ImportError as error:
            raise ConfigError(
                "rollouts on a vLLM server need `trl` and `vllm` on the trainer to push weights "
                "(pip install 'trl>=1.16,<2' vllm); or use engine: local"
            ) from error
        parts = urlsplit(engine.replace("openai+https://", "https://").replace("openai+http://", "http://"))
        base = (
            f"http://{parts.netloc}"
            if parts.scheme.startswith("openai")
            else f"{parts.scheme}://{parts.netloc}"
        )
        self._generation = VLLMGeneration(
            model=model,
            accelerator=accelerator,
            processing_class=tokenizer,
            mode="server",
            server_base_url=base,
            group_port=group_port,
        )

    def sync(self) -> None:
        self._generation.sync_weights()
