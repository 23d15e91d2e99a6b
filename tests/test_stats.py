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


def test_a_class_a_resample_lacks_is_left_out_of_its_macro_f1():
    """A perfect prediction over the 20 classes a split holds (of 25), most of them rare, scores its 0.8 in every
    resample (scored 0, the classes a resample lacks pulled it as low as 0.56), and an interval of macro-F1
    differences brackets its estimate."""
    from gencls_core.stats import classes_held, macro_f1, paired_gain, resampled_macro_f1, seed_bootstrap

    rng = np.random.default_rng(0)
    gold = np.concatenate([np.zeros(180, int), np.arange(1, 20), np.arange(1, 20)])
    assert classes_held(gold, 25) == 20 and list(classes_held(np.array([[0, 0, 1], [2, 3, 4]]), 5)) == [2, 3]
    value, low, high = seed_bootstrap([resampled_macro_f1(gold, gold, 25)], [len(gold)])
    assert value == pytest.approx(macro_f1(gold, gold, 25)) == pytest.approx(20 / 25)  # 5 classes never seen
    assert low == pytest.approx(20 / 25) and high == pytest.approx(20 / 25)
    lacking = seed_bootstrap([lambda ix: macro_f1(gold[ix], gold[ix], 25)], [len(gold)])
    assert lacking[1] < 0.6  # the old statistic: the estimate at the very top of its own interval
    worse = np.where(rng.random(len(gold)) < 0.3, 0, gold)
    gain, low, high = paired_gain(gold, worse, gold, 25, "f1_macro")
    assert low <= gain <= high and low > 0
