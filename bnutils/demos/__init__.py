"""Per-notebook demonstrations: the computations, figures and widget panels that
one notebook of the series shows (one module per notebook topic).

The notebooks call these so that long figure code stays out of the notebooks;
every panel's callback is tested without a browser in ``tests/``.
"""
