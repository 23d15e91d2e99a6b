"""Running a TRL trainer as a gencls stage: the policy model, resuming, and the stage summary."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gencls_core.errors import ConfigError
from gencls_core.interfaces import LoadedModel
from gencls_core.results import follow_umask, write_json
from gencls_plugins.trainers.checkpoints import last_checkpoint
from gencls_plugins.trainers.curves import plot_curves
from gencls_plugins.trainers.guards import finite_guard
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


def stage_callbacks(ctx: RunContext) -> list[Any]:
    """The callbacks of a TRL stage: the non-finite guard, logging at every checkpoint (so the loss of the
    steps before a checkpoint is in its log history), the stage's training seconds in every log entry, then the
    plugins' ``gencls_trainer_callbacks``."""
    from transformers import TrainerCallback

    class LogAtSave(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % args.save_steps == 0:
                control.should_log = True

    class TrainSeconds(TrainerCallback):
        """``train_seconds`` in each log entry: the stage's training wall time so far, over all its attempts
        (a resumed attempt starts from the value logged at its checkpoint, so redone steps count once)."""

        def on_train_begin(self, args, state, control, **kwargs):
            self.before = last_logged(state.log_history, "train_seconds") or 0.0
            self.started = time.time()

        def on_log(self, args, state, control, logs=None, **kwargs):
            state.log_history[-1]["train_seconds"] = round(self.before + time.time() - self.started, 3)

    class UmaskModes(TrainerCallback):
        """Checkpoint files get the umask's modes (safetensors writes 0600)."""

        def on_save(self, args, state, control, **kwargs):
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                follow_umask(folder)

    return [finite_guard(ctx), LogAtSave(), TrainSeconds(), UmaskModes(), *ctx.trainer_callbacks()]


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


def run_stage(trainer: Any, ctx: RunContext) -> dict[str, Any]:
    """Train (from the last checkpoint when resuming), put the trained model into ``ctx.lm``, and summarise:
    steps, resumed-from step, mean loss and training seconds over the whole stage, last logged reward; the log
    history and a curve plot are written into the stage folder."""
    checkpoint = last_checkpoint(ctx)
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    ctx.report = lambda metrics: trainer.log({f"eval_{k}": v for k, v in metrics.items()})  # to its report_to
    ctx.lm = LoadedModel(trainer.accelerator.unwrap_model(trainer.model), ctx.lm.tokenizer, ctx.lm.ref)
    steps, resumed = trainer.state.global_step, int(checkpoint.name.split("-")[-1]) if checkpoint else 0
    summary: dict[str, Any] = {
        "steps": steps,
        "resumed_from_step": resumed,
        "loss": round(stage_loss(trainer.state.log_history, resumed, output.training_loss, steps), 6),
        "runtime_seconds": last_logged(trainer.state.log_history, "train_seconds"),
    }
    return finish_stage(ctx, trainer.state.log_history, summary)


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
    summary["truncated_prompts"] = ctx.truncated.get("train", 0)
    rewards = [h["reward"] for h in history if h.get("reward") is not None]
    if rewards:
        summary["first_reward"], summary["reward"] = rewards[0], rewards[-1]
    if not ctx.is_main:  # one process writes the stage's files
        return summary
    write_json(ctx.stage_dir / "log_history.json", history)
    figure = plot_curves(history, ctx.stage_dir / "training.png")
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
