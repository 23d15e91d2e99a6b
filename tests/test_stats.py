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
