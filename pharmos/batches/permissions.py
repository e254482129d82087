"""Rights of the batches module and which built-in roles hold them."""

from __future__ import annotations

from pharmos.auth.permissions import grant_to_builtin_roles, register_permission

register_permission("mbr.view", "View master batch records", "查看主批记录（工艺规程）")
register_permission("mbr.author", "Write master batch records and submit them for review", "编写主批记录并提交审核")
register_permission("mbr.review", "Review master batch records (production)", "审核主批记录（生产）")
register_permission("mbr.approve", "Approve master batch records and make them effective (QA)",
                    "批准主批记录并使其生效（QA）", qa_approval=True)
register_permission("batches.view", "View batches, their records and genealogy", "查看批次、批记录和谱系")
register_permission("batches.plan", "Order batches from effective master batch records and cancel planned ones",
                    "根据生效的主批记录下达批次，取消计划中的批次")
register_permission("batches.execute", "Execute batch steps: enter values, scan, weigh and dispense, sign as performer",
                    "执行批步骤：录入数据、扫码、称量配料，以操作人身份签名")
register_permission("batches.verify", "Verify critical steps as the second person (four-eyes)",
                    "以复核人身份复核关键步骤（双人复核）")
register_permission("batches.hold", "Put a batch on hold and resume it", "暂停批次和恢复执行")
register_permission("batches.review", "Review batch exceptions (review by exception)", "审核批次异常（例外审核）")
register_permission("batches.release", "Release or reject batches (QA)", "批次放行或拒绝（QA）", qa_approval=True)

_EXECUTE = {"batches.view", "batches.execute", "batches.verify", "mbr.view"}

grant_to_builtin_roles({
    "admin": {"mbr.view", "batches.view"},
    "qa_manager": {"mbr.view", "mbr.approve", "batches.view", "batches.hold", "batches.review", "batches.release"},
    "qa_specialist": {"mbr.view", "batches.view", "batches.hold", "batches.review"},
    "qc_analyst": {"mbr.view", "batches.view"},
    "production_supervisor": _EXECUTE | {"mbr.author", "mbr.review", "batches.plan", "batches.hold"},
    "operator": set(_EXECUTE),
    "warehouse": {"mbr.view", "batches.view", "batches.execute"},
    "maintenance": {"batches.view"},
    "planner": {"mbr.view", "batches.view", "batches.plan"},
    "viewer": {"mbr.view", "batches.view"},
})
