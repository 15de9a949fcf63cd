"""MemOCR's budget-aware GRPO training (`memocr train`; docs/training.md).

The pure pieces, each tested on its own: ``cloze`` builds the T_augQ question (three blanked words of
the memory's own text), ``augment`` the T_augM image (the memory picture blurred to a quarter of its
resolution), ``rewards`` the rule reward the released training used (exact match of the last
``\\boxed{}``, not the evaluation's sub-EM), ``advantages`` the group-relative advantages and their
multi-objective combination (weighted mean for drafting turns, weighted own advantage for answer
turns) and ``loss`` the PPO-clipped token-mean policy loss with a low-variance KL term.

The trainer on accelerate: ``config`` (one typed config; shipped ``configs/train-tiny.yaml`` and
``configs/paper.yaml``), ``rollout`` and ``recording`` (rollouts run `MemoryAgent` itself through a
recording `ChatModel`; turns are ``turns.Turn``), ``engine`` (local transformers generation, batched
by ``batched``, or a vLLM server, with ``vllm_sync`` pushing weights), ``policy`` (turns as tensors,
log-probs), ``batching``, ``update`` (old/reference log-probs, PPO mini-batch steps), ``setup``,
``checkpoint``, ``log`` and ``stats`` (metrics), and ``loop``, which ties them together.
"""
