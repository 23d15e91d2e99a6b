"""Rendering chat messages with the model's own chat template."""

from __future__ import annotations

from typing import Any

from gencls_core.errors import ModelError

_PROBE = "\x00gencls-answer\x00"


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The prompt text up to where the assistant's answer begins."""
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError("the tokenizer has no chat template; gencls prompts are chat messages. "
                         "Use an instruct/chat model or set tokenizer.chat_template")
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def answer_suffix(tokenizer: Any) -> str:
    """What the chat template writes right after an assistant answer (e.g. ``<|im_end|>``), stripped."""
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": _PROBE}]
    full = tokenizer.apply_chat_template(msgs, tokenize=False)
    return full.split(_PROBE, 1)[1].strip() if _PROBE in full else ""
