"""The contract plugin authors program against: component bases, what they exchange, and the run context.

A component is a class with a kebab-case ``name``, a pydantic ``Config`` (its options, validated with
``extra="forbid"``) and ``requires`` (capabilities it needs, e.g. ``{"cuda"}``). Plugins register the
class; the engine validates the options and instantiates it with ``cls(config)``. Each kind's abstract
methods must be implemented: registration refuses a class that leaves one out.

This module is the leaf of gencls: it imports no other gencls module (and not torch), so every layer
above can use it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    import datasets

class Options(BaseModel):
    """Base for component configs: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class ComponentSpec(BaseModel):
    """A slot: the component's ``name`` plus its options (checked by the component's Config)."""

    model_config = ConfigDict(extra="allow")
    name: str | None = Field(None, description="registered component name; empty = the default")

    @model_validator(mode="before")
    @classmethod
    def _name_shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Component(ABC):  # noqa: B024 - each kind declares its abstract methods
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

    def files(self) -> dict[str, Path]:
        """The local files this component's options name, by option (``gencls study plan`` checks that they exist
        before any cell runs)."""
        return {}


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer; ``ref`` says where it came from."""

    model: Any
    tokenizer: Any
    ref: str


@dataclass(frozen=True)
class StageResult:
    """What a training stage hands back: ``model`` becomes the run's model (the engine saves and evaluates it),
    ``summary`` goes to ``run.json`` (losses, steps, ...; shown as ``train_<key>``), and ``report``, when set,
    receives the stage's evaluation metrics (e.g. the trainer's ``report_to`` integrations, so they sit beside its
    training curves)."""

    model: LoadedModel
    summary: dict[str, Any] = field(default_factory=dict)
    report: Callable[[dict[str, float]], None] | None = None


@dataclass
class LabeledData:
    """Labelled texts: ``splits`` map split names to ``datasets.Dataset`` with ``text`` and ``label``
    (a class name from ``labels``; with ``multi_label``, a list of them, possibly empty) columns. ``task`` is a
    short description used by prompts."""

    splits: dict[str, datasets.Dataset]
    labels: list[str]
    task: str = "Classify the text."
    source: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, int] = field(default_factory=dict)  # leakage and conflicts found by the engine
    # training rows whose label the engine flipped (splits.train_label_noise): row, true label, label given
    flipped: list[dict[str, Any]] = field(default_factory=list)
    multi_label: bool = False


@dataclass
class Prediction:
    """One decoded answer.

    ``label`` is None when the output named no single valid label; ``status`` then says why
    (``no_label`` or ``multiple_labels``). ``scores`` are the decoder's raw per-label scores (with
    ``lexical.weight``, the engine replaces them by the blend with the bag of words), ``probs``
    a probability distribution over the labels (for calibration metrics), ``output`` the generated text;
    ``truncated`` is set by the engine when the text was cut to fit the prompt limit, ``windows`` to the number
    of windows a text was read in (``long_text.policy: chunks``). For multi-label data the engine sets
    ``labels``, the predicted label set (None when the answer named no set).
    """

    label: str | None
    scores: dict[str, float] | None = None
    probs: dict[str, float] | None = None
    output: str | None = None
    status: Literal["ok", "no_label", "multiple_labels", "abstained"] = "ok"
    truncated: bool = False
    windows: int = 1
    labels: list[str] | None = None


class ModelSource(Component):
    """Where a causal LM comes from."""

    @abstractmethod
    def load(self, ctx: RunContext) -> LoadedModel:
        """The model and its tokenizer (the engine moves the model to ``ctx.device``)."""

    def card(self) -> dict[str, str]:
        """What a model card says of the base model: ``base_model`` (a hub id) and ``license``, where known.
        Default: nothing (a local folder's path is not published)."""
        return {}


class DatasetSource(Component):
    """Where labelled text comes from. Splits it provides (``train``/``validation``/``test``) are kept;
    otherwise everything is returned as ``train`` and the engine carves seeded stratified splits."""

    @abstractmethod
    def load(self, ctx: RunContext) -> LabeledData:
        """The labelled texts, with their class names and task."""


class LabelScheme(Component):
    """How each class is written in the model's answer, and how an answer is parsed back.

    ``ctx`` (the RunContext) is set before ``setup`` when the engine builds the scheme.
    """

    ctx: RunContext | None = None

    def setup(self, labels: list[str]) -> None:
        """Bind the scheme to the dataset's class names (called once before use)."""
        self.labels = list(labels)

    @abstractmethod
    def verbalize(self, label: str) -> str:
        """The answer text for class ``label``."""

    @abstractmethod
    def find(self, output: str) -> list[str]:
        """Every class an answer names (distinct, in label order)."""

    def parse(self, output: str) -> str | None:
        """The class an answer names, or None if it names none or several."""
        found = self.find(output)
        return found[0] if len(found) == 1 else None

    def answers(self) -> dict[str, str]:
        """Class name -> answer text, for every class."""
        return {label: self.verbalize(label) for label in self.labels}

    def ambiguous_answers(self) -> dict[str, list[str]]:
        """Classes whose answer, said in a sentence, is read as naming other classes too (``spam`` inside
        ``not spam``): class -> every class ``find`` reads there. Free generation cannot answer those in prose."""
        found = {label: self.find(f"It is {answer}.") for label, answer in self.answers().items()}
        return {label: names for label, names in found.items() if len(names) > 1}

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

    @abstractmethod
    def messages(self, text: str) -> list[dict[str, str]]:
        """Chat messages asking for ``text``'s label; the last is the user's and contains ``text``."""


class Decoder(Component):
    """Turns rendered prompts into predictions. The run's context (model loaded) comes with each call of
    ``shardable`` and ``decode``. One instance serves every decode call of a run or predictor: what it keeps
    across calls must not outlive a change of the model (safe while ``ctx.frozen``)."""

    def generated_tokens(self) -> int:
        """The most tokens it generates per prompt (0: it scores the label answers instead); cost estimates (the
        study plan) read it."""
        return 0

    def uses_train_split(self) -> bool:
        """Whether decoding reads ``ctx.data.splits["train"]`` (e.g. to fit a calibration), so that ``predict``
        loads the dataset."""
        return False

    def shardable(self, ctx: RunContext) -> bool:
        """Whether decoding a subset of the prompts gives the same predictions for them as decoding all (so a run
        of several processes may split the prompts between them)."""
        return True

    @abstractmethod
    def decode(self, lm: LoadedModel, prompts: list[str], labels: LabelScheme,
               ctx: RunContext) -> list[Prediction]:
        """One Prediction per prompt, its label one of ``labels.labels`` or None."""


class Evaluator(Component):
    """Metrics from gold labels and predictions (a prediction's label is None when it named no valid label).
    An evaluator with ``multi_label`` evaluates multi-label data instead: gold label lists and each prediction's
    ``labels``; the engine runs the evaluators of the data's kind."""

    stage_metrics: ClassVar[tuple[str, ...]] = ()  # metrics shown per stage in the report's stage table
    multi_label: ClassVar[bool] = False

    @abstractmethod
    def evaluate(self, gold: list[str], predictions: list[Prediction], labels: list[str]) -> dict[str, Any]:
        """Metrics by name; scalar ones go to the metrics table."""

    def report(self, values: dict[str, Any], out_dir: Path) -> str:
        """A markdown section for ``report.md`` from what ``evaluate`` returned; may write figures into
        ``out_dir`` and link them."""
        return ""


class Trainer(Component):
    """A training stage: trains from ``ctx.lm`` and returns the trained model in a ``StageResult``."""

    # summary keys shown (as train_<key>) in the report's stage table
    stage_metrics: ClassVar[tuple[str, ...]] = ("steps", "loss")
    # whether the stage is correct when the run is several processes (torchrun / accelerate launch)
    multi_process: ClassVar[bool] = False

    @abstractmethod
    def train(self, ctx: RunContext) -> StageResult:
        """Train and return the trained model with a summary (losses, steps, ...) for ``run.json``."""

    def needs_validation(self) -> bool:
        """Whether the stage chooses on the validation split (``ctx.validate``), by default when its options set a
        ``best_metric``; the engine then carves one from the training split when the run has none."""
        return getattr(self.config, "best_metric", None) is not None

    def head_recipe(self) -> dict[str, Any] | None:
        """How a LoRA classification head compared with this stage should train (any of ``r``, ``alpha``,
        ``dropout``, ``learning_rate``, ``batch_size``, ``epochs``), so that the study's head baseline trains like
        the stage; None: nothing to offer (the baseline keeps its defaults)."""
        return None


class RewardFunc(Component):
    """A reward in TRL's contract: ``__call__(prompts, completions, **kwargs) -> list[float | None]``,
    dataset columns such as ``label`` (the gold class name) arriving as keyword arguments.
    Completions are strings, or lists of chat messages for conversational data
    (``gencls_core.rewards.completion_text`` gives the answer text of either)."""

    def setup(self, labels: LabelScheme) -> None:
        """Bind the reward to the training label scheme (called once before training)."""
        self.label_scheme = labels

    @abstractmethod
    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        """One reward (or None, 'not applicable') per completion."""


@dataclass
class Validation:
    """A model's predictions on the validation split: gold and predicted class names (None: no valid label), and
    the decoder's score per class of each example (None when the decoder gives no scores). With
    ``multi_label``, gold and predicted are label lists (a predicted None: no readable set)."""

    gold: list[Any]
    predicted: list[Any]
    labels: list[str]
    scores: list[dict[str, float]] | None = None
    multi_label: bool = False


class Recipe(Component):
    """A way from a dataset to a classifier without expert tuning: the training stages a run gets for its data
    and, after each, whether to keep that stage's model or the one before it, judged on the validation split
    (the test split is never shown to a recipe). A run with a recipe always has a validation split."""

    @abstractmethod
    def stages(self, data: LabeledData) -> list[dict[str, Any]]:
        """The training stages for ``data`` (already split: its train and validation splits), in order, as trainer
        specs ``{"name": ..., <options>}``."""

    def keep(self, stage: int, trainer: str, before: Validation, after: Validation) -> tuple[bool, str]:
        """Whether the model stage ``stage`` (trainer ``trainer``) trained is kept over the model before it (the
        starting model for stage 1), from both on the validation split; and why, in a sentence for the report.
        Default: every stage is kept."""
        return True, "the recipe keeps every stage"

    def decoder(self, decoder: str, kept: Validation, data: LabeledData) -> tuple[dict[str, Any], str]:
        """Options for the run's decoder (named ``decoder``) to classify with the kept model, chosen from that
        model's validation predictions ``kept``; and why, in a sentence for the report. They apply to the test
        evaluation and are recorded in the run's config, so ``predict``, ``serve`` and ``export`` decode alike.
        Default: the decoder as configured."""
        return {}, "the recipe keeps the decoder as configured"

    def lexical(self, kept: Validation, bag: list[dict[str, float]]) -> tuple[float, str]:
        """The weight w in [0, 1) of the bag of words in the kept model's label scores, (1 - w) * log p_decoder +
        w * log p_bag (``gencls_core/lexical.py``), chosen from the model's validation predictions ``kept`` (with
        the decoder's choice applied) and ``bag``, TF-IDF + logistic regression's log probability of each class
        per validation example (fitted on the training split); and why, in a sentence for the report. Applied
        and recorded like ``decoder``. Default: 0, the decoder's scores alone."""
        return 0.0, "the recipe keeps the decoder's scores alone"


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
    "recipe": ("gencls_register_recipes", Recipe),
}


Spec = ComponentSpec | str | dict[str, Any]  # how a component is named: a name, or {name, options}
C = TypeVar("C", bound=Component)


class Register(Protocol):
    """What a ``gencls_register_*`` hook receives: call it once per component class."""

    def __call__(self, component: type[Component], *, name: str | None = None) -> None: ...


class Reward(Protocol):
    """A run's reward as trainers call it: TRL's reward contract, checked, with its name and weight."""

    __name__: str
    weight: float

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]: ...


class Services(Protocol):
    """What the engine lends components during a run, instead of its plugin loader."""

    def build(self, kind: str, spec: Spec, path: str) -> Component: ...

    def trainer_callbacks(self, ctx: RunContext) -> list[Any]: ...


class CommandServices(Protocol):
    """What a plugin's command may use of the engine (the ``app`` of ``gencls_register_commands``)."""

    def loaded_context(self, config: Path | None, overrides: list[str]) -> RunContext:
        """A context for the run ``config`` (a file, or None: the default) with ``--set`` overrides: its dataset
        loaded and split, its model loaded onto the configured device."""


RUN_FACTS = frozenset({"seed", "device", "run_dir", "services", "progress", "truncation", "long_text", "processes",
                       "is_main"})  # what a RunContext says about the run: set once, when it is made


@dataclass
class RunContext:
    """Shared state of one run: ``RUN_FACTS`` are fixed when it is made, the rest is what the run has so far.
    A trainer gets its stage's own copy (``stage_dir``, ``resume`` and ``validate`` set for the stage): it reads
    ``lm``, ``data``, the training prompt and labels and ``rewards``, writes checkpoints under ``stage_dir`` and
    continues from the last one when ``resume`` is set; the model it returns (``StageResult``) becomes the run's
    ``lm``."""

    seed: int
    device: str
    run_dir: Path | None
    services: Services | None = None  # None outside a run: ``build`` and plugin callbacks are unavailable
    progress: bool = True
    data: LabeledData | None = None
    lm: LoadedModel | None = None
    frozen: bool = False  # nothing will train lm any more (predict, serve): decoders may keep caches across calls
    trained: bool = False  # lm has been trained (a stage of this run, start_from, or a recorded run's model)
    train_labels: LabelScheme | None = None
    train_prompt: PromptStrategy | None = None
    render: Callable[[str], str] | None = None  # text -> rendered inference prompt, set while decoding
    rewards: list[Reward] = field(default_factory=list)
    stage_dir: Path | None = None  # the current training stage's folder
    resume: bool = False  # continue the stage from its last checkpoint when there is one
    truncation: BaseModel | None = None  # the run's TruncationConfig: how over-long prompts are cut (None: defaults)
    long_text: BaseModel | None = None  # the run's LongTextConfig: texts read in windows instead (None: cut them)
    # set by the engine for each stage when the run has a validation split: decode it with the run's inference
    # prompt, labels and decoder using the given model (the one being trained) and return the scalar metrics
    validate: Callable[[Any], dict[str, Any]] | None = None
    processes: int = 1  # processes running this run (torchrun / accelerate launch); trainers with
    is_main: bool = True  # multi_process split the batches between them and write files on the main one only

    def __setattr__(self, name: str, value: Any) -> None:
        if name in RUN_FACTS and name in self.__dict__:
            raise AttributeError(f"RunContext.{name} describes the run and is fixed when the context is made (the "
                                 f"engine makes a new context when a fact changes); a component may read it only")
        super().__setattr__(name, value)

    @overload
    def build(self, kind: Literal["model_source"], spec: Spec, path: str) -> ModelSource: ...
    @overload
    def build(self, kind: Literal["dataset"], spec: Spec, path: str) -> DatasetSource: ...
    @overload
    def build(self, kind: Literal["label_scheme"], spec: Spec, path: str) -> LabelScheme: ...
    @overload
    def build(self, kind: Literal["prompt_strategy"], spec: Spec, path: str) -> PromptStrategy: ...
    @overload
    def build(self, kind: Literal["decoder"], spec: Spec, path: str) -> Decoder: ...
    @overload
    def build(self, kind: Literal["reward_func"], spec: Spec, path: str) -> RewardFunc: ...
    @overload
    def build(self, kind: Literal["trainer"], spec: Spec, path: str) -> Trainer: ...
    @overload
    def build(self, kind: Literal["evaluator"], spec: Spec, path: str) -> Evaluator: ...
    @overload
    def build(self, kind: Literal["recipe"], spec: Spec, path: str) -> Recipe: ...
    @overload
    def build(self, kind: str, spec: Spec, path: str) -> Component: ...

    def build(self, kind: str, spec: Spec, path: str) -> Component:
        """A registered component of ``kind`` from a name or ``{name, options}`` spec, its options validated;
        ``path`` names it in errors (e.g. ``labels.base``). Label schemes and prompt strategies get this context
        as their ``ctx``. Typed by kind: ``ctx.build("decoder", ...)`` is a ``Decoder``."""
        if self.services is None:
            raise RuntimeError(f"{path}: this RunContext has no services (it was made outside a run), so it cannot "
                               f"build a {kind}; give it services=RunServices(plugins) in tests")
        component = self.services.build(kind, spec, path)
        if isinstance(component, (LabelScheme, PromptStrategy)):
            component.ctx = self
        return component

    def loaded_data(self) -> LabeledData:
        """``data``, loaded by the engine before any component runs (a RuntimeError on a context without it)."""
        if self.data is None:
            raise RuntimeError("this RunContext has no dataset loaded (the engine loads it before components run)")
        return self.data

    def loaded_lm(self) -> LoadedModel:
        """``lm``, loaded by the engine before any component runs (a RuntimeError on a context without it)."""
        if self.lm is None:
            raise RuntimeError("this RunContext has no model loaded (the engine loads it before components run)")
        return self.lm

    def folder(self) -> Path:
        """``run_dir``, the run's directory (a RuntimeError on a context outside a run)."""
        if self.run_dir is None:
            raise RuntimeError("this RunContext belongs to no run directory (predict, serve and the estimator "
                               "write none)")
        return self.run_dir

    def trainer_callbacks(self) -> list[Any]:
        """The plugins' ``gencls_trainer_callbacks`` for the current training stage (none outside a run)."""
        return self.services.trainer_callbacks(self) if self.services is not None else []
