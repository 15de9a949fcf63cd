"""Tiny random models built from configs, so VLM code paths run on CPU with no download.

`build_tiny_qwen2_5_vl(path)` writes a 10 M-parameter random Qwen2.5-VL, a small self-made byte-level
BPE tokenizer with the Qwen special tokens, and the image processor config into `path`; load it
with `load_model(f"hf://{path}")`. Its answers are noise; the point is exercising the real code paths
(chat template, image-token expansion, generate, a training step). The tests use them, and so does
the `train-tiny` training config, which builds its base model on first use (`memocr train`).
transformers, torch and tokenizers are imported only when a model is built.
"""

from __future__ import annotations

from pathlib import Path

# Qwen's special tokens, in the order they get ids 0..5 in the self-made tokenizer.
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

_CORPUS = (
    "You are a helpful assistant. Answer the problem based on the previous memory and put the answer in "
    "\\boxed{}. The draft memory, in markdown format: # Memory ## Facts - **Marie Curie** was born in "
    "Warsaw in 1867. Pierre Curie, radium, polonium, Nobel Prize, Paris, question, article, section. "
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?'\"()[]{}<>#*-_=+/\\|\n"
)


def build_tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer trained in milliseconds on a fixed corpus; every byte is encodable."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(QWEN_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(QWEN_SPECIAL_TOKENS[1:]),
    )


def build_tiny_qwen2_5_vl(path: str | Path, *, seed: int = 0, max_position_embeddings: int = 128000) -> Path:
    """Write a tiny random `Qwen2_5_VLForConditionalGeneration` with its tokenizer into `path`; its
    context length is `max_position_embeddings` (default: Qwen2.5-VL-7B's)."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    path = Path(path)
    tokenizer = build_tiny_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN_SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
            "tie_word_embeddings": True,
            "max_position_embeddings": max_position_embeddings,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 4,
            "out_hidden_size": 64,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    Qwen2VLImageProcessorPil(patch_size=14, merge_size=2, temporal_patch_size=2).save_pretrained(path)
    return path


# ChatML, the format Qwen and SmolLM2 use, for the tiny text model's tokenizer.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_text_lm(path: str | Path, *, seed: int = 0, max_position_embeddings: int = 32768) -> Path:
    """Write a tiny random text-only Qwen2 causal LM with a ChatML tokenizer into `path`; its context
    length is `max_position_embeddings` (default: Qwen2's)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    path = Path(path)
    tokenizer = build_tiny_tokenizer()
    tokenizer.chat_template = CHATML_TEMPLATE
    eos, pad = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=pad,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    torch.manual_seed(seed)
    Qwen2ForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
