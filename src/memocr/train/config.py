"""`memocr train`'s one typed config: model, data, GRPO settings, the three objectives, where to write.

Every field is a flag too (``--max-steps 2 --out DIR``); ``--config`` takes a YAML file or the name of a
shipped config (``train-tiny``, ``paper``; see `memocr/train/configs/`). The run writes the resolved
config to ``OUT/config.yaml``. Defaults are the paper's (method §4.2), so a YAML file only states how it
differs. Batch sizes count questions; each question is rolled out ``n`` times (its GRPO group).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from memocr.agent import ReadSettings
from memocr.config import at_least, with_default
from memocr.errors import ConfigError
from memocr.train.advantages import ObjectiveWeights

TINY_MODEL = "tiny"


def shipped_configs() -> dict[str, Path]:
    """Name -> path of the configs shipped with memocr (``train-tiny``, ``paper``)."""
    folder = resources.files("memocr.train") / "configs"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def resolve_config_path(name_or_path: Path | str) -> Path:
    """A shipped config's name, or a YAML path; an unknown name that is not a file is a `ConfigError`."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_configs()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    raise ConfigError(
        f"no config file {path} and no shipped config of that name; shipped: {', '.join(sorted(shipped))}"
    )


@dataclass
class TrainConfig(ReadSettings):
    # --- the agent's settings (memocr.agent.ReadSettings), with the paper's training values
    chunk_tokens: int = with_default(ReadSettings, "chunk_tokens", 5000)
    max_memory_tokens: int = with_default(ReadSettings, "max_memory_tokens", 2048)
    max_answer_tokens: int = with_default(ReadSettings, "max_answer_tokens", 2048)
    temperature: float = with_default(ReadSettings, "temperature", 1.0)
    top_p: float = with_default(ReadSettings, "top_p", 0.999)
    seed: int = field(default=0, metadata={"help": "seed of data order, rollouts and cloze questions"})
    profile: str = with_default(ReadSettings, "profile", "memocr-v1")
    # --- model and data
    model: str = field(
        default="Qwen/Qwen2.5-VL-7B-Instruct",
        metadata={
            "help": "base model: a transformers directory or hub id, or 'tiny' (a random tiny Qwen2.5-VL "
            "built into OUT/base-model on first use)"
        },
    )
    data: str = field(
        default="data/hotpotqa_train_32k.parquet",
        metadata={
            "help": "training questions: 'offline' (generated, no download) or a .parquet/.jsonl/.json "
            "file (MemAgent's hotpotqa_train_32k.parquet; see memocr data), relative to the working "
            "directory"
        },
    )
    offline_docs: int = field(default=8, metadata={"help": "documents per context, data 'offline' only"})
    offline_questions: int = field(default=16, metadata={"help": "questions, data 'offline' only"})
    max_questions: int | None = field(default=None, metadata={"help": "use only the first N questions"})
    # --- rollouts
    engine: str = field(
        default="local",
        metadata={
            "help": "what generates rollouts: 'local' (transformers, the training model itself) or a "
            "vLLM server openai://host:port/v1?model=NAME whose weights are pushed after each step",
            "spec": True,
        },
    )
    local_batch: int = field(
        default=1,
        metadata={
            "help": "engine 'local': up to N concurrent text-only model calls generated together in one "
            "left-padded batch (1: one call at a time, as memocr ask does)"
        },
    )
    n: int = field(default=16, metadata={"help": "rollouts per question (the GRPO group)"})
    batch_questions: int = field(default=64, metadata={"help": "questions per training step"})
    memory: Literal["image", "text"] = field(
        default="image",
        metadata={
            "help": "how the answer turn reads the memory: 'image' (MemOCR: rendered, fitted to the "
            "budget) or 'text' (MemAgent-style: the first `budget` tokens of the memory as text; trains "
            "T_std only, so weight_aug_m and weight_aug_q must be 0)"
        },
    )
    layout: bool = field(
        default=True,
        metadata={"help": "drafting prompt asks for layout (headings, bold); --no-layout: plain Markdown"},
    )
    budget: int = field(default=512, metadata={"help": "visual-token budget of the answer image (T_std)"})
    concurrency: int = field(default=64, metadata={"help": "rollouts in flight at once per process"})
    # --- objectives (0 disables a task: weight_aug_m=0 weight_aug_q=0 is T_std only)
    weight_std: float = field(default=1.0, metadata={"help": "weight of T_std (standard QA)"})
    weight_aug_m: float = field(default=0.7, metadata={"help": "weight of T_augM (degraded image)"})
    weight_aug_q: float = field(default=0.3, metadata={"help": "weight of T_augQ (cloze question)"})
    normalize_std: bool = field(default=False, metadata={"help": "divide advantages by the group std"})
    reward: Literal["boxed", "f1"] = field(
        default="boxed",
        metadata={
            "help": "answer reward: 'boxed' (the released rule: exact match of the last \\boxed{}) or "
            "'f1' (token F1 of the stated answer: a box, else what follows 'the answer is', else the "
            "whole reply; for models too small to box)"
        },
    )
    # --- optimisation
    mini_batch_questions: int = field(default=16, metadata={"help": "questions per optimizer step"})
    ppo_epochs: int = field(default=1, metadata={"help": "passes over each step's rollouts"})
    lr: float = field(default=1e-6, metadata={"help": "AdamW learning rate"})
    warmup_steps: int = field(default=20, metadata={"help": "training steps of linear lr warm-up"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    grad_clip: float = field(default=1.0, metadata={"help": "gradient norm clip"})
    kl_coef: float = field(default=0.001, metadata={"help": "KL(policy || reference) coefficient"})
    clip: float = field(default=0.2, metadata={"help": "PPO ratio clip"})
    clip_c: float | None = field(default=3.0, metadata={"help": "dual-clip constant (veRL's clip_ratio_c)"})
    micro_batch_tokens: int = field(
        default=16384, metadata={"help": "padded tokens per forward/backward in the update"}
    )
    logprob_batch_tokens: int = field(
        default=32768, metadata={"help": "padded tokens per forward when computing old/reference log-probs"}
    )
    gradient_checkpointing: bool = field(default=False, metadata={"help": "recompute activations"})
    dtype: Literal["float32", "bfloat16"] = field(default="float32", metadata={"help": "weights' dtype"})
    mixed_precision: Literal["no", "bf16"] | None = field(
        default=None,
        metadata={
            "help": "compute in bfloat16 autocast over the weights' dtype ('bf16'; on CPUs with AMX or "
            "AVX512-BF16 several times faster) or not ('no'); unset: what accelerate launch was told"
        },
    )
    # --- run
    max_steps: int = field(default=1000, metadata={"help": "training steps"})
    save_every: int = field(default=20, metadata={"help": "checkpoint every N steps (and at the end)"})
    out: Path = field(default=Path("runs/train"), metadata={"help": "run directory", "output": "dir"})
    resume: str | None = field(
        default=None,
        metadata={"help": "continue from 'latest' (newest OUT/checkpoint-N) or a checkpoint directory"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "offline_docs", "offline_questions", "max_questions", "n", "batch_questions")
        at_least(self, 1, "budget", "concurrency", "mini_batch_questions", "ppo_epochs", "micro_batch_tokens")
        at_least(self, 1, "local_batch", "logprob_batch_tokens", "max_steps", "save_every")
        at_least(self, 0, "warmup_steps", "weight_decay", "kl_coef", "lr")
        if self.grad_clip <= 0:
            raise ConfigError(f"setting grad_clip (--grad-clip) must be above 0, got {self.grad_clip}")
        if not 0 < self.clip < 1:
            raise ConfigError(f"setting clip (--clip) must be in (0, 1), got {self.clip}")
        if self.clip_c is not None and self.clip_c <= 1:
            raise ConfigError(f"setting clip_c (--clip-c) must be above 1, got {self.clip_c}")
        if self.batch_questions % self.mini_batch_questions:
            raise ConfigError(
                f"batch_questions ({self.batch_questions}) must be a multiple of mini_batch_questions "
                f"({self.mini_batch_questions})"
            )
        if self.engine != "local" and not self.engine.startswith("openai"):
            raise ConfigError(
                f"setting engine must be 'local' or openai://host:port/v1?model=NAME, got {self.engine!r}"
            )
        self.objective_weights()  # a ConfigError when every weight is 0
        if self.memory == "text" and (self.weight_aug_m or self.weight_aug_q):
            raise ConfigError(
                "memory 'text' trains T_std only (T_augM degrades the memory picture and T_augQ asks "
                "about it, and a text memory has none): pass --weight-aug-m 0 --weight-aug-q 0"
            )

    def objective_weights(self) -> ObjectiveWeights:
        return ObjectiveWeights(std=self.weight_std, aug_m=self.weight_aug_m, aug_q=self.weight_aug_q)

    @property
    def mode(self) -> str:
        """The agent mode the rollouts run: MemOCR's layout prompt, the no-layout ablation, or the
        MemAgent-style text memory (``memory: text``; ``layout`` does not apply there)."""
        if self.memory == "text":
            return "text"
        return "visual" if self.layout else "visual-plain"

    def base_model_path(self) -> str:
        """Where the base weights load from (`tiny` lives in the run directory)."""
        return str(self.out / "base-model") if self.model == TINY_MODEL else self.model

    def check_world(self, processes: int) -> None:
        """Questions are split evenly over the processes: both batch sizes must divide by their count."""
        for name in ("batch_questions", "mini_batch_questions"):
            if getattr(self, name) % processes:
                raise ConfigError(
                    f"setting {name} ({getattr(self, name)}) must be a multiple of the {processes} "
                    "training processes (each process rolls out its own questions)"
                )
