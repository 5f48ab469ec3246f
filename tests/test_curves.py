from __future__ import annotations

from fractions import Fraction

import pytest
import sympy
import torch

from properties import curves
from properties.curves import X, Y

DTYPES = [torch.float32, torch.float64]


def evaluate(source: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return eval(source, {"torch": torch, "x": x, "y": y})  # noqa: S307 - our own source


def test_circle_source_is_the_textbook_equation() -> None:
    c = curves.circle()
    assert c.family == "circle"
    assert sympy.simplify(curves.expression(c.source) - (X**2 + Y**2 - 1)) == 0
    assert dict(c.params) == {"cx": "0", "cy": "0", "r": "1"}


def test_circle_with_rational_centre_is_exact() -> None:
    c = curves.circle("1/2", -1, Fraction(3, 4))
    F = curves.expression(c.source)
    assert F.subs({X: sympy.Rational(1, 2) + sympy.Rational(3, 4), Y: -1}) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"r": 0}, "r=0 must be > 0"),
        ({"r": -1}, "r=-1 must be > 0"),
        ({"cx": 0.1}, "cx=0.1 is a float"),
        ({"cy": "abc"}, "cy='abc' is not an exact rational"),
    ],
)
def test_circle_rejects_bad_arguments_naming_them(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        curves.circle(**kwargs)


@pytest.mark.parametrize("theta", [0.0, 0.3, -1.2, 2.9, 3.14])
def test_rotation_is_an_exact_rational_rotation(theta: float) -> None:
    c, s = curves.rotation(theta)
    assert isinstance(c, sympy.Rational)
    assert isinstance(s, sympy.Rational)
    assert c**2 + s**2 == 1
    assert abs(float(sympy.atan2(s, c)) - theta) < 0.1


def test_rotation_rejects_angles_outside_the_open_interval() -> None:
    with pytest.raises(ValueError, match=r"theta=4 must lie in \(-pi, pi\)"):
        curves.rotation(4)


def test_ellipse_passes_through_its_rotated_vertices_exactly() -> None:
    e = curves.ellipse(1, 2, 3, "1/2", 0.7)
    c, s = (sympy.Rational(dict(e.params)[k]) for k in ("cos", "sin"))
    F = curves.expression(e.source)
    # The vertex at u = a, v = 0: (x, y) = centre + a (c, s).
    assert F.subs({X: 1 + 3 * c, Y: 2 + 3 * s}) == 0
    # The co-vertex at u = 0, v = b: (x, y) = centre + b (-s, c).
    half = sympy.Rational(1, 2)
    assert F.subs({X: 1 - half * s, Y: 2 + half * c}) == 0


def test_unrotated_ellipse_matches_the_axis_aligned_equation() -> None:
    e = curves.ellipse(0, 0, 2, 1)
    assert sympy.expand(curves.expression(e.source) - (X**2 / 4 + Y**2 - 1)) == 0


def test_ellipse_rejects_a_non_positive_axis() -> None:
    with pytest.raises(ValueError, match="b=0 must be > 0"):
        curves.ellipse(0, 0, 1, 0)


def test_polynomial_passes_through_its_point_exactly() -> None:
    p = curves.polynomial({(3, 0): 1, (0, 3): 1, (1, 1): -3}, through=("1/2", "3/4"))
    F = curves.expression(p.source)
    assert F.subs({X: sympy.Rational(1, 2), Y: sympy.Rational(3, 4)}) == 0
    assert dict(p.params) == {"degree": "3", "x_p": "1/2", "y_p": "3/4"}


@pytest.mark.parametrize(
    ("coefficients", "message"),
    [
        ({(2, 0): 1}, "constant in y"),
        ({(-1, 1): 1}, "must have i >= 0 and j >= 0"),
        ({(0, 1): 0.5}, "is a float"),
    ],
)
def test_polynomial_rejects_bad_coefficients(coefficients: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        curves.polynomial(coefficients)


def test_user_curve_parses_the_folium() -> None:
    c = curves.user_curve("x**3 + y**3 - 3*x*y")
    assert c.family == "user"
    assert sympy.expand(curves.expression(c.source) - (X**3 + Y**3 - 3 * X * Y)) == 0
    assert dict(c.params) == {"text": "x**3 + y**3 - 3*x*y"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x**2 + y**2 = 1", X**2 + Y**2 - 1),
        ("x^2 + y^2 - 1", X**2 + Y**2 - 1),
        ("sin(x) + exp(y) - 2", sympy.sin(X) + sympy.exp(Y) - 2),
        ("sqrt(x**2 + y**2) - pi", sympy.sqrt(X**2 + Y**2) - sympy.pi),
    ],
)
def test_user_curve_accepts_equations_carets_and_smooth_functions(
    text: str, expected: sympy.Expr
) -> None:
    assert sympy.simplify(curves.expression(curves.user_curve(text).source) - expected) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x + z", "has the symbol 'z'"),
        ("Max(x, y) - 1", r"uses Max\(\), which is not smooth"),
        ("Piecewise((y, x > 0), (x, True))", r"uses Piecewise\(\)"),
        ("abs(y) - 1", r"uses abs\(\)"),
        ("x**2 - 1", "constant in y"),
        ("3", "constant in y"),
        ("x +", "does not parse"),
        ("2x + y", "does not parse"),
        ("__import__('os').system('true')", "not arithmetic|not supported"),
        ("y.real", "not arithmetic"),
        ("y + I", "has the symbol 'I'"),
        ("y + 1/0", "not a finite expression"),
        ("", "must be a non-empty expression"),
        ("y // 2", "not smooth"),
        ("gamma(y)", r"calls gamma\(\), which is not supported"),
    ],
)
def test_user_curve_rejects_what_is_not_a_smooth_curve_in_x_y(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        curves.user_curve(text)
    assert repr(text) in str(info.value) or text == ""


SOURCES = [
    curves.circle(),
    curves.circle("1/2", "-3/4", "5/4"),
    curves.ellipse(1, 2, 3, "1/2", 0.7),
    curves.polynomial({(5, 0): 2, (0, 5): -1, (2, 3): "7/3", (1, 1): -3}, ("1/8", "3/4")),
    curves.user_curve("sin(x) + exp(y)*sqrt(2) - pi + y**2/3 + atan(x*y) + cos(1)*x"),
    curves.user_curve("tanh(x - y) + log(2 + y**2) - x/7"),
]


@pytest.mark.parametrize("curve", SOURCES, ids=lambda c: c.family + ":" + c.source[:30])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    ("x_shape", "y_shape"), [((), ()), ((5,), (5,)), ((3, 1), (4,)), ((2, 3), (2, 3))]
)
def test_torch_source_keeps_dtype_and_broadcasts_and_matches_sympy(
    curve, dtype: torch.dtype, x_shape: tuple, y_shape: tuple
) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(x_shape, generator=generator, dtype=torch.float64).to(dtype)
    y = torch.rand(y_shape, generator=generator, dtype=torch.float64).to(dtype)
    value = evaluate(curve.torch_source, x, y)
    assert value.dtype == dtype
    assert value.shape == torch.broadcast_shapes(x.shape, y.shape)
    F = sympy.lambdify((X, Y), curves.expression(curve.source), modules="mpmath")
    xb, yb = torch.broadcast_tensors(x.double(), y.double())
    expected = torch.tensor(
        [float(F(float(a), float(b))) for a, b in zip(xb.reshape(-1), yb.reshape(-1), strict=True)],
        dtype=torch.float64,
    ).reshape(xb.shape)
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(value.double(), expected, rtol=rtol, atol=rtol * 10)


def test_torch_source_is_differentiable() -> None:
    c = curves.user_curve("sin(x) * y**3 - exp(x*y)")
    x = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    F_x, F_y = torch.autograd.grad(evaluate(c.torch_source, x, y), (x, y))
    F = curves.expression(c.source)
    point = {X: 0.3, Y: 0.7}
    assert float(F_x) == pytest.approx(float(sympy.diff(F, X).subs(point)), rel=1e-12)
    assert float(F_y) == pytest.approx(float(sympy.diff(F, Y).subs(point)), rel=1e-12)


def test_to_torch_source_folds_constants_and_prints_rationals_as_floats() -> None:
    source = curves.to_torch_source(sympy.sin(1) * X + sympy.pi + sympy.Rational(1, 3) * Y**2)
    assert "torch.sin" not in source
    assert "sin(1)" not in source
    assert "3.14159" in source
    assert "/3" in source
    value = evaluate(source, torch.ones(2, dtype=torch.float32), torch.ones(2, dtype=torch.float32))
    assert value.dtype == torch.float32


def test_to_torch_source_maps_indexed_names() -> None:
    x0, a1 = sympy.symbols("x0 a1")
    source = curves.to_torch_source(sympy.sqrt(x0) + a1 / x0**2, {x0: "x[0]", a1: "a[1]"})
    value = eval(  # noqa: S307 - our own source
        source, {"torch": torch, "x": torch.tensor([4.0]), "a": torch.tensor([0.0, 32.0])}
    )
    assert float(value) == pytest.approx(4.0)


def test_to_torch_source_rejects_unknown_symbols_and_functions() -> None:
    z = sympy.Symbol("z")
    with pytest.raises(ValueError, match="symbol z has no torch name"):
        curves.to_torch_source(X + z)
    with pytest.raises(ValueError, match=r"gamma\(\) has no torch counterpart"):
        curves.to_torch_source(sympy.gamma(X))
