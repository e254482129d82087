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
register_permission("change_controls.propose", "Propose changes", "提出变更")
register_permission("change_controls.assess", "Assess and approve changes for your function",
                    "代表本部门评估并批准变更")
register_permission("change_controls.manage", "Classify, approve, reject and close changes (QA)",
                    "变更分级、批准、拒绝和关闭（QA）",
                    qa_approval=True)
register_permission("documents.author", "Write controlled documents and new versions", "编写受控文件及新版本")
register_permission("documents.review", "Review controlled documents", "审核受控文件")
register_permission("documents.approve", "Approve controlled documents, make them effective or obsolete (QA)",
                    "批准受控文件、使其生效或作废（QA）", qa_approval=True)
register_permission("documents.manage", "Register controlled documents, see every version, record periodic reviews",
                    "登记受控文件、查看所有版本、记录定期回顾")
register_permission("training.acknowledge", "Sign your own read-and-understood training", "签署本人的文件阅读培训")
register_permission("training.record", "Record training given and assessments (trainer)",
                    "记录授课培训和考核（培训师）")
register_permission("training.manage", "Manage training requirements, skills and assignments",
                    "管理培训要求、技能和培训分配")
register_permission("complaints.receive", "Log complaints", "登记投诉")
register_permission("complaints.classify", "Classify complaints and assign investigators (QA)",
                    "投诉分级和指派调查人（QA）")
register_permission("complaints.investigate", "Investigate complaints", "调查投诉")
register_permission("complaints.approve", "Approve complaint investigations and close complaints (QA)",
                    "批准投诉调查并关闭投诉（QA）", qa_approval=True)

_EVERYONE = {"quality.view", "deviations.report", "capas.perform", "change_controls.propose", "training.acknowledge"}
_AUTHORS = {"documents.author", "documents.review", "change_controls.assess"}

grant_to_builtin_roles({
    "admin": {"quality.view"},
    "qa_manager": _EVERYONE | _AUTHORS | {
        "deviations.classify", "deviations.investigate", "deviations.approve", "capas.manage", "capas.verify",
        "quality.escalate", "change_controls.manage", "documents.approve", "documents.manage", "training.record",
        "training.manage", "complaints.receive", "complaints.classify", "complaints.investigate",
        "complaints.approve"},
    "qa_specialist": _EVERYONE | _AUTHORS | {
        "deviations.classify", "deviations.investigate", "capas.manage", "documents.manage", "training.record",
        "training.manage", "complaints.receive", "complaints.classify", "complaints.investigate"},
    "qc_analyst": _EVERYONE | _AUTHORS | {"deviations.investigate", "complaints.investigate"},
    "production_supervisor": _EVERYONE | _AUTHORS | {"deviations.investigate", "complaints.investigate",
                                                     "training.record"},
    "operator": _EVERYONE,
    "warehouse": _EVERYONE,
    "maintenance": _EVERYONE | _AUTHORS | {"deviations.investigate"},
    "planner": _EVERYONE | {"complaints.receive"},
    "viewer": {"quality.view"},
})
