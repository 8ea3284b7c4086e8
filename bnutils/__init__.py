"""bnutils: helpers for an interactive course on Batch Normalization.

Arrays follow the course's layout (units, examples) = (n_l, m); see
:mod:`bnutils.layers` for every convention.
"""

from bnutils.layers import (
    BatchNorm,
    BNCache,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
)

__all__ = [
    "BNCache",
    "BatchNorm",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
]

__version__ = "0.1.0"
