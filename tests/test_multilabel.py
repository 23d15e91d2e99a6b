"""Multi-label data: loading label lists, splitting, label-set answers and thresholds, the metrics against
scikit-learn's, and a run end to end on the tiny model."""

import json
import random

import numpy as np
import pytest

from gencls_core import Engine
from gencls_core.data import make_splits, strata
from gencls_core.errors import ConfigError, ContractError, DataError, UsageError
from gencls_core.interfaces import LabeledData, Prediction
from gencls_core.label_sets import choose_threshold, decide, parse_set, render_set
from gencls_core.stats import set_f1
from gencls_plugins.datasets.columns import ColumnOptions, build_split
from gencls_plugins.evaluators.multilabel import MultiLabel

LABELS = ["praise", "speed", "price"]
WORDS = {"praise": ["good", "great", "lovely"], "speed": ["fast", "quick", "rapid"],
         "price": ["cheap", "costly", "pricey"]}
FILLER = ["the", "film", "was", "a", "story", "plot", "really", "quite"]


def _rows(n, seed=0):
    """(text, labels) pairs: each label present with its keyword, about half of the labels per text."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        labels = [c for c in LABELS if rng.random() < 0.45]
        words = rng.sample(FILLER, 3) + [rng.choice(WORDS[c]) for c in labels]
        rng.shuffle(words)
        rows.append((" ".join(words), labels))
    return rows


def test_label_cells_are_read_as_lists_or_joined_strings_and_bad_ones_name_the_row():
    opts = ColumnOptions(multi_label=True, label_separator="|")
    ds, found = build_split(["a", "b", "c", "d"], ["praise|speed", ["price"], "", None], opts, "f.csv")
    assert ds["label"] == [["praise", "speed"], ["price"], [], []] and found == ["praise", "price", "speed"]
    with pytest.raises(DataError, match=r"f.csv: row 0: label 'praise' is given twice"):
        build_split(["a"], ["praise|praise"], opts, "f.csv")
    with pytest.raises(DataError, match=r"row 0: an empty label"):
        build_split(["a"], ["praise||speed"], opts, "f.csv")
    declared = ColumnOptions(multi_label=True, labels=LABELS)
    with pytest.raises(DataError, match=r"row 0: label 'colour' is not in the declared labels"):
        build_split(["a"], [["colour"]], declared, "f.jsonl")
    single, _ = build_split(["a"], ["praise|speed"], ColumnOptions(), "f.csv")
    assert single["label"] == ["praise|speed"]  # single-label data reads the cell as written


def test_a_jsonl_file_with_label_lists_loads_through_the_local_dataset(tmp_path, tiny_run_config):
    path = tmp_path / "ml.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": labels}) + "\n" for t, labels in _rows(40)))
    config = {**tiny_run_config, "dataset": {"name": "local", "path": str(path), "multi_label": True}}
    data = Engine(config).dataset()
    assert data.multi_label and data.labels == sorted(LABELS)
    assert all(isinstance(labels, list) for labels in data.splits["test"]["label"])


def test_the_hub_source_reads_a_sequence_of_class_labels_by_name(tmp_path, tiny_run_config):
    """The hf-dataset path, offline: a local folder of Parquet files keeps datasets' features, as the Hub's do."""
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.Sequence(datasets.ClassLabel(names=LABELS))})
    rows = _rows(40)
    for split, part in (("train", rows[:30]), ("test", rows[30:])):
        datasets.Dataset.from_dict({"text": [t for t, _ in part], "label": [[LABELS.index(x) for x in labels]
                                                                          for _, labels in part]},
                                   features=features).to_parquet(str(tmp_path / f"{split}.parquet"))
    config = {**tiny_run_config, "dataset": {"name": "hf-dataset", "path": str(tmp_path), "multi_label": True}}
    data = Engine(config).dataset()
    assert data.multi_label and data.labels == sorted(LABELS)
    assert sorted(map(sorted, data.splits["test"]["label"])) == sorted(sorted(labels) for _, labels in rows[30:])


def test_multi_label_splits_are_seeded_disjoint_and_keep_each_label():
    rows = _rows(200)
    import datasets

    ds = datasets.Dataset.from_dict({"text": [t for t, _ in rows], "label": [labels for _, labels in rows]})
    data = LabeledData({"train": ds}, LABELS, multi_label=True)
    picked, classes = strata(list(ds["label"]), data)
    assert classes[-1] == "(none)" and all(p in classes for p in picked)
    from gencls_core.config import SplitConfig

    splits = make_splits(data, SplitConfig(test_size=50, validation_size=50), seed=3)
    assert not set(splits["test"]["text"]) & set(splits["train"]["text"])
    assert make_splits(data, SplitConfig(test_size=50, validation_size=50), seed=3)["test"]["text"] == \
        splits["test"]["text"]
    for label in LABELS:  # stratified: each label's share in test is near its share overall
        share = sum(label in x for x in ds["label"]) / len(ds)
        assert abs(sum(label in x for x in splits["test"]["label"]) / 50 - share) < 0.15


@pytest.mark.parametrize("labels", [[], ["speed"], ["price", "praise"], LABELS])
def test_a_rendered_set_parses_back_to_itself_in_the_datasets_order(labels):
    answers = {c: c.upper() for c in LABELS}
    text = render_set(labels, answers.get, LABELS, random.Random(0))
    assert parse_set(text, answers) == ([c for c in LABELS if c in labels], "ok")
    assert render_set(labels, answers.get, LABELS) == (", ".join(answers[c] for c in LABELS if c in labels)
                                                      or "none")


def test_parsing_ignores_case_spaces_duplicates_and_reports_an_unknown_label():
    answers = {c: c for c in LABELS}
    assert parse_set(" Speed; praise.\nspeed | ", answers) == (["praise", "speed"], "ok")
    assert parse_set("None", answers) == ([], "ok") and parse_set("", answers) == ([], "ok")
    assert parse_set("speed, colour", answers) == (None, "no_label")


def test_shuffled_training_order_varies_but_the_set_is_the_same():
    draw = random.Random(1)
    orders = {render_set(LABELS, str, LABELS, draw) for _ in range(30)}
    assert len(orders) > 1 and {frozenset(o.split(", ")) for o in orders} == {frozenset(LABELS)}


def test_thresholds_are_chosen_for_the_best_f1_globally_and_per_label():
    gold = [["praise"], ["praise", "speed"], [], ["speed"]]
    probs = [{"praise": 0.9, "speed": 0.1}, {"praise": 0.5, "speed": 0.45}, {"praise": 0.3, "speed": 0.2},
             {"praise": 0.2, "speed": 0.7}]
    cut = choose_threshold(gold, probs, ["praise", "speed"])
    assert [decide(p, cut) for p in probs] == gold  # 0.45 separates them all
    assert cut == pytest.approx(0.45)
    per = choose_threshold(gold, probs, ["praise", "speed"], per_label=True)
    assert per == {"praise": 0.5, "speed": 0.45}
    assert choose_threshold([[], []], probs[:2], ["praise", "speed"], per_label=True) == {"praise": 0.5,
                                                                                         "speed": 0.5}


def test_set_metrics_equal_scikit_learns():
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss
    from sklearn.preprocessing import MultiLabelBinarizer

    rng = random.Random(0)
    gold = [[c for c in LABELS if rng.random() < 0.5] for _ in range(60)]
    pred = [[c for c in LABELS if rng.random() < 0.5] for _ in range(60)]
    pred[0] = None  # an answer that named no set counts as the empty set
    values = MultiLabel(MultiLabel.Config()).evaluate(gold, [Prediction(None, labels=p) for p in pred], LABELS)
    mlb = MultiLabelBinarizer(classes=LABELS)
    y, p = mlb.fit_transform(gold), mlb.transform([x or [] for x in pred])
    assert values["f1_micro"] == pytest.approx(f1_score(y, p, average="micro"))
    assert values["f1_macro"] == pytest.approx(f1_score(y, p, average="macro"))
    assert values["f1_example"] == pytest.approx(f1_score(y, p, average="samples", zero_division=0))
    assert values["subset_accuracy"] == pytest.approx(accuracy_score(y, p))
    assert values["hamming_loss"] == pytest.approx(hamming_loss(y, p))
    assert values["per_label"]["speed"]["support"] == sum("speed" in g for g in gold)
    for average in ("micro", "macro"):
        assert set_f1(y[None], p[None], average)[0] == pytest.approx(f1_score(y, p, average=average))


def test_a_multi_label_run_trains_on_sets_chooses_its_threshold_on_validation_and_reports_set_metrics(
        tmp_path, tiny_run_config):
    path = tmp_path / "ml.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": labels}) + "\n" for t, labels in _rows(60)))
    config = {**tiny_run_config, "dataset": {"name": "local", "path": str(path), "multi_label": True},
              "splits": {"test_size": 12, "validation_size": 12}, "decoder": "perplexity",
              "trainers": [{"name": "sft", "max_steps": 1, "batch_size": 8}]}
    result = Engine(config).run()
    m = result.metrics
    assert {"f1_micro", "f1_macro", "f1_example", "subset_accuracy", "hamming_loss"} <= set(m)
    assert "accuracy" not in m and "confusion_matrix" not in m  # the single-label evaluators did not run
    rows = result.predictions
    assert all(isinstance(r["gold"], list) and isinstance(r["predicted"], list) for r in rows)
    record = json.loads((result.run_dir / "run.json").read_text())
    threshold = record["config"]["label_sets"]["threshold"]
    assert 0 <= threshold <= 1 and m["label_threshold"] == pytest.approx(threshold)
    assert m["baseline"]["name"].endswith("one-vs-rest") and "delta_f1_micro" in m["baseline"]
    report = (result.run_dir / "report.md").read_text()
    assert "## Per label" in report and (result.run_dir / "per_label.png").is_file()

    predictor = Engine.from_run_dir(result.run_dir).predictor()  # predict decides sets as the run did
    texts = [r["text"] for r in rows]
    assert [p.labels for p in predictor(texts)] == [r["predicted"] for r in rows]
    with pytest.raises(UsageError, match="label_sets.threshold"):
        predictor(texts, 0.5)
    from gencls_core.export import export_run

    exported = Engine.from_pretrained(export_run(result.run_dir, tmp_path / "export")).predictor()
    assert [p.labels for p in exported(texts)] == [r["predicted"] for r in rows]  # the export decides alike
    from fastapi.testclient import TestClient

    from gencls_core.serve import create_app

    with TestClient(create_app(Engine.from_run_dir(result.run_dir))) as client:
        served = client.post("/classify", json={"texts": texts[:2]}).json()["predictions"]
    assert [p["labels"] for p in served] == [r["predicted"] for r in rows[:2]]
    from click.testing import CliRunner

    from gencls_core.cli import cli

    inputs, out = tmp_path / "in.txt", tmp_path / "out.csv"
    inputs.write_text("\n".join(texts[:3]) + "\n")
    done = CliRunner().invoke(cli, ["predict", str(result.run_dir), str(inputs), "-o", str(out),
                                    "--label-threshold", "0"])
    assert done.exit_code == 0, done.output
    import csv

    assert [r["label"] for r in csv.DictReader(out.open())] == ["|".join(sorted(LABELS))] * 3  # all reach 0


def test_label_match_scores_a_set_answer_by_its_f1_against_the_gold_set():
    from gencls_plugins.labels.names import NameLabels
    from gencls_plugins.rewards.label_match import LabelMatch

    def ready(reward):
        scheme = NameLabels()
        scheme.setup(LABELS)
        reward.setup(scheme)
        return reward

    answers = ["praise", "praise, speed", "none", "price", "colour", "none", "speed"]
    gold = [["praise", "speed"], ["praise", "speed"], [], ["praise"], ["praise"], ["praise"], "speed"]
    # F1 2/3, 1, 1 (both empty), 0, a piece naming no label, 0; the last text is single-label (exactly right)
    assert ready(LabelMatch())([None] * 7, answers, label=gold) == pytest.approx([1 / 3, 1, 1, -1, -3, -1, 1])
    weighted = ready(LabelMatch(LabelMatch.Config(class_weights={"praise": 2.0})))
    with pytest.raises(ContractError, match="class_weights weigh one gold class per text"):
        weighted([None], ["praise"], label=[["praise"]])


SETS = {"good": ["praise"], "great": ["praise"], "superb": ["praise"], "fast": ["speed"], "quick": ["speed"],
        "cheap": ["price"], "costly": ["price"], "bargain": ["praise", "price"], "rapid": ["praise", "speed"],
        "express": ["price", "speed"]}


def _word_sets(path, shuffle):
    """One keyword per text and its fixed label set (three words with two labels); ``shuffle``: random sets."""
    rng = random.Random(0)
    rows = [(w, [c for c in LABELS if rng.random() < 0.45] if shuffle else SETS[w])
            for w in [*SETS] * 12]
    path.write_text("".join(json.dumps({"text": t, "label": labels}) + "\n" for t, labels in rows))
    return path


def test_label_pg_with_the_set_reward_learns_keyword_label_sets(tmp_path, tiny_run_config):
    """SFT on random label sets gives a start that answers labels but knows no mapping; label-pg with
    label-match's set reward then learns which words carry which labels: validation-chosen micro-F1 +0.31,
    +0.34, +0.43 and the mean expected reward -0.2 -> 0.8 on seeds 0-2. Learning rate ~0: nothing moves.
    (Without the entropy bonus seed 1 collapsed onto one label per word, entropy 0 and micro-F1 0.64 after:
    every gold label earns the same reward, so nothing holds the mass on the second one.)"""
    base = {**tiny_run_config, "prompt": {"name": "zero-shot", "template": "{text}"},
            "decoder": {"name": "perplexity", "calibrate": "none"},  # before and after decoded alike
            "splits": {"test_size": 30, "validation_size": 30}}
    warm = Engine({**base, "output_dir": str(tmp_path / "warm"),
                   "dataset": {"name": "local", "path": str(_word_sets(tmp_path / "random.jsonl", True)),
                               "multi_label": True},
                   "trainers": [{"name": "sft", "lora": None, "max_steps": 40, "learning_rate": 1e-2,
                                 "save_steps": 1000}]}).run()
    results = {}
    for lr, steps in ((3e-3, 30), (1e-12, 3)):
        results[lr] = Engine({**base, "output_dir": str(tmp_path / f"runs-{lr}"), "evaluate_untrained": True,
                              "model": {"name": "hf", "path": str(warm.run_dir / "stages/1-sft/model")},
                              "dataset": {"name": "local", "path": str(_word_sets(tmp_path / "true.jsonl", False)),
                                          "multi_label": True},
                              "trainers": [{"name": "label-pg", "max_steps": steps, "learning_rate": lr,
                                            "beta": 0.05, "entropy_coef": 0.2, "batch_size": 16,
                                            "logging_steps": 1, "save_steps": 1000, "lora": None}]}).run()
    untrained, trained = results[3e-3].stages
    assert trained["f1_micro"] >= untrained["f1_micro"] + 0.25, results[3e-3].stages
    history = json.loads((results[3e-3].run_dir / "stages/1-label-pg/log_history.json").read_text())
    rewards = [h["reward"] for h in history if "reward" in h]
    assert sum(rewards[-5:]) / 5 > sum(rewards[:5]) / 5 + 0.5, rewards
    control = results[1e-12].stages
    assert control[1]["f1_micro"] == control[0]["f1_micro"]


def test_the_auto_recipe_chooses_by_set_f1_each_model_at_its_own_threshold(tmp_path, tiny_run_config,
                                                                           monkeypatch):
    from gencls_core.inference import Inference
    from gencls_core.interfaces import Validation
    from gencls_plugins.recipes.auto import Auto

    rng = random.Random(0)
    gold = [labels for _, labels in _rows(200)]
    noisy = [[c for c in LABELS if (c in g) != (rng.random() < 0.3)] for g in gold]
    better = [g if rng.random() < 0.9 else p for g, p in zip(gold, noisy)]
    nudged = [g if i < 2 else p for i, (g, p) in enumerate(zip(gold, noisy))]
    sets = lambda predicted: Validation(gold, predicted, LABELS, multi_label=True)  # noqa: E731
    auto = Auto(Auto.Config())
    keep, why = auto.keep(2, "label-pg", sets(noisy), sets(better))
    assert keep and "validation f1_macro" in why and "better beyond noise" in why
    assert not auto.keep(2, "label-pg", sets(noisy), sets(nudged))[0]

    path = tmp_path / "ml.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": labels}) + "\n" for t, labels in _rows(60)))
    config = {**tiny_run_config, "dataset": {"name": "local", "path": str(path), "multi_label": True},
              "splits": {"test_size": 12, "validation_size": 12}, "decoder": "perplexity",
              "recipe": {"name": "auto", "sft_epochs": 1, "rl_epochs": 0.5}}
    decoded_for_it, choose = [], Inference.choose_set_threshold
    monkeypatch.setattr(Inference, "choose_set_threshold", lambda self, timings, validation=None: (
        decoded_for_it.append(validation is None) or choose(self, timings, validation)))
    result = Engine(config).run()
    assert decoded_for_it and not any(decoded_for_it)  # chosen from validation evaluations made anyway
    record = json.loads((result.run_dir / "run.json").read_text())
    kept_stage = json.loads((result.run_dir / record["trained_model"]).with_name("stage.json").read_text())
    assert record["config"]["label_sets"]["threshold"] == kept_stage["metrics"]["label_threshold"]
    sft, rl = record["recipe"]["stages"]
    assert sft["class_weights"] is None and rl["entropy_coef"] == 0.2
    assert [c["trainer"] for c in record["recipe"]["choices"]] == ["sft", "label-pg"]
    assert all("validation f1_macro" in c["why"] for c in record["recipe"]["choices"])
    assert "threshold chosen on validation" in record["recipe"]["decoder"]["why"]
    assert record["config"]["label_sets"]["threshold"] == pytest.approx(result.metrics["label_threshold"])
    assert "f1_micro" in result.metrics and "accuracy" not in result.metrics
    with pytest.raises(ConfigError, match="metric 'accuracy' is not defined for multi-label data"):
        Engine({**config, "recipe": {"name": "auto", "metric": "accuracy"}}).run()


def test_what_is_defined_for_one_label_per_text_says_so_for_multi_label_data(tmp_path, tiny_run_config):
    path = tmp_path / "ml.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": labels}) + "\n" for t, labels in _rows(40)))
    base = {**tiny_run_config, "dataset": {"name": "local", "path": str(path), "multi_label": True}}
    with pytest.raises(ConfigError, match="trainer 'grpo' trains on one gold label per text"):
        Engine({**base, "trainers": [{"name": "grpo", "max_steps": 1}]}).run()
    with pytest.raises(ConfigError, match="distribution 'raw' gives the mass outside the one-label answers"):
        Engine({**base, "trainers": [{"name": "label-pg", "max_steps": 1, "distribution": "raw"}]}).run()
    with pytest.raises(ConfigError, match="class_weights weigh one gold class per text"):
        Engine({**base, "trainers": [{"name": "sft", "max_steps": 1, "class_weights": "balanced"}]}).run()
    with pytest.raises(ConfigError, match="none of the evaluators \\['accuracy'\\] scores multi-label data"):
        Engine({**base, "evaluators": ["accuracy"]}).run()
    with pytest.raises(DataError, match="not defined for multi-label data"):
        Engine({**base, "splits": {"test_size": 10, "train_label_noise": 0.2}}).run()


def test_the_one_vs_rest_baseline_learns_keyword_labels():
    import datasets

    from gencls_core.baseline import tfidf_sets

    rows = _rows(300)
    ds = datasets.Dataset.from_dict({"text": [t for t, _ in rows], "label": [labels for _, labels in rows]})
    data = LabeledData({"train": ds.select(range(250)), "test": ds.select(range(250, 300))}, LABELS,
                       multi_label=True)
    predicted, chosen = tfidf_sets(data)
    from sklearn.preprocessing import MultiLabelBinarizer

    gold = MultiLabelBinarizer(classes=LABELS).fit_transform(data.splits["test"]["label"])
    assert predicted.shape == gold.shape and chosen["C"] == 10.0
    assert set_f1(gold[None], predicted[None], "micro")[0] > 0.9
    assert np.array_equal(predicted.sum(0) > 0, gold.sum(0) > 0)
