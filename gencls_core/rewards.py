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
