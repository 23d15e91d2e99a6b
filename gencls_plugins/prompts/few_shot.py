"""Few-shot prompting: n labelled demonstrations from the training split before the text (GenCLS++'s ICL
variants): random per input, the same fixed set for every input, or the most similar to the input."""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any, Literal

from pydantic import Field, model_validator

from gencls_core.errors import ConfigError
from gencls_core.interfaces import LabeledData, LabelScheme
from gencls_plugins.prompts.retrievers import HiddenStateRetriever, TfidfRetriever, load_encoder
from gencls_plugins.prompts.template import PromptOptions, TemplatePrompt, template_fields


class FewShot(TemplatePrompt):
    """Show n labelled training examples (random, fixed or most similar) before the text."""

    name = "few-shot"
    uses_train_split = True

    class Config(PromptOptions):
        n: int = Field(3, ge=1, description="demonstrations per prompt")
        mode: Literal["random", "fixed", "similar"] = Field(
            "random", description="random: drawn per input (seeded by the seed and the input, so an input always "
                                  "gets the same demonstrations); fixed: the same seeded draw for every input; "
                                  "similar: the n training examples most similar to the input (cosine), the most "
                                  "similar placed last, next to the input")
        retriever: Literal["tfidf", "embedding", "lm"] = Field(
            "tfidf", description="similarity for mode similar: TF-IDF, an embedding model (embedding_model), "
                                 "or the run's LM (mean-pooled hidden states)")
        embedding_model: str | None = Field(None, description="hub id or folder of the encoder (retriever "
                                                              "embedding)")
        balanced: bool = Field(False, description="take demonstrations from every class in turn")
        seed: int | None = Field(None, description="seed for drawing demonstrations (null: the run's seed)")
        max_demo_chars: int | None = Field(None, ge=1, description="cut each demonstration's text to this "
                                                                   "many characters")
        pool: int | None = Field(None, ge=2, description="draw demonstrations from a seeded sample of this many "
                                                         "training examples (null: all)")

        @model_validator(mode="after")
        def _consistent(self) -> Any:
            if "demos" not in template_fields(self.template):
                raise ValueError("few-shot needs a {demos} placeholder in the template")
            if (self.retriever == "embedding") != (self.embedding_model is not None):
                raise ValueError("set embedding_model exactly when retriever is embedding")
            return self

    def setup(self, data: LabeledData, labels: LabelScheme) -> None:
        super().setup(data, labels)
        train = data.splits.get("train")
        if train is None or len(train) == 0:
            raise ConfigError(f"prompt {self.name!r} draws demonstrations from the train split, which is empty")
        cfg = self.config
        self.seed = cfg.seed if cfg.seed is not None else (self.ctx.seed if self.ctx else 0)
        if cfg.pool is not None and cfg.pool < len(train):
            train = train.shuffle(seed=self.seed).select(range(cfg.pool))
        self.texts, self.golds = list(train["text"]), list(train["label"])
        self._check_supply()
        self.fixed = list(range(len(self.texts)))
        random.Random(self.seed).shuffle(self.fixed)
        self.retriever = None
        if cfg.mode == "similar":
            self.retriever = self._retriever()

    def messages(self, text: str) -> list[dict[str, str]]:
        cut = self.config.max_demo_chars
        return self.render(text, [(self.texts[i][:cut] if cut else self.texts[i], self.golds[i])
                                  for i in self.demos(text)])

    def demos(self, text: str) -> list[int]:
        """Indices of the training examples shown before ``text``; never one whose text is ``text``."""
        cfg = self.config
        if cfg.mode == "fixed":
            order = self.fixed
        elif cfg.mode == "random":
            order = list(range(len(self.texts)))
            random.Random(f"{self.seed}:{text}").shuffle(order)
        else:
            sims = self.retriever.similarities(text)
            order = sorted(range(len(self.texts)), key=lambda i: (-sims[i], i))
        order = [i for i in order if self.texts[i] != text]
        if cfg.balanced:
            queues = {c: [i for i in order if self.golds[i] == c] for c in self.classes}
            picked, turn = [], 0
            while len(picked) < cfg.n and any(queues.values()):
                queue = queues[self.classes[turn % len(self.classes)]]
                if queue:
                    picked.append(queue.pop(0))
                turn += 1
        else:
            picked = order[:cfg.n]
        return picked[::-1] if cfg.mode == "similar" else picked  # the most similar next to the text

    def _check_supply(self) -> None:
        if self.config.balanced and self.multi_label:
            raise ConfigError(f"prompt {self.name!r}: balanced demonstrations take one class in turn; multi-label "
                              f"examples have several (set balanced: false)")
        n, counts = self.config.n, Counter(self.golds if not self.multi_label else [])
        if self.config.balanced:
            need = math.ceil(n / len(self.classes))
            short = [c for c in self.classes if counts[c] < need + 1]
            if short:
                raise ConfigError(f"prompt {self.name!r}: n={n} balanced demonstrations need {need} training "
                                  f"examples of each class besides the query, but class {short[0]!r} has "
                                  f"{counts[short[0]]}; lower n or add data")
        elif len(self.texts) < n + 1:
            raise ConfigError(f"prompt {self.name!r}: n={n} demonstrations need at least {n + 1} training "
                              f"examples (the query is never its own demonstration), the train split has "
                              f"{len(self.texts)}")

    def _retriever(self) -> Any:
        cfg = self.config
        if cfg.retriever == "tfidf":
            return TfidfRetriever(self.texts)
        if cfg.retriever == "embedding":
            model, tokenizer = load_encoder(cfg.embedding_model)
            return HiddenStateRetriever(self.texts, model, tokenizer)
        if self.ctx is None or self.ctx.lm is None:
            raise ConfigError(f"prompt {self.name!r}: retriever lm needs the run's model (set up through the engine)")
        return HiddenStateRetriever(self.texts, self.ctx.lm.model, self.ctx.lm.tokenizer)
