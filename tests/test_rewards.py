"""Reward plugins: TRL's contract, the reward-hack cases, weights from the config, and output checks."""

import pytest

from gencls_core import Engine, RewardFunc, hookimpl
from gencls_core.errors import ConfigError, ContractError
from gencls_core.plugins import load_plugins
from gencls_core.registry import PluginInfo
from gencls_core.rewards import CheckedReward, completion_text
from gencls_core.testing import check_component, check_reward_func
from gencls_plugins.labels.names import NameLabels
from gencls_plugins.rewards.answer_format import AnswerFormat
from gencls_plugins.rewards.label_match import LabelMatch

LABELS = ["negative", "positive"]


def _ready(reward):
    scheme = NameLabels()
    scheme.setup(LABELS)
    reward.setup(scheme)
    return reward


def test_builtin_rewards_pass_the_component_contract():
    check_component("reward_func", LabelMatch)
    check_component("reward_func", AnswerFormat)


@pytest.mark.parametrize(("answer", "expected"), [
    ("positive", 1.0),
    ("Positive.", 1.0),
    ("Answer: positive", 1.0),
    ("negative", -1.0),
    ("positive or negative", -3.0),  # the hedging hack
    ("negative, positive", -3.0),
    ("", -3.0),
    ("I cannot tell", -3.0),
])
def test_label_match_scores_right_wrong_and_reward_hacks(answer, expected):
    reward = _ready(LabelMatch())
    assert check_reward_func(reward, ["p"], [answer], label=["positive"]) == [expected]


def test_label_match_reads_conversational_completions_and_configured_penalties():
    reward = _ready(LabelMatch(LabelMatch.Config(correct=2.0, wrong=-0.5, invalid=-1.0)))
    chat = [[{"role": "assistant", "content": a}] for a in ("negative", "positive", "both positive and negative")]
    prompts = [[{"role": "user", "content": "q"}]] * 3
    assert check_reward_func(reward, prompts, chat, label=["negative", "negative", "negative"]) == [2.0, -0.5, -1.0]


def test_label_match_class_weights_scale_each_example_by_its_gold_class():
    reward = _ready(LabelMatch(LabelMatch.Config(class_weights={"negative": 3.0})))
    got = check_reward_func(reward, ["p"] * 3, ["negative", "positive", "positive"],
                            label=["negative", "negative", "positive"])
    assert got == [3.0, -3.0, 1.0]
    with pytest.raises(ContractError, match=r"class_weights name \['neutral'\]"):
        _ready(LabelMatch(LabelMatch.Config(class_weights={"neutral": 2.0})))
    with pytest.raises(ValueError, match="must be positive"):
        LabelMatch.Config(class_weights={"negative": 0.0})


def test_label_match_rejects_unordered_penalties_and_unknown_gold_labels():
    with pytest.raises(ValueError, match="invalid <= wrong < correct"):
        LabelMatch.Config(wrong=-3.0, invalid=-1.0)
    with pytest.raises(ContractError, match=r"gold label\(s\) \['neutral'\]"):
        _ready(LabelMatch())(prompts=["p"], completions=["positive"], label=["neutral"])
    with pytest.raises(ContractError, match="call setup"):
        LabelMatch()(prompts=["p"], completions=["positive"], label=["positive"])


@pytest.mark.parametrize(("form", "pattern", "answer", "expected"), [
    ("direct", None, " Positive ", 1.0),
    ("direct", None, "positive!", 0.0),
    ("direct", None, "It is positive", 0.0),
    ("think", None, "<think>nice words</think> <answer>negative</answer>", 1.0),
    ("think", None, "<think>nice</think>negative", 0.0),
    ("think", None, "<answer>negative</answer>", 0.0),
    ("think", None, "<think>x</think><answer>neutral</answer>", 0.0),
    ("gta", None, "<guess>negative</guess><think>hm</think><answer>positive</answer>", 1.0),
    ("gta", None, "<guess>maybe</guess><think>hm</think><answer>positive</answer>", 0.0),
    ("gta", None, "<think>hm</think><answer>positive</answer>", 0.0),
    ("regex", r"Label: \w+", "Label: positive", 1.0),
    ("regex", r"Label: \w+", "Label: positive, sure", 0.0),
])
def test_format_reward_forms(form, pattern, answer, expected):
    reward = _ready(AnswerFormat(AnswerFormat.Config(form=form, pattern=pattern)))
    assert check_reward_func(reward, ["p"], [answer], label=["positive"]) == [expected]


def test_format_reward_config_errors():
    with pytest.raises(ValueError, match="pattern exactly when form is regex"):
        AnswerFormat.Config(form="regex")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        AnswerFormat.Config(form="regex", pattern="(")


def test_completion_text_accepts_both_trl_forms():
    assert completion_text("x") == "x"
    assert completion_text([{"role": "assistant", "content": "y"}]) == "y"


class _ShortReward(RewardFunc):
    """Breaks the contract: one reward whatever the number of completions."""

    name = "short-reward"

    def __call__(self, prompts, completions, **kwargs):
        return [1.0]


class _TextReward(RewardFunc):
    """Breaks the contract: strings instead of floats."""

    name = "text-reward"

    def __call__(self, prompts, completions, **kwargs):
        return ["good"] * len(completions)


class _BadRewards:
    @hookimpl
    def gencls_register_reward_funcs(self, register):
        register(_ShortReward)
        register(_TextReward)


def _bad_plugins():
    return load_plugins(modules=[(PluginInfo("bad-rewards", "tests.test_rewards", "bad-dist", "0.3"), _BadRewards())])


def test_checked_reward_names_the_reward_and_its_plugin():
    checked = CheckedReward(_ShortReward(), "reward_func 'short-reward' (plugin 'bad-rewards')", "short-reward", 1.0)
    with pytest.raises(ContractError, match=r"reward_func 'short-reward' \(plugin 'bad-rewards'\) returned 1 rewards "
                                            r"for 2 completions"):
        checked(prompts=["a", "b"], completions=["x", "y"])
    assert checked.__name__ == "short-reward"


@pytest.mark.parametrize(("reward", "message"), [
    ("short-reward", r"reward_func 'short-reward' \(plugin 'bad-rewards' \(distribution bad-dist 0.3\)\) "
                     r"returned 1 rewards for 8 completions"),
    ("text-reward", r"reward_func 'text-reward' .* returned 'good' \(str\) at position 0"),
])
def test_grpo_rejects_a_reward_breaking_the_contract(tiny_run_config, reward, message):
    tiny_run_config["rewards"] = [reward]
    tiny_run_config["trainers"] = [{"name": "grpo", "max_steps": 1, "batch_size": 8, "num_generations": 4,
                                    "max_completion_length": 2}]
    with pytest.raises(ContractError, match=message):
        Engine(tiny_run_config, plugins=_bad_plugins()).run()


def test_reward_weights_and_options_come_from_the_config(tiny_run_config):
    tiny_run_config["rewards"] = [{"name": "label-match", "weight": 2.0, "invalid": -2.0}, "format"]
    engine = Engine(tiny_run_config, overrides=["rewards.1.weight=0.5"])
    assert engine.resolution.resolved_config()["rewards"] == [
        {"name": "label-match", "weight": 2.0, "correct": 1.0, "wrong": -1.0, "invalid": -2.0,
         "class_weights": None},
        {"name": "format", "weight": 0.5, "form": "direct", "pattern": None, "match": 1.0, "miss": 0.0}]
    assert Engine({}).resolution.resolved_config()["rewards"][0]["name"] == "label-match"


def test_reward_option_typo_is_named(tiny_run_config):
    tiny_run_config["rewards"] = [{"name": "label-match", "wrongg": -2}]
    with pytest.raises(ConfigError, match=r"rewards.0.wrongg: unknown key \(did you mean 'wrong'\?\)"):
        Engine(tiny_run_config)


def test_every_rl_trainer_gives_a_completion_the_same_reward_as_trls_grpo():
    """A reward's None adds nothing; a completion every reward returned None for is unscorable (TRL's GRPO: NaN,
    left out of the baseline). The PPO/GTA rollouts and label-pg use the one function that does this."""
    import math
    from types import SimpleNamespace

    from gencls_core.rewards import CheckedReward, weighted_rewards
    from gencls_plugins.trainers.ppo.rollouts import score
    from gencls_plugins.trainers.stage import answer_rewards

    def by_text(table):
        return lambda prompts, completions, **kw: [table[c[-1]["content"]] for c in completions]

    first = by_text({"a": 1.0, "b": None, "c": None, "d": 0.5})
    second = by_text({"a": 2.0, "b": -1.0, "c": None, "d": None})

    rewards = [CheckedReward(first, "reward 'first'", "first", 1.0), CheckedReward(second, "reward 'second'",
                                                                                     "second", 0.5)]
    texts = ["a", "b", "c", "d"]
    # TRL's GRPOTrainer: nansum of the weighted rewards, NaN where every reward gave None
    per_func = [[1.0, 2.0], [math.nan, -1.0], [math.nan, math.nan], [0.5, math.nan]]
    trl = [math.nan if all(math.isnan(v) for v in row) else sum(w * v for w, v in zip((1.0, 0.5), row)
                                                               if not math.isnan(v)) for row in per_func]
    totals, means = weighted_rewards(rewards, [[]] * 4, texts, label=["x"] * 4)
    assert totals == [2.0, -0.5, None, 0.5] and [t if t is not None else math.nan for t in totals][:2] == trl[:2]
    assert math.isnan(trl[2]) and totals[3] == trl[3]
    assert means == {"rewards/first": 0.75, "rewards/second": 0.5}
    ctx = SimpleNamespace(rewards=rewards)
    rollout_scores, _ = score(ctx, [[]] * 4, texts, ["x"] * 4)
    assert rollout_scores[[0, 1, 3]].tolist() == [2.0, -0.5, 0.5] and math.isnan(rollout_scores[2].item())
    label_pg = ("trainer 'label-pg'", "label-pg needs a reward for each label answer (and for an empty one)")
    assert answer_rewards(ctx, [], ["a", "b"], "x", *label_pg) == [2.0, -0.5]  # label-pg and dpo score answers so
    with pytest.raises(ConfigError, match="every reward returned None for the answer 'c'"):
        answer_rewards(ctx, [], texts, "x", *label_pg)
