"""A format reward: does the answer have the expected form?"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from gencls_core.errors import ContractError
from gencls_core.interfaces import Options, RewardFunc
from gencls_core.rewards import completion_text

_THINK = re.compile(r"\s*<think>.*?</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)
_GTA = re.compile(r"\s*<guess>(.*?)</guess>\s*<think>.*?</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)


class AnswerFormat(RewardFunc):
    """``match`` when the answer has the expected form, ``miss`` otherwise.

    Forms: ``direct`` (the answer is exactly one label's answer text), ``think``
    (``<think>...</think><answer>label</answer>``), ``gta`` (``<guess>label</guess><think>...</think>
    <answer>label</answer>``), ``regex`` (the whole answer matches ``pattern``).
    """

    name = "format"

    class Config(Options):
        form: Literal["direct", "think", "gta", "regex"] = Field("direct", description="the expected answer form")
        pattern: str | None = Field(None, description="regular expression the whole answer must match (form regex)")
        match: float = Field(1.0, description="reward for a well-formed answer")
        miss: float = Field(0.0, description="reward for any other answer")

        @model_validator(mode="after")
        def _pattern(self) -> AnswerFormat.Config:
            if (self.form == "regex") != (self.pattern is not None):
                raise ValueError("set pattern exactly when form is regex")
            if self.pattern is not None:
                try:
                    re.compile(self.pattern)
                except re.error as err:
                    raise ValueError(f"pattern {self.pattern!r} is not a valid regular expression: {err}") from None
            return self

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        return [self.config.match if self.well_formed(completion_text(c)) else self.config.miss
                for c in completions]

    def well_formed(self, text: str) -> bool:
        if self.config.form == "regex":
            return re.fullmatch(self.config.pattern, text, re.DOTALL) is not None
        if self.config.form == "think":
            found = _THINK.fullmatch(text)
            return found is not None and self._is_answer(found.group(1))
        if self.config.form == "gta":
            found = _GTA.fullmatch(text)
            return found is not None and self._is_answer(found.group(1)) and self._is_answer(found.group(2))
        return self._is_answer(text)

    def _is_answer(self, text: str) -> bool:
        scheme = getattr(self, "label_scheme", None)
        if scheme is None:
            raise ContractError("reward 'format' needs a label scheme: call setup(labels) first")
        answers = {a.strip().lower() for a in scheme.answers().values()}
        return text.strip().lower() in answers
