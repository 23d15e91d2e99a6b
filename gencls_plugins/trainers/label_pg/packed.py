"""Differentiable log-probabilities of every label answer after each prompt, in one forward pass per batch.

Each row is ``[left padding][prompt][answer 1][answer 2]...[answer K]``: a block-diagonal attention mask lets
every answer see the whole prompt and its own earlier tokens only, and each answer's positions restart right
after the prompt, so answer k is scored exactly as if it followed the prompt alone. Because the answers end
every row, the positions to project through the LM head are the same columns in every row; only those are
projected (``logits_to_keep``). With a shared prefix (the prompt tokens every row starts with), rows are
``[prefix][left padding][own prompt][answers]``: the prefix is encoded once, with gradients, and its keys and
values expanded over the batch (``scoring.expanded_cache``), as the decoder does.
"""

from __future__ import annotations

from typing import Any

import torch

from gencls_core.scoring import packed_attention_mask, prefixed_forward, shared_prefix_length


def collate(prompts: list[list[int]], answers: list[list[int]], pad_id: int,
            share: bool = False) -> dict[str, torch.Tensor]:
    """Input ids, position ids, the 2-D key mask of the prompts' own tokens (the 4-D mask is built on the model's
    device) and ``prefix_length``, the tokens every prompt starts with when ``share`` (else 0)."""
    shared = shared_prefix_length(prompts) if share else 0
    own = [p[shared:] for p in prompts]
    tail = [t for a in answers for t in a]
    width = max(len(p) for p in own)
    ids = torch.full((len(prompts), shared + width + len(tail)), pad_id, dtype=torch.long)
    real = torch.zeros(len(prompts), width, dtype=torch.bool)
    offsets = torch.tensor([t for a in answers for t in range(len(a))])
    positions = torch.zeros_like(ids)
    ids[:, :shared], positions[:, :shared] = torch.tensor(prompts[0][:shared]), torch.arange(shared)
    end = shared + width
    for row, p in enumerate(own):
        ids[row, end - len(p):end] = torch.tensor(p)
        ids[row, end:] = torch.tensor(tail)
        real[row, width - len(p):] = True
        positions[row, end - len(p):end] = shared + torch.arange(len(p))
        positions[row, end:] = shared + len(p) + offsets
    return {"input_ids": ids, "position_ids": positions, "prompt_mask": real, "prefix_length": torch.tensor(shared)}


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
    ids, positions = batch["input_ids"], batch["position_ids"]
    shared = int(batch.get("prefix_length", 0))
    mask = packed_attention_mask(batch["prompt_mask"], answers, inner.dtype, implementation, cached=shared)
    # the prefix once, with gradients, shared by every row; under DDP the wrapper gets one call (the prefix pass
    # is the unwrapped model's part of it: both reach the same parameters, whose reduction hooks fire once the
    # backward pass has summed the two contributions)
    logits = prefixed_forward(model, ids, shared, positions, {"logits_to_keep": 1}, inner, attention_mask=mask,
                              logits_to_keep=torch.tensor(unique, device=ids.device)).logits
    logp = logits.float().log_softmax(-1)
    targets = torch.tensor([t for a in answers for t in a], device=logp.device)
    picked = logp[:, [where[c] for c in cols], :].gather(-1, targets[None, :, None].expand(len(logp), -1, 1))
    picked = picked.squeeze(-1)  # [batch, sum of answer lengths]
    return torch.stack([picked[:, s - width:s - width + n].sum(-1) for s, n in zip(starts, lengths)], -1)
