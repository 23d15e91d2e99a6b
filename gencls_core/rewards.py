"""Reward components as the plain callables TRL expects, with their outputs checked."""

from __future__ import annotations

from typing import Any

from gencls_core.contracts import check_rewards


def completion_text(completion: Any) -> str:
    """The answer text of a completion: TRL passes strings, or lists of chat messages (the last is the answer)."""
    if isinstance(completion, list):
        return completion[-1]["content"] if completion else ""
    return completion


class CheckedReward:
    """A reward component called in TRL's contract; a wrong length or type raises ContractError naming it.

    ``__name__`` is the component name, so TRL logs ``rewards/<name>/mean``.
    """

    def __init__(self, func: Any, who: str, name: str, weight: float) -> None:
        self.func, self.who, self.__name__, self.weight = func, who, name, weight

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        values = self.func(prompts=prompts, completions=completions, **kwargs)
        return check_rewards(self.who, values, len(completions))


class ClassWeighted(CheckedReward):
    """``reward`` with each value multiplied by the weight of the example's gold class (``label=``)."""

    def __init__(self, reward: CheckedReward, weights: dict[str, float]) -> None:
        super().__init__(reward.func, reward.who, reward.__name__, reward.weight)
        self.weights = weights

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        values = super().__call__(prompts, completions, **kwargs)
        return [None if v is None else v * self.weights.get(gold, 1.0) for v, gold in zip(values, kwargs["label"])]


def weighted_rewards(rewards: list[CheckedReward], prompts: list[Any], texts: list[str],
                     **columns: Any) -> tuple[list[float | None], dict[str, float | None]]:
    """Each answer text's weighted sum of ``rewards`` (given as a conversational completion), formed as TRL's
    GRPOTrainer forms it, so every RL trainer gives an answer the same reward: a reward's None adds nothing, and
    an answer that every reward returned None for is unscorable (None). Also each reward's mean over the values
    it gave."""
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    totals, scored = [0.0] * len(texts), [False] * len(texts)
    means: dict[str, float | None] = {}
    for reward in rewards:
        values = reward(prompts, completions, **columns)
        for i, value in enumerate(values):
            if value is not None:
                totals[i] += reward.weight * value
                scored[i] = True
        given = [v for v in values if v is not None]
        means[f"rewards/{reward.__name__}"] = sum(given) / len(given) if given else None
    return [t if s else None for t, s in zip(totals, scored)], means
