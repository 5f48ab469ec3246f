"""Tests of reports.plots: small, decodable PNGs for curve and map cases."""

from __future__ import annotations

import base64
import io
import math

import pytest
from PIL import Image

from properties.records import CheckResult
from reports import plots, samples


def _image(png: str) -> Image.Image:
    data = base64.b64decode(png, validate=True)
    assert data.startswith(b"\x89PNG")
    assert len(data) < 12_000, f"{len(data)} bytes: plots must stay a few kB"
    return Image.open(io.BytesIO(data))


def test_curve_plot_is_a_small_png() -> None:
    case = samples.circle_case("0.5")
    image = _image(plots.curve_plot(case, samples.curve_checks(case, sign_error=True)))
    width, height = image.size
    assert abs(width - plots.SIZE[0] * plots.DPI) <= 1
    assert abs(height - plots.SIZE[1] * plots.DPI) <= 1


def test_curve_plot_survives_degenerate_case_and_missing_values() -> None:
    case = samples.circle_case("0.99999999")
    _image(plots.curve_plot(case, []))
    _image(plots.curve_plot(samples.circle_case("1"), []))  # dy/dx = nan: vertical tangent


def test_cobweb_plot_for_a_one_dimensional_map() -> None:
    case = samples.map_case()
    checks = [CheckResult("dx_da_true", "fail", 0.08, 1e-8, got="0.3")]
    _image(plots.cobweb_plot(case, checks))
    assert plots.case_plot(case, checks) is not None


def test_cobweb_plot_rejects_vector_maps() -> None:
    case = samples.map_case()
    import dataclasses

    vector = dataclasses.replace(case, x_star=("1", "2"))
    with pytest.raises(ValueError, match="m=2"):
        plots.cobweb_plot(vector, [])
    assert plots.case_plot(vector, []) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.5, 1.5), ("tensor(-2.5e-3)", -2.5e-3), ([3, 4], 3.0), ("nan", math.nan), ("none", None)],
)
def test_first_number(value: object, expected: float | None) -> None:
    got = plots.first_number(value)
    if expected is None:
        assert got is None
    elif math.isnan(expected):
        assert got is not None
        assert math.isnan(got)
    else:
        assert got == expected


def test_returned_prefers_details_over_got_text() -> None:
    checks = [CheckResult("root", "pass", got="0.1", details=(("y", 0.2),))]
    assert plots.returned(checks, plots.ROOT_KEYS, plots.ROOT_CHECKS) == 0.2
    checks = [CheckResult("root", "pass", got="y = 0.1")]
    assert plots.returned(checks, plots.ROOT_KEYS, plots.ROOT_CHECKS) == 0.1
