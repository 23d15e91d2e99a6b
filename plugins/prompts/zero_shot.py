"""Zero-shot prompting: the task, the allowed answers and the text, in one user message."""

from __future__ import annotations

import string

from pydantic import Field, field_validator

from gencls_core.interfaces import Options, PromptStrategy

PLACEHOLDERS = {"task", "labels", "text"}
DEFAULT_TEMPLATE = "{task}\nAnswer with exactly one of: {labels}.\n\nText: {text}"


class ZeroShot(PromptStrategy):
    """Ask for the label directly, listing the allowed answers; no examples."""

    name = "zero-shot"

    class Config(Options):
        template: str = Field(DEFAULT_TEMPLATE, description="user message; placeholders {task}, {labels}, {text}")
        system: str | None = Field(None, description="system message (None: the chat template's default)")

        @field_validator("template")
        @classmethod
        def _placeholders(cls, value: str) -> str:
            used = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
            if "text" not in used:
                raise ValueError("the template must contain {text}")
            if used - PLACEHOLDERS:
                raise ValueError(f"unknown placeholder(s) {sorted(used - PLACEHOLDERS)}; use {sorted(PLACEHOLDERS)}")
            return value

    def messages(self, text: str) -> list[dict[str, str]]:
        answers = ", ".join(self.label_scheme.answers().values())
        user = self.config.template.format(task=self.task, labels=answers, text=text)
        system = [{"role": "system", "content": self.config.system}] if self.config.system else []
        return [*system, {"role": "user", "content": user}]
