"""Equipment and metrology: equipment ledger, calibration, maintenance, inspection rounds, logbook, spare parts."""

from pharmos.equipment import permissions as _permissions  # noqa: F401 - registers the module's rights
