"""Running a TRL trainer as a gencls stage: the policy model, resuming, and the stage summary."""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gencls_core.errors import ConfigError, GenclsWarning
from gencls_core.interfaces import LoadedModel, StageResult, Trainer
from gencls_core.results import describe_rare, write_json
from gencls_plugins.trainers.checkpoints import last_checkpoint
from gencls_plugins.trainers.curves import plot_curves
from gencls_plugins.trainers.options import LoraOptions, StageOptions

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext


def policy_model(ctx: RunContext, opts: StageOptions) -> tuple[Any, Any]:
    """The model to train and the PEFT config the TRL trainer should wrap it with (None: train as is).

    A model that already carries an adapter (an earlier stage's) keeps training that adapter; with
    ``lora: null`` the adapter is merged first and every weight is trained.
    """
    from peft import PeftModel

    model = ctx.lm.model
    if isinstance(model, PeftModel):
        return (model, None) if opts.lora is not None else (model.merge_and_unload(), None)
    return model, opts.lora.peft_config() if opts.lora is not None else None


def stage_callbacks(ctx: RunContext, opts: StageOptions | None = None) -> list[Any]:
    """The callbacks of a TRL stage: the non-finite guard, logging at every checkpoint (so the loss of the
    steps before a checkpoint is in its log history), the stage's training seconds in every log entry, file
    modes, early stopping when ``opts.patience`` is set, then the plugins' ``gencls_trainer_callbacks``."""
    from transformers import EarlyStoppingCallback

    from gencls_plugins.trainers.callbacks import FiniteGuard, LogAtSave, TrainSeconds, UmaskModes

    stopping = [EarlyStoppingCallback(opts.patience)] if opts is not None and opts.patience else []
    return [FiniteGuard(ctx), LogAtSave(), TrainSeconds(), UmaskModes(), *stopping, *ctx.trainer_callbacks()]


class DecodedValidation:
    """A Trainer mixin: once ``choose_on_validation`` has set ``gencls_validate`` (the engine's
    ``ctx.validate``), an evaluation decodes the validation split with the run's inference prompt, labels and
    decoder and reports those metrics (``eval_accuracy``, ``eval_f1_macro``, ...), on which transformers'
    ``load_best_model_at_end`` and ``EarlyStoppingCallback`` then choose. Without it, the trainer's own
    evaluation runs."""

    gencls_validate: Any = None
    gencls_warned = False  # the collapse warning is given once per stage

    def evaluate(self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval") -> Any:
        if self.gencls_validate is None:
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)  # type: ignore[misc]
        model = self.accelerator.unwrap_model(self.model)  # type: ignore[attr-defined]
        found = self.gencls_validate(model)
        rare = found.pop("rarely_predicted", None)
        if rare and not self.gencls_warned:
            self.gencls_warned = True
            warnings.warn(f"at step {self.state.global_step} (validation split): "  # type: ignore[attr-defined]
                          f"{describe_rare(rare)}; class_weights: balanced weighs the rare classes up",
                          GenclsWarning, stacklevel=1)  # gencls's, not the transformers line that evaluates
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in found.items()}
        self.log(metrics)  # type: ignore[attr-defined]
        self.control = self.callback_handler.on_evaluate(  # type: ignore[attr-defined]
            self.args, self.state, self.control, metrics)  # type: ignore[attr-defined]
        return metrics


def with_decoded_validation(trainer_cls: type) -> type:
    """``trainer_cls`` with :class:`DecodedValidation` in front of it."""
    return type(trainer_cls.__name__, (DecodedValidation, trainer_cls), {})


def validation_split(ctx: RunContext, opts: StageOptions) -> Any:
    """The validation split as the stage's ``eval_dataset`` when it chooses on validation (transformers wants
    one when it evaluates; evaluation decodes it through ``ctx.validate``), else None."""
    if opts.best_metric is None:
        return None
    if ctx.validate is None or "validation" not in ctx.data.splits:
        raise ConfigError(f"best_metric {opts.best_metric!r} needs a validation split; set splits.validation_size")
    return ctx.data.splits["validation"]


def choose_on_validation(trainer: Any, ctx: RunContext, opts: StageOptions) -> Any:
    """Let ``trainer`` (a :class:`DecodedValidation`) evaluate through ``ctx.validate`` when the stage chooses on
    validation; ``trainer`` back."""
    if opts.best_metric is not None:
        trainer.gencls_validate = ctx.validate
    return trainer


def last_logged(history: list[dict[str, Any]], key: str) -> Any:
    """The last value of ``key`` in a log history, or None."""
    return next((entry[key] for entry in reversed(history) if key in entry), None)


class StepStats:
    """A Trainer mixin: numbers recorded during the steps (``record``), averaged into the next log entry that
    carries a loss, so they land in ``log_history``, the curves and ``report_to`` beside it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._step_stats: dict[str, list[float]] = {}

    def record(self, values: dict[str, float]) -> None:
        for key, value in values.items():
            self._step_stats.setdefault(key, []).append(value)

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs:
            logs.update({k: sum(v) / len(v) for k, v in self._step_stats.items() if v})
            self._step_stats = {}
        super().log(logs, *args, **kwargs)  # type: ignore[misc]


def run_stage(trainer: Any, ctx: RunContext, truncated: int) -> StageResult:
    """Train (from the last checkpoint when resuming) and return the trained model, summarised: steps,
    resumed-from step, mean loss and training seconds over the whole stage, last logged reward, and the number
    of training texts cut to fit the prompt budget (``truncated``, from the stage's ``Rows``); the log history
    and a curve plot are written into the stage folder, and the stage's evaluation metrics go to the trainer's
    ``report_to`` integrations."""
    if not ctx.progress:  # transformers prints every log dict when its bars are off; the curves keep them
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    checkpoint = last_checkpoint(ctx)
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    steps, resumed = trainer.state.global_step, int(checkpoint.name.split("-")[-1]) if checkpoint else 0
    summary: dict[str, Any] = {
        "steps": steps,
        "resumed_from_step": resumed,
        "loss": round(stage_loss(trainer.state.log_history, resumed, output.training_loss, steps), 6),
        "runtime_seconds": last_logged(trainer.state.log_history, "train_seconds"),
        "truncated_prompts": truncated,
        **selection_summary(trainer.args, trainer.state),
    }
    model = LoadedModel(trainer.accelerator.unwrap_model(trainer.model), ctx.lm.tokenizer, ctx.lm.ref)
    return StageResult(model, finish_stage(ctx, trainer.state.log_history, summary),
                       lambda metrics: trainer.log({f"eval_{k}": v for k, v in metrics.items()}))


def selection_summary(args: Any, state: Any) -> dict[str, Any]:
    """For a stage that chose on validation: the metric, the step whose weights it ended with and their value,
    and why it stopped (``early_stopping`` before ``max_steps``, else ``max_steps``)."""
    if not getattr(args, "load_best_model_at_end", False):
        return {}
    best = state.best_model_checkpoint
    return {"best_metric": args.metric_for_best_model.removeprefix("eval_"), "best_value": state.best_metric,
            "best_step": int(best.rsplit("-", 1)[-1]) if best else None,
            "stopped": "early_stopping" if state.global_step < state.max_steps else "max_steps"}


def stage_loss(history: list[dict[str, Any]], resumed: int, resumed_loss: float, steps: int) -> float:
    """The mean training loss of the whole stage: the logged losses of the steps before the checkpoint it
    resumed from (each weighted by its logging window), and ``resumed_loss``, the mean of the steps after."""
    if not resumed:
        return resumed_loss
    before, last = 0.0, 0
    for entry in history:
        if "loss" in entry and entry["step"] <= resumed:
            before += entry["loss"] * (entry["step"] - last)
            last = entry["step"]
    return (before + resumed_loss * (steps - resumed)) / max(steps, 1)


def finish_stage(ctx: RunContext, history: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:
    """Write the log history and the curve plot into the stage folder; add the first and last logged mean
    reward and the plot's path to ``summary``."""
    rewards = [h["reward"] for h in history if h.get("reward") is not None]
    if rewards:
        summary["first_reward"], summary["reward"] = rewards[0], rewards[-1]
    if not ctx.is_main:  # one process writes the stage's files
        return summary
    write_json(ctx.stage_dir / "log_history.json", history)
    chosen = (f"eval_{summary['best_metric']}", summary["best_step"]) if summary.get("best_step") else None
    figure = plot_curves(history, ctx.stage_dir / "training.png", chosen)
    if figure:
        summary["figure"] = str(figure.relative_to(ctx.run_dir))
    return summary


def lora_policy(ctx: RunContext, lora: LoraOptions) -> Any:
    """The run's model with a trainable LoRA adapter: an earlier stage's, or a new one (hand-written RL loops)."""
    from peft import PeftModel, get_peft_model

    model = ctx.lm.model
    return model if isinstance(model, PeftModel) else get_peft_model(model, lora.peft_config())


def require_rewards(ctx: RunContext, trainer: str) -> None:
    if not ctx.rewards:
        raise ConfigError(f"trainer {trainer!r} needs at least one reward; set rewards, e.g. rewards: [label-match]")


def answer_rewards(ctx: RunContext, messages: Any, texts: list[str], gold: str, who: str, needs: str) -> list[float]:
    """The run's weighted reward of each answer text after ``messages`` (``gencls_core.rewards.weighted_rewards``,
    as every RL trainer scores an answer); an answer no reward scores is a ConfigError naming ``who`` and what it
    ``needs``."""
    from gencls_core.rewards import weighted_rewards

    totals, _ = weighted_rewards(ctx.rewards, [messages] * len(texts), texts, label=[gold] * len(texts))
    for text, total in zip(texts, totals):
        if total is None:
            raise ConfigError(f"{who}: every reward returned None for the answer {text!r}; {needs}")
    return [t for t in totals if t is not None]


def class_weight_of(ctx: RunContext, opts: StageOptions, trainer: str) -> dict[str, float] | None:
    """Class -> weight of ``opts.class_weights`` on the training split: ``balanced`` is scikit-learn's
    n_examples / (n_classes * n_examples_of_class); a mapping's classes default to 1. None without weights."""
    if opts.class_weights is None:
        return None
    if ctx.loaded_data().multi_label:
        raise ConfigError(f"trainer {trainer!r}: class_weights weigh one gold class per text; multi-label data "
                          f"has sets (drop class_weights)")
    counts = Counter(ctx.data.splits["train"]["label"])
    if opts.class_weights == "balanced":
        total = sum(counts.values())
        return {label: total / (len(counts) * n) for label, n in counts.items()}
    unknown = sorted(set(opts.class_weights) - set(counts))
    if unknown:
        raise ConfigError(f"trainer {trainer!r}: class_weights name {unknown}, which the training split does not "
                          f"hold; its classes: {sorted(counts)}")
    return {label: float(opts.class_weights.get(label, 1.0)) for label in counts}


def weights_summary(weights: dict[str, float] | None) -> dict[str, Any]:
    """The stage summary's ``class_weights`` entry (rounded); nothing without weights."""
    return {} if weights is None else {"class_weights": {c: round(w, 4) for c, w in weights.items()}}


@contextlib.contextmanager
def class_weighted_rewards(ctx: RunContext, opts: StageOptions,
                           trainer: str) -> Iterator[dict[str, float] | None]:
    """While the stage trains, each of ``ctx.rewards`` is multiplied by the weight of the example's gold class
    (``opts.class_weights``, given to the ``with`` block); the run's rewards are restored after."""
    weights = class_weight_of(ctx, opts, trainer)
    if weights is None:
        yield None
        return
    from gencls_core.rewards import ClassWeighted

    rewards = ctx.rewards
    ctx.rewards = [ClassWeighted(r, weights) for r in rewards]
    try:
        yield weights
    finally:
        ctx.rewards = rewards


class RewardStage(Trainer):
    """An RL stage: ``train_with_rewards`` runs with the run's rewards weighted by ``class_weights``."""

    def train(self, ctx: RunContext) -> StageResult:
        with class_weighted_rewards(ctx, self.config, self.name) as weights:
            result = self.train_with_rewards(ctx)
        result.summary.update(weights_summary(weights))
        return result

    def train_with_rewards(self, ctx: RunContext) -> StageResult:
        """Train with ``ctx.rewards`` (already class-weighted) and return the trained model and its summary."""
        raise NotImplementedError
