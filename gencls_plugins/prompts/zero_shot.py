"""Zero-shot prompting: the task, the allowed answers and the text, in one user message."""

from __future__ import annotations

from gencls_plugins.prompts.template import TemplatePrompt


class ZeroShot(TemplatePrompt):
    """Ask for the label directly, listing the allowed answers; no examples."""

    name = "zero-shot"

    def messages(self, text: str) -> list[dict[str, str]]:
        return self.render(text)
