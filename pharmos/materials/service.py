"""The materials module's public services: the only entry point for routes, pages, jobs and other modules.

The rules live in ``master.py`` (material master, suppliers, locations), ``receiving.py``
(purchase orders, receipts, lots), ``inventory.py`` (stock ledger, FEFO, counts, jobs) and
``exchange.py`` (spreadsheet import/export); this module re-exports their public functions
so callers depend on one name. See docs/materials/service-api.md.
"""

from __future__ import annotations

from pharmos.materials import lifecycle as _lifecycle  # noqa: F401 - registers the lifecycles
from pharmos.materials.exchange import *  # noqa: F403
from pharmos.materials.inventory import *  # noqa: F403
from pharmos.materials.master import *  # noqa: F403
from pharmos.materials.production import *  # noqa: F403
from pharmos.materials.receiving import *  # noqa: F403
