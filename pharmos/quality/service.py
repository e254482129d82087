"""The quality module's public services: the only entry point for routes, pages, jobs and other modules.

The rules live in ``deviations.py`` (deviations, linked records, holds, extensions,
escalation), ``capa.py`` (corrective and preventive actions), ``change_control.py``,
``documents.py`` (controlled documents), ``training.py`` (requirements, records, matrix,
``is_qualified``), ``complaints.py``, ``printing.py`` (a record as a PDF with its trail and
signatures), ``saved_filters.py`` and ``reports.py`` (inbox, counts, trends, exports); this
module re-exports their public functions so callers depend on one name. See
docs/quality/service-api.md.
"""

from __future__ import annotations

from pharmos.quality import lifecycle as _lifecycle  # noqa: F401 - registers the lifecycles
from pharmos.quality.capa import *  # noqa: F403
from pharmos.quality.change_control import *  # noqa: F403
from pharmos.quality.comments import *  # noqa: F403
from pharmos.quality.complaints import *  # noqa: F403
from pharmos.quality.deviations import *  # noqa: F403
from pharmos.quality.documents import *  # noqa: F403
from pharmos.quality.printing import *  # noqa: F403
from pharmos.quality.reports import *  # noqa: F403
from pharmos.quality.saved_filters import *  # noqa: F403
from pharmos.quality.training import *  # noqa: F403
