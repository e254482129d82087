"""Every table of every module, so Alembic and tests see one complete metadata."""

from pharmos.auth import models as auth_models
from pharmos.batches import models as batches_models
from pharmos.compliance import audit, signatures
from pharmos.core import numbering
from pharmos.core.db import Base
from pharmos.equipment import models as equipment_models
from pharmos.materials import models as materials_models
from pharmos.quality import models as quality_models
from pharmos.site import models as site_models

metadata = Base.metadata

__all__ = ["audit", "auth_models", "batches_models", "equipment_models", "materials_models", "metadata", "numbering",
           "quality_models", "signatures", "site_models"]
