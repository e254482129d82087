"""The equipment module's public services: the only entry point for routes, pages, jobs and other modules.

The rules live in ``register.py`` (classes, equipment ledger, qualification, documents),
``status.py`` (usability, use, cleaning, counters, logbook), ``metrology.py``
(calibrations, impact assessments, calendar), ``spareparts.py``, ``maintenance.py``
(preventive plans, work orders, faults), ``rounds.py`` (inspection rounds), ``reports.py``
(KPIs), ``jobs.py`` (the daily due-date scan) and ``exchange.py`` (spreadsheets, labels);
this module re-exports their public functions so callers depend on one name.
See docs/equipment/service-api.md.
"""

from __future__ import annotations

from pharmos.equipment import lifecycle as _lifecycle  # noqa: F401 - registers the lifecycles
from pharmos.equipment.exchange import *  # noqa: F403
from pharmos.equipment.jobs import *  # noqa: F403
from pharmos.equipment.maintenance import *  # noqa: F403
from pharmos.equipment.metrology import *  # noqa: F403
from pharmos.equipment.register import *  # noqa: F403
from pharmos.equipment.reports import *  # noqa: F403
from pharmos.equipment.rounds import *  # noqa: F403
from pharmos.equipment.spareparts import *  # noqa: F403
from pharmos.equipment.status import *  # noqa: F403
