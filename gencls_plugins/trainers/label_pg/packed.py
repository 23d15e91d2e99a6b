"""Differentiable log-probabilities of every label answer after each prompt, in one forward pass per batch.

Each row is ``[left padding][prompt][answer 1][answer 2]...[answer K]``: a block-diagonal attention mask lets
every answer see the whole prompt and its own earlier tokens only, and each answer's positions restart right
after the prompt, so answer k is scored exactly as if it followed the prompt alone. Because the answers end
every row, the positions to project through the LM head are the same columns in every row; only those are
projected (``logits_to_keep``).
"""

from __future__ import annotations

from typing import Any

import torch

from gencls_core.scoring import packed_attention_mask


def collate(prompts: list[list[int]], answers: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Input ids, position ids and the 2-D key mask of a batch (the 4-D mask is built on the model's device)."""
    tail = [t for a in answers for t in a]
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width + len(tail)), pad_id, dtype=torch.long)
    real = torch.zeros(len(prompts), width, dtype=torch.bool)
    offsets = torch.tensor([t for a in answers for t in range(len(a))])
    positions = torch.zeros_like(ids)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):width] = torch.tensor(p)
        ids[row, width:] = torch.tensor(tail)
        real[row, width - len(p):] = True
        positions[row, width - len(p):width] = torch.arange(len(p))
        positions[row, width:] = len(p) + offsets
    return {"input_ids": ids, "position_ids": positions, "prompt_mask": real}


def answer_logprobs(model: Any, batch: dict[str, torch.Tensor], answers: list[list[int]]) -> torch.Tensor:
    """``[batch, K]``: log pi(answer_k | prompt), differentiable."""
    width = batch["prompt_mask"].shape[1]
    lengths = [len(a) for a in answers]
    starts = [width + sum(lengths[:k]) for k in range(len(answers))]
    # the column whose logits predict each answer token: the prompt's last column for token 0, else the previous
    cols = [c for s, n in zip(starts, lengths) for c in [width - 1, *range(s, s + n - 1)]]
    unique = sorted(set(cols))
    where = {c: i for i, c in enumerate(unique)}
    inner = getattr(model, "module", model)  # under DDP: the wrapped model (called through the wrapper)
    implementation = getattr(getattr(inner, "config", None), "_attn_implementation", "sdpa")
    if implementation not in ("sdpa", "eager"):
        raise NotImplementedError(f"label-pg's packed scoring supports sdpa and eager attention, "
                                  f"not {implementation!r}")
    mask = packed_attention_mask(batch["prompt_mask"], answers, inner.dtype, implementation)
    logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], attention_mask=mask,
                   logits_to_keep=torch.tensor(unique, device=batch["input_ids"].device), use_cache=False).logits
    logp = logits.float().log_softmax(-1)
    targets = torch.tensor([t for a in answers for t in a], device=logp.device)
    picked = logp[:, [where[c] for c in cols], :].gather(-1, targets[None, :, None].expand(len(logp), -1, 1))
    picked = picked.squeeze(-1)  # [batch, sum of answer lengths]
    return torch.stack([picked[:, s - width:s - width + n].sum(-1) for s, n in zip(starts, lengths)], -1)
