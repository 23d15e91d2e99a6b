"""Label-space policy optimisation, the arithmetic: the expected reward of a policy over the K label answers,
its exact KL to a reference policy and its entropy, from the answers' log-probabilities. No sampling: every
answer is scored, so there are no zero-variance groups.

``logp[b, k]`` is log pi(a_k | x_b), the sum of answer k's token log-probabilities. Distributions:
``renormalized`` q_k = P_k / sum_j P_j (what perplexity decoding decides with), or ``raw`` P_k with the mass
1 - sum_k P_k left to every other answer, which earns ``invalid`` (the reward of an answer naming no label).
"""

from __future__ import annotations

from typing import Literal

import torch

Distribution = Literal["renormalized", "raw"]


def _outcomes(logp: torch.Tensor, distribution: Distribution) -> torch.Tensor:
    """Log-probabilities of the outcomes: the K answers (renormalized), or the K answers and 'anything else'."""
    if distribution == "renormalized":
        return logp.log_softmax(-1)
    rest = torch.log1p(-logp.exp().sum(-1).clamp(max=1 - 1e-6))  # log(1 - sum_k P_k)
    return torch.cat([logp, rest[:, None]], -1)


def expected_reward(logp: torch.Tensor, rewards: torch.Tensor, invalid: torch.Tensor,
                    distribution: Distribution) -> torch.Tensor:
    """J(x) per example: sum_k q_k r_k, or sum_k P_k r_k + (1 - sum_k P_k) r_invalid."""
    probs = _outcomes(logp, distribution).exp()
    if distribution == "renormalized":
        return (probs * rewards).sum(-1)
    return (probs[:, :-1] * rewards).sum(-1) + probs[:, -1] * invalid


def kl(logp: torch.Tensor, ref_logp: torch.Tensor, distribution: Distribution) -> torch.Tensor:
    """KL(pi || pi_ref) per example, over the same outcomes."""
    mine, ref = _outcomes(logp, distribution), _outcomes(ref_logp, distribution)
    return (mine.exp() * (mine - ref)).sum(-1)


def entropy(logp: torch.Tensor, distribution: Distribution) -> torch.Tensor:
    """Entropy of the policy over the outcomes, per example."""
    mine = _outcomes(logp, distribution)
    return -(mine.exp() * mine).sum(-1)


def loss(logp: torch.Tensor, rewards: torch.Tensor, invalid: torch.Tensor, ref_logp: torch.Tensor | None,
         distribution: Distribution, beta: float, entropy_coef: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Minus the regularised expected reward, averaged over the batch; and the batch's statistics."""
    reward = expected_reward(logp, rewards, invalid, distribution)
    objective = reward
    stats = {"reward": reward.mean().item()}
    if ref_logp is not None:
        divergence = kl(logp, ref_logp, distribution)
        objective = objective - beta * divergence
        stats["kl"] = divergence.mean().item()
    spread = entropy(logp, distribution)
    if entropy_coef:
        objective = objective + entropy_coef * spread
    stats["entropy"] = spread.mean().item()
    return -objective.mean(), stats
