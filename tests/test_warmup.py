"""Warm-up answers in the prompt's answer form, and the model-written reasoning inside them."""

import json

import pytest
from pydantic import ValidationError

from gencls_core import Engine
from gencls_core.answer_forms import gold_answer
from gencls_plugins.decoders.generate import Generate
from gencls_plugins.labels.names import NameLabels
from gencls_plugins.rewards.answer_format import AnswerFormat
from gencls_plugins.trainers.rationales import RationaleOptions, clean


@pytest.mark.parametrize("form", ["direct", "think", "gta"])
def test_gold_answers_have_the_form_the_format_reward_expects(form):
    scheme = NameLabels()
    scheme.setup(["negative", "positive"])
    reward = AnswerFormat(AnswerFormat.Config(form=form))
    reward.setup(scheme)
    answer = gold_answer(form, "positive", "The answer is positive because it is great.")
    assert reward(prompts=[None], completions=[answer]) == [1.0]
    assert scheme.parse(answer) == "positive"
    other = {"direct": "think", "think": "gta", "gta": "direct"}[form]
    assert reward(prompts=[None], completions=[gold_answer(other, "positive", "x")]) == [0.0]


def test_unknown_answer_form_is_refused():
    with pytest.raises(ValueError, match="unknown answer form 'essay'"):
        gold_answer("essay", "positive")


def test_rationales_are_cleaned_of_tags_and_cut_to_whole_sentences():
    assert clean("It is <answer>good</answer>.\n Fine. And then") == "It is good . Fine."
    assert clean("no sentence end here") == "no sentence end here"


def test_rationale_prompt_placeholders_are_checked():
    with pytest.raises(ValidationError, match=r"needs \{answer\}"):
        RationaleOptions(prompt="Explain {text}.")
    with pytest.raises(ValidationError, match="may use only"):
        RationaleOptions(prompt="{answer} {label}")
    with pytest.raises(ValidationError, match="start may use only"):
        RationaleOptions(start="Because {text}")


def _warm_up(config, rationales, steps=1):
    return Engine({**config, "prompt": {"name": "zero-shot", "reasoning": "gta"},
                   "decoder": {"name": "generate", "max_new_tokens": 4},
                   "trainers": [{"name": "sft", "max_steps": steps, "save_steps": 100, "rationales": rationales}]})


def test_sft_with_a_gta_prompt_trains_on_model_written_reasoning(tiny_run_config, monkeypatch):
    """The warm-up asks the run's model to explain each gold label once (kept in the stage folder) and trains
    on <guess>label</guess><think>explanation</think><answer>label</answer>."""
    seen = []
    import trl

    real_init = trl.SFTTrainer.__init__

    def spy(self, *args, **kwargs):
        seen.extend(kwargs["train_dataset"]["completion"])
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(trl.SFTTrainer, "__init__", spy)
    result = _warm_up(tiny_run_config, {"max_new_tokens": 6, "start": "It is {answer}, since"}).run()
    rows = [json.loads(line) for line in (result.run_dir / "stages/1-sft/rationales-train.jsonl").open()]
    assert len(rows) == len(seen) == 30  # 40 rows, 10 for the test split
    for row, completion in zip(rows, seen):
        assert row["rationale"].startswith(f"It is {row['label']}, since")
        label = row["label"]
        assert completion == [{"role": "assistant", "content": f"<guess>{label}</guess><think>{row['rationale']}"
                                                               f"</think><answer>{label}</answer>"}]


def test_rationales_are_written_once_per_stage(tiny_run_config, tmp_path, monkeypatch):
    from gencls_plugins.trainers.rationales import rationales

    calls = []
    real = Generate.decode

    def counting(self, lm, prompts, labels, ctx):
        calls.append(len(prompts))
        return real(self, lm, prompts, labels, ctx)

    monkeypatch.setattr(Generate, "decode", counting)
    engine = Engine(tiny_run_config)
    ctx = engine.loaded_context("cpu", progress=False, training=True)
    ctx.stage_dir = tmp_path / "stage"
    options = RationaleOptions(max_new_tokens=4)
    first = rationales(ctx, "train", ["a b", "c d"], ["positive", "negative"], options)
    again = rationales(ctx, "train", ["a b", "c d"], ["positive", "negative"], options)
    assert again == first and calls == [2]
    rationales(ctx, "train", ["a b", "e f"], ["positive", "negative"], options)  # other texts: written anew
    assert calls == [2, 2]
    assert rationales(ctx, "train", ["a b"], ["positive"], RationaleOptions(source="empty")) == [""]


def test_sft_with_a_direct_prompt_writes_no_rationales(tiny_run_config):
    result = Engine({**tiny_run_config, "trainers": [{"name": "sft", "max_steps": 1, "save_steps": 100}]}).run()
    assert not list(result.run_dir.glob("stages/1-sft/rationales-*"))
