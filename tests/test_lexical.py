"""Lexical evidence: TF-IDF + logistic regression fitted on the training split, blended into the decoder's label
scores at ``lexical.weight`` (set, or chosen by the auto recipe on the validation split), the same in a run and
in ``predict`` from its directory."""

import json
import math

import numpy as np
import pytest

from gencls_core import Engine, hookimpl
from gencls_core.errors import ConfigError
from gencls_core.lexical import Bag, blend
from gencls_core.plugins import load_plugins
from gencls_core.registry import PluginInfo
from gencls_plugins.recipes.auto import Auto
from tests.test_recipes import TwoStages, _scored


def _log_softmax(row):
    total = math.log(sum(math.exp(v) for v in row))
    return [v - total for v in row]


def test_the_blend_weighs_the_two_log_distributions_and_the_bag_floors_a_class_it_never_saw():
    out = blend([[0.0, math.log(3)]], [[math.log(0.9), math.log(0.1)]], 0.25)
    assert out[0] == pytest.approx([0.75 * math.log(0.25) + 0.25 * math.log(0.9),
                                    0.75 * math.log(0.75) + 0.25 * math.log(0.1)])
    assert blend([[5.0, 1.0]], [[0.0, -50.0]], 0.0)[0] == pytest.approx(_log_softmax([5.0, 1.0]))
    bag = Bag(["good fine", "great good", "awful bad", "bad poor"], ["pos", "pos", "neg", "neg"], c=1.0)
    rows = bag.log_probs(["good"], ["pos", "neg", "unseen"])
    assert rows[0][0] > rows[0][1] and math.exp(rows[0][0]) + math.exp(rows[0][1]) == pytest.approx(1.0)
    assert rows[0][2] == pytest.approx(math.log(1e-12))  # never trained on: the floor (the decoder can outvote it)


def _by_hand(config, texts, c):
    """The sklearn bag on the config's training split, fitted here, and its log probabilities for ``texts``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train = Engine({k: v for k, v in config.items() if k != "recipe"}).dataset().splits["train"]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(C=c, max_iter=2000).fit(vectorizer.fit_transform(train["text"]), train["label"])
    return model, np.log(model.predict_proba(vectorizer.transform(texts)))


def test_a_weight_blends_the_bag_into_every_prediction_and_predict_refits_the_same_bag(tiny_run_config):
    alone = Engine({**tiny_run_config, "run_name": "alone"}).run()
    config = {**tiny_run_config, "run_name": "blended", "lexical": {"weight": 0.6, "C": 1.0}}
    blended = Engine(config).run()
    texts = [r["text"] for r in alone.predictions]
    model, bag = _by_hand(config, texts, 1.0)
    classes = [str(c) for c in model.classes_]
    for row, plain, logs in zip(blended.predictions, alone.predictions, bag):
        expected = [0.4 * s + 0.6 * b for s, b in zip(_log_softmax([plain["scores"][c] for c in classes]), logs)]
        assert [row["scores"][c] for c in classes] == pytest.approx(expected, abs=1e-6)
        assert row["predicted"] == classes[int(np.argmax(expected))]
    assert [r["predicted"] for r in blended.predictions] != [r["predicted"] for r in alone.predictions]
    added = blended.metrics["lexical"]  # the model alone, recovered from the blend: the unblended run's score
    assert added["model_accuracy"] == pytest.approx(alone.metrics["accuracy"], abs=1e-4)
    assert added["delta_accuracy"]["value"] == pytest.approx(blended.metrics["accuracy"] - alone.metrics["accuracy"],
                                                             abs=1e-4)
    assert "The bag of words (lexical.weight 0.6) against the kept model alone" in (
        blended.run_dir / "report.md").read_text()
    again = Engine.from_run_dir(blended.run_dir).predict(texts)  # the bag fitted again from the training split
    assert [p.label for p in again] == [r["predicted"] for r in blended.predictions]
    assert [p.scores["positive"] for p in again] == pytest.approx([r["scores"]["positive"]
                                                                   for r in blended.predictions], abs=1e-4)


def test_a_weight_needs_label_scores_and_one_label_per_text(tiny_run_config, tmp_path):
    with pytest.raises(ConfigError, match="lexical.weight blends label scores, and decoder 'generate'.* gives none"):
        Engine({**tiny_run_config, "decoder": "generate", "lexical": {"weight": 0.5}}).run()
    path = tmp_path / "ml.jsonl"
    path.write_text("".join(json.dumps({"text": f"text {i}", "label": ["a", "b"][: 1 + i % 2]}) + "\n"
                            for i in range(40)))
    config = {**tiny_run_config, "dataset": {"name": "local", "path": str(path), "multi_label": True},
              "lexical": {"weight": 0.5}}
    with pytest.raises(ConfigError, match="multi-label data decides label sets by threshold"):
        Engine(config).run()


def test_auto_weighs_the_bag_of_words_only_when_it_helps_on_validation():
    rng = np.random.default_rng(0)
    gold = list(rng.choice(["a", "b", "c"], 90))
    index = [["a", "b", "c"].index(g) for g in gold]
    weak = [[rng.normal(0, 1) + (0.4 if j == k else 0) for j in range(3)] for k in index]  # a model near chance
    sure = [[(0.0 if j == k else -8.0) + rng.normal(0, 0.1) for j in range(3)] for k in index]  # words that know
    noise = [[math.log(p) for p in rng.dirichlet([1, 1, 1])] for _ in index]  # words that know nothing
    auto = Auto(Auto.Config())
    weight, why = auto.lexical(_scored(gold, weak), [dict(zip("abc", r)) for r in sure])
    assert 0 < weight < 1 and "the weight chosen on the whole validation split" in why
    strong = [[(4.0 if j == k else 0.0) for j in range(3)] for k in index]
    weight, why = auto.lexical(_scored(gold, strong), [dict(zip("abc", r)) for r in noise])
    assert weight == 0 and "does not rise" in why
    assert Auto(Auto.Config(lexical=False)).lexical(_scored(gold, weak), [dict(zip("abc", r)) for r in sure])[0] == 0


class Blending(TwoStages):
    """SFT only, then the bag of words at weight 0.9."""

    name = "blending"
    verdicts = {1: True}
    bags: list = []

    def stages(self, data):
        return super().stages(data)[:1]

    def lexical(self, kept, bag):
        self.bags.append((len(kept.gold), len(bag), sorted(bag[0])))
        return 0.9, "told to"


def test_a_recipes_lexical_choice_decodes_the_test_split_and_is_recorded_for_predict(tiny_run_config):
    body = hookimpl(lambda self, register: register(Blending))
    plugins = load_plugins(modules=[(PluginInfo("mine", "x", "mine-dist", "1.0"), type(
        "P", (), {"gencls_register_recipes": body})())])
    config = {**tiny_run_config, "recipe": "blending", "splits": {"test_size": 10, "validation_size": 8}}
    result = Engine(config, plugins=plugins).run()
    assert Blending.bags[-1] == (8, 8, ["negative", "positive"])  # the validation split's rows, every class
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["config"]["lexical"]["weight"] == 0.9 and record["recipe"]["lexical"]["why"] == "told to"
    assert "- lexical evidence (TF-IDF + logistic regression, weight 0.9): told to" in (
        result.run_dir / "report.md").read_text()
    model, bag = _by_hand(config, [r["text"] for r in result.predictions], record["config"]["lexical"]["C"])
    words = [str(model.classes_[int(np.argmax(row))]) for row in bag]
    agree = sum(r["predicted"] == w for r, w in zip(result.predictions, words))
    assert agree >= 9  # at weight 0.9 the bag's own answer wins unless the model is near certain
    assert [p.label for p in Engine.from_run_dir(result.run_dir, plugins=plugins).predict(
        [r["text"] for r in result.predictions])] == [r["predicted"] for r in result.predictions]


def test_a_weight_set_in_the_config_is_kept_over_the_recipes_choice(tiny_run_config):
    body = hookimpl(lambda self, register: register(Blending))
    plugins = load_plugins(modules=[(PluginInfo("mine", "x", "mine-dist", "1.0"), type(
        "P", (), {"gencls_register_recipes": body})())])
    Blending.bags = []
    config = {**tiny_run_config, "recipe": "blending", "splits": {"test_size": 10, "validation_size": 8},
              "lexical": {"weight": 0.3}}
    result = Engine(config, plugins=plugins).run()
    record = json.loads((result.run_dir / "run.json").read_text())
    assert Blending.bags == [] and record["config"]["lexical"]["weight"] == 0.3
    assert record["recipe"]["lexical"] == {"weight": 0.3, "why": "the weight set in the config"}
    assert result.metrics["lexical"]["weight"] == 0.3
