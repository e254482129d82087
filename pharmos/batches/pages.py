"""Shop-floor and QA pages of the batches module: list, order, batch page, tablet execution, review, genealogy.

Each handler parses its form, calls one service of ``pharmos.batches.service`` and renders; the
batch page also asks the lifecycle which transitions the user may take and why not. A refused
call comes back as the same page with each problem next to its field and the input kept
(``pharmos.web.forms``). The rules — order of steps, limits, qualification, usability of
equipment and lots, four-eyes verification, release blockers — live in the services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from pharmos.api.policy import requires
from pharmos.batches import service
from pharmos.batches.lifecycle import BATCH_LIFECYCLE
from pharmos.batches.views import BatchView, StepView
from pharmos.compliance.lifecycle import available_transitions
from pharmos.compliance.signatures import MEANINGS
from pharmos.core.actor import Actor
from pharmos.core.errors import DomainError, FieldProblem
from pharmos.web.forms import FormReader, ModulePages, download, form_values, perform, query_values, see_other
from pharmos.web.rendering import LIST_LIMIT, page_of_rows

pages = APIRouter(include_in_schema=False)
Viewer = Annotated[Actor, Depends(requires("batches.view"))]
Planner = Annotated[Actor, Depends(requires("batches.plan"))]
Executor = Annotated[Actor, Depends(requires("batches.execute"))]
Verifier = Annotated[Actor, Depends(requires("batches.verify"))]
Reviewer = Annotated[Actor, Depends(requires("batches.review"))]

COLLECTION = BATCH_LIFECYCLE.collection
BASE = "/batches"
BATCH_STATES = tuple(BATCH_LIFECYCLE.states)
EXCEPTION_KINDS = ("out_of_limit", "late_step", "override", "correction", "lot_substitution",
                   "weight_out_of_tolerance", "yield")

_VOCABULARY: dict[str, Any] = {
    "meanings": MEANINGS,
    "batch_states": BATCH_STATES,
    "transition_sources": {COLLECTION: {t.name: t.source for t in BATCH_LIFECYCLE.transitions}},
}
_ui = ModulePages(_VOCABULARY)


# ---------------------------------------------------------------- list and order


@pages.get(BASE, response_class=HTMLResponse)
def batch_list(request: Request, actor: Viewer, after: int | None = None) -> Response:
    params = query_values(request)
    rows = service.list_batches(actor=actor, state=params.get("state") or None, query=params.get("q") or None,
                                after_id=after, limit=LIST_LIMIT + 1)
    items, next_page = page_of_rows(request, rows)
    return _ui.page(request, "batches/list.html", {"batches": items, "next_page": next_page, "values": params})


def _order_context(*, actor: Actor) -> dict[str, Any]:
    return {"mbrs": service.list_mbrs(actor=actor, state="effective", limit=200)}


@pages.get(f"{BASE}/new", response_class=HTMLResponse)
def batch_order_form(request: Request, actor: Planner, mbr: int | None = None) -> Response:
    values = {"mbr_id": str(mbr)} if mbr else {}
    return _ui.page(request, "batches/new.html", {**_order_context(actor=actor), "values": values})


@pages.post(f"{BASE}/new", response_class=HTMLResponse)
async def batch_order(request: Request, actor: Planner) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        mbr_id = reader.integer("mbr_id")
        size = reader.number("planned_size", required=True)
        start = reader.moment("planned_start")
        if start is None and "planned_start" not in {p.field for p in reader.problems}:
            reader.problems.append(FieldProblem("planned_start", "Use a date and time such as 2026-03-11 08:30."))
        reader.check()
        batch = await perform(service.order_batch, actor=actor, mbr_id=mbr_id, planned_size=size,
                              planned_start=start)
    except DomainError as exc:
        context = await perform(_order_context, actor=actor)
        return _ui.refused(request, exc, "batches/new.html", context, values)
    return see_other(f"{BASE}/{batch.id}")


# ---------------------------------------------------------------- genealogy (before /{batch_id})


@pages.get(f"{BASE}/genealogy", response_class=HTMLResponse)
def genealogy(request: Request, actor: Viewer, lot: str = "", direction: str = "backward") -> Response:
    lot = lot.strip()
    view = service.trace(actor=actor, lot=lot, direction=direction) if lot else None
    return _ui.page(request, "batches/genealogy.html", {
        "trace": view, "values": {"lot": lot, "direction": direction}})


# ---------------------------------------------------------------- the batch page


def _detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    batch = service.get_batch(actor=actor, batch_id=record_id)
    return {"batch": batch, "phases": _phases(batch),
            "transitions": available_transitions(actor=actor, collection=COLLECTION, record_id=record_id)}


def _phases(batch: BatchView) -> list[tuple[str, list[StepView]]]:
    """The batch's steps grouped by phase, in recipe order."""
    grouped: dict[tuple[int, str], list[StepView]] = {}
    for step in sorted(batch.steps, key=lambda s: s.seq):
        grouped.setdefault((step.phase_seq, step.phase_name), []).append(step)
    return [(name, steps) for (_, name), steps in sorted(grouped.items())]


@pages.get(BASE + "/{batch_id}", response_class=HTMLResponse)
def batch_detail(request: Request, batch_id: int, actor: Viewer) -> Response:
    return _ui.page(request, "batches/batch.html", _detail(actor=actor, record_id=batch_id))


@pages.post(BASE + "/{batch_id}/transitions/{name}", response_class=HTMLResponse)
async def batch_transition(request: Request, batch_id: int, name: str, actor: Viewer) -> Response:
    # Release and rejection are taken from the review page; they come back there when refused.
    review = name in ("release", "reject")
    return await _ui.transition(request, actor=actor, collection=COLLECTION, record_id=batch_id, name=name,
                                detail=_review if review else _detail,
                                template="batches/review.html" if review else "batches/batch.html",
                                back=f"{BASE}/{batch_id}")


@pages.post(BASE + "/{batch_id}/yield", response_class=HTMLResponse)
async def batch_yield(request: Request, batch_id: int, actor: Executor) -> Response:
    def call(reader: FormReader) -> Any:
        actual = reader.number("actual_yield", required=True)
        reader.check()
        assert actual is not None  # required: check() refused an empty one
        return service.record_yield(actor=actor, batch_id=batch_id, actual_yield=actual, note=reader.text("note"))
    return await _ui.detail_form(request, actor=actor, record_id=batch_id, form="yield", call=call, detail=_detail,
                                 template="batches/batch.html", back=f"{BASE}/{batch_id}#reconciliation")


@pages.get(BASE + "/{batch_id}/record.pdf")
def batch_record(batch_id: int, actor: Viewer) -> Response:
    # EU GMP Annex 11 §8.1 / 21 CFR 11.10(b): a complete, human-readable copy; the printing is audited.
    content = service.batch_record_pdf(actor=actor, batch_id=batch_id)
    return download(content, "application/pdf", f"batch-record-{batch_id}.pdf", inline=True)


# ---------------------------------------------------------------- tablet execution


def _execution(*, actor: Actor, record_id: int, step_id: int | None = None) -> dict[str, Any]:
    batch = service.get_batch(actor=actor, batch_id=record_id)
    current = [s for s in batch.steps if s.id in batch.current_step_ids]
    awaiting = [s for s in batch.steps if s.state == "performed" and s.id not in batch.current_step_ids]
    workable = current + awaiting
    chosen = next((s for s in workable if s.id == step_id), workable[0] if workable else None)
    step = service.get_step(actor=actor, batch_id=record_id, step_id=chosen.id) if chosen else None
    return {"batch": batch, "current": current, "awaiting": awaiting, "step": step,
            "dispenses": [d for m in (step.materials if step else ()) for d in m.dispenses]}


def _execution_of(step_id: int | None) -> Callable[..., dict[str, Any]]:
    def detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
        return _execution(actor=actor, record_id=record_id, step_id=step_id)
    return detail


@pages.get(BASE + "/{batch_id}/execute", response_class=HTMLResponse)
def batch_execute(request: Request, batch_id: int, actor: Viewer, step: int | None = None,
                  dispensed: int | None = None) -> Response:
    context = _execution(actor=actor, record_id=batch_id, step_id=step)
    return _ui.page(request, "batches/execute.html", {**context, "dispensed_id": dispensed})


async def _step_form(request: Request, batch_id: int, step_id: int, actor: Actor, form: str,
                     call: Callable[[FormReader], Any], anchor: str = "") -> Response:
    return await _ui.detail_form(request, actor=actor, record_id=batch_id, form=form, call=call,
                                 detail=_execution_of(step_id), template="batches/execute.html",
                                 back=f"{BASE}/{batch_id}/execute?step={step_id}{anchor}")


@pages.post(BASE + "/{batch_id}/steps/{step_id}/entries", response_class=HTMLResponse)
async def step_entry(request: Request, batch_id: int, step_id: int, actor: Executor) -> Response:
    values = await form_values(request)
    code = values.get("parameter_code", "")

    def call(reader: FormReader) -> Any:
        return service.record_entry(actor=actor, batch_id=batch_id, step_id=step_id, parameter_code=code,
                                    value=reader.text("value"))
    return await _step_form(request, batch_id, step_id, actor, f"entry-{code}", call, f"#p-{code}")


@pages.post(BASE + "/{batch_id}/steps/{step_id}/entries/{entry_id}/correction", response_class=HTMLResponse)
async def step_correction(request: Request, batch_id: int, step_id: int, entry_id: int,
                          actor: Executor) -> Response:
    def call(reader: FormReader) -> Any:
        return service.correct_entry(actor=actor, batch_id=batch_id, step_id=step_id, entry_id=entry_id,
                                     value=reader.text("value"), reason=reader.text("reason"))
    return await _step_form(request, batch_id, step_id, actor, f"correct-{entry_id}", call)


@pages.post(BASE + "/{batch_id}/steps/{step_id}/equipment", response_class=HTMLResponse)
async def step_equipment(request: Request, batch_id: int, step_id: int, actor: Executor) -> Response:
    def call(reader: FormReader) -> Any:
        return service.scan_equipment(actor=actor, batch_id=batch_id, step_id=step_id, number=reader.text("number"))
    return await _step_form(request, batch_id, step_id, actor, "equipment", call, "#scan-equipment")


@pages.post(BASE + "/{batch_id}/steps/{step_id}/lots", response_class=HTMLResponse)
async def step_lot(request: Request, batch_id: int, step_id: int, actor: Executor) -> Response:
    def call(reader: FormReader) -> Any:
        return service.scan_lot(actor=actor, batch_id=batch_id, step_id=step_id, code=reader.text("code"),
                                reason=reader.text("reason"))
    return await _step_form(request, batch_id, step_id, actor, "lot", call, "#scan-lot")


@pages.post(BASE + "/{batch_id}/steps/{step_id}/override", response_class=HTMLResponse)
async def step_override(request: Request, batch_id: int, step_id: int, actor: Executor) -> Response:
    # EU GMP Annex 11 §12.3: leaving the recipe's order is recorded with its reason for QA's review.
    def call(reader: FormReader) -> Any:
        return service.open_step_out_of_order(actor=actor, batch_id=batch_id, step_id=step_id,
                                              reason=reader.text("reason"))
    return await _ui.detail_form(request, actor=actor, record_id=batch_id, form=f"override-{step_id}", call=call,
                                 detail=_detail, template="batches/batch.html",
                                 back=f"{BASE}/{batch_id}/execute?step={step_id}")


@pages.post(BASE + "/{batch_id}/steps/{step_id}/sign", response_class=HTMLResponse)
async def step_sign(request: Request, batch_id: int, step_id: int, actor: Executor) -> Response:
    # 21 CFR 11.200: the performer re-enters the password for every signature.
    def call(reader: FormReader) -> Any:
        return service.sign_step(actor=actor, batch_id=batch_id, step_id=step_id,
                                 password=reader.values.get("password", ""), otp=reader.text("otp") or None)
    return await _ui.detail_form(request, actor=actor, record_id=batch_id, form="sign", call=call,
                                 detail=_execution_of(step_id), template="batches/execute.html",
                                 back=f"{BASE}/{batch_id}/execute")


@pages.post(BASE + "/{batch_id}/steps/{step_id}/verify", response_class=HTMLResponse)
async def step_verify(request: Request, batch_id: int, step_id: int, actor: Verifier) -> Response:
    # 药品GMP 第一百七十五条 / EU GMP Annex 11 §6: a critical step is checked by a second person.
    def call(reader: FormReader) -> Any:
        return service.verify_step(actor=actor, batch_id=batch_id, step_id=step_id,
                                   password=reader.values.get("password", ""), otp=reader.text("otp") or None)
    return await _ui.detail_form(request, actor=actor, record_id=batch_id, form="verify", call=call,
                                 detail=_execution_of(step_id), template="batches/execute.html",
                                 back=f"{BASE}/{batch_id}/execute")


@pages.post(BASE + "/{batch_id}/steps/{step_id}/dispense", response_class=HTMLResponse)
async def step_dispense(request: Request, batch_id: int, step_id: int, actor: Executor) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        line_no = reader.integer("line_no")
        gross, tare, net = reader.number("gross"), reader.number("tare"), reader.number("net")
        reader.check()
        made = await perform(service.dispense, actor=actor, batch_id=batch_id, line_no=line_no,
                             container_number=reader.text("container_number"), gross=gross, tare=tare, net=net,
                             balance_number=reader.text("balance_number"),
                             substitution_reason=reader.text("substitution_reason"))
    except DomainError as exc:
        values["form"] = f"dispense-{values.get('line_no', '')}"
        context = await perform(_execution, actor=actor, record_id=batch_id, step_id=step_id)
        return _ui.refused(request, exc, "batches/execute.html", context, values)
    # The label link shows at once: EU GMP Part I 3.35 — each dispensed container is labelled.
    return see_other(f"{BASE}/{batch_id}/execute?step={step_id}&dispensed={made.id}#dispense-{line_no}")


@pages.get(BASE + "/{batch_id}/dispenses/{dispense_id}/label.pdf")
def dispense_label(batch_id: int, dispense_id: int, actor: Executor) -> Response:
    content = service.dispensing_label_pdf(actor=actor, dispense_id=dispense_id)
    return download(content, "application/pdf", f"dispense-label-{dispense_id}.pdf", inline=True)


# ---------------------------------------------------------------- review by exception


def _review(*, actor: Actor, record_id: int) -> dict[str, Any]:
    batch = service.get_batch(actor=actor, batch_id=record_id)
    exceptions = service.list_exceptions(actor=actor, batch_id=record_id)
    steps = {s.id: s for s in batch.steps}
    return {"batch": batch, "exceptions": exceptions, "steps": steps,
            "open_count": sum(1 for e in exceptions if e.state != "reviewed"),
            "transitions": [t for t in available_transitions(actor=actor, collection=COLLECTION, record_id=record_id)
                            if t.name in ("release", "reject")]}


@pages.get(BASE + "/{batch_id}/review", response_class=HTMLResponse)
def batch_review(request: Request, batch_id: int, actor: Viewer) -> Response:
    return _ui.page(request, "batches/review.html", _review(actor=actor, record_id=batch_id))


@pages.post(BASE + "/{batch_id}/exceptions/{exception_id}/review", response_class=HTMLResponse)
async def exception_review(request: Request, batch_id: int, exception_id: int, actor: Reviewer) -> Response:
    def call(reader: FormReader) -> Any:
        return service.review_exception(actor=actor, batch_id=batch_id, exception_id=exception_id,
                                        comment=reader.text("comment"))
    return await _ui.detail_form(request, actor=actor, record_id=batch_id, form=f"review-{exception_id}",
                                 call=call, detail=_review, template="batches/review.html",
                                 back=f"{BASE}/{batch_id}/review#exception-{exception_id}")
