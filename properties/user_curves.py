"""Curves a user types: ``user_curve("x**3 + y**3 - 3*x*y")``, parsed and validated.

The text is checked with Python's ``ast`` before sympy sees it: only arithmetic,
numbers, ``x``, ``y``, ``pi``, ``E`` and the smooth functions of
``exact.ALLOWED_CALLS`` pass; every refusal says what to change.  ``curves``
re-exports ``user_curve`` beside the built-in families.
"""

from __future__ import annotations

import ast

import sympy

from properties.exact import ALLOWED_CALLS, ALLOWED_CONSTANTS, X, Y, expression
from properties.records import Curve
from properties.torch_source import to_torch_source

__all__ = ["user_curve"]

#: Non-smooth or piecewise functions: a root finder's derivative is undefined there.
_REJECTED_CALLS = frozenset(
    {"Max", "Min", "max", "min", "Piecewise", "Abs", "abs", "sign", "floor", "ceiling"}
    | {"Heaviside", "DiracDelta", "re", "im", "arg", "conjugate", "Mod", "frac"}
)


def _curve(family: str, F: sympy.Expr, params: tuple[tuple[str, str], ...]) -> Curve:
    return Curve(
        family=family,
        source=sympy.sstr(F),
        torch_source=to_torch_source(F),
        params=params,
    )


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
        F = sympy.expand(expression(ast.unparse(tree)), deep=False)
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
            if name not in ALLOWED_CALLS or node.keywords:
                raise ValueError(
                    f"curve {text!r} calls {name}(), which is not supported; use "
                    f"{', '.join(sorted(ALLOWED_CALLS))}."
                )
        elif isinstance(node, ast.Name):
            if node.id not in {"x", "y"} | set(ALLOWED_CONSTANTS) | ALLOWED_CALLS:
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
