"""Choosing predict's --min-probability on the validation split (``gencls threshold``)."""

import pytest
from click.testing import CliRunner

from gencls_core import Engine
from gencls_core.cli import cli
from gencls_core.interfaces import Prediction
from gencls_core.thresholds import Operating, choose_threshold, operating_points


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
