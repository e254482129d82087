"""Rights of the equipment module and which built-in roles hold them."""

from __future__ import annotations

from pharmos.auth.permissions import grant_to_builtin_roles, register_permission

register_permission("equipment.view", "View equipment, calibrations, work orders and logbooks",
                    "查看设备、校准、工单和设备日志")
register_permission("equipment.edit", "Register and maintain equipment, classes, qualification records and documents",
                    "登记和维护设备、设备类别、确认记录和文件")
register_permission("equipment.status", "Take equipment out of service", "设备停用（停机）")
register_permission("equipment.release", "Release equipment to service, return it to service and retire it (QA)",
                    "设备放行使用、恢复使用和报废（QA）", qa_approval=True)
register_permission("equipment.use", "Record equipment use, cleaning and counter readings",
                    "记录设备使用、清洁和计数器读数")
register_permission("calibrations.record", "Record calibrations (metrology)", "记录校准（计量）")
register_permission("calibrations.approve", "Approve calibration records (QA)", "批准校准记录（QA）",
                    qa_approval=True)
register_permission("calibrations.assess", "Assess the impact of out-of-tolerance instruments",
                    "评估仪器超差的影响")
register_permission("workorders.manage", "Plan preventive maintenance and create and assign work orders",
                    "制定预防性维护计划，创建和分派工单")
register_permission("workorders.perform", "Carry out work orders and repairs", "执行工单和维修")
register_permission("workorders.close", "Close work orders as the equipment owner", "以设备负责人身份关闭工单")
register_permission("faults.report", "Report equipment faults", "报告设备故障")
register_permission("faults.triage", "Triage, assign and close fault reports", "故障分级、分派和关闭")
register_permission("faults.verify", "Verify repairs", "确认维修结果")
register_permission("rounds.perform", "Carry out inspection rounds", "执行巡检")
register_permission("rounds.manage", "Maintain inspection routes and schedules; flag missed rounds",
                    "维护巡检路线和计划；标记漏检")
register_permission("spareparts.manage", "Maintain spare parts and their stock", "维护备件及其库存")
register_permission("equipment.import", "Import the equipment ledger and calibration plan",
                    "导入设备台账和校准计划")

_MAINTENANCE = {"equipment.edit", "equipment.status", "equipment.use", "calibrations.record", "workorders.manage",
                "workorders.perform", "workorders.close", "faults.report", "faults.triage", "faults.verify",
                "rounds.perform", "rounds.manage", "spareparts.manage", "equipment.import"}

grant_to_builtin_roles({
    "admin": {"equipment.view"},
    "qa_manager": {"equipment.view", "equipment.release", "equipment.status", "calibrations.approve",
                   "calibrations.assess", "workorders.close", "faults.report", "faults.verify"},
    "qa_specialist": {"equipment.view", "equipment.status", "calibrations.assess", "faults.report",
                      "faults.verify"},
    "qc_analyst": {"equipment.view", "equipment.use", "faults.report", "rounds.perform"},
    "production_supervisor": {"equipment.view", "equipment.status", "equipment.use", "workorders.close",
                              "faults.report", "faults.verify", "rounds.perform"},
    "operator": {"equipment.view", "equipment.use", "faults.report", "rounds.perform"},
    "warehouse": {"equipment.view", "faults.report", "spareparts.manage"},
    "maintenance": {"equipment.view"} | _MAINTENANCE,
    "planner": {"equipment.view", "faults.report"},
    "viewer": {"equipment.view"},
})
