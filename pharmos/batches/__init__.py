"""Electronic batch records: master batch records, batch execution, weighing and dispensing, review, release."""

from pharmos.batches import permissions as _permissions  # noqa: F401 - registers the module's rights
