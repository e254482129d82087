"""Rights of the materials module and which built-in roles hold them."""

from __future__ import annotations

from pharmos.auth.permissions import grant_to_builtin_roles, register_permission

register_permission("materials.view", "View materials, lots and stock", "查看物料、批次和库存")
register_permission("materials.edit", "Draft material master records", "起草物料主数据")
register_permission("materials.approve", "Approve material master records (QA)", "批准物料主数据（QA）",
                    qa_approval=True)
register_permission("suppliers.edit", "Maintain suppliers and purchase orders", "维护供应商和采购订单")
register_permission("suppliers.qualify", "Decide the approved supplier list (QA)", "决定合格供应商名录（QA）",
                    qa_approval=True)
register_permission("materials.receive", "Receive deliveries", "物料接收")
register_permission("stock.move", "Put away, transfer and return stock", "上架、移库和退库")
register_permission("stock.issue", "Issue and reserve stock", "发料和预留")
register_permission("stock.adjust", "Adjust and destroy stock", "库存调整和销毁")
register_permission("stock.sample", "Take samples from lots", "取样")
register_permission("stock.count", "Perform cycle counts", "执行循环盘点")
register_permission("stock.approve_count", "Approve cycle-count variances", "批准盘点差异")
register_permission("lots.test", "Start and repeat lot testing, set retest dates (QC)",
                    "开始检验、复验和设定复验日期（QC）")
register_permission("lots.release", "Release and reject lots (QA)", "批次放行和拒收（QA）", qa_approval=True)
register_permission("lots.hold", "Put released lots on hold (QA)", "冻结已放行批次（QA）", qa_approval=True)
register_permission("lots.review", "Review FEFO overrides and approve short-dated use (QA)",
                    "审核先到期先出例外并批准近效期使用（QA）", qa_approval=True)
register_permission("lots.expire", "Mark lots expired (the daily job)", "将批次标记为过期（每日作业）")
register_permission("locations.manage", "Maintain storage locations", "维护库位")
register_permission("materials.import", "Import material master and opening stock", "导入物料主数据和期初库存")

_QA = {"materials.edit", "materials.approve", "suppliers.edit", "suppliers.qualify", "lots.release", "lots.hold",
       "lots.review", "lots.test", "stock.approve_count"}

grant_to_builtin_roles({
    "admin": {"materials.view"},
    "qa_manager": {"materials.view"} | _QA,
    "qa_specialist": {"materials.view"} | (_QA - {"materials.approve"}),
    "qc_analyst": {"materials.view", "lots.test", "stock.sample"},
    "production_supervisor": {"materials.view", "stock.issue"},
    "operator": {"materials.view"},
    "warehouse": {"materials.view", "materials.edit", "materials.receive", "stock.move", "stock.issue",
                  "stock.adjust", "stock.sample", "stock.count", "locations.manage", "materials.import",
                  "suppliers.edit"},
    "maintenance": {"materials.view"},
    "planner": {"materials.view", "suppliers.edit", "stock.issue"},
    "viewer": {"materials.view"},
})
