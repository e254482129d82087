"""BOM scaling (pure): quantity × planned/batch size, rounded half-up to the line's places, tolerance window.

No database: ``scale_bom`` is a pure function of the recipe lines and the two sizes.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pharmos.batches.mbr import scale_bom
from pharmos.batches.views import MbrMaterialView
from pharmos.core.errors import ValidationFailed


def line(quantity: Decimal, *, places: int = 3, tolerance: Decimal = Decimal("2"), line_no: int = 1) -> MbrMaterialView:
    return MbrMaterialView(id=line_no, line_no=line_no, material_code=f"RM-{line_no}", material_name="",
                           quantity=quantity, unit="kg", tolerance_pct=tolerance, dispensed=True, scan_required=True,
                           rounding_places=places, step_code="1.1")


places_st = st.integers(min_value=0, max_value=6)
sizes = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("100000"), places=3)
tolerances = st.decimals(min_value=Decimal(0), max_value=Decimal(100), places=3)


@st.composite
def quantities(draw: st.DrawFn) -> tuple[Decimal, int]:
    places = draw(places_st)
    units = draw(st.integers(min_value=1, max_value=10**9))
    return Decimal(units).scaleb(-places), places


@settings(max_examples=200, deadline=None)
@given(quantities(), sizes, tolerances)
def test_scale_factor_one_is_the_identity(q: tuple[Decimal, int], size: Decimal, tolerance: Decimal) -> None:
    # given
    quantity, places = q

    # when
    [scaled] = scale_bom([line(quantity, places=places, tolerance=tolerance)], batch_size=size, planned_size=size)

    # then
    assert scaled.target == quantity
    assert scaled.low <= scaled.target <= scaled.high


@settings(max_examples=200, deadline=None)
@given(quantities(), sizes, sizes, tolerances)
def test_targets_are_rounded_half_up_to_the_line_places(q: tuple[Decimal, int], size: Decimal, planned: Decimal,
                                                        tolerance: Decimal) -> None:
    # given
    quantity, places = q
    step = Decimal(1).scaleb(-places)

    # when
    [scaled] = scale_bom([line(quantity, places=places, tolerance=tolerance)], batch_size=size, planned_size=planned)

    # then: no more decimals than the line allows, within half a step of the exact value, ties away from zero
    exact = quantity * planned / size
    assert scaled.target == scaled.target.quantize(step)
    assert abs(scaled.target - exact) <= step / 2
    assert scaled.target == exact.quantize(step, rounding=ROUND_HALF_UP)
    assert scaled.low <= scaled.target <= scaled.high
    assert scaled.high - scaled.low <= scaled.target * tolerance / 50 + step


def test_a_tie_rounds_up_not_to_even() -> None:
    # given: 0.125 kg on a line rounded to 2 places: exactly halfway between 0.12 and 0.13
    lines = [line(Decimal("0.125"), places=2)]

    # when
    [scaled] = scale_bom(lines, batch_size=Decimal("1"), planned_size=Decimal("1"))

    # then
    assert scaled.target == Decimal("0.13")  # banker's rounding would give 0.12


def test_the_tolerance_window_surrounds_the_scaled_target() -> None:
    # given: 1.200 kg per 200 L, ±2 %
    lines = [line(Decimal("1.200"))]

    # when
    [scaled] = scale_bom(lines, batch_size=Decimal("200"), planned_size=Decimal("150"))

    # then
    assert (scaled.target, scaled.low, scaled.high, scaled.unit) == (
        Decimal("0.900"), Decimal("0.882"), Decimal("0.918"), "kg")


@pytest.mark.parametrize("planned", [Decimal("0"), Decimal("-5"), "abc"])
def test_a_bad_planned_size_is_refused_by_name(planned: object) -> None:
    # when
    with pytest.raises(ValidationFailed) as refused:
        scale_bom([line(Decimal("1"))], batch_size=Decimal("100"), planned_size=planned)  # type: ignore[arg-type]

    # then
    assert [p.field for p in refused.value.fields] == ["planned_size"]
