"""bnutils: helpers for an interactive course on Batch Normalization.

Arrays follow the course's layout (units, examples) = (n_l, m); see
:mod:`bnutils.layers` for every convention.

Modules: :mod:`~bnutils.layers` (the BN maths), :mod:`~bnutils.network`,
:mod:`~bnutils.optim`, :mod:`~bnutils.train` (a tiny network, its optimizers and
training loop), :mod:`~bnutils.data` (synthetic data and MNIST digits shipped
offline), :mod:`~bnutils.checks` and :mod:`~bnutils.solutions` (exercises),
:mod:`~bnutils.plots` and :mod:`~bnutils.widgets` (figures and slider panels),
and :mod:`bnutils.demos` (one module per notebook).
"""

from bnutils import checks, data, optim, plots, solutions, train, widgets
from bnutils.layers import (
    BatchNorm,
    BNCache,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
)
from bnutils.network import Network
from bnutils.optim import GD, Adam, Momentum, RMSprop, make_optimizer
from bnutils.train import History

__all__ = [
    "GD",
    "Adam",
    "BNCache",
    "BatchNorm",
    "History",
    "Momentum",
    "Network",
    "RMSprop",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "checks",
    "data",
    "make_optimizer",
    "optim",
    "plots",
    "solutions",
    "train",
    "widgets",
]

__version__ = "0.1.0"
