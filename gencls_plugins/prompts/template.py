"""The options and rendering shared by the built-in prompt strategies: one user message from a template with
the task, optional category definitions, the allowed answers, optional demonstrations and the text."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gencls_core.answer_forms import INSTRUCTIONS
from gencls_core.errors import ConfigError
from gencls_core.interfaces import LabeledData, LabelScheme, Options, PromptStrategy
from gencls_core.label_sets import render_set
from gencls_plugins.prompts.definitions import load_definitions

PLACEHOLDERS = {"task", "definitions", "labels", "demos", "text"}
DEFAULT_TEMPLATE = "{task}\n{definitions}Answer with exactly one of: {labels}.\n\n{demos}Text: {text}"
# the default for multi-label data: any number of labels
SETS_TEMPLATE = ("{task}\n{definitions}Answer with every label that applies, separated by commas, or with none: "
                 "{labels}.\n\n{demos}Text: {text}")


def template_fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


class PromptOptions(Options):
    template: str = Field(DEFAULT_TEMPLATE, description="user message; placeholders {task}, {definitions}, "
                                                        "{labels}, {demos}, {text} (multi-label data: the "
                                                        "default asks for every label that applies)")
    system: str | None = Field(None, description="system message (None: the chat template's default)")
    definitions: dict[str, str] | str | None = Field(
        None, description="a definition per class: a mapping, or a YAML/JSON file (see `gencls define`)")
    reasoning: Literal["direct", "think", "gta"] = Field(
        "direct", description="direct: answer with the label; think: reason in <think>, then <answer>label</answer>; "
                              "gta: <guess>label</guess><think>...</think><answer>label</answer>")

    @field_validator("template")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        used = template_fields(value)
        if "text" not in used:
            raise ValueError("the template must contain {text}")
        if used - PLACEHOLDERS:
            raise ValueError(f"unknown placeholder(s) {sorted(used - PLACEHOLDERS)}; use {sorted(PLACEHOLDERS)}")
        return value

    @model_validator(mode="after")
    def _definitions_placeholder(self) -> Any:
        if self.definitions is not None and "definitions" not in template_fields(self.template):
            raise ValueError("definitions are set but the template has no {definitions} placeholder")
        return self


class TemplatePrompt(PromptStrategy):
    """Base of the built-in strategies: renders ``template`` into one user message."""

    Config = PromptOptions

    @property
    def answer_form(self) -> str:
        return self.config.reasoning

    def files(self) -> dict[str, Path]:
        definitions = self.config.definitions
        return {"definitions": Path(definitions)} if isinstance(definitions, str) else {}

    def setup(self, data: LabeledData, labels: LabelScheme) -> None:
        super().setup(data, labels)
        self.classes = list(data.labels)
        self.multi_label = data.multi_label
        if data.multi_label and self.config.reasoning != "direct":
            raise ConfigError(f"prompt {self.name!r}: reasoning {self.config.reasoning!r} answers one label; "
                              f"multi-label data is answered directly (reasoning: direct)")
        self.definitions = None
        if self.config.definitions is not None:
            self.definitions = load_definitions(self.config.definitions, self.classes, f"prompt {self.name!r}")

    def answer(self, label: str | list[str]) -> str:
        """A demonstration's answer: its class's, or for multi-label data its label set's."""
        if isinstance(label, list):
            return render_set(label, self.label_scheme.verbalize, self.classes)
        return self.label_scheme.verbalize(label)

    def render(self, text: str, demos: list[tuple[str, str]] = ()) -> list[dict[str, str]]:
        """The messages for ``text``, with (text, class) demonstrations shown before it."""
        scheme = self.label_scheme
        definitions = ""
        if self.definitions:
            lines = [f"- {scheme.verbalize(c)}: {self.definitions[c]}" for c in self.classes]
            definitions = "Definitions:\n" + "\n".join(lines) + "\n"
        shown = "".join(f"Text: {t}\nAnswer: {self.answer(label)}\n\n" for t, label in demos)
        answers = ", ".join(scheme.answers().values())
        template = self.config.template
        if self.multi_label and template == DEFAULT_TEMPLATE:
            template = SETS_TEMPLATE
        user = template.format(task=self.task, definitions=definitions, labels=answers, demos=shown,
                               text=text)
        if self.config.reasoning != "direct":
            user += "\n\n" + INSTRUCTIONS[self.config.reasoning].format(example=scheme.verbalize(self.classes[0]))
        system = [{"role": "system", "content": self.config.system}] if self.config.system else []
        return [*system, {"role": "user", "content": user}]
