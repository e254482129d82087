"""The permission registry. Modules register ``module.action`` codes at import time.

Two flags drive segregation of duties (NMPA 药品记录与数据管理要求 §... / EU GMP Annex 11
§12): system-administration rights and QA-approval rights never sit with one person.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    code: str
    label_en: str
    label_zh: str
    system_admin: bool = False
    qa_approval: bool = False


PERMISSIONS: dict[str, Permission] = {}


def register_permission(
    code: str, label_en: str, label_zh: str, *, system_admin: bool = False, qa_approval: bool = False
) -> Permission:
    if "." not in code:
        raise ValueError(f"permission code {code!r} must look like module.action")
    perm = Permission(code, label_en, label_zh, system_admin, qa_approval)
    PERMISSIONS[code] = perm
    return perm


register_permission("auth.view_users", "View users and roles", "查看用户和角色")
register_permission("auth.manage_users", "Manage user accounts", "管理用户账号", system_admin=True)
register_permission("auth.manage_roles", "Grant and revoke roles", "授予和撤销角色", system_admin=True)
register_permission("audit.view", "View the audit trail", "查看审计追踪")
register_permission("audit.export", "Export the audit trail", "导出审计追踪")
register_permission("settings.view", "View controlled site settings", "查看受控站点设置")
register_permission("settings.edit", "Draft controlled site settings", "起草受控站点设置")
register_permission("settings.approve", "Approve controlled site settings (QA)", "批准受控站点设置（QA）",
                    qa_approval=True)

_VIEW = {"settings.view"}

BUILTIN_ROLES: dict[str, tuple[str, str, set[str]]] = {
    "admin": ("System administrator", "系统管理员",
              {"auth.view_users", "auth.manage_users", "auth.manage_roles", "audit.view", "audit.export"} | _VIEW),
    "qa_manager": ("QA manager", "QA经理",
                   {"auth.view_users", "audit.view", "audit.export", "settings.edit", "settings.approve"} | _VIEW),
    "qa_specialist": ("QA specialist", "QA专员", {"audit.view", "audit.export", "settings.edit"} | _VIEW),
    "qc_analyst": ("QC analyst", "QC检验员", set(_VIEW)),
    "production_supervisor": ("Production supervisor", "生产主管", {"audit.view"} | _VIEW),
    "operator": ("Production operator", "生产操作员", set(_VIEW)),
    "warehouse": ("Warehouse clerk", "仓库管理员", set(_VIEW)),
    "maintenance": ("Maintenance engineer", "设备维护工程师", set(_VIEW)),
    "planner": ("Planner", "计划员", set(_VIEW)),
    "viewer": ("Viewer (read-only)", "只读用户", set(_VIEW)),
}


def segregation_conflict(permissions: set[str]) -> str | None:
    """The reason a permission set breaks segregation of duties, or None."""
    admin = sorted(p for p in permissions if p in PERMISSIONS and PERMISSIONS[p].system_admin)
    qa = sorted(p for p in permissions if p in PERMISSIONS and PERMISSIONS[p].qa_approval)
    if admin and qa:
        return (
            "System administration and QA approval rights cannot be held by the same user "
            f"(would hold {', '.join(admin)} and {', '.join(qa)})."
        )
    return None


def grant_to_builtin_roles(grants: dict[str, set[str]]) -> None:
    """Let a module add its permissions to the built-in roles (role name → permission codes)."""
    for role, codes in grants.items():
        unknown = codes - PERMISSIONS.keys()
        if unknown:
            raise ValueError(f"unregistered permissions for role {role}: {sorted(unknown)}")
        BUILTIN_ROLES[role][2].update(codes)
