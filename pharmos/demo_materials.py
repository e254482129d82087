"""The demo site's warehouse: a monoclonal-antibody (CHO) plant's materials, built through the services.

Called by ``pharmos.demo.load_demo_site`` after the staff exist. Every record goes through
``pharmos.materials.service`` and the lifecycles with real sign-ins and signatures, so the
warehouse's audit trail is as genuine as the rest of the demo:

- the material master is drafted by a QA specialist and approved by the QA manager;
- suppliers and purchase orders are kept by planning (purchasing), the approved supplier
  list is decided by QA;
- the warehouse clerk receives, puts away, transfers, issues and counts; QC starts testing
  and samples; only the QA manager releases, rejects and holds — never the receiver
  (EU GMP Part I 5.61, 药品GMP 第一百二十九条);
- stock held before go-live (older lots, in-house drug substance and finished product)
  comes in through the opening-stock import, as a real migration from paper or a legacy
  system would bring it: in quarantine, then released by QA against the paper records.

The clock is never faked. An expired lot comes the way it would in a real go-live: stock held
past its expiry date is on the opening-stock list (it is physically there until destroyed), and
the daily stock review at the end of loading marks it expired. One released lot expires
tomorrow and another is due for retest tomorrow, so the next daily stock review
(``pharmos materials daily-review``) shows both. A legacy lot whose retest date has passed
waits in quarantine for QC.

All dates are relative to the day the demo is loaded, so the expiry dashboard always shows
lots expiring within the next weeks.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.materials import service as materials
from pharmos.materials.views import LotView, PurchaseOrderView

UPSTREAM_BATCH = "BO-2026-0007 上游细胞培养"
BUFFER_BATCH = "BO-2026-0008 下游纯化缓冲液配制"
FILLING_BATCH = "BO-2026-0010 无菌灌装"

# ---------------------------------------------------------------- material master


class DemoMaterial(NamedTuple):
    code: str
    name_zh: str
    name_en: str
    material_type: str
    base_unit: str
    storage_condition: str
    protect_from_light: bool = False
    shelf_life_days: int | None = None
    retest_interval_days: int | None = None
    min_remaining_shelf_life_days: int = 0
    sampling_plan: str = ""
    gmp_critical: bool = True
    pack_units: tuple[tuple[str, str], ...] = ()  # (unit, factor to the base unit)


_RM, _EX, _PK, _CS = "raw_material", "excipient", "packaging", "consumable"
_SP_RM = "SOP-QC-0102 原辅料取样（√N+1）"
_SP_PK = "SOP-QC-0105 包材取样（GB/T 2828.1 一般检验水平II）"
_SP_CS = "SOP-QC-0107 耗材取样（每批1件）"
_DRUM = (("drum", "25"),)

MATERIALS: tuple[DemoMaterial, ...] = (
    # Cell culture (upstream)
    DemoMaterial("RM-10001", "CD CHO 化学成分限定培养基（干粉）", "CD CHO chemically defined medium, powder",
                 _RM, "kg", "2-8C", True, 730, None, 90, _SP_RM, pack_units=(("bag", "10"),)),
    DemoMaterial("RM-10002", "CD 补料培养基 A（干粉）", "CD feed medium A, powder",
                 _RM, "kg", "2-8C", True, 730, None, 90, _SP_RM, pack_units=(("bag", "5"),)),
    DemoMaterial("RM-10004", "L-谷氨酰胺", "L-Glutamine",
                 _RM, "kg", "15-25C", False, 1095, 365, 60, _SP_RM),
    DemoMaterial("RM-10005", "无水葡萄糖", "Glucose, anhydrous",
                 _RM, "kg", "15-25C", False, 1825, 730, 90, _SP_RM, pack_units=_DRUM),
    DemoMaterial("RM-10006", "碳酸氢钠", "Sodium bicarbonate",
                 _RM, "kg", "15-25C", False, 1095, 365, 60, _SP_RM, pack_units=_DRUM),
    DemoMaterial("RM-10007", "泊洛沙姆188", "Poloxamer 188",
                 _RM, "kg", "15-25C", False, 1095, 730, 60, _SP_RM),
    DemoMaterial("RM-10008", "消泡剂 C 乳液（二甲基硅油）", "Antifoam C emulsion (simethicone)",
                 _RM, "kg", "15-25C", False, 730, None, 60, _SP_RM),
    DemoMaterial("RM-10009", "次黄嘌呤-胸苷补充液（100×）", "HT supplement (100×)",
                 _RM, "mL", "-20C", True, 730, None, 90, _SP_RM, pack_units=(("bottle", "100"),)),
    # Chromatography resins (downstream)
    DemoMaterial("RM-20001", "Protein A 亲和层析填料（MabSelect PrismA 型）",
                 "Protein A affinity resin (MabSelect PrismA type)", _CS, "L", "2-8C", False, 1825, None, 180, _SP_CS,
                 pack_units=(("bottle", "5"),)),
    DemoMaterial("RM-20002", "阴离子交换层析填料（Capto Q 型）", "Anion-exchange resin (Capto Q type)",
                 _CS, "L", "le30C", False, 1825, None, 180, _SP_CS, pack_units=(("bottle", "5"),)),
    DemoMaterial("RM-20003", "阳离子交换层析填料（POROS XS 型）", "Cation-exchange resin (POROS XS type)",
                 _CS, "L", "le30C", False, 1825, None, 180, _SP_CS, pack_units=(("bottle", "5"),)),
    # Buffer raw materials
    DemoMaterial("RM-30001", "氨丁三醇（Tris）", "Tromethamine (Tris)",
                 _RM, "kg", "15-25C", False, 1825, 1095, 90, _SP_RM, pack_units=_DRUM),
    DemoMaterial("RM-30002", "氯化钠", "Sodium chloride",
                 _RM, "kg", "15-25C", False, 1825, 1095, 90, _SP_RM, pack_units=_DRUM),
    DemoMaterial("RM-30003", "二水合柠檬酸三钠", "Trisodium citrate dihydrate",
                 _RM, "kg", "15-25C", False, 1095, 730, 90, _SP_RM, pack_units=_DRUM),
    DemoMaterial("RM-30004", "冰醋酸", "Glacial acetic acid",
                 _RM, "L", "15-25C", False, 1095, 730, 60, _SP_RM),
    DemoMaterial("RM-30005", "氢氧化钠（粒）", "Sodium hydroxide, pellets",
                 _RM, "kg", "15-25C", False, 1095, 730, 60, _SP_RM),
    DemoMaterial("RM-30006", "磷酸（85%）", "Phosphoric acid 85%",
                 _RM, "L", "15-25C", False, 1095, 730, 60, _SP_RM),
    # Formulation excipients
    # Buffer excipients are weighed into the formulation buffer, not into the product's shelf
    # life, so no minimum remaining shelf life; short-dated use still needs QA approval.
    DemoMaterial("EX-50001", "L-组氨酸", "L-Histidine",
                 _EX, "kg", "15-25C", False, 1825, 730, 0, _SP_RM),
    DemoMaterial("EX-50002", "L-组氨酸盐酸盐一水合物", "L-Histidine monohydrochloride monohydrate",
                 _EX, "kg", "15-25C", False, 1825, 730, 0, _SP_RM),
    DemoMaterial("EX-50003", "蔗糖（注射用）", "Sucrose (for injection)",
                 _EX, "kg", "15-25C", False, 1825, 730, 180, _SP_RM, pack_units=_DRUM),
    # Polysorbate 80 oxidises (peroxides) under light: kept dark, as the supplier's CoA states.
    DemoMaterial("EX-50004", "聚山梨酯80（注射用，高纯）", "Polysorbate 80 (for injection, super-refined)",
                 _EX, "g", "15-25C", True, 730, None, 180, _SP_RM, pack_units=(("bottle", "500"),)),
    # Filters and single-use systems
    DemoMaterial("CS-60001", "深层过滤器（D0HC 型，1.1 m²）", "Depth filter pod (D0HC type, 1.1 m²)",
                 _CS, "each", "le30C", False, 1825, None, 180, _SP_CS, pack_units=(("case", "3"),)),
    DemoMaterial("CS-60003", "0.22 µm 除菌过滤器（PES，10 英寸囊式）",
                 "0.22 µm sterilising-grade filter (PES, 10-inch capsule)", _CS, "each", "le30C", False, 1095, None,
                 180, _SP_CS, pack_units=(("case", "3"),)),
    DemoMaterial("CS-60004", "0.22 µm 除菌过滤器（PVDF，3 英寸囊式）",
                 "0.22 µm sterilising-grade filter (PVDF, 3-inch capsule)", _CS, "each", "le30C", False, 1095, None,
                 180, _SP_CS),
    DemoMaterial("CS-60005", "病毒去除过滤器（20 nm，1 m²）", "Virus removal filter (20 nm, 1 m²)",
                 _CS, "each", "le30C", False, 1095, None, 180, _SP_CS),
    DemoMaterial("CS-60006", "超滤膜包（30 kDa，0.5 m²）", "UF/DF cassette (30 kDa, 0.5 m²)",
                 _CS, "each", "le30C", False, 1095, None, 180, _SP_CS),
    DemoMaterial("CS-60007", "一次性生物反应器袋（200 L）", "Single-use bioreactor bag (200 L)",
                 _CS, "each", "le30C", False, 1095, None, 180, _SP_CS),
    DemoMaterial("CS-60008", "一次性生物反应器袋（2000 L）", "Single-use bioreactor bag (2000 L)",
                 _CS, "each", "le30C", False, 1095, None, 180, _SP_CS),
    DemoMaterial("CS-60009", "一次性储液袋（50 L，二维）", "Single-use storage bag (50 L, 2D)",
                 _CS, "each", "le30C", False, 1095, None, 180, _SP_CS, pack_units=(("case", "10"),)),
    DemoMaterial("CS-60010", "一次性储液袋（20 L，旧规格）", "Single-use storage bag (20 L, former specification)",
                 _CS, "each", "le30C", False, 1095, None, 180, _SP_CS),
    # QC reagents and reference standard
    DemoMaterial("CS-40001", "PNGase F 糖苷酶（N-糖谱分析用）", "PNGase F glycosidase (N-glycan analysis)",
                 _CS, "each", "-20C", False, 365, None, 60, "SOP-QC-0301 试剂验收"),
    DemoMaterial("CS-40002", "HD-mAb01 工作参比品", "HD-mAb01 working reference standard",
                 _CS, "each", "-80C", False, 1095, 365, 0, "SOP-QC-0310 参比品管理"),
    # Primary and secondary packaging
    DemoMaterial("PK-70001", "2R 中硼硅玻璃管制注射剂瓶", "2R borosilicate glass tubular vial (type I)",
                 _PK, "each", "le30C", False, 1825, None, 180, _SP_PK, pack_units=(("box", "100"),)),
    DemoMaterial("PK-70002", "6R 中硼硅玻璃管制注射剂瓶", "6R borosilicate glass tubular vial (type I)",
                 _PK, "each", "le30C", False, 1825, None, 180, _SP_PK, pack_units=(("box", "100"),)),
    DemoMaterial("PK-70003", "10R 中硼硅玻璃管制注射剂瓶", "10R borosilicate glass tubular vial (type I)",
                 _PK, "each", "le30C", False, 1825, None, 180, _SP_PK, pack_units=(("box", "100"),)),
    DemoMaterial("PK-70011", "13 mm 溴化丁基橡胶塞（覆膜，即用型）", "13 mm bromobutyl stopper (coated, ready-to-use)",
                 _PK, "each", "le30C", False, 1095, None, 180, _SP_PK, pack_units=(("bag", "1000"),)),
    DemoMaterial("PK-70012", "20 mm 溴化丁基橡胶塞（覆膜，即用型）", "20 mm bromobutyl stopper (coated, ready-to-use)",
                 _PK, "each", "le30C", False, 1095, None, 180, _SP_PK, pack_units=(("bag", "1000"),)),
    DemoMaterial("PK-70021", "13 mm 铝塑组合盖（易掰式）", "13 mm flip-off seal (aluminium-plastic)",
                 _PK, "each", "le30C", False, 1825, None, 180, _SP_PK, pack_units=(("bag", "1000"),)),
    DemoMaterial("PK-70022", "20 mm 铝塑组合盖（易掰式）", "20 mm flip-off seal (aluminium-plastic)",
                 _PK, "each", "le30C", False, 1825, None, 180, _SP_PK, pack_units=(("bag", "1000"),)),
    DemoMaterial("PK-70031", "10R 西林瓶不干胶标签（HD-mAb01 100 mg/10 mL）",
                 "Vial label, self-adhesive (HD-mAb01 100 mg/10 mL)", _PK, "each", "15-25C", False, 730, None, 180,
                 _SP_PK, pack_units=(("roll", "1000"),)),
    DemoMaterial("PK-70032", "单支装彩盒（HD-mAb01 100 mg/10 mL）", "Unit carton (HD-mAb01 100 mg/10 mL)",
                 _PK, "each", "le30C", False, 1825, None, 180, _SP_PK, pack_units=(("bundle", "100"),)),
    DemoMaterial("PK-70033", "运输外箱（五层瓦楞）", "Shipping case (five-layer corrugated)",
                 _PK, "each", "le30C", False, 1825, None, 0, "", gmp_critical=False, pack_units=(("bundle", "20"),)),
    # Made on site
    DemoMaterial("IM-80001", "HD-mAb01 原液", "HD-mAb01 drug substance",
                 "intermediate", "L", "-80C", False, 1095, None, 0, "SOP-QC-0201 原液取样"),
    DemoMaterial("FP-90001", "HD-mAb01 注射液（100 mg/10 mL）", "HD-mAb01 injection (100 mg/10 mL)",
                 "finished_product", "each", "2-8C", True, 730, None, 0, "SOP-QC-0202 成品取样"),
)

# A pending change (new draft version of an approved code) and a withdrawn specification.
MATERIAL_CHANGE = ("RM-10008", 1095,
                   "供应商提供36个月实时稳定性数据，有效期由24个月延长至36个月（变更控制 CC-2026-0031）")
MATERIAL_OBSOLETE = ("CS-60010", "20 L 储液袋规格停用，由 50 L 二维储液袋替代（变更控制 CC-2026-0027）")

# ---------------------------------------------------------------- locations


class DemoLocation(NamedTuple):
    code: str
    name: str
    kind: str
    parent_code: str | None
    storage_class: str
    light_protected: bool = False
    status_zone: str = ""


def _bins(zone: str, prefix: str, name: str, count: int, storage_class: str, *, light: bool = False,
          status: str = "") -> tuple[DemoLocation, ...]:
    return tuple(DemoLocation(f"{prefix}-{n:02d}", f"{name} {n:02d}", "bin", zone, storage_class, light, status)
                 for n in range(1, count + 1))


# Ambient stock is kept by status in separate zones (status-by-zone); the cold rooms and
# freezers are too small to split, so there the system status alone separates the lots.
LOCATIONS: tuple[DemoLocation, ...] = (
    DemoLocation("SZ", "苏州生产基地", "site", None, "15-25C"),
    DemoLocation("WH1", "1号仓库（原辅料及包材）", "warehouse", "SZ", "15-25C"),
    DemoLocation("WH1-RCV", "收货区", "zone", "WH1", "15-25C"),
    *_bins("WH1-RCV", "RCV", "收货暂存位", 2, "15-25C"),
    DemoLocation("WH1-QZ", "待验区", "zone", "WH1", "15-25C", False, "quarantine"),
    *_bins("WH1-QZ", "QZ", "待验货位", 4, "15-25C", status="quarantine"),
    DemoLocation("QZ-L01", "待验避光柜", "bin", "WH1-QZ", "15-25C", True, "quarantine"),
    DemoLocation("WH1-RA", "合格品常温区（15–25 °C）", "zone", "WH1", "15-25C", False, "released"),
    *_bins("WH1-RA", "RA", "合格品货位", 4, "15-25C", status="released"),
    DemoLocation("RA-L01", "合格品避光柜", "bin", "WH1-RA", "15-25C", True, "released"),
    DemoLocation("WH1-PK", "包材及耗材合格品区（≤30 °C）", "zone", "WH1", "le30C", False, "released"),
    *_bins("WH1-PK", "PK", "包材货位", 3, "le30C", status="released"),
    DemoLocation("WH1-RJ", "不合格品隔离笼", "zone", "WH1", "15-25C", False, "rejected"),
    *_bins("WH1-RJ", "RJ", "不合格品货位", 2, "15-25C", status="rejected"),
    DemoLocation("WH2", "2号仓库（冷链）", "warehouse", "SZ", "2-8C"),
    DemoLocation("WH2-CR1", "1号冷库（2–8 °C，原辅料）", "zone", "WH2", "2-8C", True),
    DemoLocation("CR1-RCV", "1号冷库收货暂存位", "bin", "WH2-CR1", "2-8C", True),
    *_bins("WH2-CR1", "CR1", "1号冷库货位", 3, "2-8C", light=True),
    DemoLocation("WH2-CR2", "2号冷库（2–8 °C，成品）", "zone", "WH2", "2-8C", True),
    *_bins("WH2-CR2", "CR2", "2号冷库货位", 3, "2-8C", light=True),
    DemoLocation("WH2-FZ", "−20 °C 冷冻区", "zone", "WH2", "-20C", True),
    *_bins("WH2-FZ", "FZ", "−20 °C 冰柜层", 2, "-20C", light=True),
    DemoLocation("WH2-ULT", "−80 °C 超低温冰箱", "zone", "WH2", "-80C", True),
    *_bins("WH2-ULT", "ULT", "−80 °C 冰箱架", 2, "-80C", light=True),
)

# ---------------------------------------------------------------- suppliers


class DemoSupplier(NamedTuple):
    code: str
    name: str
    name_en: str
    kind: str
    address: str
    contact: str
    last_audit_days_ago: int
    next_audit_in_days: int


class DemoApproval(NamedTuple):
    supplier_code: str
    material_codes: tuple[str, ...]
    status: str
    note: str
    reason: str


SUPPLIERS: tuple[DemoSupplier, ...] = (
    DemoSupplier("SUP-001", "默克化工技术（上海）有限公司", "Merck Chemicals (Shanghai) Co., Ltd.", "distributor",
                 "上海市浦东新区张江高科技园区", "林晓 021-5000 0001 lin.xiao@merck.example.cn", 420, 310),
    DemoSupplier("SUP-002", "赛默飞世尔科技（中国）有限公司", "Thermo Fisher Scientific (China) Co., Ltd.",
                 "distributor",
                 "上海市浦东新区新金桥路", "陈晨 021-5000 0002 chen.chen@thermofisher.example.cn", 300, 430),
    DemoSupplier("SUP-003", "思拓凡生物科技（上海）有限公司", "Cytiva (Shanghai) Co., Ltd.", "distributor",
                 "上海市浦东新区华京路", "赵敏 021-5000 0003 zhao.min@cytiva.example.cn", 510, 220),
    DemoSupplier("SUP-004", "山东药用玻璃股份有限公司", "Shandong Pharmaceutical Glass Co., Ltd.", "manufacturer",
                 "山东省淄博市沂源县", "刘强 0533-300 0004 liu.qiang@sdpg.example.cn", 180, 550),
    DemoSupplier("SUP-005", "华兰包装材料有限公司", "Hualan Packaging Materials Co., Ltd.", "manufacturer",
                 "江苏省泰州市", "周丽 0523-800 0005 zhou.li@hualan.example.cn", 240, 490),
    DemoSupplier("SUP-006", "苏州恒信印务包装有限公司", "Suzhou Hengxin Printing & Packaging Co., Ltd.", "manufacturer",
                 "江苏省苏州市吴中区", "孙浩 0512-600 0006 sun.hao@hengxin.example.cn", 45, 135),
)

_ASL_REASON = "供应商审计合格，三批样品检验符合质量标准（供应商管理规程 SOP-QA-0401）"
APPROVALS: tuple[DemoApproval, ...] = (
    DemoApproval("SUP-001", ("RM-10005", "RM-10006", "RM-30001", "RM-30002", "RM-30003", "RM-30004", "RM-30005",
                             "RM-30006", "EX-50001", "EX-50002", "EX-50003", "EX-50004", "CS-60001", "CS-60003",
                             "CS-60004", "CS-60005", "CS-60006"), "approved", "", _ASL_REASON),
    DemoApproval("SUP-002", ("RM-10001", "RM-10002", "RM-10004", "RM-10007", "RM-10008", "RM-10009", "RM-20003",
                             "CS-60007", "CS-60008", "CS-60009", "CS-40001"), "approved", "", _ASL_REASON),
    DemoApproval("SUP-003", ("RM-20001", "RM-20002"), "approved", "", _ASL_REASON),
    DemoApproval("SUP-004", ("PK-70001", "PK-70002", "PK-70003"), "approved", "", _ASL_REASON),
    DemoApproval("SUP-005", ("PK-70011", "PK-70012", "PK-70021", "PK-70022"), "approved", "", _ASL_REASON),
    DemoApproval("SUP-006", ("PK-70033",), "approved", "", _ASL_REASON),
    DemoApproval("SUP-006", ("PK-70031",), "conditional", "新供应商：首三批到货加严检验，QA逐批评估后方可放行",
                 "现场审计发现印版管理记录不完整，CAPA-2026-0012 整改中，有条件批准"),
    DemoApproval("SUP-006", ("PK-70032",), "disqualified", "审计发现旧版印刷品与现行版本混放，存在混料风险",
                 "供应商审计 SA-2026-0019 严重缺陷：取消彩盒供应资格，待整改后重新审计"),
)

# ---------------------------------------------------------------- purchase orders and receipts


class DemoOrderLine(NamedTuple):
    material_code: str
    quantity: str
    unit: str
    due_in_days: int


class DemoOrder(NamedTuple):
    key: str
    supplier_code: str
    ordered_days_ago: int
    note: str
    lines: tuple[DemoOrderLine, ...]


class DemoLot(NamedTuple):
    key: str
    material_code: str  # the PO line of this material on the delivery's order
    supplier_lot: str
    manufactured_days_ago: int
    expires_in_days: int
    quantity: str
    unit: str
    containers: int
    outcome: str  # quarantine | under_test | released | rejected: where the demo leaves the lot
    store_in: str  # bin the warehouse puts it away into
    released_to: str = ""  # bin it moves to once released (status-by-zone)


class DemoDelivery(NamedTuple):
    order_key: str
    location_code: str  # receiving bin
    delivery_note: str
    lots: tuple[DemoLot, ...]
    logger_id: str = ""
    transport_min_c: str | None = None
    transport_max_c: str | None = None


ORDERS: tuple[DemoOrder, ...] = (
    DemoOrder("thermo-1", "SUP-002", 42, "2026年第四季度细胞培养物料", (
        DemoOrderLine("RM-10001", "60", "kg", -14),
        DemoOrderLine("RM-10002", "20", "kg", -14),
        DemoOrderLine("RM-10007", "10", "kg", -14),
        DemoOrderLine("CS-60007", "4", "each", -14),
        DemoOrderLine("RM-10009", "10", "bottle", -12),
        DemoOrderLine("CS-40001", "10", "each", -12),
    )),
    DemoOrder("merck-1", "SUP-001", 35, "缓冲液及制剂辅料年度框架订单第3批", (
        DemoOrderLine("RM-30002", "8", "drum", -7),
        DemoOrderLine("RM-30001", "50", "kg", -7),
        DemoOrderLine("RM-10005", "100", "kg", -7),
        DemoOrderLine("EX-50003", "50", "kg", -7),
        DemoOrderLine("EX-50004", "2000", "g", -7),
        DemoOrderLine("RM-30005", "50", "kg", -7),
        DemoOrderLine("CS-60003", "12", "each", -7),
        DemoOrderLine("CS-60001", "9", "each", -7),
    )),
    DemoOrder("cytiva-1", "SUP-003", 60, "层析填料补充采购", (
        DemoOrderLine("RM-20001", "20", "L", -5),
        DemoOrderLine("RM-20002", "20", "L", -5),
    )),
    DemoOrder("sdpg-1", "SUP-004", 50, "注射剂瓶", (
        DemoOrderLine("PK-70003", "20", "box", -10),
        DemoOrderLine("PK-70001", "50", "box", -10),
        DemoOrderLine("PK-70002", "10", "box", -3),
    )),
    DemoOrder("hualan-1", "SUP-005", 40, "胶塞与铝塑组合盖", (
        DemoOrderLine("PK-70012", "20000", "each", -6),
        DemoOrderLine("PK-70022", "20", "bag", -6),
    )),
    DemoOrder("hengxin-1", "SUP-006", 30, "HD-mAb01 标签首批（有条件批准供应商）", (
        DemoOrderLine("PK-70031", "20", "roll", -2),
        DemoOrderLine("PK-70033", "10", "bundle", -2),
    )),
    DemoOrder("thermo-2", "SUP-002", 12, "CD CHO 培养基补货（冷链）", (
        DemoOrderLine("RM-10001", "40", "kg", 0),
        DemoOrderLine("RM-10008", "5", "kg", 10),
    )),
    # Not yet delivered: shows open orders and the supplier's on-time figure still pending.
    DemoOrder("merck-2", "SUP-001", 5, "2027年第一季度缓冲液原料", (
        DemoOrderLine("RM-30001", "100", "kg", 14),
        DemoOrderLine("RM-30004", "20", "L", 14),
        DemoOrderLine("EX-50001", "10", "kg", 21),
    )),
)

_ULT = "ULT-01"
DELIVERIES: tuple[DemoDelivery, ...] = (
    DemoDelivery("thermo-1", "CR1-RCV", "DN-TF-2611-0457", (
        DemoLot("cdcho-1", "RM-10001", "AL2609117", 60, 670, "6", "bag", 6, "released", "CR1-01"),
        DemoLot("feeda-1", "RM-10002", "AL2609212", 55, 675, "4", "bag", 4, "released", "CR1-02"),
    ), "TL-2026-1187", "3.2", "6.8"),
    DemoDelivery("thermo-1", "RCV-01", "DN-TF-2611-0458", (
        DemoLot("p188-1", "RM-10007", "GMP-P188-2608-31", 90, 1000, "10", "kg", 1, "released", "QZ-01", "RA-01"),
        DemoLot("sub200-1", "CS-60007", "HP200-26-0815", 100, 990, "4", "each", 4, "released", "QZ-02", "PK-01"),
    )),
    DemoDelivery("thermo-1", "FZ-01", "DN-TF-2611-0459", (
        DemoLot("ht-1", "RM-10009", "2710588", 40, 690, "10", "bottle", 10, "under_test", "FZ-01"),
        DemoLot("pngase-1", "CS-40001", "10291407", 30, 335, "10", "each", 1, "released", "FZ-02"),
    ), "TL-2026-1190", "-24.5", "-18.2"),
    DemoDelivery("merck-1", "RCV-01", "DN-MK-2611-1122", (
        DemoLot("nacl-a", "RM-30002", "K55012345", 400, 1425, "4", "drum", 4, "released", "QZ-03", "RA-02"),
        DemoLot("nacl-b", "RM-30002", "K56098765", 60, 1765, "4", "drum", 4, "released", "QZ-03", "RA-02"),
        DemoLot("tris-1", "RM-30001", "1.08386.9025", 120, 1705, "50", "kg", 2, "released", "QZ-04", "RA-03"),
        DemoLot("glucose-1", "RM-10005", "K99112233", 45, 1780, "4", "drum", 4, "quarantine", "QZ-04"),
        DemoLot("sucrose-1", "EX-50003", "K57445566", 75, 1750, "2", "drum", 2, "under_test", "QZ-01"),
        DemoLot("ps80-1", "EX-50004", "E0047-2609", 50, 680, "4", "bottle", 4, "under_test", "QZ-L01"),
        DemoLot("naoh-1", "RM-30005", "B1823467", 30, 1065, "50", "kg", 2, "quarantine", "QZ-02"),
        DemoLot("pes-1", "CS-60003", "C2EA91234", 80, 1015, "4", "case", 4, "released", "QZ-02", "PK-02"),
        DemoLot("depth-1", "CS-60001", "C2HA45678", 70, 1755, "3", "case", 3, "released", "QZ-02", "PK-02"),
    )),
    DemoDelivery("cytiva-1", "CR1-RCV", "DN-CY-2611-0088", (
        DemoLot("prota-2", "RM-20001", "10325561", 120, 1705, "4", "bottle", 4, "under_test", "CR1-03"),
    ), "TL-2026-1195", "2.9", "7.5"),
    DemoDelivery("cytiva-1", "RCV-02", "DN-CY-2611-0089", (
        DemoLot("captoq-1", "RM-20002", "10326672", 150, 1675, "4", "bottle", 4, "released", "QZ-01", "RA-04"),
    )),
    DemoDelivery("sdpg-1", "RCV-02", "DN-SDPG-261109", (
        DemoLot("vial10r-1", "PK-70003", "SD26100815", 40, 1785, "20", "box", 4, "released", "QZ-03", "PK-03"),
        DemoLot("vial2r-1", "PK-70001", "SD26100733", 45, 1780, "50", "box", 5, "rejected", "QZ-03"),
        DemoLot("vial6r-1", "PK-70002", "SD26110102", 20, 1805, "10", "box", 2, "quarantine", "QZ-04"),
    )),
    DemoDelivery("hualan-1", "RCV-02", "DN-HL-20261112", (
        DemoLot("stopper20-1", "PK-70012", "HL2610-2036", 35, 1060, "20", "bag", 4, "released", "QZ-04", "PK-03"),
        DemoLot("seal20-1", "PK-70022", "HL2610-3107", 30, 1795, "20", "bag", 2, "under_test", "QZ-04"),
    )),
    DemoDelivery("hengxin-1", "RCV-01", "HX-SH-261118", (
        DemoLot("label-1", "PK-70031", "HX26111501", 10, 720, "20", "roll", 2, "under_test", "QZ-01"),
        DemoLot("case-1", "PK-70033", "HX26111502", 10, 1815, "10", "bundle", 2, "quarantine", "QZ-01"),
    )),
    # The data logger of this delivery shows 12.6 °C in transit: the lot is flagged for QA.
    DemoDelivery("thermo-2", "CR1-RCV", "DN-TF-2611-0501", (
        DemoLot("cdcho-2", "RM-10001", "AL2610084", 30, 700, "4", "bag", 4, "quarantine", "CR1-01"),
    ), "TL-2026-1203", "4.1", "12.6"),
)

RELEASE_REASONS = "检验结果符合质量标准，批记录及COA审核无误"
REJECTIONS: dict[str, str] = {
    "vial2r-1": "外观检验AQL超标：瓶口裂纹3支/315支（接收数0），不合格，退回供应商（OOS-2026-0044）",
}
HOLDS: dict[str, str] = {
    "captoq-1": "供应商质量通知 SQN-2026-118：该批次填料离子交换容量可能偏低，冻结待调查",
}

# ---------------------------------------------------------------- stock held before go-live


class OpeningLot(NamedTuple):
    material_code: str
    supplier_code: str  # "" for lots made on site
    supplier_lot: str
    manufactured_days_ago: int
    expires_in_days: int
    # Negative: already past. Given for every material with a retest interval: the legacy
    # retest date, not one computed from a manufacture date years ago.
    retest_in_days: int | None
    quantity: str
    unit: str
    containers: int
    store_in: str  # bin the import puts it into (opening stock arrives in quarantine)
    outcome: str  # quarantine | released: where the demo leaves the lot
    released_to: str = ""  # bin it moves to once released (status-by-zone)


# Stock held at go-live, as the legacy books list it. The import brings every lot in quarantine;
# QA then releases the lots whose paper release record was verified, signing each.
OPENING_STOCK: tuple[OpeningLot, ...] = (
    # Short-dated: on the expiry dashboard's 30-day list.
    OpeningLot("EX-50001", "SUP-001", "K53321100", 1800, 21, 21, "5", "kg", 1, "QZ-02", "released", "RA-03"),
    OpeningLot("RM-20001", "SUP-003", "10288770", 1810, 12, None, "10", "L", 2, "CR1-03", "released"),
    OpeningLot("FP-90001", "", "HD2411003", 703, 27, None, "1200", "each", 2, "CR2-01", "released"),
    OpeningLot("CS-60009", "SUP-002", "BPC50-23-0301", 1050, 45, None, "7", "each", 1, "QZ-02", "released",
               "PK-01"),
    # Expires tomorrow: the next daily stock review moves it to expired.
    OpeningLot("RM-10005", "SUP-001", "K50110022", 1824, 1, 1, "12.5", "kg", 1, "QZ-02", "released", "RA-01"),
    # Retest due tomorrow: blocked for issue from then on until QC retests it.
    OpeningLot("RM-10004", "SUP-002", "2555871", 400, 695, 1, "2", "kg", 2, "QZ-02", "released", "RA-04"),
    # Expired before go-live and held for destruction: the daily stock review marks it expired,
    # then the warehouse moves it into the rejected cage.
    OpeningLot("RM-10005", "SUP-001", "K49020017", 1840, -14, None, "8", "kg", 1, "QZ-02", "quarantine"),
    # The legacy retest date has passed: it stays in quarantine until QC retests it.
    OpeningLot("RM-30002", "SUP-001", "K52200111", 900, 925, -6, "25", "kg", 1, "QZ-02", "quarantine"),
    # Made on site.
    OpeningLot("IM-80001", "", "HD-DS-2604001", 210, 885, None, "18.4", "L", 4, "ULT-01", "released"),
    OpeningLot("IM-80001", "", "HD-DS-2609002", 65, 1030, None, "17.9", "L", 4, "ULT-01", "released"),
    OpeningLot("FP-90001", "", "HD2603011", 260, 470, None, "4860", "each", 3, "CR2-02", "released"),
    OpeningLot("FP-90001", "", "HD2609015", 70, 660, None, "5020", "each", 3, "CR2-03", "quarantine"),
    OpeningLot("CS-40002", "", "RS-HD-mAb01-2602", 280, 815, 85, "60", "each", 1, "ULT-02", "released"),
)
OPENING_STOCK_REASON = "系统上线期初库存导入：数据来源为2026年11月仓库盘点表（经QA核对，上线方案 VP-2026-004）"
MIGRATION_RELEASE = "期初库存：已核对原纸质放行记录及检验报告，确认批次合格，系统内放行"


class _Staff(NamedTuple):
    qa_author: Actor  # QA specialist: drafts the material master
    qa_manager: Actor  # QA manager: approves, releases, rejects, holds
    buyer: Actor  # planning: suppliers and purchase orders
    clerk: Actor  # warehouse: receives, moves, issues, counts, imports
    analyst: Actor  # QC: starts testing, samples


def _quantity(text: str) -> Decimal:
    return Decimal(text)


def _load_master(staff: _Staff, password: str) -> None:
    for m in MATERIALS:
        draft = materials.draft_material(
            actor=staff.qa_author, code=m.code, name_zh=m.name_zh, name_en=m.name_en, material_type=m.material_type,
            base_unit=m.base_unit, storage_condition=m.storage_condition, protect_from_light=m.protect_from_light,
            shelf_life_days=m.shelf_life_days, retest_interval_days=m.retest_interval_days,
            min_remaining_shelf_life_days=m.min_remaining_shelf_life_days, sampling_plan=m.sampling_plan,
            gmp_critical=m.gmp_critical, pack_units={unit: _quantity(f) for unit, f in m.pack_units} or None)
        # Segregation of duties: the drafter never approves their own master record.
        apply_transition(actor=staff.qa_manager, collection="materials", record_id=draft.id, name="approve",
                         password=password, meaning="approved")

    code, shelf_life, reason = MATERIAL_CHANGE
    current = materials.current_material(actor=staff.qa_author, code=code)
    materials.draft_material(
        actor=staff.qa_author, code=code, name_zh=current.name_zh, name_en=current.name_en,
        material_type=current.material_type, base_unit=current.base_unit,
        storage_condition=current.storage_condition, protect_from_light=current.protect_from_light,
        shelf_life_days=shelf_life, retest_interval_days=current.retest_interval_days,
        min_remaining_shelf_life_days=current.min_remaining_shelf_life_days, sampling_plan=current.sampling_plan,
        gmp_critical=current.gmp_critical,
        pack_units={p.unit: p.factor_to_base for p in current.pack_units} or None)
    del reason  # the reason is given when the draft is submitted for approval, which the demo leaves open

    code, reason = MATERIAL_OBSOLETE
    current = materials.current_material(actor=staff.qa_author, code=code)
    apply_transition(actor=staff.qa_manager, collection="materials", record_id=current.id, name="make_obsolete",
                     password=password, meaning="approved", reason=reason)


def _load_locations(clerk: Actor) -> None:
    for loc in LOCATIONS:
        materials.create_location(actor=clerk, code=loc.code, name=loc.name, kind=loc.kind,
                                  parent_code=loc.parent_code, storage_class=loc.storage_class,
                                  light_protected=loc.light_protected, status_zone=loc.status_zone)


def _load_suppliers(staff: _Staff, today: date) -> dict[str, int]:
    ids: dict[str, int] = {}
    for s in SUPPLIERS:
        view = materials.create_supplier(
            actor=staff.buyer, code=s.code, name=s.name, name_en=s.name_en, kind=s.kind, address=s.address,
            contact=s.contact, last_audit_on=today - timedelta(days=s.last_audit_days_ago),
            next_audit_due=today + timedelta(days=s.next_audit_in_days))
        ids[s.code] = view.id
    for approval in APPROVALS:
        for material_code in approval.material_codes:
            materials.set_supplier_approval(actor=staff.qa_manager, supplier_id=ids[approval.supplier_code],
                                            material_code=material_code, status=approval.status,
                                            note=approval.note, reason=approval.reason)
    return ids


def _load_orders(buyer: Actor, supplier_ids: dict[str, int], today: date) -> dict[str, PurchaseOrderView]:
    orders: dict[str, PurchaseOrderView] = {}
    for order in ORDERS:
        lines = [materials.OrderLineInput(material_code=line.material_code, quantity=_quantity(line.quantity),
                                          unit=line.unit, due_on=today + timedelta(days=line.due_in_days))
                 for line in order.lines]
        orders[order.key] = materials.create_purchase_order(
            actor=buyer, supplier_id=supplier_ids[order.supplier_code], lines=lines, note=order.note,
            ordered_on=today - timedelta(days=order.ordered_days_ago))
    return orders


def _receive(staff: _Staff, orders: dict[str, PurchaseOrderView],
             today: date) -> dict[str, tuple[DemoLot, LotView]]:
    lots: dict[str, tuple[DemoLot, LotView]] = {}
    for delivery in DELIVERIES:
        order = orders[delivery.order_key]
        line_ids = {line.material_code: line.id for line in order.lines}
        lines = [materials.ReceiptLineInput(
            order_line_id=line_ids[lot.material_code], supplier_lot=lot.supplier_lot,
            manufactured_on=today - timedelta(days=lot.manufactured_days_ago),
            expires_on=today + timedelta(days=lot.expires_in_days), quantity=_quantity(lot.quantity), unit=lot.unit,
            containers=lot.containers) for lot in delivery.lots]
        receipt = materials.receive_delivery(
            actor=staff.clerk, order_id=order.id, location_code=delivery.location_code, lines=lines,
            delivery_note=delivery.delivery_note, logger_id=delivery.logger_id,
            transport_min_c=None if delivery.transport_min_c is None else _quantity(delivery.transport_min_c),
            transport_max_c=None if delivery.transport_max_c is None else _quantity(delivery.transport_max_c))
        for demo_lot, view in zip(delivery.lots, receipt.lots, strict=True):
            lots[demo_lot.key] = (demo_lot, view)
    return lots


def _put_away(clerk: Actor, lot: LotView, to: str, reason: str = "") -> None:
    for container in lot.containers:
        if container.location_code != to:
            materials.put_away(actor=clerk, container_number=container.number, to_location_code=to, reason=reason)


def _transfer(clerk: Actor, lot_id: int, to: str, reason: str) -> None:
    lot = materials.get_lot(actor=clerk, lot_id=lot_id)
    for container in lot.containers:
        if container.quantity > 0 and container.location_code != to:
            materials.transfer_stock(actor=clerk, container_number=container.number, to_location_code=to,
                                     reason=reason)


# What QC takes from the first container, by base unit. Counted items are sampled only
# from large packs (vials, stoppers, labels); filters and bags are checked on their CoA
# and by visual inspection, without opening a sterile pack.
_SAMPLES: dict[str, tuple[str, str]] = {"kg": ("200", "g"), "g": ("50", "g"), "L": ("100", "mL"), "mL": ("5", "mL")}


def _sample(analyst: Actor, lot: LotView) -> None:
    first = lot.containers[0]
    if lot.unit == "each":
        if first.quantity < 100:
            return
        quantity, unit = "13", "each"  # GB/T 2828.1 special inspection level S-2 sample size
    else:
        quantity, unit = _SAMPLES[lot.unit]
    materials.sample_lot(actor=analyst, container_number=first.number, quantity=_quantity(quantity), unit=unit,
                         reason="QC取样：全项检验", reference=f"QC-S-{lot.number}")


def _settle_lots(staff: _Staff, lots: dict[str, tuple[DemoLot, LotView]], password: str) -> None:
    """Put every lot away, then take it through testing to the status the demo wants."""
    for demo_lot, view in lots.values():
        _put_away(staff.clerk, view, demo_lot.store_in)
    for key, (demo_lot, view) in lots.items():
        if demo_lot.outcome == "quarantine":
            continue
        if demo_lot.outcome == "rejected":
            apply_transition(actor=staff.qa_manager, collection="lots", record_id=view.id, name="reject",
                             password=password, meaning="rejected", reason=REJECTIONS[key])
            _transfer(staff.clerk, view.id, "RJ-01", "不合格品移入隔离笼")
            continue
        if not view.qa_flag_assessed:
            # The conditional supplier's lot: QA assesses the arrival flag before testing goes on.
            materials.assess_qa_flag(actor=staff.qa_manager, lot_id=view.id, password=password,
                                     reason="有条件批准供应商首批：已确认按加严抽样方案检验，同意进入检验")
        apply_transition(actor=staff.analyst, collection="lots", record_id=view.id, name="start_testing")
        _sample(staff.analyst, view)
        if demo_lot.outcome == "released":
            apply_transition(actor=staff.qa_manager, collection="lots", record_id=view.id, name="release",
                             password=password, meaning="released", reason=RELEASE_REASONS)
            if demo_lot.released_to:
                _transfer(staff.clerk, view.id, demo_lot.released_to, "放行后移入合格品区")
    for key, reason in HOLDS.items():
        _demo_lot, view = lots[key]
        apply_transition(actor=staff.qa_manager, collection="lots", record_id=view.id, name="hold",
                         password=password, meaning="held", reason=reason)
        _transfer(staff.clerk, view.id, "QZ-03", "冻结批次移回待验区")


def _opening_stock_csv(today: date) -> bytes:
    """The go-live stock list as the warehouse would save it from Excel: a UTF-8 CSV with BOM."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(("material_code", "supplier_code", "supplier_lot", "manufactured_on", "expires_on", "retest_on",
                     "quantity", "unit", "containers", "location_code"))
    for row in OPENING_STOCK:
        retest = "" if row.retest_in_days is None else (today + timedelta(days=row.retest_in_days)).isoformat()
        writer.writerow((row.material_code, row.supplier_code, row.supplier_lot,
                         (today - timedelta(days=row.manufactured_days_ago)).isoformat(),
                         (today + timedelta(days=row.expires_in_days)).isoformat(), retest,
                         row.quantity, row.unit, row.containers, row.store_in))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _import_opening_stock(staff: _Staff, password: str, today: date) -> None:
    result = materials.import_opening_stock(actor=staff.clerk, content=_opening_stock_csv(today),
                                            filename="期初库存-2026-11.csv", reason=OPENING_STOCK_REASON)
    lots = materials.list_lots(actor=staff.clerk, limit=500)
    by_number = {lot.number: lot for lot in lots}
    for row, number in zip(OPENING_STOCK, result.created, strict=True):
        if row.outcome != "released":
            continue
        lot = by_number[number]
        apply_transition(actor=staff.analyst, collection="lots", record_id=lot.id, name="start_testing")
        # The importer (the warehouse) is the lots' author; the QA manager releases them.
        apply_transition(actor=staff.qa_manager, collection="lots", record_id=lot.id, name="release",
                         password=password, meaning="released", reason=MIGRATION_RELEASE)
        if row.released_to:
            _transfer(staff.clerk, lot.id, row.released_to, "放行后移入合格品区")


def _container(actor: Actor, lot_id: int, index: int = 0) -> str:
    return materials.get_lot(actor=actor, lot_id=lot_id).containers[index].number


def _warehouse_day(staff: _Staff, lots: dict[str, tuple[DemoLot, LotView]], password: str, today: date) -> None:
    """A day of warehouse work: issues to batches, a FEFO override, a reservation, a return, a cycle count."""
    clerk = staff.clerk
    # The first container of each lot was opened by QC for sampling: issue whole packs from the others.
    cdcho = lots["cdcho-1"][1]
    for index in (1, 2):
        materials.issue_stock(actor=clerk, container_number=_container(clerk, cdcho.id, index),
                              quantity=Decimal(10), unit="kg", reference=UPSTREAM_BATCH)
    materials.issue_stock(actor=clerk, container_number=_container(clerk, lots["feeda-1"][1].id),
                          quantity=Decimal("4.5"), unit="kg", reference=UPSTREAM_BATCH)
    materials.issue_stock(actor=clerk, container_number=_container(clerk, lots["p188-1"][1].id),
                          quantity=Decimal(1200), unit="g", reference=UPSTREAM_BATCH)
    materials.issue_stock(actor=clerk, container_number=_container(clerk, lots["sub200-1"][1].id),
                          quantity=Decimal(1), unit="each", reference=UPSTREAM_BATCH)
    # What the bioreactor did not need goes back to the cold room.
    materials.return_stock(actor=clerk, container_number=_container(clerk, cdcho.id, 2), quantity=Decimal("2.5"),
                           unit="kg", to_location_code="CR1-01", reason="称量后剩余，原包装密封退库",
                           reference=UPSTREAM_BATCH)

    materials.issue_stock(actor=clerk, container_number=_container(clerk, lots["tris-1"][1].id),
                          quantity=Decimal("12.5"), unit="kg", reference=BUFFER_BATCH)
    # EU GDP 5.5 (first expiry, first out): the earlier-expiring sodium chloride lot is skipped with a
    # documented reason, which QA still has to review.
    materials.issue_stock(actor=clerk, container_number=_container(clerk, lots["nacl-b"][1].id, 1),
                          quantity=Decimal(25), unit="kg", reference=BUFFER_BATCH,
                          fefo_override_reason="K55012345 批所在托盘位于高位货架，叉车年检停用，经仓库主管同意先用新批")

    materials.allocate(actor=clerk, material_code="PK-70003", quantity=Decimal(12), unit="box",
                       purpose=FILLING_BATCH, reserve=True)

    short_dated = materials.list_lots(actor=staff.qa_manager, material_code="EX-50001", state="released")
    for lot in short_dated:
        if (lot.expires_on - today).days <= 30:
            materials.approve_short_dated_use(actor=staff.qa_manager, lot_id=lot.id, password=password,
                                              reason="BO-2026-0010 制剂配制于有效期前使用完毕，风险可控，批准使用")

    count = materials.open_cycle_count(actor=clerk, location_code="WH1-RA")
    for n, line in enumerate(count.lines):
        # One drum weighs 0.35 kg light: the variance waits for QA approval.
        counted = line.expected - Decimal("0.35") if n == 0 and line.unit == "kg" else line.expected
        materials.record_count(actor=clerk, count_id=count.id, container_number=line.container_number,
                               counted=counted)
    apply_transition(actor=clerk, collection="cycle-counts", record_id=count.id, name="submit",
                     password=password, meaning="performed")


def load_demo_materials(*, sign_in: Callable[[str], Actor], password: str) -> None:
    """Load the demo warehouse; ``sign_in`` returns a signed-in demo user."""
    today = site_today()
    staff = _Staff(qa_author=sign_in("qa.zhangwei"), qa_manager=sign_in("qa.lina"), buyer=sign_in("plan.xuting"),
                   clerk=sign_in("wh.zhoutao"), analyst=sign_in("qc.wangfang"))
    _load_master(staff, password)
    _load_locations(staff.clerk)
    supplier_ids = _load_suppliers(staff, today)
    orders = _load_orders(staff.buyer, supplier_ids, today)
    lots = _receive(staff, orders, today)
    _settle_lots(staff, lots, password)
    _import_opening_stock(staff, password, today)
    _warehouse_day(staff, lots, password, today)
    review = materials.run_daily_stock_review(actor=Actor.system("job:daily-stock-review"))
    for number in review.expired:
        lot = materials.find_by_scan(actor=staff.clerk, code=number)
        _transfer(staff.clerk, lot.id, "RJ-01", "过期批次移入不合格品隔离笼，待销毁")
