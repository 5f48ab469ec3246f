"""Curve constructors: exact sympy expressions ``F(x, y)`` and their torch source.

Every constructor returns a :class:`~properties.records.Curve` whose ``source``
is sympy text of ``F`` (parsable back with :func:`expression`) and whose
``torch_source`` is the same expression as Python source over ``x``, ``y`` and
``torch``.  Coefficients are kept exact (integers and rationals; rotations use
rational cosines and sines from Pythagorean triples) so that the oracle can
compute roots and derivatives to 30+ digits.

Invariant of ``torch_source``: evaluated with ``x`` and ``y`` tensors of one
dtype (float32 or float64) and broadcastable shapes, it returns a tensor of that
dtype and the broadcast shape.  Numbers are printed as float literals (rationals
as ``(p/q)``), so they never promote float32 to float64, and constant
sub-expressions (``sin(1)``, ``pi``) are folded into literals because
``torch.sin(1)`` would fail on a Python number.
"""

from __future__ import annotations

import ast
import functools
import math
from collections.abc import Mapping
from fractions import Fraction

import sympy
from sympy.printing.str import StrPrinter

from properties.records import Curve

__all__ = [
    "X",
    "Y",
    "RationalLike",
    "circle",
    "ellipse",
    "expression",
    "format_polynomial",
    "polynomial",
    "rotation",
    "to_torch_source",
    "user_curve",
]

X, Y = sympy.symbols("x y", real=True)

#: Anything :func:`sympy.Rational` accepts exactly: int, Fraction, "3/4", Rational.
RationalLike = int | Fraction | str | sympy.Rational

#: sympy function name -> torch function name, for ``torch_source``.
_TORCH_FUNCTIONS = {
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "asin": "asin",
    "acos": "acos",
    "atan": "atan",
    "sinh": "sinh",
    "cosh": "cosh",
    "tanh": "tanh",
    "asinh": "asinh",
    "acosh": "acosh",
    "atanh": "atanh",
    "exp": "exp",
    "log": "log",
    "erf": "erf",
}

#: Names a user curve may call: smooth functions with a torch counterpart.
_ALLOWED_CALLS = frozenset(_TORCH_FUNCTIONS) | {"sqrt", "cbrt"}
_ALLOWED_CONSTANTS = {"pi": sympy.pi, "E": sympy.E}
#: Non-smooth or piecewise functions: a root finder's derivative is undefined there.
_REJECTED_CALLS = frozenset(
    {"Max", "Min", "max", "min", "Piecewise", "Abs", "abs", "sign", "floor", "ceiling"}
    | {"Heaviside", "DiracDelta", "re", "im", "arg", "conjugate", "Mod", "frac"}
)


def _rational(value: RationalLike, name: str) -> sympy.Rational:
    """``value`` as an exact sympy Rational, or ValueError naming ``name``."""
    if isinstance(value, float):
        raise ValueError(
            f"{name}={value!r} is a float; pass an int, a Fraction or a string like '3/4' "
            "so that the curve stays exact."
        )
    try:
        rational = sympy.Rational(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={value!r} is not an exact rational number.") from exc
    if not isinstance(rational, sympy.Rational):  # pragma: no cover - sympy returns Rational
        raise ValueError(f"{name}={value!r} is not an exact rational number.")
    return rational


def _curve(family: str, F: sympy.Expr, params: tuple[tuple[str, str], ...]) -> Curve:
    return Curve(
        family=family,
        source=sympy.sstr(F),
        torch_source=to_torch_source(F),
        params=params,
    )


#: A polynomial in x, y as ``{(i, j): c}`` for ``c x**i y**j``.
Terms = dict[tuple[int, int], Fraction]


def format_polynomial(
    terms: Mapping[tuple[int, int], Fraction],
    *,
    torch: bool = False,
    names: tuple[str, str] = ("x", "y"),
) -> str:
    """Text of ``sum(c * u**i * v**j)`` for ``terms = {(i, j): c}``, highest degree first.

    No sympy: this is the hot path of case generation.  The sympy text writes a
    rational coefficient as ``3/4*x`` (sympy reads ``3/4`` as a Rational); the torch
    text as ``(3/4)*x`` (a Python float literal, so float32 stays float32).

    Args:
        terms: exact coefficients by exponent pair.
        torch: write the torch form.
        names: how to write the two variables ``u`` and ``v`` (e.g. ``"a[0]"``).
    """
    pieces: list[str] = []
    for (i, j), c in sorted(terms.items(), key=lambda t: (-(t[0][0] + t[0][1]), -t[0][0])):
        if c == 0:
            continue
        factors = [v if e == 1 else f"{v}**{e}" for v, e in zip(names, (i, j), strict=True) if e]
        magnitude = abs(c)
        if magnitude.denominator == 1:
            number = str(magnitude.numerator)
        elif torch:
            number = f"({magnitude.numerator}/{magnitude.denominator})"
        else:
            number = f"{magnitude.numerator}/{magnitude.denominator}"
        if not factors:
            body = number
        elif magnitude == 1:
            body = "*".join(factors)
        else:
            body = "*".join([number, *factors])
        if not pieces:
            pieces.append(f"-{body}" if c < 0 else body)
        else:
            pieces.append(f"- {body}" if c < 0 else f"+ {body}")
    return " ".join(pieces) if pieces else "0"


def _polynomial_curve(family: str, terms: Terms, params: tuple[tuple[str, str], ...]) -> Curve:
    terms = {k: v for k, v in terms.items() if v != 0}
    return Curve(
        family=family,
        source=format_polynomial(terms),
        torch_source=format_polynomial(terms, torch=True),
        params=params,
    )


def _fraction(value: RationalLike, name: str) -> Fraction:
    return Fraction(str(_rational(value, name)))


def circle(cx: RationalLike = 0, cy: RationalLike = 0, r: RationalLike = 1) -> Curve:
    """The circle ``(x - cx)**2 + (y - cy)**2 - r**2 = 0``.

    Args:
        cx: centre abscissa (exact rational).
        cy: centre ordinate (exact rational).
        r: radius, > 0 (exact rational).

    Returns:
        A Curve of family "circle"; ``F_y = 0`` exactly at ``x = cx +- r``.

    Raises:
        ValueError: for a non-positive radius or a non-rational argument.
    """
    cx_, cy_, r_ = _fraction(cx, "cx"), _fraction(cy, "cy"), _fraction(r, "r")
    if r_ <= 0:
        raise ValueError(f"r={r!r} must be > 0.")
    return _circle(cx_, cy_, r_)


@functools.lru_cache(maxsize=4096)
def _circle(cx: Fraction, cy: Fraction, r: Fraction) -> Curve:
    terms = {
        (2, 0): Fraction(1),
        (0, 2): Fraction(1),
        (1, 0): -2 * cx,
        (0, 1): -2 * cy,
        (0, 0): cx * cx + cy * cy - r * r,
    }
    return _polynomial_curve("circle", terms, (("cx", str(cx)), ("cy", str(cy)), ("r", str(r))))


def rotation(theta: float | RationalLike) -> tuple[sympy.Rational, sympy.Rational]:
    """Exact rational ``(cos, sin)`` of a rotation close to the angle ``theta``.

    With ``t`` a rational close to ``tan(theta / 2)``, ``cos = (1 - t**2) / (1 + t**2)``
    and ``sin = 2 t / (1 + t**2)`` (a Pythagorean triple), so ``cos**2 + sin**2 == 1``
    exactly. ``theta`` must lie in ``(-pi, pi)``; ``t`` has denominator <= 12.

    Args:
        theta: the angle in radians.

    Returns:
        ``(cos, sin)`` as sympy Rationals.
    """
    theta_ = float(theta)
    if not -math.pi < theta_ < math.pi:
        raise ValueError(f"theta={theta!r} must lie in (-pi, pi).")
    t = sympy.Rational(Fraction(math.tan(theta_ / 2)).limit_denominator(12))
    return (1 - t**2) / (1 + t**2), 2 * t / (1 + t**2)


def ellipse(
    cx: RationalLike = 0,
    cy: RationalLike = 0,
    a: RationalLike = 1,
    b: RationalLike = 1,
    theta: float | RationalLike = 0,
) -> Curve:
    """The ellipse with centre ``(cx, cy)``, semi-axes ``a``, ``b``, rotated by ``theta``.

    ``F = u**2 / a**2 + v**2 / b**2 - 1`` with ``u = c (x - cx) + s (y - cy)``,
    ``v = -s (x - cx) + c (y - cy)``, where ``(c, s) = rotation(theta)`` is an exact
    rational rotation close to ``theta`` (recorded in ``params``).

    Args:
        cx: centre abscissa (exact rational).
        cy: centre ordinate (exact rational).
        a: semi-axis along the rotated x axis, > 0.
        b: semi-axis along the rotated y axis, > 0.
        theta: rotation angle in radians, in ``(-pi, pi)``.

    Returns:
        A Curve of family "ellipse" whose coefficients are exact rationals.

    Raises:
        ValueError: for non-positive semi-axes, a non-rational centre or axis, or an
            angle outside ``(-pi, pi)``.
    """
    cx_, cy_ = _fraction(cx, "cx"), _fraction(cy, "cy")
    a_, b_ = _fraction(a, "a"), _fraction(b, "b")
    for name, value, exact in (("a", a, a_), ("b", b, b_)):
        if exact <= 0:
            raise ValueError(f"{name}={value!r} must be > 0.")
    c, s = (Fraction(str(v)) for v in rotation(theta))
    return _ellipse(cx_, cy_, a_, b_, c, s)


@functools.lru_cache(maxsize=4096)
def _ellipse(
    cx: Fraction, cy: Fraction, a: Fraction, b: Fraction, c: Fraction, s: Fraction
) -> Curve:
    # u**2/a**2 + v**2/b**2 - 1 = A X**2 + B X Y + C Y**2 - 1 with X = x - cx, Y = y - cy.
    A = c * c / (a * a) + s * s / (b * b)
    B = 2 * c * s * (1 / (a * a) - 1 / (b * b))
    C = s * s / (a * a) + c * c / (b * b)
    terms = {
        (2, 0): A,
        (1, 1): B,
        (0, 2): C,
        (1, 0): -2 * A * cx - B * cy,
        (0, 1): -2 * C * cy - B * cx,
        (0, 0): A * cx * cx + B * cx * cy + C * cy * cy - 1,
    }
    params = (("cx", str(cx)), ("cy", str(cy)), ("a", str(a)), ("b", str(b)))
    return _polynomial_curve("ellipse", terms, (*params, ("cos", str(c)), ("sin", str(s))))


def polynomial(
    coefficients: Mapping[tuple[int, int], RationalLike],
    through: tuple[RationalLike, RationalLike] = (0, 0),
) -> Curve:
    """The polynomial curve ``P(x, y) - P(x_p, y_p) = 0`` through ``(x_p, y_p)``.

    ``P = sum(c[i, j] * x**i * y**j)``; subtracting its value at the point makes the
    curve pass through ``through`` exactly (construction, not filtering).

    Args:
        coefficients: ``{(i, j): c}`` with exponents ``i, j >= 0`` and exact
            rational coefficients; some term with ``j >= 1`` must be non-zero.
        through: the point ``(x_p, y_p)`` on the curve (exact rationals).

    Returns:
        A Curve of family "polynomial" with ``F(x_p, y_p) == 0`` exactly.

    Raises:
        ValueError: for negative exponents, non-rational coefficients, or a
            polynomial that does not depend on ``y``.
    """
    x_p, y_p = _fraction(through[0], "through[0]"), _fraction(through[1], "through[1]")
    terms: Terms = {}
    for (i, j), c in coefficients.items():
        if i < 0 or j < 0:
            raise ValueError(f"exponent (i, j)={(i, j)!r} must have i >= 0 and j >= 0.")
        terms[(i, j)] = terms.get((i, j), Fraction(0)) + _fraction(c, f"coefficients[{(i, j)!r}]")
    value = sum((c * x_p**i * y_p**j for (i, j), c in terms.items()), Fraction(0))
    terms[(0, 0)] = terms.get((0, 0), Fraction(0)) - value
    if not any(c for (_, j), c in terms.items() if j):
        raise ValueError(
            f"coefficients={dict(coefficients)!r} give a polynomial constant in y; "
            "give some term with j >= 1 a non-zero coefficient."
        )
    degree = max(i + j for (i, j), c in terms.items() if c)
    params = (("degree", str(degree)), ("x_p", str(x_p)), ("y_p", str(y_p)))
    return _polynomial_curve("polynomial", terms, params)


def expression(source: str) -> sympy.Expr:
    """The sympy expression of a curve's ``source`` (cached; symbols are real)."""
    return _parse(source)


@functools.lru_cache(maxsize=4096)
def _parse(source: str) -> sympy.Expr:
    namespace = {"x": X, "y": Y, **_ALLOWED_CONSTANTS}
    namespace.update({name: getattr(sympy, name) for name in _ALLOWED_CALLS})
    return sympy.sympify(source, locals=namespace)


def user_curve(text: str) -> Curve:
    """A curve given as text, e.g. ``"x**3 + y**3 - 3*x*y"`` (the folium).

    ``"lhs = rhs"`` is read as ``lhs - (rhs)``; ``^`` is read as ``**``.  The text
    is checked with Python's ``ast`` before sympy sees it, so only arithmetic,
    numbers, ``x``, ``y``, ``pi``, ``E`` and smooth functions with a torch
    counterpart (sin, cos, tan, exp, log, sqrt, tanh, atan, ...) are accepted.

    Args:
        text: the expression ``F(x, y)``.

    Returns:
        A Curve of family "user".

    Raises:
        ValueError: naming the text and what to change, if it does not parse, has
            symbols other than ``x`` and ``y``, calls a non-smooth or unknown
            function (Max, Min, Abs, Piecewise, ...), is not real, or is constant
            in ``y``.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text={text!r} must be a non-empty expression in x and y.")
    body = text.replace("^", "**")
    if body.count("=") == 1 and "==" not in body:
        lhs, rhs = body.split("=")
        body = f"({lhs}) - ({rhs})"
    try:
        tree = ast.parse(body.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(
            f"curve {text!r} does not parse ({exc.msg}); write an expression in x and y "
            "with explicit '*', e.g. 'x**3 + y**3 - 3*x*y'."
        ) from exc
    _check_syntax(tree, text)
    try:
        F = sympy.expand(_parse(ast.unparse(tree)), deep=False)
    except (sympy.SympifyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"curve {text!r} is not a valid sympy expression: {exc}") from exc
    if not isinstance(F, sympy.Expr) or F.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise ValueError(f"curve {text!r} is not a finite expression in x and y.")
    if F.has(sympy.I):
        raise ValueError(f"curve {text!r} is complex; give a real expression in x and y.")
    others = F.free_symbols - {X, Y}
    if others:  # pragma: no cover - the ast check already rejects unknown names
        raise ValueError(f"curve {text!r} has symbols {sorted(map(str, others))} besides x, y.")
    if sympy.diff(F, Y) == 0:
        raise ValueError(
            f"curve {text!r} is constant in y: there is no y to solve for; "
            "make the expression depend on y."
        )
    return _curve("user", F, (("text", text),))


def _check_syntax(tree: ast.Expression, text: str) -> None:
    """Reject anything but arithmetic on x, y, numbers and allowed calls."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            if name in _REJECTED_CALLS:
                raise ValueError(
                    f"curve {text!r} uses {name}(), which is not smooth: implicit "
                    "differentiation needs a differentiable F; use a smooth expression."
                )
            if name not in _ALLOWED_CALLS or node.keywords:
                raise ValueError(
                    f"curve {text!r} calls {name}(), which is not supported; use "
                    f"{', '.join(sorted(_ALLOWED_CALLS))}."
                )
        elif isinstance(node, ast.Name):
            if node.id not in {"x", "y"} | set(_ALLOWED_CONSTANTS) | _ALLOWED_CALLS:
                raise ValueError(
                    f"curve {text!r} has the symbol {node.id!r}: a curve may use only x and "
                    "y (and pi, E); substitute a number for it."
                )
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float) or isinstance(node.value, bool):
                raise ValueError(f"curve {text!r} has the constant {node.value!r}; use numbers.")
        elif not isinstance(
            node,
            ast.Expression
            | ast.BinOp
            | ast.UnaryOp
            | ast.Load
            | ast.operator
            | ast.unaryop
            | ast.Call,
        ):
            raise ValueError(
                f"curve {text!r} contains {type(node).__name__}, which is not arithmetic; "
                "give one expression in x and y."
            )
        if isinstance(node, ast.BinOp) and isinstance(
            node.op, ast.BitXor | ast.BitAnd | ast.BitOr | ast.LShift | ast.RShift | ast.MatMult
        ):
            raise ValueError(f"curve {text!r} uses a bitwise operator; use + - * / **.")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.FloorDiv | ast.Mod):
            raise ValueError(f"curve {text!r} uses // or %, which are not smooth; use /.")


class _TorchPrinter(StrPrinter):
    """sympy -> Python source over tensors (see the module docstring)."""

    def __init__(self, names: Mapping[sympy.Symbol, str]) -> None:
        super().__init__({"order": "none"})
        self._names = names

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        if expr not in self._names:
            raise ValueError(f"symbol {expr} has no torch name; known: {list(self._names)}.")
        return self._names[expr]

    def _print_Integer(self, expr: sympy.Integer) -> str:
        return str(int(expr))

    def _print_Rational(self, expr: sympy.Rational) -> str:
        return f"({expr.p}/{expr.q})"

    def _print_Float(self, expr: sympy.Float) -> str:
        return repr(float(expr))

    def _print_constant(self, expr: sympy.Expr) -> str:
        value = float(expr)
        if not math.isfinite(value):
            raise ValueError(f"constant {expr} is not finite.")
        return f"({value!r})"

    _print_NumberSymbol = _print_constant
    _print_Exp1 = _print_constant
    _print_Pi = _print_constant

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        if not expr.free_symbols:
            return self._print_constant(expr)
        base, exponent = expr.args
        if exponent == sympy.S.Half:
            return f"torch.sqrt({self._print(base)})"
        if exponent == -sympy.S.Half:
            return f"(1/torch.sqrt({self._print(base)}))"
        if exponent.is_Integer and exponent < 0:
            return f"(1/{self.parenthesize(base**-exponent, 1000)})"
        return super()._print_Pow(expr, rational)

    def _print_Function(self, expr: sympy.Function) -> str:
        if not expr.free_symbols:
            return self._print_constant(expr)
        name = type(expr).__name__
        if name not in _TORCH_FUNCTIONS:
            raise ValueError(f"{name}() has no torch counterpart; use {sorted(_TORCH_FUNCTIONS)}.")
        args = ", ".join(self._print(arg) for arg in expr.args)
        return f"torch.{_TORCH_FUNCTIONS[name]}({args})"

    def _print_Mul(self, expr: sympy.Mul) -> str:
        if not expr.free_symbols:
            return self._print_constant(expr)
        return super()._print_Mul(expr)


def to_torch_source(expr: sympy.Expr, names: Mapping[sympy.Symbol, str] | None = None) -> str:
    """Python source of ``expr`` over tensors and the module ``torch``.

    Args:
        expr: a real sympy expression.
        names: how to print each symbol (default ``x`` and ``y``); e.g.
            ``{x0: "x[0]"}`` for indexed tensors.

    Returns:
        Source evaluable with ``eval(source, {"torch": torch, **tensors})``; see the
        module docstring for the dtype and shape invariant.

    Raises:
        ValueError: for a symbol without a name or a function without a torch
            counterpart.
    """
    names = names if names is not None else {X: "x", Y: "y"}
    return _TorchPrinter(names).doprint(expr)
