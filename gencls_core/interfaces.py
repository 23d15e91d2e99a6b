"""The contract of each component kind.

A component is a class with a kebab-case ``name``, a pydantic ``Config`` (its options, validated with
``extra="forbid"``) and ``requires`` (capabilities it needs, e.g. ``{"cuda"}``). Plugins register the
class; the engine validates the options and instantiates it with ``cls(config)``.
Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import datasets

    from gencls_core.context import RunContext


class Options(BaseModel):
    """Base for component configs: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Component:
    """Base of every component kind."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[BaseModel]] = Options
    requires: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: BaseModel | None = None) -> None:
        self.config = config if config is not None else self.Config()

    @classmethod
    def summary(cls) -> str:
        """First line of the class docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer; ``ref`` says where it came from."""

    model: Any
    tokenizer: Any
    ref: str


@dataclass
class LabeledData:
    """Labelled texts: ``splits`` map split names to ``datasets.Dataset`` with ``text`` and ``label``
    (a class name from ``labels``) columns. ``task`` is a short description used by prompts."""

    splits: dict[str, datasets.Dataset]
    labels: list[str]
    task: str = "Classify the text."
    source: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prediction:
    """One decoded answer.

    ``label`` is None when the output named no single valid label; ``status`` then says why
    (``no_label`` or ``multiple_labels``). ``scores`` are the decoder's raw per-label scores, ``probs``
    a probability distribution over the labels (for calibration metrics), ``output`` the generated text.
    """

    label: str | None
    scores: dict[str, float] | None = None
    probs: dict[str, float] | None = None
    output: str | None = None
    status: str = "ok"


class ModelSource(Component):
    """Where a causal LM comes from."""

    def load(self, ctx: RunContext) -> LoadedModel:
        raise NotImplementedError


class DatasetSource(Component):
    """Where labelled text comes from. Splits it provides (``train``/``validation``/``test``) are kept;
    otherwise everything is returned as ``train`` and the engine carves seeded stratified splits."""

    def load(self, ctx: RunContext) -> LabeledData:
        raise NotImplementedError


class LabelScheme(Component):
    """How each class is written in the model's answer, and how an answer is parsed back.

    ``ctx`` (the RunContext) is set before ``setup`` when the engine builds the scheme.
    """

    ctx: RunContext | None = None

    def setup(self, labels: list[str]) -> None:
        """Bind the scheme to the dataset's class names (called once before use)."""
        self.labels = list(labels)

    def verbalize(self, label: str) -> str:
        """The answer text for class ``label``."""
        raise NotImplementedError

    def find(self, output: str) -> list[str]:
        """Every class an answer names (distinct, in label order)."""
        raise NotImplementedError

    def parse(self, output: str) -> str | None:
        """The class an answer names, or None if it names none or several."""
        found = self.find(output)
        return found[0] if len(found) == 1 else None

    def answers(self) -> dict[str, str]:
        """Class name -> answer text, for every class."""
        return {label: self.verbalize(label) for label in self.labels}

    def prepare_training(self, ctx: RunContext) -> None:
        """Called once before the first training stage, with the model loaded; may relabel
        ``ctx.data.splits["train"]`` (e.g. mark low-confidence examples with an extra class)."""

    def finalize(self, prediction: Prediction) -> Prediction:
        """Map a decoded prediction to one of the dataset's classes (or None), e.g. an extra answer the scheme
        added. ``labels`` may hold more answers than the dataset has classes; finalized labels may not."""
        return prediction


class PromptStrategy(Component):
    """How an input text becomes chat messages asking for a label.

    ``ctx`` (the RunContext, with the model loaded) is set before ``setup``; strategies that embed texts with
    the run's model read ``ctx.lm``.
    """

    ctx: RunContext | None = None
    uses_train_split: ClassVar[bool] = False  # True: setup reads data.splits["train"] (e.g. demonstrations)
    # the answer the messages ask for: "direct" (the label's answer text), "think" (<think>...</think>
    # <answer>label</answer>) or "gta" (<guess>label</guess><think>...</think><answer>label</answer>);
    # training stages write gold answers in this form
    answer_form: str = "direct"

    def setup(self, data: LabeledData, labels: LabelScheme) -> None:
        """Called once with the dataset (e.g. to draw demonstrations from ``train``)."""
        self.task = data.task
        self.label_scheme = labels

    def messages(self, text: str) -> list[dict[str, str]]:
        raise NotImplementedError


class Decoder(Component):
    """Turns rendered prompts into predictions."""

    def decode(self, lm: LoadedModel, prompts: list[str], labels: LabelScheme,
               ctx: RunContext) -> list[Prediction]:
        raise NotImplementedError


class Evaluator(Component):
    """Metrics from gold labels and predictions (a prediction's label is None when it named no valid label)."""

    def evaluate(self, gold: list[str], predictions: list[Prediction], labels: list[str]) -> dict[str, Any]:
        raise NotImplementedError

    def report(self, values: dict[str, Any], out_dir: Path) -> str:
        """A markdown section for ``report.md`` from what ``evaluate`` returned; may write figures into
        ``out_dir`` and link them."""
        return ""


class Trainer(Component):
    """A training stage: updates ``ctx.lm`` in place (or replaces it)."""

    def train(self, ctx: RunContext) -> dict[str, Any]:
        """Train and return a summary (losses, steps, ...) for ``run.json``."""
        raise NotImplementedError


class RewardFunc(Component):
    """A reward in TRL's contract: ``__call__(prompts, completions, **kwargs) -> list[float | None]``,
    dataset columns such as ``label`` (the gold class name) arriving as keyword arguments.
    Completions are strings, or lists of chat messages for conversational data
    (``gencls_core.rewards.completion_text`` gives the answer text of either)."""

    def setup(self, labels: LabelScheme) -> None:
        """Bind the reward to the training label scheme (called once before training)."""
        self.label_scheme = labels

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        raise NotImplementedError


# kind -> (register hook, base class)
KINDS: dict[str, tuple[str, type[Component]]] = {
    "model_source": ("gencls_register_model_sources", ModelSource),
    "dataset": ("gencls_register_datasets", DatasetSource),
    "label_scheme": ("gencls_register_label_schemes", LabelScheme),
    "prompt_strategy": ("gencls_register_prompt_strategies", PromptStrategy),
    "decoder": ("gencls_register_decoders", Decoder),
    "reward_func": ("gencls_register_reward_funcs", RewardFunc),
    "trainer": ("gencls_register_trainers", Trainer),
    "evaluator": ("gencls_register_evaluators", Evaluator),
}
