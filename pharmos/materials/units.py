"""Units of measure: the SI conversions every material shares, plus its own pack units.

Quantities carry units and conversions are explicit (ARCHITECTURE: data rules): a
quantity in a unit of another dimension than the material's base unit is refused,
never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from pharmos.core.errors import ValidationFailed

# unit → (dimension, factor to the dimension's reference unit)
STANDARD_UNITS: dict[str, tuple[str, Decimal]] = {
    "kg": ("mass", Decimal(1000)),
    "g": ("mass", Decimal(1)),
    "mg": ("mass", Decimal("0.001")),
    "L": ("volume", Decimal(1000)),
    "mL": ("volume", Decimal(1)),
    "each": ("count", Decimal(1)),
}
BASE_UNITS = tuple(STANDARD_UNITS)
QUANTUM = Decimal("0.000001")  # the ledger's resolution (Numeric(18, 6))


def parse_quantity(value: object, *, field: str = "quantity") -> Decimal:
    """A strictly positive decimal quantity, or a ValidationFailed naming ``field``."""
    try:
        q = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed.on(field, f"{value!r} is not a number.") from None
    if not q.is_finite():
        raise ValidationFailed.on(field, "The quantity must be a finite number.")
    if q <= 0:
        raise ValidationFailed.on(field, "The quantity must be greater than zero.")
    if q != q.quantize(QUANTUM):
        raise ValidationFailed.on(field, "At most 6 decimal places.")
    return q


def to_base(quantity: Decimal, unit: str, *, base_unit: str, pack_units: Mapping[str, Decimal],
            field: str = "unit") -> Decimal:
    """``quantity`` of ``unit`` in ``base_unit``; pack units are the material's own (box = 100 each)."""
    if unit in pack_units:
        converted = quantity * pack_units[unit]
    elif unit in STANDARD_UNITS:
        dimension, factor = STANDARD_UNITS[unit]
        base_dimension, base_factor = STANDARD_UNITS[base_unit]
        if dimension != base_dimension:
            raise ValidationFailed.on(
                field, f"{unit} cannot be converted to {base_unit}: it measures {dimension}, not {base_dimension}.")
        converted = quantity * factor / base_factor
    else:
        known = ", ".join([*STANDARD_UNITS, *pack_units])
        raise ValidationFailed.on(field, f"Unknown unit {unit!r} for this material (known: {known}).")
    exact = converted.quantize(QUANTUM)
    if exact != converted:
        raise ValidationFailed.on(field, f"{quantity} {unit} is below the ledger's resolution in {base_unit}.")
    return exact
