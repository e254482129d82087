"""Quality management: deviations and CAPA (change control, documents, training and complaints follow)."""

from pharmos.quality import permissions as _permissions  # noqa: F401 - registers the module's rights
