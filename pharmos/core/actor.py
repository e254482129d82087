"""Who is acting: every GMP change is attributable (ALCOA+ 'A', 21 CFR 11.10(e))."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    username: str
    full_name: str
    user_id: int | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    kind: str = "user"  # "user" | "system"
    language: str = "zh_CN"
    must_change_password: bool = False

    def can(self, permission: str) -> bool:
        return self.kind == "system" or permission in self.permissions

    def require(self, permission: str) -> None:
        """Refuse with PermissionDenied unless the actor holds ``permission`` (every service's first check)."""
        if not self.can(permission):
            from pharmos.core.errors import PermissionDenied

            raise PermissionDenied(f"You do not have the permission {permission}.")

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(username=name, full_name=name, kind="system")

    @classmethod
    def cli(cls) -> Actor:
        # The operating-system account is the attributable person behind a CLI change.
        try:
            who = getpass.getuser()
        except Exception:
            who = "unknown"
        return cls.system(f"cli:{who}")
