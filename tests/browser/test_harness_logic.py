"""The harness's pure logic, without a browser: slider kinds, the values it
types, and what counts as a broken slider change."""

from __future__ import annotations

import math

import harness
import pytest


def _slider(readout, lo, hi, now, label="x"):
    return harness.SliderInfo(
        panel=0,
        index=0,
        cell=0,
        label=label,
        readout=readout,
        editable=True,
        min=lo,
        max=hi,
        now=now,
        disabled=False,
        has_button=False,
    )


@pytest.mark.parametrize(
    ("readout", "lo", "hi", "now", "is_log", "is_int"),
    [
        ("1.00", 0.5, 5.0, 1.0, False, False),  # float_slider, ".2f"
        ("0.2", 0.0, 1.0, 0.25, False, False),  # coarse readout, not a log slider
        ("50", 10, 200, 50, False, True),  # int_slider
        ("0", 0.0, 1.0, 0.4, False, False),  # ".0f" float readout, not an int
        ("1.00", -2.0, 2.0, 0.0, True, False),  # log_slider at 10**0
        ("0.0631", -2.0, 2.0, -1.2, True, False),  # log_slider at 10**-1.2
        ("1.58e+03", 0.0, 4.0, 3.2, True, False),  # ".3g" in exponent notation
    ],
)
def test_slider_kind_from_readout_and_handle(readout, lo, hi, now, is_log, is_int):
    s = _slider(readout, lo, hi, now)
    assert s.is_log is is_log
    assert s.is_int is is_int


@pytest.mark.parametrize(
    ("readout", "lo", "hi", "now"),
    [("1.00", 0.5, 5.0, 1.0), ("50", 10, 200, 50), ("0.0631", -2.0, 2.0, -1.2)],
)
def test_candidate_values_are_in_range_and_each_differs_from_the_last(
    readout, lo, hi, now
):
    s = _slider(readout, lo, hi, now)
    values = s.candidate_values(12)
    assert len(values) == 12
    # Back to slider space (exponents for a log slider).
    pos = [math.log10(v) if s.is_log else v for v in values]
    assert all(lo - 1e-9 <= p <= hi + 1e-9 for p in pos)
    steps = [abs(b - a) for a, b in zip([now, *pos], pos, strict=False)]
    assert min(steps) >= 0.1 * (hi - lo) - 1e-9
    if s.is_int:
        assert all(float(v).is_integer() for v in values)


def test_log_base_is_recovered_from_the_readout():
    assert _slider("0.0631", -2.0, 2.0, -1.2).log_base == 10.0
    assert _slider("8", 0.0, 4.0, 3.0).log_base == 2.0


def test_candidate_values_refuse_an_empty_range():
    with pytest.raises(ValueError, match="no usable range"):
        _slider("1", 1, 1, 1).candidate_values(1)


def _change(before, after):
    return harness.SliderChange(_slider("1.00", 0, 2, 1), "1.5", before, after, 0.1)


def test_a_change_must_show_a_new_figure():
    assert _change([["a"]], [["b"]]).problems() == []
    (msg,) = _change([["a"]], [["a"]]).problems()
    assert "did not change" in msg


def test_a_change_must_not_stack_images():
    (msg,) = _change([["a"]], [["a", "b"]]).problems()
    assert "shows 2 images, expected exactly 1" in msg
    (msg,) = _change([["a"]], [[]]).problems()[-1:]
    assert "shows 0 images" in msg


def test_expects_panels_reads_the_code_cells(tmp_path):
    nb = harness.write_fixture_notebook(tmp_path / "f.ipynb")
    assert harness.expects_panels(nb)
    plain = harness._write_notebook(
        tmp_path / "p.ipynb", [("markdown", "a panel(...) in prose"), ("code", "1 + 1")]
    )
    assert not harness.expects_panels(plain)
