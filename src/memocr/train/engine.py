"""What generates the rollouts: a `ChatModel` the agent drives, and how it follows the training weights.

* ``local``: memocr's transformers backend generating with the training model itself (the same module
  object, unwrapped from DDP), so it is always up to date. For CPU and small single-GPU runs; each
  process generates its own questions, no collectives. Not under FSDP or DeepSpeed, where no process
  holds the whole model. With ``local_batch`` above 1, concurrent text-only calls are generated
  together (`memocr.train.batched`).
* ``openai://host:port/v1?model=NAME``: a vLLM server through memocr's OpenAI-compatible backend (the
  one inference uses), asked for token ids and log-probs; after every training step the new weights
  are pushed into it (`memocr.train.vllm_sync`, not run here: it needs GPUs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memocr.errors import ConfigError
from memocr.models.base import ChatModel


class Engine:
    def __init__(self, chat_model: ChatModel, sync: Any = None) -> None:
        self.chat_model = chat_model
        self._sync = sync

    def after_update(self) -> None:
        """Bring the engine up to date with the training weights (collective on every process)."""
        if self._sync is not None:
            self._sync.sync()


def build_engine(
    spec: str,
    base: Path,
    model: Any,
    accelerator: Any,
    tokenizer: Any,
    group_port: int,
    local_batch: int = 1,
) -> Engine:
    if spec == "local":
        from accelerate.utils import DistributedType

        if accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
            raise ConfigError(
                "engine 'local' generates with the whole model in each process; under FSDP or DeepSpeed "
                "use a vLLM server (engine: openai://host:port/v1?model=NAME)"
            )
        from memocr.models.hf import HfModel

        chat_model = HfModel(base, device=str(accelerator.device), name=f"hf:{Path(base).name}")
        chat_model.model = accelerator.unwrap_model(model)  # generate with the weights being trained
        if local_batch > 1:
            from memocr.train.batched import BatchedGeneration

            return Engine(BatchedGeneration(chat_model, local_batch))
        return Engine(chat_model)
    from memocr.models import load_model
    from memocr.train.vllm_sync import VllmWeightSync

    return Engine(load_model(spec), VllmWeightSync(spec, model, accelerator, tokenizer, group_port))
