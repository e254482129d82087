"""Materials and warehouse: material master, suppliers, receipts, lots, locations, stock ledger."""

from pharmos.materials import permissions as _permissions  # noqa: F401 - registers the module's rights
