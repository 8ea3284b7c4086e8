"""The reference solutions learners can read agree with the package."""

from __future__ import annotations

import numpy as np
import pytest

from bnutils import solutions
from bnutils.train import SATURATION_MARGIN


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_saturation_margin_matches_the_training_loop(activation):
    edge = 1 - SATURATION_MARGIN
    inside, outside = edge - 1e-9, edge + 1e-9
    A = np.array([[inside, outside]])
    assert solutions.saturation_share(A, activation) == 0.5


def test_every_solution_is_listed_and_documented():
    for name in solutions.__all__:
        fn = getattr(solutions, name)
        assert callable(fn) and fn.__doc__, f"{name} needs a docstring"
