"""Storage conditions of materials and the storage classes of locations that satisfy them."""

from __future__ import annotations

# condition code → (English, Chinese)
STORAGE_CONDITIONS: dict[str, tuple[str, str]] = {
    "2-8C": ("2–8 °C (refrigerated)", "2–8 °C（冷藏）"),
    "-20C": ("−20 °C (frozen)", "−20 °C（冷冻）"),
    "-80C": ("−80 °C (deep frozen)", "−80 °C（超低温）"),
    "15-25C": ("15–25 °C (controlled room temperature)", "15–25 °C（常温受控）"),
    "le30C": ("Not above 30 °C", "不高于30 °C"),
}

# Which location storage classes keep a material of each condition within its label claim.
# A 2–8 °C cold room does not satisfy "not above 30 °C": uncontrolled chilling can damage
# room-temperature products (e.g. precipitation of concentrated buffers).
SATISFIES: dict[str, frozenset[str]] = {
    "2-8C": frozenset({"2-8C"}),
    "-20C": frozenset({"-20C"}),
    "-80C": frozenset({"-80C"}),
    "15-25C": frozenset({"15-25C"}),
    "le30C": frozenset({"15-25C", "le30C"}),
}

# Conditions that make a material cold chain: the transport temperature record is required
# on receipt and anything outside this range is an excursion (°C, inclusive).
COLD_CHAIN_RANGE: dict[str, tuple[int, int]] = {
    "2-8C": (2, 8),
    "-20C": (-35, -15),
    "-80C": (-90, -60),
}

MATERIAL_TYPES: dict[str, tuple[str, str]] = {
    "raw_material": ("Raw material", "原料"),
    "excipient": ("Excipient", "辅料"),
    "packaging": ("Packaging", "包装材料"),
    "intermediate": ("Intermediate", "中间体"),
    "finished_product": ("Finished product", "成品"),
    "consumable": ("Consumable", "耗材"),
}


def storage_problem(*, condition: str, protect_from_light: bool, location_class: str,
                    light_protected: bool) -> str | None:
    """Why a location of ``location_class`` may not hold a material, or None."""
    allowed = SATISFIES.get(condition, frozenset())
    if location_class not in allowed:
        return (f"Storage class {location_class} does not satisfy the material's storage condition {condition} "
                f"(allowed: {', '.join(sorted(allowed))}).")
    if protect_from_light and not light_protected:
        return "The material must be protected from light; this location is not light-protected."
    return None
