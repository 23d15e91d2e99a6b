"""Recipes (issue 33): a registered component picks a run's training stages for its data and keeps or drops each
stage on the validation split; the test split is read once, for the kept model."""

import json

import numpy as np
import pytest

from gencls_core import Engine, hookimpl
from gencls_core.errors import ConfigError, UsageError
from gencls_core.inference import Inference
from gencls_core.interfaces import Recipe, Validation
from gencls_core.plugins import load_plugins
from gencls_core.registry import PluginInfo
from gencls_plugins.recipes.auto import Auto
from tests.test_faults import _cli


class TwoStages(Recipe):
    """SFT, then label-pg; the test decides which stages to keep."""

    name = "two-stages"
    verdicts = {1: True, 2: False}
    seen: list = []

    def stages(self, data):
        return [{"name": "sft", "max_steps": 2, "learning_rate": 5e-3},
                {"name": "label-pg", "max_steps": 2, "learning_rate": 5e-3}]

    def keep(self, stage, trainer, before, after):
        self.seen.append((stage, trainer, len(before.gold), len(after.gold)))
        return self.verdicts[stage], f"told to ({stage})"


def _plugins():
    body = hookimpl(lambda self, register: register(TwoStages))
    plugin = type("P", (), {"gencls_register_recipes": body})()
    return load_plugins(modules=[(PluginInfo("mine", "x", "mine-dist", "1.0"), plugin)])


def _spy(monkeypatch):
    splits = []
    real = Inference.evaluate_split

    def spy(self, timings, split_name=None, **options):
        splits.append(split_name or self.resolution.config.splits.evaluate)
        return real(self, timings, split_name, **options)

    monkeypatch.setattr(Inference, "evaluate_split", spy)
    return splits


def test_a_recipe_drops_a_stage_it_does_not_keep_and_reads_the_test_split_once(tiny_run_config, monkeypatch):
    splits = _spy(monkeypatch)
    TwoStages.seen = []
    tiny_run_config["recipe"] = "two-stages"
    tiny_run_config["splits"]["validation_size"] = 8
    result = Engine(tiny_run_config, plugins=_plugins()).run()
    assert splits == ["validation", "validation", "validation", "test"]  # start, stage 1, stage 2; then the kept model
    assert TwoStages.seen == [(1, "sft", 8, 8), (2, "label-pg", 8, 8)]
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["trained_model"] == "stages/1-sft/model"  # stage 2 dropped: the SFT model is the result
    assert [(c["stage"], c["kept"], c["why"]) for c in record["recipe"]["choices"]] == [
        (1, True, "told to (1)"), (2, False, "told to (2)")]
    assert [s["name"] for s in record["recipe"]["stages"]] == ["sft", "label-pg"]
    assert record["config"]["trainers"] == [] and record["config"]["recipe"]["name"] == "two-stages"
    assert [s["kept"] for s in result.stages] == [True, False]
    report = (result.run_dir / "report.md").read_text()
    assert "stage 2 (label-pg): dropped: told to (2)" in report and "on the test split (read once)" in report
    baseline = result.metrics["baseline"]  # the simple baseline on the same splits, beside the kept model
    assert baseline["name"] == "TF-IDF + logistic regression" and baseline["C"] in (0.1, 1.0, 10.0, 100.0)
    assert "TF-IDF + logistic regression on the same splits" in report
    # the final metrics are the SFT model's: the same predictions as the run's model gives now
    again = Engine.from_run_dir(result.run_dir, plugins=_plugins()).predict([r["text"] for r in result.predictions])
    assert [p.label for p in again] == [r["predicted"] for r in result.predictions]


def test_a_recipe_that_drops_its_first_stage_leaves_the_starting_model(tiny_run_config, monkeypatch):
    monkeypatch.setattr(TwoStages, "verdicts", {1: False, 2: False})
    tiny_run_config.update(recipe="two-stages")
    result = Engine(tiny_run_config, plugins=_plugins()).run()
    record = json.loads((result.run_dir / "run.json").read_text())
    assert "trained_model" not in record and [c["kept"] for c in record["recipe"]["choices"]] == [False, False]
    assert record["data"]["sizes"]["validation"] == 3  # carved: a recipe always chooses on validation


def test_recipe_and_trainers_are_exclusive_and_the_cli_takes_a_recipe(capsys):
    with pytest.raises(ConfigError, match="give a recipe or trainers, not both"):
        Engine({"recipe": "auto", "trainers": ["sft"]})
    code, _, err = _cli(capsys, "config", "show", "--set", "recipe=autoo")
    assert code == 2 and "no recipe named 'autoo' (did you mean 'auto'?)" in err
    code, _, err = _cli(capsys, "run", "--recipe", "auto", "--set", "trainers=[sft]")
    assert code == 2 and "give a recipe or trainers, not both" in err


def _validation(gold, predicted):
    return Validation(list(gold), list(predicted), ["a", "b", "c"])


def test_auto_keeps_rl_only_beyond_noise_and_sft_unless_worse():
    rng = np.random.default_rng(0)
    gold = list(rng.choice(["a", "b", "c"], 200))
    base = [g if rng.random() < 0.7 else "a" for g in gold]
    nudged = [g if i < 2 else p for i, (g, p) in enumerate(zip(gold, base))]  # two more right: within noise
    better = [g if rng.random() < 0.95 else p for g, p in zip(gold, base)]  # far more right
    auto = Auto(Auto.Config())
    keep, why = auto.keep(2, "label-pg", _validation(gold, base), _validation(gold, nudged))
    assert not keep and "not better beyond noise" in why and "95% interval" in why
    keep, why = auto.keep(2, "label-pg", _validation(gold, base), _validation(gold, better))
    assert keep and "better beyond noise" in why
    keep, why = auto.keep(1, "sft", _validation(gold, better), _validation(gold, base))
    assert not keep and "worse than the untrained model" in why
    assert auto.keep(1, "sft", _validation(gold, base), _validation(gold, nudged))[0]


def test_auto_weighs_classes_only_on_imbalanced_data_and_evaluates_four_times_an_epoch(tiny_run_config):
    data = Engine(tiny_run_config).dataset()
    sft, rl = Auto(Auto.Config()).stages(data)
    assert (sft["name"], rl["name"], sft["class_weights"], sft["best_metric"]) == ("sft", "label-pg", None, "f1_macro")
    assert sft["eval_steps"] == max(1, -(-len(data.splits["train"]) // 8) // 4)
    data.splits["train"] = data.splits["train"].filter(lambda r, i: r["label"] == "positive" or i < 5,
                                                       with_indices=True)
    sft, _ = Auto(Auto.Config(rl="none")).stages(data) + [None]
    assert sft["class_weights"] == "balanced"


def test_the_auto_recipe_through_the_estimator_and_the_api(tiny_run_config, tiny_model_dir, tmp_path):
    from gencls_core.sklearn import GenerativeClassifier

    rows = [tuple(line.split(",")) for line in open(tiny_run_config["dataset"]["path"]).read().splitlines()[1:]]
    texts, labels = [t for t, _ in rows], [y for _, y in rows]
    recipe = {"name": "auto", "sft_epochs": 0.3, "rl_epochs": 0.3, "sft_learning_rate": 5e-3}
    clf = GenerativeClassifier({"recipe": recipe, "model": {"name": "hf", "path": str(tiny_model_dir)}},
                               output_dir=str(tmp_path / "fits"))
    clf.fit(texts, labels)
    record = json.loads((clf.run_dir_ / "run.json").read_text())
    assert record["recipe"]["name"] == "auto" and len(record["recipe"]["choices"]) == 2
    assert set(clf.predict(["good film", "awful"])) <= {"positive", "negative"}
    result = Engine({**tiny_run_config, "recipe": recipe}).run()
    assert [s["trainer"] for s in result.stages] == ["sft", "label-pg"] and "accuracy" in result.metrics


def test_the_baseline_is_chosen_on_validation_and_compared_on_the_test_split_by_hand():
    import datasets

    from gencls_core.baseline import compare, describe
    from gencls_core.interfaces import LabeledData

    def split(words):
        return datasets.Dataset.from_dict({"text": [w for w, _ in words], "label": [label for _, label in words]})

    good, bad = [f"good{i} fine" for i in range(6)], [f"bad{i} awful" for i in range(6)]
    rows = [(t, "positive") for t in good] + [(t, "negative") for t in bad]
    data = LabeledData({"train": split(rows * 2), "validation": split(rows), "test": split(rows)},
                       ["negative", "positive"], "sentiment")
    wrong = [{"gold": label, "predicted": "negative" if label == "positive" else "positive"} for _, label in rows]
    out = compare(data, wrong)
    assert out["accuracy"] == 1.0 and out["f1_macro"] == 1.0 and out["validation_f1_macro"] == 1.0
    assert out["C"] == 0.1  # the first of the grid to reach the best validation score
    assert out["delta_accuracy"] == {"value": -1.0, "low": -1.0, "high": -1.0}
    assert "-100.0 points" in describe(out) and "worse than it beyond noise" in describe(out)
    half = [{"gold": label, "predicted": label if i % 2 else None} for i, (_, label) in enumerate(rows)]
    assert compare(data, half)["delta_accuracy"]["value"] == -0.5


class Biased(TwoStages):
    """SFT only, then a decoder bias that makes every prediction ``negative``."""

    name = "biased"
    verdicts = {1: True}

    def stages(self, data):
        return super().stages(data)[:1]

    def decoder(self, decoder, kept, data):
        assert decoder == "perplexity" and kept.scores and set(kept.scores[0]) == set(data.labels)
        return {"bias": {"negative": -1e4, "positive": 1e4}}, "told to"


def test_a_recipes_decoder_choice_decodes_the_test_split_and_everything_after_the_run(tiny_run_config):
    body = hookimpl(lambda self, register: register(Biased))
    plugins = load_plugins(modules=[(PluginInfo("mine", "x", "mine-dist", "1.0"), type(
        "P", (), {"gencls_register_recipes": body})())])
    result = Engine({**tiny_run_config, "recipe": "biased"}, plugins=plugins).run()
    assert {r["predicted"] for r in result.predictions} == {"negative"}
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["config"]["decoder"]["bias"] == {"negative": -1e4, "positive": 1e4}
    assert record["recipe"]["decoder"] == {"options": {"bias": {"negative": -1e4, "positive": 1e4}}, "why": "told to"}
    assert "- decoder: told to" in (result.run_dir / "report.md").read_text()
    assert {p.label for p in Engine.from_run_dir(result.run_dir, plugins=plugins).predict(["great", "bad"])} == {
        "negative"}
    with pytest.raises(UsageError, match=r"decoder.bias names \['a'\] but the labels are \['negative', 'positive'\]"):
        Engine.from_run_dir(result.run_dir, plugins=plugins, overrides=["decoder.bias={a: 1}"]).predict(["great"])


def _scored(gold, rows, classes=("a", "b", "c")):
    scores = [dict(zip(classes, row)) for row in rows]
    predicted = [max(s, key=s.get) for s in scores]
    return Validation(list(gold), predicted, list(classes), scores)


def test_auto_fits_offsets_toward_the_training_distribution_only_when_they_help_on_validation(tiny_run_config):
    data = Engine(tiny_run_config).dataset()  # 'negative' / 'positive', balanced training labels
    rng = np.random.default_rng(0)
    gold = list(rng.choice(["negative", "positive"], 60))
    signal = [1.0 if g == "positive" else -1.0 for g in gold]
    skewed = [[0.0, s + 1.5 + rng.normal(0, 0.5)] for s in signal]  # 'positive' favoured by a constant
    options, why = Auto(Auto.Config()).decoder("perplexity", _scored(gold, skewed, ("negative", "positive")), data)
    shift = options["bias"]["positive"] - options["bias"]["negative"]
    assert 1.0 < shift < 2.0 and "offsets fitted on the whole validation split are used" in why
    fair = [[0.0, s + rng.normal(0, 0.5)] for s in signal]
    options, why = Auto(Auto.Config()).decoder("perplexity", _scored(gold, fair, ("negative", "positive")), data)
    assert options == {} and "does not rise" in why
    assert Auto(Auto.Config()).decoder("generate", Validation(gold, gold, ["negative", "positive"]), data)[0] == {}
    assert Auto(Auto.Config(calibrate=False)).decoder("perplexity", _scored(gold, skewed, ("negative", "positive")),
                                                      data)[0] == {}
