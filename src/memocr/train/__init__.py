"""The pure pieces of MemOCR's GRPO training, each a small module that a trainer on any engine can call.

``cloze`` builds the T_augQ question (three blanked words of the memory's own text), ``augment`` the
T_augM image (the memory picture blurred to a quarter of its resolution), ``rewards`` the rule reward the
released training used (exact match of the last ``\\boxed{}``, not the evaluation's sub-EM), ``advantages``
the group-relative advantages and their multi-objective combination (weighted mean for drafting turns,
weighted own advantage for answer turns) and ``loss`` the PPO-clipped token-mean policy loss with a
low-variance KL term (torch, imported only there). Nothing here talks to a model or an engine: the
trainer glue drives rollouts through the same ``MemoryAgent`` as inference and hands these functions
plain strings, images, numbers and tensors, so each piece is tested on its own.
"""
