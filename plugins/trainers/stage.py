"""Running a TRL trainer as a gencls stage: the policy model, resuming, and the stage summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gencls_core.errors import ConfigError
from gencls_core.interfaces import LoadedModel
from gencls_core.results import write_json
from gencls_plugins.trainers.curves import plot_curves
from gencls_plugins.trainers.options import LoraOptions, StageOptions

if TYPE_CHECKING:
    from gencls_core.context import RunContext


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


def last_checkpoint(ctx: RunContext) -> str | None:
    """The stage's newest ``checkpoint-N`` folder when resuming, else None."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = ctx.stage_dir / "checkpoints"
    return get_last_checkpoint(str(folder)) if ctx.resume and folder.is_dir() else None


def run_stage(trainer: Any, ctx: RunContext) -> dict[str, Any]:
    """Train (from the last checkpoint when resuming), put the trained model into ``ctx.lm``, and summarise:
    steps, resumed-from step, mean loss, last logged reward; the log history and a curve plot are written
    into the stage folder."""
    checkpoint = last_checkpoint(ctx)
    output = trainer.train(resume_from_checkpoint=checkpoint)
    ctx.lm = LoadedModel(trainer.accelerator.unwrap_model(trainer.model), ctx.lm.tokenizer, ctx.lm.ref)
    summary: dict[str, Any] = {
        "steps": trainer.state.global_step,
        "resumed_from_step": int(Path(checkpoint).name.split("-")[-1]) if checkpoint else 0,
        "loss": round(output.training_loss, 6),
        "runtime_seconds": round(output.metrics["train_runtime"], 3),
    }
    return finish_stage(ctx, trainer.state.log_history, summary)


def finish_stage(ctx: RunContext, history: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:
    """Write the log history and the curve plot into the stage folder; add the first and last logged mean
    reward and the plot's path to ``summary``."""
    write_json(ctx.stage_dir / "log_history.json", history)
    rewards = [h["reward"] for h in history if "reward" in h]
    if rewards:
        summary["first_reward"], summary["reward"] = rewards[0], rewards[-1]
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
