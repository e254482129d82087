"""The batches module's public services: the only entry point for routes, pages, jobs and other modules.

The rules live in ``mbr.py`` (master batch records: authoring, review, scaling),
``orders.py`` (batch orders and FEFO reservations), ``execution.py`` (steps, entries,
corrections, signing with the cross-module checks), ``dispensing.py`` (weighing and
dispensing), ``exceptions.py`` (exceptions, auto-raised deviations, holds),
``completion.py`` (reconciliation, output lot, release/reject effects), ``review.py``
(review by exception, batch lists and details), ``genealogy.py`` (backward/forward trace)
and ``record_pdf.py`` (the executed batch record as a PDF). See docs/batches/service-api.md.
"""

from __future__ import annotations

from pharmos.batches import lifecycle as _lifecycle  # noqa: F401 - registers the lifecycles
from pharmos.batches.completion import *  # noqa: F403
from pharmos.batches.dispensing import *  # noqa: F403
from pharmos.batches.exceptions import *  # noqa: F403
from pharmos.batches.execution import *  # noqa: F403
from pharmos.batches.genealogy import *  # noqa: F403
from pharmos.batches.mbr import *  # noqa: F403
from pharmos.batches.orders import *  # noqa: F403
from pharmos.batches.record_pdf import *  # noqa: F403
from pharmos.batches.review import *  # noqa: F403
