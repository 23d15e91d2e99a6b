"""The one inference path, shared by a run's evaluations, ``predict``, ``gencls config prompt`` and
``gencls define``: load the data and model onto a context, set up the inference prompt and labels, render
and fit prompts, decode, check and finalize, evaluate."""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, NamedTuple

from gencls_core.calibration import log_softmax
from gencls_core.chat import render_prompt
from gencls_core.contracts import check_messages, check_metrics, check_predictions
from gencls_core.data import check_labeled_data, flip_labels, make_splits, overlap_checks, text_problem
from gencls_core.distributed import Processes
from gencls_core.errors import ConfigError, DataError, GenclsWarning, UsageError
from gencls_core.interfaces import (
    DatasetSource,
    Decoder,
    Evaluator,
    LabeledData,
    LabelScheme,
    LoadedModel,
    ModelSource,
    Prediction,
    PromptStrategy,
    RunContext,
    Trainer,
)
from gencls_core.label_sets import choose_threshold, decide, parse_set
from gencls_core.lexical import Bag, blend
from gencls_core.long_text import LongTexts, aggregate, reader
from gencls_core.resolve import Resolution, Slot
from gencls_core.results import describe_rare, rarely_predicted
from gencls_core.truncation import PromptFitter, fitter_for
from gencls_core.verbosity import library_bars, library_notices_off

Threshold = float | Mapping[str, float] | None  # predict's min_probability: one for every label, or per label
AUTO_VALIDATION = 0.1  # the share of training examples carved for a stage that chooses on validation

class Evaluation(NamedTuple):
    """One decode of a split, evaluated."""

    metrics: dict[str, Any]
    values: list[dict[str, Any] | None]  # what each evaluator returned (its report.md section); None: not run
    rows: list[dict[str, Any]]  # one per example, as in predictions.jsonl


def load_data(resolution: Resolution, ctx: RunContext) -> LabeledData:
    """The dataset, checked and split by the config's seeded split rules (with a validation split carved, and
    said so, when a training stage chooses on one and the config asks for none)."""
    with library_bars(ctx.progress):
        return _load_data(resolution, ctx)


def _load_data(resolution: Resolution, ctx: RunContext) -> LabeledData:
    config = resolution.config
    slot = resolution.slots["dataset"]
    data = slot.build(DatasetSource).load(ctx)
    check_labeled_data(data, f"dataset {slot.entry.name!r}")
    splits = config.splits
    choosing = [t.path for t in resolution.trainers if t.build(Trainer).needs_validation()]
    choosing += [f"recipe {resolution.recipe.entry.name!r}"] if resolution.recipe else []
    if choosing and not splits.validation_size:
        size = len(data.splits["validation"]) if "validation" in data.splits else AUTO_VALIDATION
        splits = splits.model_copy(update={"validation_size": size})
        warnings.warn(f"{', '.join(choosing)} choose(s) on a validation split and splits.validation_size is 0: "
                      + ("using the dataset's validation split" if "validation" in data.splits else
                         f"carving {AUTO_VALIDATION:.0%} of the training examples (seeded, stratified)")
                      + "; set splits.validation_size to choose its size", GenclsWarning, stacklevel=2)
    data.splits = make_splits(data, splits, config.seed)
    data.checks = overlap_checks(data.splits)
    if splits.train_label_noise:
        flip_labels(data, splits.train_label_noise, config.seed)
    return data


def load_model(resolution: Resolution, ctx: RunContext) -> None:
    """Load the run's model into ``ctx.lm``, on ``ctx.device``."""
    with library_bars(ctx.progress), library_notices_off():
        ctx.lm = resolution.slots["model"].build(ModelSource).load(ctx)
    ctx.loaded_lm().model.to(ctx.device)


def label_scheme(resolution: Resolution, slot: str, ctx: RunContext) -> LabelScheme:
    """The label scheme of ``slot`` (``labels`` or ``inference_labels``), set up for the dataset's classes."""
    labels = resolution.slots[slot].build(LabelScheme)
    labels.ctx = ctx
    labels.setup(ctx.loaded_data().labels)
    return labels


def prompt_strategy(resolution: Resolution, slot: str, ctx: RunContext, labels: LabelScheme) -> PromptStrategy:
    """The prompt strategy of ``slot`` (``prompt`` or ``inference_prompt``), set up on the dataset."""
    prompt = resolution.slots[slot].build(PromptStrategy)
    prompt.ctx = ctx
    prompt.setup(ctx.loaded_data(), labels)
    return prompt


class Inference:
    """The inference prompt and labels of a run, set up on a context with data and model loaded."""

    def __init__(self, resolution: Resolution, ctx: RunContext, processes: Processes | None = None) -> None:
        self.resolution, self.ctx = resolution, ctx
        self.processes = processes or Processes(ctx.device)
        self.labels = label_scheme(resolution, "inference_labels", ctx)
        self.prompt = prompt_strategy(resolution, "inference_prompt", ctx, self.labels)
        self._decoder: Decoder | None = None
        self.windows_capped = 0  # texts of the last decode that had more windows than long_text.max_windows
        self._long: LongTexts | None = None
        self.selected = 0  # texts of the last decode read by their selected sentences
        self._bag: Bag | None = None
        data = ctx.loaded_data()
        if data.multi_label and resolution.config.lexical.weight:
            raise ConfigError("lexical.weight blends one label's scores per text; multi-label data decides label "
                              "sets by threshold: set lexical.weight to 0")
        # multi-label data: the probability a label needs (label_sets.threshold; None until chosen: 1/labels)
        self.set_threshold: float | dict[str, float] | None = resolution.config.label_sets.threshold
        if data.multi_label and len(self.labels.labels) != len(data.labels):
            raise ConfigError(f"{resolution.slots['inference_labels'].who()} answers {self.labels.labels} for the "
                              f"classes {data.labels}; multi-label data needs a scheme with one answer per class")

    def renderer(self) -> tuple[Callable[..., str], PromptFitter]:
        """``render(text, where)``: the inference prompt for ``text`` as the model sees it, fitted to the
        truncation policy (``where`` names the row in errors); and the fitter, which counts the texts it cut."""
        fitter = fitter_for(self.ctx)

        def render(text: str, where: str = "a content-free input") -> str:
            return render_prompt(self.ctx.loaded_lm().tokenizer, fitter.messages(text, self._build, where))

        return render, fitter

    def kept(self, texts: list[str]) -> list[str]:
        """What the inference prompt keeps of each text under the truncation policy (the text when it fits)."""
        fitter = fitter_for(self.ctx)
        return [fitter.head(t, self._build, f"text {i}") for i, t in enumerate(texts)]

    def text_tokens(self, prompt_tokens: int) -> int:
        """How many tokens of a text a prompt of ``prompt_tokens`` keeps: the budget less the instructions,
        demonstrations and chat template around the text."""
        kept = prompt_tokens - PromptFitter(self.ctx.loaded_lm().tokenizer, None).overhead(self._build)
        if kept < 1:
            raise ConfigError(f"a prompt of {prompt_tokens} tokens keeps nothing of a text: the inference prompt "
                              f"takes {prompt_tokens - kept} without one; raise truncation.max_prompt_tokens")
        return kept

    def _build(self, text: str) -> list[dict[str, str]]:
        return check_messages(self.resolution.slots["inference_prompt"].who(), self.prompt.messages(text), text)

    def _pieces(self, texts: list[str], fitter: PromptFitter) -> tuple[list[list[str]], int]:
        """Each text as the pieces decoded for it (``long_text``: itself, its windows or its selected sentences);
        and how many texts had more windows than ``max_windows``."""
        if self._long is None:  # once: select weighs words by the training texts
            self._long = reader(self.resolution.config.long_text, self.ctx.loaded_lm().tokenizer, fitter.limit,
                                lambda: fitter.overhead(self._build), self.ctx.loaded_data().splits.get("train"))
        split = [self._long.pieces(t) for t in texts]
        self.selected = sum(pieces != [t] for (pieces, _), t in zip(split, texts)) if self._long.idf else 0
        return [pieces for pieces, _ in split], sum(capped for _, capped in split)

    def decoder(self) -> Decoder:
        """The run's decoder: one instance for every call (a decoder may keep what it fitted
        across calls while ``ctx.frozen``)."""
        if self._decoder is None:
            self._decoder = self.resolution.slots["decoder"].build(Decoder)
        return self._decoder

    def use_decoder(self, slot: Slot) -> None:
        """Decode with ``slot`` from now on (a recipe's choice for the kept model)."""
        self.resolution = replace(self.resolution, slots={**self.resolution.slots, "decoder": slot})
        self._decoder = None

    def use_lexical(self, weight: float) -> None:
        """Blend the bag of words in at ``weight`` from now on (a recipe's choice for the kept model)."""
        config = self.resolution.config
        self.resolution = replace(self.resolution, config=config.model_copy(
            update={"lexical": config.lexical.model_copy(update={"weight": weight})}))

    def bag(self) -> Bag:
        """TF-IDF + logistic regression on the training split (``lexical.C``, or C chosen on the validation
        split), fitted once."""
        if self._bag is None:
            splits, c = self.ctx.loaded_data().splits, self.resolution.config.lexical.C
            if "train" not in splits or not len(splits["train"]):
                raise ConfigError("lexical evidence is fitted on the training split, and this dataset has none: "
                                  "set lexical.weight to 0")
            validation = splits.get("validation") if c is None else None
            self._bag = Bag(splits["train"]["text"], splits["train"]["label"], c,
                            (validation["text"], validation["label"]) if validation is not None else None)
        return self._bag

    def _blended(self, texts: list[str], predictions: list[Prediction], classes: list[str]) -> list[Prediction]:
        """``predictions`` with the bag of words' log probabilities blended into their scores at
        ``lexical.weight``."""
        if any(p.scores is None for p in predictions):
            raise ConfigError(f"lexical.weight blends label scores, and {self.resolution.slots['decoder'].who()} "
                              f"gives none: use decoder perplexity, or set lexical.weight to 0")
        rows = blend([[p.scores[c] for c in classes] for p in predictions],  # type: ignore[index]
                     self.bag().log_probs(texts, classes), self.resolution.config.lexical.weight)
        return [replace(p, label=classes[row.index(max(row))], scores=dict(zip(classes, row)),
                        probs=dict(zip(classes, (math.exp(v) for v in log_softmax(row)))))
                for p, row in zip(predictions, rows)]

    def decode(self, texts: list[str]) -> tuple[list[Prediction], int]:
        """Predictions for ``texts``, and how many of their texts were truncated to fit the model (with
        ``long_text.policy: chunks``, a text over the budget is decoded in windows, its prediction aggregated)."""
        ctx, slots = self.ctx, self.resolution.slots
        decoder = self.decoder()
        render, fitter = self.renderer()
        ctx.render = render
        for i, t in enumerate(texts):
            problem = text_problem(t) if isinstance(t, str) else f"is a {type(t).__name__}, not text"
            if problem:
                raise DataError(f"input {i}: the text {problem}")
        pieces, capped = self._pieces(texts, fitter)
        self.windows_capped = capped
        if capped:
            warnings.warn(f"{capped} of {len(texts)} texts needed more than long_text.max_windows windows; each was "
                          f"read in that many, spread evenly over it", GenclsWarning, stacklevel=2)
        prompts, cut = [], []
        for i, windows in enumerate(pieces):
            before = fitter.truncated
            prompts += [render(w, f"input {i}") for w in windows]
            cut.append(fitter.truncated > before)
        truncated = sum(cut)
        if truncated:
            warnings.warn(f"{truncated} of {len(texts)} texts were truncated to fit a {fitter.limit}-token prompt "
                          f"(see truncation and long_text in the config)", GenclsWarning, stacklevel=2)
        lm, classes = ctx.loaded_lm(), ctx.loaded_data().labels
        lm.model.eval()  # a training stage leaves it in train mode (dropout on)
        if decoder.shardable(ctx):  # each process decodes its share; all get every prediction, in order
            predictions = self.processes.map_shards(prompts, lambda part: decoder.decode(lm, part, self.labels, ctx))
        else:
            predictions = decoder.decode(lm, prompts, self.labels, ctx)
        predictions = check_predictions(slots["decoder"].who(), predictions, len(prompts), self.labels.labels)
        final = check_predictions(slots["inference_labels"].who(), [self.labels.finalize(p) for p in predictions],
                                  len(prompts), classes)
        if len(final) > len(texts):  # some texts were read in windows: one prediction each from theirs
            ends = list(itertools.accumulate(len(w) for w in pieces))
            final = [aggregate(final[end - len(w):end], classes, self.resolution.config.long_text.aggregate)
                     for w, end in zip(pieces, ends)]
        if self.resolution.config.lexical.weight:  # the bag reads each whole text
            final = self._blended(texts, final, classes)
        if ctx.loaded_data().multi_label:
            final = [self._label_set(p, classes) for p in final]
        return [replace(p, truncated=True) if c else p for p, c in zip(final, cut)], truncated

    def _label_set(self, p: Prediction, classes: list[str]) -> Prediction:
        """A multi-label prediction: the labels whose probability reaches the threshold, or, from a decoder
        without probabilities, the labels its answer lists."""
        if p.probs is not None:
            return replace(p, labels=decide({c: p.probs.get(c, 0.0) for c in classes}, self.label_threshold()))
        found, status = parse_set(p.output or "", {c: self.labels.verbalize(c) for c in classes})
        return replace(p, labels=found, status=status)

    def label_threshold(self) -> float | dict[str, float]:
        """The threshold label sets are decided with: the configured or chosen one, else 1 / the number of
        labels."""
        return self.set_threshold if self.set_threshold is not None else 1 / len(self.ctx.loaded_data().labels)

    def _timed_decode(self, texts: list[str], timings: dict[str, float]) -> tuple[list[Prediction], int, float]:
        """``decode``, its seconds added to ``timings["decode"]``; the predictions, texts truncated, seconds."""
        started = time.time()
        predictions, truncated = self.decode(texts)
        seconds = time.time() - started
        timings["decode"] = round(timings.get("decode", 0.0) + seconds, 3)
        return predictions, truncated, seconds

    def choose_set_threshold(self, timings: dict[str, float],
                             validation: tuple[list[Any], list[dict[str, float] | None]] | None = None
                             ) -> float | dict[str, float] | None:
        """For multi-label data without a configured ``label_sets.threshold``: the threshold with the best
        micro-F1 (or each label's best F1, ``per_label``) on the validation split, now used for decoding; chosen
        on ``validation`` (gold sets, probabilities: the current model's validation predictions) when given,
        else on the split decoded with the current model. None (keeping 1/labels) without a validation split or
        probabilities."""
        data, config = self.ctx.loaded_data(), self.resolution.config.label_sets
        if not data.multi_label or config.threshold is not None or "validation" not in data.splits:
            return None
        if validation is None:
            split = data.splits["validation"]
            validation = (list(split["label"]), [p.probs for p in self._timed_decode(list(split["text"]),
                                                                                      timings)[0]])
        gold, probs = validation
        if any(p is None for p in probs):
            return None
        rows = [{c: p.get(c, 0.0) for c in data.labels} for p in probs]  # type: ignore[union-attr]
        self.set_threshold = choose_threshold(gold, rows, data.labels, config.per_label)
        return self.set_threshold

    def validate(self, model: Any) -> dict[str, Any]:
        """The scalar metrics (and ``rarely_predicted``, when a class is almost never predicted) of ``model`` (a
        stage's model while it trains) on the validation split, decoded as a trained model is (no zero-shot
        calibration); ``ctx.lm`` and ``ctx.trained`` are restored after."""
        ctx = self.ctx
        lm, trained = ctx.loaded_lm(), ctx.trained
        ctx.lm, ctx.trained = LoadedModel(model, lm.tokenizer, lm.ref), True
        try:
            with warnings.catch_warnings():  # the final evaluation warns about collapse; mid-training it is noise
                warnings.simplefilter("ignore", GenclsWarning)
                metrics = self.evaluate_split({}, "validation").metrics
        finally:
            ctx.lm, ctx.trained = lm, trained
        return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) or k == "rarely_predicted"}

    def evaluate_split(self, timings: dict[str, float], split_name: str | None = None,
                       set_threshold_here: bool = False) -> Evaluation:
        """Decode the evaluation split (``splits.evaluate``: test, or validation while choosing settings; or
        ``split_name``) and evaluate; the decoding time is added to ``timings["decode"]``. With
        ``set_threshold_here`` (the validation split), multi-label sets are decided at the threshold
        ``choose_set_threshold`` picks from these very predictions (one decode, not two)."""
        ctx = self.ctx
        split = ctx.loaded_data().splits[split_name or self.resolution.config.splits.evaluate]
        predictions, truncated, seconds = self._timed_decode(list(split["text"]), timings)
        gold = list(split["label"])
        chosen = self.choose_set_threshold(timings, (gold, [p.probs for p in predictions])) \
            if set_threshold_here else None
        if chosen is not None:
            predictions = [self._label_set(p, ctx.loaded_data().labels) for p in predictions]
        metrics, values = evaluate(self.resolution, gold, predictions, ctx.loaded_data())
        if ctx.loaded_data().multi_label:  # the threshold the sets were decided with (one, or one per label)
            metrics["label_threshold"] = self.label_threshold()
        metrics["truncated"] = truncated
        policy = self.resolution.config.long_text.policy
        if policy == "chunks":
            metrics["chunked"] = sum(p.windows > 1 for p in predictions)
            metrics["windows_capped"] = self.windows_capped
        elif policy == "select":
            metrics["selected"] = self.selected
        metrics["decode_examples_per_second"] = round(len(gold) / max(seconds, 1e-9), 3)
        multi = ctx.loaded_data().multi_label
        rows = []
        for t, g, p in zip(split["text"], gold, predictions):
            predicted = p.labels if multi else p.label
            correct = predicted is not None and set(predicted) == set(g) if multi else predicted == g
            rows.append({"text": t, "gold": g, "predicted": predicted, "correct": correct, "status": p.status,
                         "output": p.output, "scores": p.scores, "probs": p.probs, "windows": p.windows})
        return Evaluation(metrics, values, rows)


def evaluate(resolution: Resolution, gold: list[Any], predictions: list[Prediction],
             data: LabeledData) -> tuple[dict[str, Any], list[dict[str, Any] | None]]:
    """All metrics, and what each evaluator returned (for its ``report.md`` section): those of the other kind of
    data (single- or multi-label) do not run (None); a list with none of the data's kind is an error."""
    labels = data.labels
    unparseable = sum((p.labels if data.multi_label else p.label) is None for p in predictions)
    metrics: dict[str, Any] = {"n": len(gold), "unparseable": unparseable,
                               "no_label": sum(p.status == "no_label" for p in predictions),
                               "multiple_labels": sum(p.status == "multiple_labels" for p in predictions),
                               "abstained": sum(p.status == "abstained" for p in predictions)}
    all_values: list[dict[str, Any] | None] = []
    for slot in resolution.evaluators:
        evaluator = slot.build(Evaluator)
        if evaluator.multi_label != data.multi_label:
            all_values.append(None)
            continue
        values = check_metrics(slot.who(), evaluator.evaluate(gold, predictions, labels))
        metrics.update(values)
        all_values.append(values)
    if all_values and all(v is None for v in all_values):
        kind = "multi" if data.multi_label else "single"
        raise ConfigError(f"none of the evaluators {[s.entry.name for s in resolution.evaluators]} scores "
                          f"{kind}-label data, which this dataset is; add one (the built-in "
                          f"{'multi-label' if data.multi_label else 'accuracy, f1, ...'})")
    if data.multi_label:
        return metrics, all_values
    rare = rarely_predicted(gold, [p.label for p in predictions], labels)
    if rare:
        metrics["rarely_predicted"] = rare
        warnings.warn(describe_rare(rare), GenclsWarning, stacklevel=2)
    return metrics, all_values



class Predictor:
    """``predict``'s model, prompt, labels and decoder, loaded once: call it on texts."""

    def __init__(self, inference: Inference) -> None:
        self.inference = inference

    def __call__(self, texts: list[str], min_probability: Threshold = None) -> list[Prediction]:
        """The predictions for ``texts``; with ``min_probability`` (one for every label, or ``{label: p}``), one
        whose most probable label has a lower probability abstains (label None, status ``abstained``, its
        probabilities kept). Multi-label runs take no ``min_probability``: their labels' threshold is
        ``label_sets.threshold``."""
        if min_probability is not None and self.inference.ctx.loaded_data().multi_label:
            raise UsageError("a multi-label run predicts every label whose probability reaches label_sets.threshold "
                             "(recorded in its run.json); give another with predict --label-threshold instead "
                             "of a minimum probability for abstaining")
        return abstain_below(self.inference.decode(texts)[0], min_probability)

    def warm_up(self) -> None:
        """Decode two short texts once (their predictions and warnings dropped): one-time costs are paid before
        the first real call, and a decoder that keeps what prompts share (the chat template and instructions)
        has it for one-text calls."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GenclsWarning)
            self(["warm-up text", "another warm-up text"])

    @property
    def shardable(self) -> bool:
        """Whether texts decoded together get the predictions they get alone (so requests may share a call)."""
        return self.inference.decoder().shardable(self.inference.ctx)


def check_threshold_labels(cuts: Mapping[str, float], labels: list[str], who: str) -> None:
    """Per-label thresholds name only the model's ``labels``; ``who`` says where they came from."""
    unknown = sorted(set(cuts) - set(labels))
    if unknown:
        raise UsageError(f"{who} names {unknown}, which are not labels of this model: {labels}")


def abstain_below(predictions: list[Prediction], min_probability: Threshold) -> list[Prediction]:
    """``predictions`` with every valid one whose top label probability is under ``min_probability`` (one number,
    or ``{label: p}`` for the predicted label; a label it leaves out is not thresholded) turned into an abstention
    (label None, status ``abstained``); unchanged without a threshold."""
    if min_probability is None:
        return predictions
    if isinstance(min_probability, Mapping):
        cuts, single = dict(min_probability), None
        labels = sorted({label for p in predictions for label in p.probs or {}})
        if labels:
            check_threshold_labels(cuts, labels, "min_probability")
    else:
        cuts, single = {}, float(min_probability)
    for label, value in ({"": single} if single is not None else cuts).items():
        if not 0 <= value <= 1:
            raise UsageError(f"min_probability{f' of {label!r}' if label else ''} must lie in [0, 1], got {value}")

    def below(p: Prediction) -> bool:
        cut = single if single is not None else cuts.get(p.label or "")
        return p.label is not None and bool(p.probs) and cut is not None and max((p.probs or {}).values()) < cut

    return [replace(p, label=None, status="abstained") if below(p) else p for p in predictions]
