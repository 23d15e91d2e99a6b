"""The paired bootstrap: centred on the observed difference, wide for noise, excluding zero for a real gain."""

import numpy as np
import pytest

from gencls_core.stats import paired_bootstrap


def test_interval_brackets_the_difference_and_separates_real_gains_from_noise():
    rng = np.random.default_rng(1)
    base = rng.random((3, 500)) < 0.8
    flipped = base.copy()
    flipped[:, :40] = True  # +up to 8 points on the same examples
    diff, low, high = paired_bootstrap(base, flipped)
    assert low > 0 and low <= diff <= high
    assert diff == pytest.approx(flipped.mean() - base.mean())
    noise = rng.random((3, 500)) < 0.8
    _, low, high = paired_bootstrap(base, noise)
    assert low < 0 < high


def test_identical_runs_give_a_zero_width_interval_and_bad_shapes_are_refused():
    same = [[True, False, True]]
    assert paired_bootstrap(same, same) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="equal non-empty"):
        paired_bootstrap([[True]], [[True, False]])


def test_macro_f1_averages_over_the_classes_held_or_predicted_as_scikit_learn_does():
    """Over 20 classes a split holds (of 25), most of them rare, a perfect prediction scores 1 in every bootstrap
    resample (scoring 0 the classes a resample lacks pulled it as low as 0.56 and a split's unseen classes
    capped it at 0.8); a wrongly predicted unseen class counts, as in scikit-learn; an interval of macro-F1
    differences brackets its estimate."""
    from sklearn.metrics import f1_score

    from gencls_core.stats import macro_f1, paired_gain, seed_bootstrap

    rng = np.random.default_rng(0)
    gold = np.concatenate([np.zeros(180, int), np.arange(1, 20), np.arange(1, 20)])
    assert seed_bootstrap([lambda ix: macro_f1(gold[ix], gold[ix], 25)], [len(gold)]) == (1.0, 1.0, 1.0)
    guessed = np.where(rng.random(len(gold)) < 0.2, rng.integers(-1, 25, len(gold)), gold)
    assert macro_f1(gold, guessed, 25) == pytest.approx(f1_score(gold, guessed, labels=sorted({*gold, *guessed} - {-1}),
                                                                 average="macro"))
    assert macro_f1(np.array([[0, 1], [0, 0]]), np.array([[0, 1], [0, 2]]), 3) == pytest.approx([1, (2 / 3) / 2])
    worse = np.where(rng.random(len(gold)) < 0.3, 0, gold)
    gain, low, high = paired_gain(gold, worse, gold, 25, "f1_macro")
    assert low <= gain <= high and low > 0
