"""Rights of the quality module and which built-in roles hold them."""

from __future__ import annotations

from pharmos.auth.permissions import grant_to_builtin_roles, register_permission

register_permission("quality.view", "View deviations and CAPA", "查看偏差和CAPA")
register_permission("deviations.report", "Report deviations", "报告偏差")
register_permission("deviations.classify", "Classify deviations, assign investigators, decide extensions (QA)",
                    "偏差分级、指派调查人、审批延期（QA）")
register_permission("deviations.investigate", "Investigate deviations", "调查偏差")
register_permission("deviations.approve", "Approve and close deviations (QA)", "批准和关闭偏差（QA）",
                    qa_approval=True)
register_permission("capas.manage", "Plan CAPA: create, assign and cancel actions", "制定CAPA：创建、指派和取消措施")
register_permission("capas.perform", "Carry out CAPA actions assigned to you", "执行分配给本人的CAPA措施")
register_permission("capas.verify", "Judge CAPA effectiveness and close CAPA (QA)", "评价CAPA有效性并关闭CAPA（QA）",
                    qa_approval=True)
register_permission("quality.escalate", "Run the overdue-escalation job", "执行逾期升级作业")

_EVERYONE = {"quality.view", "deviations.report", "capas.perform"}

grant_to_builtin_roles({
    "admin": {"quality.view"},
    "qa_manager": _EVERYONE | {"deviations.classify", "deviations.investigate", "deviations.approve", "capas.manage",
                               "capas.verify", "quality.escalate"},
    "qa_specialist": _EVERYONE | {"deviations.classify", "deviations.investigate", "capas.manage"},
    "qc_analyst": _EVERYONE | {"deviations.investigate"},
    "production_supervisor": _EVERYONE | {"deviations.investigate"},
    "operator": _EVERYONE,
    "warehouse": _EVERYONE,
    "maintenance": _EVERYONE | {"deviations.investigate"},
    "planner": _EVERYONE,
    "viewer": {"quality.view"},
})
