"""The GenCLS++ strategy dimensions: exact prompts, demonstrations that never leak the query, numeric and
uncertain label schemes, definitions, and their errors."""

import datasets
import pytest
import yaml

from gencls_core import Engine, Prediction
from gencls_core.errors import ConfigError
from gencls_core.interfaces import LabeledData
from gencls_core.testing import check_label_scheme, check_prompt_strategy
from gencls_plugins.labels.names import NameLabels
from gencls_plugins.labels.numeric import NumericLabels
from gencls_plugins.labels.uncertain import UncertainLabels
from gencls_plugins.prompts.few_shot import FewShot
from gencls_plugins.prompts.zero_shot import ZeroShot

TASK = "Classify the sentiment of the text."
TEXTS = ["good film", "bad film", "great plot", "awful plot", "fine actors", "dull actors"]
DEFS = {"negative": "The text dislikes the film.", "positive": "The text likes the film."}


@pytest.fixture
def data():
    train = datasets.Dataset.from_dict({"text": TEXTS, "label": ["positive", "negative"] * 3})
    return LabeledData({"train": train}, ["negative", "positive"], TASK)


def _prompt(cls, data, scheme=None, **options):
    scheme = scheme or NameLabels()
    scheme.setup(data.labels)
    prompt = cls(cls.Config(**options))
    prompt.setup(data, scheme)
    return prompt


def _user(prompt, text):
    return prompt.messages(text)[-1]["content"]


def test_zero_shot_prompt_is_unchanged_by_the_new_placeholders(data):
    assert _user(_prompt(ZeroShot, data), "a good plot") == (
        f"{TASK}\nAnswer with exactly one of: negative, positive.\n\nText: a good plot")


def test_zero_shot_with_definitions_and_think(data):
    prompt = _prompt(ZeroShot, data, definitions=DEFS, reasoning="think", system="Be brief.")
    assert prompt.messages("a good plot") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": f"{TASK}\nDefinitions:\n- negative: The text dislikes the film.\n"
                                    "- positive: The text likes the film.\nAnswer with exactly one of: negative, "
                                    "positive.\n\nText: a good plot\n\nFirst think step by step inside "
                                    "<think></think>, then give the label inside <answer></answer>, e.g. "
                                    "<think>...</think><answer>negative</answer>."}]


def test_similar_three_shot_with_definitions_and_numeric_labels(data):
    prompt = _prompt(FewShot, data, NumericLabels(), n=3, mode="similar", definitions=DEFS)
    assert _user(prompt, "a good plot") == (
        f"{TASK}\nDefinitions:\n- 1: The text dislikes the film.\n- 2: The text likes the film.\n"
        "Answer with exactly one of: 1, 2.\n\n"
        "Text: awful plot\nAnswer: 1\n\nText: great plot\nAnswer: 2\n\nText: good film\nAnswer: 2\n\n"
        "Text: a good plot")


def test_fixed_demos_are_the_same_for_every_input_and_cut_to_length(data):
    prompt = _prompt(FewShot, data, n=2, mode="fixed", seed=3, max_demo_chars=4)
    first = prompt.demos("an unseen text")
    assert prompt.demos("another unseen text") == first and len(first) == 2
    shown = _user(prompt, "an unseen text")
    assert all(f"Text: {TEXTS[i][:4]}\nAnswer:" in shown for i in first)
    assert f"Text: {TEXTS[first[0]]}\n" not in shown or len(TEXTS[first[0]]) <= 4


def test_random_demos_depend_on_the_input_and_seed_but_repeat_for_the_same_input(data):
    prompt = _prompt(FewShot, data, n=3, mode="random", seed=0)
    assert prompt.demos("some text") == prompt.demos("some text")
    draws = {tuple(prompt.demos(f"text {i}")) for i in range(10)}
    assert len(draws) > 1


@pytest.mark.parametrize("mode", ["random", "fixed", "similar"])
@pytest.mark.parametrize("balanced", [False, True])
def test_no_demo_leaks_the_query(data, mode, balanced):
    prompt = _prompt(FewShot, data, n=2, mode=mode, balanced=balanced)
    for text in TEXTS:
        demos = prompt.demos(text)
        assert len(demos) == 2 and all(TEXTS[i] != text for i in demos)
        assert f"Text: {text}\nAnswer" not in _user(prompt, text)


def test_balanced_demos_take_every_class_in_turn(data):
    prompt = _prompt(FewShot, data, n=4, mode="random", balanced=True)
    labels = [prompt.golds[i] for i in prompt.demos("good film")]
    assert sorted(labels) == ["negative", "negative", "positive", "positive"]


def test_similar_demos_with_the_runs_own_lm(data, tiny_model_dir, gencls_ctx):
    from gencls_plugins.models.hub import HubModel

    gencls_ctx.lm = HubModel(HubModel.Config(path=str(tiny_model_dir))).load(gencls_ctx)
    scheme = NameLabels()
    scheme.setup(data.labels)
    prompt = FewShot(FewShot.Config(n=3, mode="similar", retriever="lm"))
    prompt.ctx = gencls_ctx
    prompt.setup(data, scheme)
    for text in TEXTS:
        assert len(prompt.demos(text)) == 3 and text not in [TEXTS[i] for i in prompt.demos(text)]
    check_prompt_strategy(prompt, data, scheme)


@pytest.mark.parametrize(("options", "message"), [
    ({"n": 6}, r"n=6 demonstrations need at least 7 training examples .* the train split has 6"),
    ({"n": 6, "balanced": True}, r"need 3 training examples of each class besides the query, but class "
                                 r"'negative' has 3"),
    ({"definitions": {"negative": "x"}}, r"no definition for label\(s\) \['positive'\]"),
    ({"definitions": {**DEFS, "neutral": "x"}}, r"defines unknown label\(s\) \['neutral'\]"),
    ({"definitions": "missing.yaml"}, r"definitions file missing.yaml does not exist"),
])
def test_strategy_errors_name_the_setting(data, options, message):
    with pytest.raises(ConfigError, match=message):
        _prompt(FewShot, data, **options)


def test_definitions_from_a_yaml_file(data, tmp_path):
    path = tmp_path / "defs.yaml"
    path.write_text(yaml.safe_dump(DEFS))
    assert "- positive: The text likes the film." in _user(_prompt(ZeroShot, data, definitions=str(path)), "x")


@pytest.mark.parametrize(("cls", "options", "message"), [
    (FewShot, {"template": "{text}"}, "needs a {demos} placeholder"),
    (ZeroShot, {"template": "{text}", "definitions": DEFS}, "no {definitions} placeholder"),
    (FewShot, {"retriever": "embedding"}, "set embedding_model exactly when retriever is embedding"),
])
def test_prompt_config_errors(cls, options, message):
    with pytest.raises(ValueError, match=message):
        cls.Config(**options)


def test_numeric_labels_map_numbers_back_to_classes():
    scheme = NumericLabels(NumericLabels.Config(shuffle=True, seed=1))
    check_label_scheme(scheme, ["business", "sports", "tech"])
    assert sorted(scheme.answers().values()) == ["1", "2", "3"]
    three = {v: k for k, v in scheme.answers().items()}["3"]
    assert scheme.parse("3") == three and scheme.parse("Answer: 3.") == three
    assert scheme.parse("<answer>3</answer>") == three
    assert scheme.parse("1 or 3") is None and scheme.parse("7") is None and scheme.parse("3.5") is None
    plain = NumericLabels()
    plain.setup(["business", "sports", "tech"])
    assert plain.answers() == {"business": "1", "sports": "2", "tech": "3"}
    with pytest.raises(ConfigError, match=r"'numeric' needs at least two classes, got \['only'\]"):
        NumericLabels().setup(["only"])


def test_numeric_run_reports_class_names(tiny_run_config):
    tiny_run_config["labels"] = "numeric"
    result = Engine(tiny_run_config).run()
    assert {r["predicted"] for r in result.predictions} <= {"negative", "positive"}
    assert set(result.predictions[0]["scores"]) == {"negative", "positive"}


def test_uncertain_scheme_adds_a_class_and_applies_its_policy(gencls_ctx):
    scheme = UncertainLabels()
    scheme.ctx = gencls_ctx
    scheme.setup(["negative", "positive"])
    assert scheme.answers() == {"negative": "negative", "positive": "positive", "uncertain": "uncertain"}
    scores = {"negative": -2.0, "positive": -1.0, "uncertain": -0.5}
    probs = {"negative": 0.2, "positive": 0.3, "uncertain": 0.5}
    best = scheme.finalize(Prediction("uncertain", scores, probs))
    assert best.label == "positive" and best.probs == pytest.approx({"negative": 0.4, "positive": 0.6})
    abstain = UncertainLabels(UncertainLabels.Config(policy="abstain"))
    abstain.ctx = gencls_ctx
    abstain.setup(["negative", "positive"])
    out = abstain.finalize(Prediction("uncertain", scores, probs))
    assert out.label is None and out.status == "abstained"
    assert abstain.finalize(Prediction("negative", scores, probs)).label == "negative"
    numeric = UncertainLabels(UncertainLabels.Config(base="numeric"))
    numeric.ctx = gencls_ctx
    numeric.setup(["negative", "positive"])
    assert numeric.answers() == {"negative": "1", "positive": "2", "uncertain": "3"}


@pytest.mark.parametrize(("labels", "message"), [
    ({"name": "uncertain", "fraction": 0.5}, r"labels.fraction: Input should be less than 0.5"),
    ({"name": "uncertain", "fraction": 0}, r"labels.fraction: Input should be greater than 0"),
])
def test_uncertainty_fraction_outside_the_open_interval_is_refused(tiny_run_config, labels, message):
    tiny_run_config["labels"] = labels
    with pytest.raises(ConfigError, match=message):
        Engine(tiny_run_config)


def test_uncertain_relabels_the_least_confident_training_examples(tiny_run_config):
    from gencls_core.chat import render_prompt
    from gencls_core.data import make_splits
    from gencls_core.interfaces import RunContext
    from gencls_core.plugins import load_plugins
    from gencls_core.services import RunServices
    from gencls_plugins.decoders.perplexity import Perplexity
    from gencls_plugins.models.hub import HubModel

    plugins = load_plugins()
    ctx = RunContext(seed=0, device="cpu", run_dir=None, services=RunServices(plugins), progress=False)
    engine = Engine(tiny_run_config)
    ctx.data = engine.resolution.slots["dataset"].build().load(ctx)
    ctx.data.splits = make_splits(ctx.data, engine.config.splits, 0)
    ctx.lm = HubModel(HubModel.Config(path=tiny_run_config["model"]["path"])).load(ctx)
    train = ctx.data.splits["train"]
    gold = list(train["label"])
    # the gold label's zero-shot probability, batch-calibrated over the training split, computed independently
    names = NameLabels()
    names.setup(ctx.data.labels)
    prompt = _prompt(ZeroShot, ctx.data, names)
    prompts = [render_prompt(ctx.lm.tokenizer, prompt.messages(t)) for t in train["text"]]
    preds = Perplexity(Perplexity.Config(calibrate="batch")).decode(ctx.lm, prompts, names, ctx)
    confidence = [p.probs[g] for p, g in zip(preds, gold)]
    scheme = UncertainLabels(UncertainLabels.Config(fraction=0.2))
    scheme.ctx = ctx
    scheme.setup(ctx.data.labels)
    scheme.prepare_training(ctx)
    after = list(ctx.data.splits["train"]["label"])
    relabelled = [i for i, a in enumerate(after) if a == "uncertain"]
    assert len(relabelled) == round(0.2 * len(gold)) == 6
    assert max(confidence[i] for i in relabelled) <= min(c for i, c in enumerate(confidence) if i not in relabelled)
    assert all(after[i] == gold[i] for i in range(len(gold)) if i not in relabelled)
    assert list(ctx.data.splits["train"]["text"]) == list(train["text"])


def test_uncertain_training_run_records_the_relabelling(tiny_run_config):
    tiny_run_config.update(labels={"name": "uncertain", "fraction": 0.1, "policy": "abstain"},
                           trainers=[{"name": "sft", "max_steps": 1}])
    result = Engine(tiny_run_config).run()
    import json

    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["data"]["train_label_counts"]["uncertain"] == 3
    assert result.metrics["abstained"] == sum(r["status"] == "abstained" for r in result.predictions)


@pytest.mark.parametrize("prompt", [
    {"name": "few-shot", "n": 2, "mode": "similar"},
    {"name": "few-shot", "n": 2, "mode": "fixed", "balanced": True, "reasoning": "think"},
    {"name": "zero-shot", "definitions": {"negative": "dislikes it", "positive": "likes it"}},
])
def test_strategies_run_by_name_through_the_engine(tiny_run_config, prompt):
    tiny_run_config["prompt"] = prompt
    result = Engine(tiny_run_config).run()
    assert result.metrics["n"] == 10
    again = Engine.from_run_dir(result.run_dir).predict([result.predictions[0]["text"]])[0]
    assert again.scores == pytest.approx(result.predictions[0]["scores"], abs=1e-4)


def test_define_drafts_a_definition_per_class(tiny_model_dir, gencls_ctx):
    from gencls_plugins.models.hub import HubModel
    from gencls_plugins.prompts.define import draft_definitions

    lm = HubModel(HubModel.Config(path=str(tiny_model_dir))).load(gencls_ctx)
    drafts = draft_definitions(lm, TEXTS, ["positive", "negative"] * 3, ["negative", "positive"], TASK,
                               examples=2, max_new_tokens=4)
    assert list(drafts) == ["negative", "positive"] and all(isinstance(v, str) and v for v in drafts.values())
