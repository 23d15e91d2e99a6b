"""report_to: a stage's training curves and its evaluation metrics land in the same integration (TensorBoard)."""

import pytest

from gencls_core import Engine


def _scalars(stage_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = {}
    for events in (stage_dir / "checkpoints" / "runs").rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            tags[tag] = [e.value for e in acc.Scalars(tag)]
    return tags


@pytest.mark.parametrize(("trainer", "options"), [
    ("sft", {"max_steps": 4, "logging_steps": 1}),
    ("grpo", {"max_steps": 2, "batch_size": 4, "num_generations": 4, "max_completion_length": 4,
              "logging_steps": 1}),
])
def test_tensorboard_gets_the_training_scalars_and_the_stage_evaluation(trainer, options, tiny_run_config):
    config = {**tiny_run_config, "trainers": [{"name": trainer, "report_to": ["tensorboard"], **options}]}
    result = Engine(config).run()
    tags = _scalars(result.run_dir / f"stages/1-{trainer}")
    assert "train/loss" in tags
    assert tags["eval/accuracy"] == [pytest.approx(result.metrics["accuracy"])]
    assert tags["eval/f1_macro"] == [pytest.approx(result.metrics["f1_macro"])]
