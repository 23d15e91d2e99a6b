"""A prompt that states the text first and asks a question about it last."""

from __future__ import annotations

from pydantic import Field

from gencls_core import Options, PromptStrategy


class QuestionPrompt(PromptStrategy):
    """Text first, then a question listing the allowed answers."""

    name = "question"

    class Config(Options):
        question: str = Field("Which category fits this text best?", description="the question asked")

    def messages(self, text):
        answers = " / ".join(self.label_scheme.answers().values())
        return [{"role": "user", "content": f"{text}\n\n{self.config.question} ({answers})"}]
