"""GTA's rule for conflicting SFT and RL gradients, as a pure function."""

from __future__ import annotations

import torch


def combine_gradients(sft: list[torch.Tensor], rl: list[torch.Tensor], sft_weight: float, rl_weight: float,
                      rule: str) -> tuple[list[torch.Tensor], float]:
    """``sft_weight * g_sft + rl_weight * g_rl``; when the two point against each other (negative cosine),
    ``rule`` keeps only the RL gradient (``rl-only``), removes the SFT gradient's component along the RL one
    (``project``), or does nothing (``none``). Returns the gradients and the cosine."""
    dot = sum((a * b).sum() for a, b in zip(sft, rl))
    sft_norm = torch.sqrt(sum((a * a).sum() for a in sft))
    rl_sq = sum((b * b).sum() for b in rl)
    cosine = float(dot / (sft_norm * torch.sqrt(rl_sq)).clamp(min=1e-12))
    if cosine < 0 and rule == "rl-only":
        return [rl_weight * b for b in rl], cosine
    if cosine < 0 and rule == "project":
        sft = [a - (dot / rl_sq.clamp(min=1e-12)) * b for a, b in zip(sft, rl)]
    return [sft_weight * a + rl_weight * b for a, b in zip(sft, rl)], cosine
