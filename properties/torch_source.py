"""Python source over ``torch`` for sympy expressions, and back.

``to_torch_source`` and ``format_polynomial`` write the ``torch_source`` of a
curve or the ``f_source`` of a map; ``read_torch_source`` reads such source back
into sympy (the checks differentiate a map from the very text the candidate runs).

Invariant of the written source: evaluated with ``x`` and ``y`` tensors of one
dtype (float32 or float64) and broadcastable shapes, it returns a tensor of that
dtype and the broadcast shape.  Numbers are printed as float literals (rationals
as ``(p/q)``), so they never promote float32 to float64, and constant
sub-expressions (``sin(1)``, ``pi``) are folded into literals because
``torch.sin(1)`` would fail on a Python number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import sympy
from sympy.printing.str import StrPrinter

# The default names: sympy symbols compare by name and assumptions, so these are
# ``exact.X`` and ``exact.Y``.
_X, _Y = sympy.symbols("x y", real=True)

__all__ = [
    "TORCH_FUNCTIONS",
    "format_polynomial",
    "read_torch_source",
    "to_torch_source",
    "torch_names",
]

#: sympy function name -> torch function name, for ``torch_source``.
TORCH_FUNCTIONS = {
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
        if name not in TORCH_FUNCTIONS:
            raise ValueError(f"{name}() has no torch counterpart; use {sorted(TORCH_FUNCTIONS)}.")
        args = ", ".join(self._print(arg) for arg in expr.args)
        return f"torch.{TORCH_FUNCTIONS[name]}({args})"

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
    names = names if names is not None else {_X: "x", _Y: "y"}
    return _TorchPrinter(names).doprint(expr)


def torch_names(
    xs: Sequence[sympy.Symbol], as_: Sequence[sympy.Symbol], *, scalar: bool
) -> dict[sympy.Symbol, str]:
    """How ``to_torch_source`` writes a map's symbols: ``x``, ``a`` or ``x[i]``, ``a[j]``."""
    if scalar:
        return {xs[0]: "x", as_[0]: "a"}
    return {**{s: f"x[{i}]" for i, s in enumerate(xs)}, **{s: f"a[{j}]" for j, s in enumerate(as_)}}


class _SympyTorch:
    """Stands in for ``torch`` when a map's torch source is read into sympy."""

    _ALIASES: dict[str, Callable[..., Any]] = {  # noqa: RUF012
        "abs": sympy.Abs,
        "pow": lambda b, e: b**e,
        "square": lambda z: z**2,
        "sigmoid": lambda z: 1 / (1 + sympy.exp(-z)),
        "arctan": sympy.atan,
        "rsqrt": lambda z: 1 / sympy.sqrt(z),
    }
    pi = sympy.pi
    e = sympy.E

    def __getattr__(self, name: str) -> Any:
        if name in self._ALIASES:
            return self._ALIASES[name]
        return getattr(sympy, name)


def read_torch_source(source: str, names: Mapping[str, Any]) -> sympy.Expr:
    """The sympy expression of one component of a map's torch ``source``.

    Args:
        source: Python source over ``torch`` (as ``MapCase.f_source`` holds it).
        names: what ``x`` and ``a`` stand for (symbols, or lists of symbols when
            the source indexes them).

    Returns:
        The expression, read with sympy standing in for ``torch``.
    """
    shim = _SympyTorch()
    return sympy.sympify(eval(source, {"torch": shim, "__builtins__": {}}, dict(names)))
