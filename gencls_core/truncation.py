"""Fitting prompts to the model: when a rendered prompt is longer than the limit, the input text is cut
(its last tokens first) so that the instructions, demonstrations and answer survive; or, with policy
``error``, the run stops naming the row. One policy for decoding, training, RL rollouts and ``predict``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gencls_core.chat import render_prompt
from gencls_core.errors import DataError

if TYPE_CHECKING:
    from gencls_core.config import TruncationConfig

Messages = list[dict[str, str]]
CHARS_PER_TOKEN = 64  # no token of a real vocabulary is longer: a text of more than limit x 64 characters is over


def prompt_limit(model: Any, cfg: TruncationConfig) -> int | None:
    """The longest prompt allowed: ``max_prompt_tokens`` and the model's context less ``reserve_tokens``."""
    context = getattr(model.config, "max_position_embeddings", None)
    limits = [n for n in (cfg.max_prompt_tokens, context - cfg.reserve_tokens if context else None) if n]
    return min(limits) if limits else None


class PromptFitter:
    """Builds each text's chat messages so their rendered prompt fits ``limit`` tokens; counts the cut texts."""

    def __init__(self, tokenizer: Any, limit: int | None, policy: str = "truncate") -> None:
        self.tokenizer, self.limit, self.policy = tokenizer, limit, policy
        self.truncated = 0

    def overhead(self, build: Callable[[str], Messages]) -> int:
        """Tokens of a prompt without its text (built around a one-character text)."""
        return self._length(build(".")) - 1

    def _length(self, messages: Messages) -> int:
        return len(self.tokenizer(render_prompt(self.tokenizer, messages), add_special_tokens=False)["input_ids"])

    def messages(self, text: str, build: Callable[[str], Messages], where: str) -> Messages:
        """``build`` of what fits of ``text`` (``head``); ``where`` names the row."""
        return build(self.head(text, build, where))

    def head(self, text: str, build: Callable[[str], Messages], where: str) -> str:
        """``text``, or its longest head whose prompt ``build`` makes fits the limit (counted in ``truncated``);
        ``where`` names the row in errors."""
        if self.limit is None:
            return text
        precut = len(text) > self.limit * CHARS_PER_TOKEN  # over the limit for sure: do not tokenize it all
        if precut:
            if self.policy == "error":
                raise DataError(f"{where}: the text has {len(text)} characters, far over the limit of {self.limit} "
                                f"prompt tokens; shorten the text or set truncation.policy=truncate")
            text = text[:self.limit * CHARS_PER_TOKEN]
        length = self._length(build(text))
        if length <= self.limit:
            self.truncated += precut
            return text
        if self.policy == "error":
            raise DataError(f"{where}: the prompt is {length} tokens, over the limit of {self.limit} (the model's "
                            f"context less truncation.reserve_tokens, or truncation.max_prompt_tokens); shorten the "
                            f"text or set truncation.policy=truncate")
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        keep = len(ids) - (length - self.limit)
        while True:
            if keep <= 0:
                raise DataError(f"{where}: the prompt is over the limit of {self.limit} tokens even without the text "
                                f"(instructions and demonstrations alone are too long); shorten them or raise "
                                f"truncation.max_prompt_tokens")
            cut = self.tokenizer.decode(ids[:keep]).rstrip() or "."
            length = self._length(build(cut))
            if length <= self.limit:
                self.truncated += 1
                return cut
            keep -= length - self.limit


def truncation_config(ctx: Any) -> TruncationConfig:
    """The run's truncation settings (the defaults for a context made outside a run)."""
    from gencls_core.config import TruncationConfig

    return ctx.truncation or TruncationConfig()


def fitter_for(ctx: Any, limit: int | None = None, lm: Any = None) -> PromptFitter:
    """A fitter for the run's model (or ``lm``) and truncation config; ``limit`` lowers the limit (e.g. a
    trainer's)."""
    cfg = truncation_config(ctx)
    lm = lm or ctx.lm
    limits = [n for n in (prompt_limit(lm.model, cfg), limit) if n]
    return PromptFitter(lm.tokenizer, min(limits) if limits else None, cfg.policy)
