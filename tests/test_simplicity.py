"""properties.simplicity: the simplest number in a band, and the order of cases."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from properties import diagnosis, simplicity
from properties.records import MapCase

bounds = st.fractions(min_value=-50, max_value=50, max_denominator=10_000)


@given(bounds, bounds)
def test_simplest_between_is_in_the_band_and_nothing_simpler_is(lo: Fraction, hi: Fraction) -> None:
    q = simplicity.simplest_between(lo, hi)
    lo, hi = sorted((lo, hi))
    assert lo <= q <= hi
    for d in range(1, q.denominator):  # no smaller denominator has a point in the band
        assert math.ceil(lo * d) > math.floor(hi * d), (lo, hi, q, d)


def test_simplest_between_reads_as_a_person_writes() -> None:
    assert simplicity.simplest_between(Fraction(59, 603), Fraction(11, 100)) == Fraction(1, 10)
    assert simplicity.simplest_between(-0.26, -0.24) == Fraction(-1, 4)
    assert simplicity.simplest_between(-1, 2) == 0
    assert simplicity.simplest_between(3, 3) == 3


@given(st.fractions(min_value=0, max_value=8, max_denominator=2**12), st.integers(0, 12))
def test_simplest_dyadic_is_exact_in_binary_and_in_the_band(offset: Fraction, bits: int) -> None:
    lo = Fraction(math.floor(offset * 2**12), 2**12)
    q = simplicity.simplest_dyadic(lo * Fraction(9, 10), lo, 12)
    assert lo * Fraction(9, 10) <= q <= lo
    assert q.denominator & (q.denominator - 1) == 0  # a power of two


def test_the_case_order_is_unknowns_then_degree_then_digits() -> None:
    def case(source: str, m: int, a: str = "1") -> MapCase:
        fields = {f: None for f in MapCase.__dataclass_fields__}
        fields.update(source=source, a=(a,), x0=(0.5,) * m, x_star=("0",) * m)
        return MapCase(**fields)  # only text() and m matter to the key

    small = case("x/2 + a", 1)
    ordered = [
        small,
        case("x/2 + 12345/678*a", 1),
        case("x**3/2 + a", 1),
        case("(x0/2 + a0, x1/3)", 2),
    ]
    assert sorted(reversed(ordered), key=simplicity.case_key) == ordered
    assert simplicity.case_key(case("x/2 + a", 1, "0.625")) > simplicity.case_key(small)


def test_shrinking_keeps_the_cause_of_a_failure() -> None:
    """Cause "big" for n >= 100, cause "small" for 10 <= n < 100: a search that found
    "big" at n = 5000 would drift to n = 10 (the other cause) under one exception
    type; with one type per diagnosis each cause is shrunk to its own smallest case."""
    from hypothesis import Phase, settings

    @settings(database=None, derandomize=True, phases=[Phase.generate, Phase.shrink])
    @given(st.integers(0, 10_000))
    def search(n: int) -> None:
        codes = ("big",) if n >= 100 else ("small",) if n >= 10 else ()
        if codes:
            raise diagnosis.failure_type(AssertionError, codes)(f"n = {n}")

    with pytest.raises(Exception, match="distinct failures") as raised:  # ExceptionGroup
        search()
    found = {type(e).__name__: str(e) for e in raised.value.exceptions}  # type: ignore[attr-defined]
    assert found == {"AssertionError[big]": "n = 100", "AssertionError[small]": "n = 10"}
    assert diagnosis.failure_type(AssertionError, ["b", "a", "a"]) is diagnosis.failure_type(
        AssertionError, ("a", "b")
    )
    assert issubclass(diagnosis.failure_type(AssertionError, ()), AssertionError)
