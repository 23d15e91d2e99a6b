"""An explicit "uncertain" class (GenCLS++): low-confidence training examples are relabelled before training,
and an "uncertain" answer at inference is mapped to the best real class or kept as an abstention."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from gencls_core.errors import ConfigError
from gencls_core.interfaces import ComponentSpec, LabelScheme, Options, Prediction

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext


class UncertainLabels(LabelScheme):
    """Another scheme plus an "uncertain" answer; the least confident training examples learn to give it."""

    name = "uncertain"

    class Config(Options):
        base: ComponentSpec = Field(default_factory=lambda: ComponentSpec(name="names"),
                                    description="the wrapped label scheme: a name or {name, options}")
        word: str = Field("uncertain", description="the extra class's name (and answer, under base 'names')")
        fraction: float = Field(0.1, gt=0, lt=0.5, description="share of training examples relabelled uncertain")
        scorers: list[ComponentSpec] = Field(
            default_factory=list, description="model sources whose zero-shot perplexity scores give the "
                                              "confidence (averaged); empty: the run's model")
        policy: Literal["best", "abstain"] = Field(
            "best", description="at inference, 'uncertain' becomes the best-scoring real class, or an abstention")

    def setup(self, labels: list[str]) -> None:
        if self.config.word in labels:
            raise ConfigError(f"labels.word {self.config.word!r} is already a class of the dataset: {labels}")
        self.classes = list(labels)
        self.base = self._base(self.classes + [self.config.word])
        self.labels = self.base.labels

    def verbalize(self, label: str) -> str:
        return self.base.verbalize(label)

    def find(self, output: str) -> list[str]:
        return self.base.find(output)

    def finalize(self, prediction: Prediction) -> Prediction:
        word = self.config.word
        probs = prediction.probs
        if probs is not None:
            rest = {c: p for c, p in probs.items() if c != word}
            total = sum(rest.values())
            probs = {c: p / total for c, p in rest.items()} if total > 0 else rest
        if prediction.label != word:
            return Prediction(prediction.label, prediction.scores, probs, prediction.output, prediction.status)
        if self.config.policy == "best" and prediction.scores:
            best = max(self.classes, key=lambda c: prediction.scores[c])
            return Prediction(best, prediction.scores, probs, prediction.output, "ok")
        return Prediction(None, prediction.scores, probs, prediction.output, "abstained")

    def prepare_training(self, ctx: RunContext) -> None:
        """Relabel the ``fraction`` of training examples whose gold class gets the lowest zero-shot probability
        (perplexity decoding batch-calibrated over the training split, so a scorer's preference for one label
        does not decide who is least confident; averaged over the scorer models)."""
        train = ctx.data.splits["train"]
        scheme = self._base(self.classes)
        prompt = ctx.build("prompt_strategy", "zero-shot", "labels (confidence prompt)")
        prompt.setup(ctx.data, scheme)
        decoder = ctx.build("decoder", {"name": "perplexity", "calibrate": "batch"}, "labels (confidence decoder)")
        gold = list(train["label"])
        confidence = [0.0] * len(gold)
        models = [self._scorer(i, spec, ctx) for i, spec in enumerate(self.config.scorers)] or [ctx.lm]
        for lm in models:
            from gencls_core.chat import render_prompt
            from gencls_core.truncation import fitter_for

            fitter = fitter_for(ctx, lm=lm)
            prompts = [render_prompt(lm.tokenizer, fitter.messages(t, prompt.messages, f"train example {i}"))
                       for i, t in enumerate(train["text"])]
            lm.model.eval()
            for i, p in enumerate(decoder.decode(lm, prompts, scheme, ctx)):
                confidence[i] += p.probs[gold[i]] / len(models)
        k = max(1, round(self.config.fraction * len(gold)))
        lowest = set(sorted(range(len(gold)), key=lambda i: (confidence[i], i))[:k])
        relabelled = [self.config.word if i in lowest else g for i, g in enumerate(gold)]
        ctx.data.splits["train"] = train.remove_columns("label").add_column("label", relabelled)
        self.confidence = confidence

    def _base(self, labels: list[str]) -> LabelScheme:
        if self.config.base.name == self.name:
            raise ConfigError("labels.base cannot be 'uncertain' itself")
        if self.ctx is None:
            raise ConfigError("the uncertain label scheme builds its base scheme through the run context: set its "
                              "ctx (a RunContext with services) before setup")
        base = self.ctx.build("label_scheme", self.config.base, "labels.base")
        base.setup(labels)
        return base

    def _scorer(self, i: int, spec: ComponentSpec, ctx: RunContext) -> Any:
        lm = ctx.build("model_source", spec, f"labels.scorers.{i}").load(ctx)
        lm.model.to(ctx.device)
        return lm
