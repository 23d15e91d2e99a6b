"""Choosing predict's --min-probability on the validation split (``gencls threshold``)."""

import json

import pytest
from click.testing import CliRunner

from gencls_core import Engine
from gencls_core.cli import cli
from gencls_core.errors import UsageError
from gencls_core.inference import abstain_below
from gencls_core.interfaces import Prediction
from gencls_core.thresholds import Operating, choose_class_thresholds, choose_threshold, operating_points


def _p(label, top):
    return Prediction(label, probs={label: top, "other": 1 - top})


def test_the_chosen_threshold_is_the_lowest_that_keeps_the_target_accuracy():
    gold = ["a", "a", "a", "a", "a"]
    predictions = [_p("a", 0.95), _p("b", 0.9), _p("a", 0.8), _p("a", 0.7), Prediction(None, status="no_label")]
    points = operating_points(gold, predictions)
    assert points == [Operating(0.7, 4 / 5, 3 / 4), Operating(0.8, 3 / 5, 2 / 3), Operating(0.9, 2 / 5, 1 / 2),
                      Operating(0.95, 1 / 5, 1.0)]
    assert choose_threshold(gold, predictions, 0.75) == Operating(0.7, 4 / 5, 3 / 4)  # the most texts answered
    assert choose_threshold(gold, predictions, 0.8).threshold == 0.95
    assert choose_threshold(["a"], [_p("b", 0.9)], 0.5) is None
    # a coverage target: the highest threshold still answering that share of the texts
    assert choose_threshold(gold, predictions, coverage=0.6) == Operating(0.8, 3 / 5, 2 / 3)
    assert choose_threshold(gold, predictions, coverage=0.61) == Operating(0.7, 4 / 5, 3 / 4)
    assert choose_threshold(gold, predictions, coverage=0.9) is None  # one text has no label: 4/5 at most
    tied = operating_points(["a", "b"], [_p("a", 0.8), _p("a", 0.8)])  # one threshold keeps both or neither
    assert tied == [Operating(0.8, 1.0, 0.5)]


def test_the_threshold_command_chooses_on_the_validation_split(tmp_path, tiny_run_config):
    config = {**tiny_run_config, "splits": {"validation_size": 16, "test_size": 8}}
    run_dir = Engine(config).run().run_dir
    done = CliRunner().invoke(cli, ["threshold", str(run_dir), "--precision", "0"])
    assert done.exit_code == 0, done.output
    assert "validation split, 16 texts" in done.output and "--min-probability 0.5" in done.output  # answers all
    done = CliRunner().invoke(cli, ["threshold", str(run_dir), "--precision", "1.0"])
    assert (done.exit_code == 0 and "at 1.000 accuracy" in done.output) or "no threshold keeps 1.000" in done.output
    plain = Engine({**tiny_run_config, "splits": {"test_size": 8}}).run().run_dir
    done = CliRunner().invoke(cli, ["threshold", str(plain)])
    assert done.exit_code == 2 and "has no validation split" in done.output


@pytest.mark.parametrize("precision", ["1.5", "-0.1"])
def test_the_threshold_command_refuses_a_precision_outside_zero_to_one(tmp_path, precision):
    done = CliRunner().invoke(cli, ["threshold", str(tmp_path), "--precision", precision])
    assert done.exit_code == 2 and "--precision" in done.output


def test_per_label_thresholds_are_chosen_on_each_labels_own_predictions_and_applied_per_label():
    gold = ["a", "b", "a", "b", "b", "b", "a"]
    predictions = [_p("a", 0.9), _p("a", 0.8), _p("a", 0.6), _p("b", 0.95), _p("b", 0.7), _p("b", 0.55),
                   _p("b", 0.51)]  # b's answers are right down to 0.55; a is 1/3 wrong at 0.8, right at 0.9
    chosen = choose_class_thresholds(gold, predictions, 0.99)
    assert chosen == {"a": Operating(0.9, 1 / 3, 1.0), "b": Operating(0.55, 3 / 4, 1.0)}
    assert choose_class_thresholds(gold, predictions, 0.5)["a"] == Operating(0.6, 1.0, 2 / 3)
    assert choose_class_thresholds(["b"], [_p("a", 0.9)], 0.5) == {"a": None}  # never right; b never predicted
    kept = abstain_below(predictions, {"a": 0.9, "b": 0.55})
    assert [p.label for p in kept] == ["a", None, None, "b", "b", "b", None]
    assert [p.label for p in abstain_below(predictions, {"b": 0.9})] == ["a", "a", "a", "b", None, None, None]
    assert [p.status for p in abstain_below(predictions, 0.85)] == ["ok"] + ["abstained"] * 2 + ["ok"] + [
        "abstained"] * 3
    with pytest.raises(UsageError, match=r"min_probability names \['c'\], which are not labels"):
        abstain_below(predictions, {"c": 0.5})
    with pytest.raises(UsageError, match=r"min_probability of 'a' must lie in \[0, 1\], got 1.5"):
        abstain_below(predictions, {"a": 1.5})


def test_threshold_per_class_writes_a_file_that_predict_and_serve_apply(tmp_path, tiny_run_config):
    config = {**tiny_run_config, "splits": {"validation_size": 16, "test_size": 8}}
    run_dir = Engine(config).run().run_dir
    out = tmp_path / "thresholds.json"
    done = CliRunner().invoke(cli, ["threshold", str(run_dir), "--precision", "0", "--per-class", "--out", str(out)])
    assert done.exit_code == 0, done.output
    thresholds = json.loads(out.read_text())
    assert set(thresholds) == {"negative", "positive"} and "per label, 0.000 accuracy" in done.output
    assert all(0.5 <= t <= 1 for t in thresholds.values())
    again = CliRunner().invoke(cli, ["threshold", str(run_dir), "--per-class", "--out", str(out)])
    assert again.exit_code == 2 and "exists; choose a new file" in again.output
    assert json.loads(out.read_text()) == thresholds  # untouched
    alone = CliRunner().invoke(cli, ["threshold", str(run_dir), "--per-class"])
    assert alone.exit_code == 2 and "--per-class and --out go together" in alone.output
    texts = tmp_path / "texts.txt"
    texts.write_text("a good film\nan awful plot\n")
    everything = {"negative": 1.0, "positive": 1.0}  # nothing is that sure: all abstain
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps(everything))
    pred = CliRunner().invoke(cli, ["predict", str(run_dir), str(texts), "--thresholds", str(strict)])
    assert pred.exit_code == 0, pred.output
    assert [json.loads(line)["status"] for line in pred.output.splitlines()] == ["abstained"] * 2
    strict.write_text(json.dumps({"neutral": 0.5}))
    pred = CliRunner().invoke(cli, ["predict", str(run_dir), str(texts), "--thresholds", str(strict)])
    assert pred.exit_code != 0 and "names ['neutral'], which are not labels of this model" in str(pred.exception)
    both = CliRunner().invoke(cli, ["predict", str(run_dir), str(texts), "--thresholds", str(out),
                                    "--min-probability", "0.5"])
    assert both.exit_code == 2 and "not both" in both.output
    both = CliRunner().invoke(cli, ["threshold", str(run_dir), "--precision", "0.9", "--coverage", "0.5"])
    assert both.exit_code == 2 and "not both" in both.output
    half = CliRunner().invoke(cli, ["threshold", str(run_dir), "--coverage", "0.5"])
    assert half.exit_code == 0 and "answers 50.0% of the validation texts" in half.output, half.output
