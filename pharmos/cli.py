"""The ``pharmos`` command: install, serve, demo, user and role administration, audit trail.

The CLI is one more edge over the services: it parses options, calls one service and
prints. Every change it makes is attributed to the operating-system account that ran it
(``Actor.cli()``; ALCOA+ 'attributable', 21 CFR 11.10(e)).
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url
from typer.core import TyperGroup

import pharmos
from pharmos.core.actor import Actor
from pharmos.core.config import get_settings
from pharmos.core.errors import DomainError, FieldProblem, ValidationFailed, required_reason

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


class PharmosGroup(TyperGroup):
    """The one place domain errors become CLI output: a red message, its fields, exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            if exc.fields and all(p.message == exc.message for p in exc.fields):
                named = ", ".join(p.field for p in exc.fields)
                errors.print(f"[bold red]Error ({escape(named)}):[/] [red]{escape(exc.message)}[/]")
            else:
                errors.print(f"[bold red]Error:[/] [red]{escape(exc.message)}[/]")
                for problem in exc.fields:
                    errors.print(f"  [red]{escape(problem.field)}[/]: {escape(problem.message)}")
            raise typer.Exit(2) from None


app = typer.Typer(cls=PharmosGroup, no_args_is_help=True, add_completion=False,
                  help="Pharmos: the GMP operations platform for biopharmaceutical manufacturers.")
user_app = typer.Typer(no_args_is_help=True, help="User accounts (21 CFR 11.100, 11.300).")
role_app = typer.Typer(no_args_is_help=True, help="Roles and segregation of duties.")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit trail (21 CFR 11.10(e)).")
app.add_typer(user_app, name="user")
app.add_typer(role_app, name="role")
app.add_typer(audit_app, name="audit")
materials_app = typer.Typer(no_args_is_help=True, help="Materials and warehouse jobs.")
app.add_typer(materials_app, name="materials")
equipment_app = typer.Typer(no_args_is_help=True, help="Equipment and metrology jobs, spreadsheet import and export.")
app.add_typer(equipment_app, name="equipment")
quality_app = typer.Typer(no_args_is_help=True, help="Quality jobs: deviations and CAPA.")
app.add_typer(quality_app, name="quality")


def _actor() -> Actor:
    return Actor.cli()


def _database_label(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _migrate() -> None:
    from pharmos.core.migrate import upgrade_head

    upgrade_head()
    where = _database_label(get_settings().database_url)
    console.print(f"[green]✓[/] Schema is at the latest revision: {escape(where)}")


def _interactive() -> bool:
    return sys.stdin.isatty()


# ---------------------------------------------------------------- install and run


@app.command()
def init(
    admin_username: Annotated[str | None, typer.Option(help="Username of the first administrator")] = None,
    admin_password: Annotated[str | None, typer.Option(help="Password of the first administrator")] = None,
    admin_full_name: Annotated[str | None, typer.Option(help="Printed name of the first administrator")] = None,
) -> None:
    """Create or upgrade the schema, provision the built-in roles and the first administrator."""
    from pharmos.auth import service as auth

    _migrate()
    actor = _actor()
    auth.ensure_builtin_roles(actor=actor)
    console.print("[green]✓[/] Built-in roles are in place.")
    given = {"admin_username": admin_username, "admin_password": admin_password, "admin_full_name": admin_full_name}
    if all(v is None for v in given.values()) and not _interactive():
        console.print("No administrator was created (no --admin-* options and no terminal to ask). "
                      "Run [bold]pharmos user add[/] or [bold]pharmos init[/] with --admin-username, "
                      "--admin-password and --admin-full-name.")
        return
    if _interactive():
        admin_username = admin_username or typer.prompt("Administrator username")
        admin_full_name = admin_full_name or typer.prompt("Administrator full name (printed on signatures)")
        admin_password = admin_password or typer.prompt("Administrator password", hide_input=True,
                                                        confirmation_prompt=True)
    missing = [FieldProblem(name, "Required to create the first administrator.")
               for name, value in {"admin_username": admin_username, "admin_password": admin_password,
                                   "admin_full_name": admin_full_name}.items() if not value]
    if missing:
        raise ValidationFailed("The administrator was not created.", missing)
    assert admin_username and admin_password and admin_full_name
    view = auth.create_user(actor=actor, username=admin_username, full_name=admin_full_name,
                            password=admin_password, roles=["admin"])
    console.print(f"[green]✓[/] Administrator [bold]{escape(view.username)}[/] ({escape(view.full_name)}) created.")


@app.command()
def migrate() -> None:
    """Bring the database schema to the latest revision."""
    _migrate()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development)")] = False,
) -> None:
    """Run the web application and API with uvicorn."""
    import uvicorn

    console.print(f"Pharmos {pharmos.__version__} on http://{host}:{port}/ "
                  f"({escape(_database_label(get_settings().database_url))})")
    uvicorn.run("pharmos.app:create_app", factory=True, host=host, port=port, workers=workers, reload=reload)


def _wipe_demo_database(*, force: bool) -> None:
    from pharmos.core.db import get_database

    url = make_url(get_settings().database_url)
    if url.get_backend_name() != "sqlite":
        if not force:
            raise ValidationFailed.on(
                "database_url",
                f"{_database_label(str(url))} is not SQLite; the demo wipes its database. Use --force to wipe it.")
        from pharmos.core.migrate import downgrade_base

        downgrade_base()
        return
    get_database().dispose()
    if url.database and url.database != ":memory:":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(url.database + suffix).unlink(missing_ok=True)


@app.command()
def demo(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load the demo site and exit")] = False,
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    force: Annotated[bool, typer.Option(help="Also wipe a non-SQLite database")] = False,
) -> None:
    """Wipe the database, load the demo site (华东生物制药有限公司) and serve it."""
    from pharmos.demo import COMPANY, load_demo_site

    _wipe_demo_database(force=force)
    _migrate()
    logins = load_demo_site(actor=_actor())
    table = Table(title=f"Demo logins — {COMPANY}")
    for column in ("Username", "Password", "Role", "Full name"):
        table.add_column(column, no_wrap=True)
    for login in logins:
        table.add_row(login.username, login.password, login.role, login.full_name)
    console.print(table)
    if not no_serve:
        serve(host="127.0.0.1", port=port, workers=1, reload=False)


@app.command()
def version() -> None:
    """Print the Pharmos version."""
    console.print(f"pharmos {pharmos.__version__}")


# ---------------------------------------------------------------- users


@user_app.command("add")
def user_add(
    username: str,
    full_name: Annotated[str, typer.Option(help="Printed name (on signatures)")],
    role: Annotated[list[str], typer.Option(help="Role to grant; repeat for several")],
    password: Annotated[str | None, typer.Option(help="Initial password")] = None,
    email: Annotated[str | None, typer.Option()] = None,
    language: Annotated[str, typer.Option(help="zh_CN or en")] = "zh_CN",
    department: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a user account with one or more roles."""
    from pharmos.auth import service as auth

    if password is None:
        if not _interactive():
            raise ValidationFailed.on("password", "Give --password (no terminal to ask).")
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    view = auth.create_user(actor=_actor(), username=username, full_name=full_name, password=password,
                            email=email, language=language, department=department, roles=role)
    console.print(f"[green]✓[/] User [bold]{escape(view.username)}[/] created with roles {', '.join(view.roles)}.")


@user_app.command("deactivate")
def user_deactivate(username: str, reason: Annotated[str, typer.Option(help="Why (audited)")]) -> None:
    """Deactivate an account (it is never deleted, and its username is never reused)."""
    from pharmos.auth import service as auth

    auth.deactivate_user(actor=_actor(), username=username, reason=reason)
    console.print(f"[green]✓[/] {escape(username)} deactivated.")


@user_app.command("list")
def user_list() -> None:
    """List every user account."""
    from pharmos.auth import service as auth

    table = Table()
    table.add_column("Username", no_wrap=True)
    for column in ("Full name", "Roles", "Department", "Active", "Locked", "MFA", "Last login"):
        table.add_column(column, overflow="fold")
    for u in auth.list_users(actor=_actor()):
        table.add_row(u.username, u.full_name, ", ".join(u.roles), u.department or "",
                      "yes" if u.is_active else "[red]no[/]", "[red]yes[/]" if u.locked else "no",
                      "yes" if u.totp_enabled else "no",
                      u.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if u.last_login_at else "")
    console.print(table)


@user_app.command("reset-password")
def user_reset_password(username: str,
                        reason: Annotated[str | None, typer.Option(help="Why (audited)")] = None) -> None:
    """Issue a one-time temporary password; the user must change it at next sign-in."""
    from pharmos.auth import service as auth

    temporary = auth.reset_password(actor=_actor(), username=username, reason=reason)
    console.print(f"Temporary password for {escape(username)}: [bold]{escape(temporary)}[/]")
    console.print("Hand it over in person; it must be changed before the user can sign.")


@user_app.command("unlock")
def user_unlock(username: str, reason: Annotated[str, typer.Option(help="Why (audited)")]) -> None:
    """Unlock an account locked after repeated failed sign-ins."""
    from pharmos.auth import service as auth

    auth.unlock_user(actor=_actor(), username=username, reason=reason)
    console.print(f"[green]✓[/] {escape(username)} unlocked.")


# ---------------------------------------------------------------- roles


@role_app.command("grant")
def role_grant(username: str, role: str,
               reason: Annotated[str | None, typer.Option(help="Why (audited)")] = None) -> None:
    """Grant a role (refused when it breaks segregation of duties)."""
    from pharmos.auth import service as auth

    auth.grant_role(actor=_actor(), username=username, role=role, reason=reason)
    console.print(f"[green]✓[/] {escape(username)} now holds {escape(role)}.")


@role_app.command("revoke")
def role_revoke(username: str, role: str,
                reason: Annotated[str | None, typer.Option(help="Why (audited)")] = None) -> None:
    """Revoke a role."""
    from pharmos.auth import service as auth

    auth.revoke_role(actor=_actor(), username=username, role=role, reason=reason)
    console.print(f"[green]✓[/] {escape(role)} revoked from {escape(username)}.")


@role_app.command("list")
def role_list() -> None:
    """List roles, their permissions and members."""
    from pharmos.auth import service as auth

    table = Table()
    for column in ("Role", "Label", "Permissions", "Members"):
        table.add_column(column)
    for r in auth.list_roles(actor=_actor()):
        table.add_row(r.name, f"{r.label_zh} / {r.label_en}", "\n".join(r.permissions), ", ".join(r.members))
    console.print(table)


# ---------------------------------------------------------------- audit trail


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain; exit 1 and name the first broken entry if it is not intact."""
    from pharmos.compliance.service import verify_audit_trail

    result = verify_audit_trail(actor=_actor())
    if result.ok:
        console.print(f"[green]✓ Audit trail intact:[/] {result.checked} entries checked.")
        return
    errors.print(f"[bold red]✗ Audit trail broken at entry {result.first_broken_id}:[/] {escape(result.problem or '')}")
    errors.print(f"{result.checked} entries before it verified.")
    raise typer.Exit(1)


def _moment(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed.on(field, f"{value!r} is not an ISO date or date-time, e.g. 2026-03-01T08:00.") from None
    if moment.tzinfo is None:
        # People type site-local times; stored times are UTC.
        moment = moment.replace(tzinfo=ZoneInfo(get_settings().site_timezone))
    return moment


@audit_app.command("export")
def audit_export(
    format: Annotated[str, typer.Option("--format", help="csv or pdf")] = "csv",
    record: Annotated[str | None, typer.Option(help="Only this record, as TYPE:ID (e.g. user:3)")] = None,
    user: Annotated[str | None, typer.Option(help="Only entries by this username")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (create, update, export, …)")] = None,
    since: Annotated[str | None, typer.Option(help="From (ISO; site time zone unless given)")] = None,
    until: Annotated[str | None, typer.Option(help="Until (ISO; site time zone unless given)")] = None,
    output: Annotated[Path | None, typer.Option(help="File to write (default: generated name here)")] = None,
) -> None:
    """Export the audit trail as an inspection copy (21 CFR 11.10(b)); the export is audited."""
    from pharmos.compliance.export import export_audit
    from pharmos.compliance.service import AuditQuery, parse_record_ref

    record_type, record_id = parse_record_ref(record) if record else (None, None)
    query = AuditQuery(record_type=record_type, record_id=record_id, actor=user, action=action,
                       since=_moment(since, "since"), until=_moment(until, "until"))
    content, _media_type, filename = export_audit(actor=_actor(), fmt=format, query=query)
    target = output or Path(filename)
    target.write_bytes(content)
    console.print(f"[green]✓[/] Wrote {escape(str(target))} ({len(content):,} bytes).")


def main() -> None:
    app()


# ---------------------------------------------------------------- materials


@materials_app.command("daily-review")
def materials_daily_review(
    today: Annotated[str | None, typer.Option(help="Review as of this date (ISO; default: today at the site)")] = None,
) -> None:
    """Expire lots past their expiry date and list lots expiring or due for retest (run daily, e.g. from cron)."""
    from pharmos.materials import service as materials

    try:
        as_of = date.fromisoformat(today) if today else None
    except ValueError:
        raise ValidationFailed.on("today", f"{today!r} is not an ISO date such as 2026-03-01.") from None
    result = materials.run_daily_stock_review(actor=Actor.system("job:daily-stock-review"), today=as_of)
    console.print(f"Stock review for {result.run_on.isoformat()}: {len(result.expired)} lot(s) expired, "
                  f"{len(result.expiring)} expiring soon, {len(result.retest_due)} due for retest.")
    for number in result.expired:
        console.print(f"  expired: {number}")
    for row in (*result.expiring, *result.retest_due):
        console.print(f"  {row.lot_number} {row.material_code} expires {row.expires_on.isoformat()}"
                      + (f", retest {row.retest_on.isoformat()}" if row.retest_on else ""))


# ---------------------------------------------------------------- equipment

EQUIPMENT_EXPORTS = ("equipment", "calibration-plan", "work-orders")


@equipment_app.command("daily-scan")
def equipment_daily_scan(
    today: Annotated[str | None, typer.Option(help="Scan as of this date (ISO; default: today at the site)")] = None,
) -> None:
    """Raise calibration/requalification reminders, generate due PM work orders, schedule rounds, flag missed ones."""
    from pharmos.equipment import service as equipment

    try:
        as_of = date.fromisoformat(today) if today else None
    except ValueError:
        raise ValidationFailed.on("today", f"{today!r} is not an ISO date such as 2026-03-01.") from None
    result = equipment.run_daily_equipment_scan(actor=Actor.system("job:daily-equipment-scan"), today=as_of)
    console.print(f"Equipment scan for {result.run_on.isoformat()} ({result.seconds:.2f} s): "
                  f"{result.reminders_raised} reminder(s) raised, "
                  f"{len(result.work_orders_generated)} work order(s) generated, "
                  f"{result.rounds_scheduled} round(s) scheduled, {len(result.rounds_missed)} round(s) missed; "
                  f"{result.calibrations_overdue} calibration(s) and {result.requalifications_overdue} "
                  "requalification(s) overdue.")
    for number in result.work_orders_generated:
        console.print(f"  work order: {number}")
    for number in result.rounds_missed:
        console.print(f"  missed: {number}")


def _equipment_import(kind: str, file: Path, reason: str, dry_run: bool) -> None:
    from pharmos.equipment import service as equipment

    if not file.is_file():
        raise ValidationFailed.on("file", f"No file {file}.")
    importer = equipment.import_equipment if kind == "equipment" else equipment.import_calibration_plan
    result = importer(actor=_actor(), filename=file.name, content=file.read_bytes(), dry_run=dry_run,
                      reason=required_reason(reason))
    verb = "Checked" if dry_run else "Imported"
    console.print(f"[green]✓[/] {verb} {escape(file.name)}: {result.rows} row(s); {len(result.created)} created, "
                  f"{len(result.updated)} updated, {len(result.unchanged)} unchanged"
                  + (" (dry run: nothing written)." if dry_run else "."))
    for number in (*result.created, *result.updated):
        console.print(f"  {escape(number)}")


@equipment_app.command("import-equipment")
def equipment_import_equipment(
    file: Annotated[Path, typer.Argument(help="CSV or Excel (.xlsx) equipment ledger")],
    reason: Annotated[str, typer.Option(help="Why (audited)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row, write nothing")] = False,
) -> None:
    """Register equipment from a spreadsheet: every row or none, each bad row named."""
    _equipment_import("equipment", file, reason, dry_run)


@equipment_app.command("import-calibration-plan")
def equipment_import_calibration_plan(
    file: Annotated[Path, typer.Argument(help="CSV or Excel (.xlsx) calibration plan")],
    reason: Annotated[str, typer.Option(help="Why (audited)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row, write nothing")] = False,
) -> None:
    """Set intervals, accuracy, ranges and (go-live) last calibration dates of registered instruments."""
    _equipment_import("calibration-plan", file, reason, dry_run)


@equipment_app.command("export")
def equipment_export(
    what: Annotated[str, typer.Argument(help="equipment, calibration-plan or work-orders")],
    format: Annotated[str, typer.Option("--format", help="csv or xlsx")] = "csv",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write (default: generated name)")]
    = None,
) -> None:
    """Export the equipment ledger, the calibration plan or the work orders as CSV or Excel."""
    from pharmos.equipment import service as equipment

    exports = {"equipment": equipment.export_equipment, "calibration-plan": equipment.export_calibration_plan,
               "work-orders": equipment.export_work_orders}
    if what not in exports:
        raise ValidationFailed.on("what", f"Export one of: {', '.join(EQUIPMENT_EXPORTS)}.")
    content, _media_type, filename = exports[what](actor=_actor(), fmt=format)
    target = output or Path(filename)
    target.write_bytes(content)
    console.print(f"[green]✓[/] Wrote {escape(str(target))} ({len(content):,} bytes).")


# ---------------------------------------------------------------- quality


@quality_app.command("escalate")
def quality_escalate(
    today: Annotated[str | None, typer.Option(help="Escalate as of this date (ISO; default: today at the site)")]
    = None,
) -> None:
    """Flag deviations and CAPA past their due (or effectiveness-check) date, once each, in the audit trail."""
    from pharmos.quality import service as quality

    try:
        as_of = date.fromisoformat(today) if today else None
    except ValueError:
        raise ValidationFailed.on("today", f"{today!r} is not an ISO date such as 2026-03-01.") from None
    result = quality.escalate_overdue(actor=Actor.system("job:quality-escalation"), today=as_of)
    console.print(f"Quality escalation for {result.run_on.isoformat()}: "
                  f"{len(result.deviations_escalated)} deviation(s) and {len(result.capas_escalated)} CAPA "
                  "escalated.")
    for number in (*result.deviations_escalated, *result.capas_escalated):
        console.print(f"  escalated: {escape(number)}")


@quality_app.command("documents-effective")
def quality_documents_effective() -> None:
    """Make every approved document version whose effective date has come effective (the daily job)."""
    from pharmos.quality import service as quality

    # 药品GMP 第一百五十五条: the approved version comes into use on its effective date, the old one is withdrawn.
    made = quality.make_due_versions_effective(actor=Actor.system("job:documents-effective"))
    console.print(f"Document versions made effective: {len(made)}.")
    for line in made:
        console.print(f"  effective: {escape(line)}")


@quality_app.command("training-sync")
def quality_training_sync(
    today: Annotated[str | None, typer.Option(help="Due dates counted from this date (ISO; default: today at the "
                                                    "site)")] = None,
) -> None:
    """Assign the version in force of every required document to people who joined a role since (idempotent)."""
    from pharmos.quality import service as quality

    try:
        as_of = date.fromisoformat(today) if today else None
    except ValueError:
        raise ValidationFailed.on("today", f"{today!r} is not an ISO date such as 2026-03-01.") from None
    # 药品GMP 第二十七条: newcomers to a role are trained on its procedures before they work to them.
    result = quality.sync_training(actor=Actor.system("job:training-sync"), today=as_of)
    console.print(f"Training sync for {result.run_on.isoformat()}: {len(result.assigned)} assignment(s).")
    for line in result.assigned:
        console.print(f"  assigned: {escape(line)}")


if __name__ == "__main__":
    main()
