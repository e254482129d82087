"""Equipment and metrology: equipment ledger, calibration, maintenance, faults, rounds, logbook, spare parts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:23:49.672924
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# EU GMP Part I 4.31 / Annex 11 §9: the equipment logbook and the spare-part ledger are
# append-only like the audit trail; corrections are new entries. (pharmos_reject_change() is from 0001.)
_APPEND_ONLY = ("equipment_logbook", "spare_part_movement")


def _create_append_only_guards() -> None:
    for table in _APPEND_ONLY:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION pharmos_reject_change()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION pharmos_reject_change()")
            continue
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END")


def _drop_append_only_guards() -> None:
    for table in _APPEND_ONLY:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            continue
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")


def upgrade() -> None:
    op.create_table('equipment_attachment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('owner_type', sa.String(length=40), nullable=False),
    sa.Column('owner_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=150), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_attachment'))
    )
    with op.batch_alter_table('equipment_attachment', schema=None) as batch_op:
        batch_op.create_index('ix_equipment_attachment_owner', ['owner_type', 'owner_id'], unique=False)

    op.create_table('equipment_class',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=30), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('number_prefix', sa.String(length=10), nullable=False),
    sa.Column('is_instrument', sa.Boolean(), nullable=False),
    sa.Column('calibration_interval_days', sa.Integer(), nullable=True),
    sa.Column('requalification_interval_days', sa.Integer(), nullable=True),
    sa.Column('clean_hold_hours', sa.Integer(), nullable=True),
    sa.Column('dirty_hold_hours', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_class')),
    sa.UniqueConstraint('code', name=op.f('uq_equipment_class_code'))
    )
    op.create_table('equipment_logbook',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('equipment_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reference', sa.String(length=60), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('counter_value', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('source_number', sa.String(length=40), nullable=False),
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('actor', sa.String(length=150), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_logbook'))
    )
    with op.batch_alter_table('equipment_logbook', schema=None) as batch_op:
        batch_op.create_index('ix_equipment_logbook_equipment_at', ['equipment_id', 'at'], unique=False)
        batch_op.create_index('ix_equipment_logbook_reference', ['reference'], unique=False)

    op.create_table('equipment_reminder',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('equipment_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('raised_on', sa.Date(), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_reminder')),
    sa.UniqueConstraint('equipment_id', 'kind', 'due_on', name='uq_equipment_reminder_once')
    )
    with op.batch_alter_table('equipment_reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_equipment_reminder_equipment_id'), ['equipment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_equipment_reminder_raised_on'), ['raised_on'], unique=False)

    op.create_table('inspection_route',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('frequency', sa.String(length=10), nullable=False),
    sa.Column('shift_starts', sa.String(length=100), nullable=False),
    sa.Column('window_hours', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_route')),
    sa.UniqueConstraint('code', name=op.f('uq_inspection_route_code'))
    )
    op.create_table('spare_part',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('unit', sa.String(length=10), nullable=False),
    sa.Column('on_hand', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('reorder_point', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('storage_location', sa.String(length=120), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint('on_hand >= 0', name=op.f('ck_spare_part_on_hand_not_negative')),
    sa.CheckConstraint('reorder_point >= 0', name=op.f('ck_spare_part_reorder_point_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spare_part')),
    sa.UniqueConstraint('code', name=op.f('uq_spare_part_code'))
    )
    op.create_table('equipment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('class_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('location', sa.String(length=120), nullable=False),
    sa.Column('manufacturer', sa.String(length=120), nullable=False),
    sa.Column('model', sa.String(length=120), nullable=False),
    sa.Column('serial_number', sa.String(length=120), nullable=True),
    sa.Column('install_date', sa.Date(), nullable=True),
    sa.Column('owner_department', sa.String(length=120), nullable=False),
    sa.Column('owner_id', sa.BigInteger(), nullable=True),
    sa.Column('gmp_critical', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('state_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('iq_on', sa.Date(), nullable=True),
    sa.Column('oq_on', sa.Date(), nullable=True),
    sa.Column('pq_on', sa.Date(), nullable=True),
    sa.Column('requalification_interval_days', sa.Integer(), nullable=True),
    sa.Column('requalification_due_on', sa.Date(), nullable=True),
    sa.Column('calibration_required', sa.Boolean(), nullable=False),
    sa.Column('range_low', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('range_high', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('range_unit', sa.String(length=20), nullable=False),
    sa.Column('tolerance', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('calibration_interval_days', sa.Integer(), nullable=True),
    sa.Column('last_calibrated_on', sa.Date(), nullable=True),
    sa.Column('calibration_due_on', sa.Date(), nullable=True),
    sa.Column('calibration_status', sa.String(length=20), nullable=False),
    sa.Column('clean_status', sa.String(length=20), nullable=False),
    sa.Column('clean_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dirty_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('in_use_by', sa.String(length=60), nullable=True),
    sa.Column('in_use_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('usage_counter', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('usage_unit', sa.String(length=20), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=True),
    sa.Column('author', sa.String(length=150), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('usage_counter >= 0', name=op.f('ck_equipment_usage_counter_not_negative')),
    sa.ForeignKeyConstraint(['class_id'], ['equipment_class.id'], name=op.f('fk_equipment_class_id_equipment_class')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment')),
    sa.UniqueConstraint('manufacturer', 'model', 'serial_number', name='uq_equipment_serial'),
    sa.UniqueConstraint('number', name=op.f('uq_equipment_number'))
    )
    with op.batch_alter_table('equipment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_equipment_calibration_due_on'), ['calibration_due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_equipment_class_id'), ['class_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_equipment_requalification_due_on'), ['requalification_due_on'], unique=False)
        batch_op.create_index('ix_equipment_state_class', ['state', 'class_id'], unique=False)

    op.create_table('inspection_round',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('route_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_by', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('technician_id', sa.BigInteger(), nullable=True),
    sa.Column('technician', sa.String(length=150), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['route_id'], ['inspection_route.id'], name=op.f('fk_inspection_round_route_id_inspection_route')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_round')),
    sa.UniqueConstraint('number', name=op.f('uq_inspection_round_number')),
    sa.UniqueConstraint('route_id', 'scheduled_at', name='uq_inspection_round_slot')
    )
    with op.batch_alter_table('inspection_round', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_round_due_by'), ['due_by'], unique=False)

    op.create_table('spare_part_movement',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('part_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('change', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('work_order_id', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=150), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('change <> 0', name=op.f('ck_spare_part_movement_change_not_zero')),
    sa.ForeignKeyConstraint(['part_id'], ['spare_part.id'], name=op.f('fk_spare_part_movement_part_id_spare_part')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spare_part_movement'))
    )
    with op.batch_alter_table('spare_part_movement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spare_part_movement_part_id'), ['part_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_spare_part_movement_work_order_id'), ['work_order_id'], unique=False)

    op.create_table('calibration',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('equipment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('performed_on', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('performed_by', sa.String(length=150), nullable=False),
    sa.Column('certificate_number', sa.String(length=80), nullable=False),
    sa.Column('reference_standard', sa.String(length=200), nullable=False),
    sa.Column('result', sa.String(length=10), nullable=False),
    sa.Column('as_found_out_of_tolerance', sa.Boolean(), nullable=False),
    sa.Column('next_due_on', sa.Date(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=True),
    sa.Column('author', sa.String(length=150), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_calibration_equipment_id_equipment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calibration')),
    sa.UniqueConstraint('number', name=op.f('uq_calibration_number'))
    )
    with op.batch_alter_table('calibration', schema=None) as batch_op:
        batch_op.create_index('ix_calibration_equipment_performed', ['equipment_id', 'performed_on'], unique=False)

    op.create_table('equipment_fault',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('equipment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('stops_equipment', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reported_by', sa.String(length=150), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=True),
    sa.Column('assigned_to_id', sa.BigInteger(), nullable=True),
    sa.Column('assigned_to', sa.String(length=150), nullable=False),
    sa.Column('work_order_id', sa.BigInteger(), nullable=True),
    sa.Column('repair_description', sa.Text(), nullable=False),
    sa.Column('repaired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_equipment_fault_equipment_id_equipment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_fault')),
    sa.UniqueConstraint('number', name=op.f('uq_equipment_fault_number'))
    )
    with op.batch_alter_table('equipment_fault', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_equipment_fault_equipment_id'), ['equipment_id'], unique=False)

    op.create_table('equipment_qualification',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('equipment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('phase', sa.String(length=4), nullable=False),
    sa.Column('protocol_number', sa.String(length=60), nullable=False),
    sa.Column('completed_on', sa.Date(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('performed_by', sa.String(length=150), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_equipment_qualification_equipment_id_equipment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_qualification'))
    )
    with op.batch_alter_table('equipment_qualification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_equipment_qualification_equipment_id'), ['equipment_id'], unique=False)

    op.create_table('inspection_point',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('route_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('equipment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('prompt_zh', sa.String(length=300), nullable=False),
    sa.Column('prompt_en', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('lower_limit', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('upper_limit', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('expected_yes', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_inspection_point_equipment_id_equipment')),
    sa.ForeignKeyConstraint(['route_id'], ['inspection_route.id'], name=op.f('fk_inspection_point_route_id_inspection_route')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_point'))
    )
    with op.batch_alter_table('inspection_point', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_point_route_id'), ['route_id'], unique=False)

    op.create_table('maintenance_plan',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('equipment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('basis', sa.String(length=10), nullable=False),
    sa.Column('interval_days', sa.Integer(), nullable=True),
    sa.Column('interval_usage', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('lead_days', sa.Integer(), nullable=False),
    sa.Column('next_due_on', sa.Date(), nullable=True),
    sa.Column('next_due_counter', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('estimated_hours', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint('interval_days IS NULL OR interval_days > 0', name=op.f('ck_maintenance_plan_interval_days_positive')),
    sa.CheckConstraint('interval_usage IS NULL OR interval_usage > 0', name=op.f('ck_maintenance_plan_interval_usage_positive')),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_maintenance_plan_equipment_id_equipment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_maintenance_plan')),
    sa.UniqueConstraint('number', name=op.f('uq_maintenance_plan_number'))
    )
    with op.batch_alter_table('maintenance_plan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maintenance_plan_equipment_id'), ['equipment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_maintenance_plan_next_due_on'), ['next_due_on'], unique=False)

    op.create_table('spare_part_fit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('part_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('equipment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_spare_part_fit_equipment_id_equipment')),
    sa.ForeignKeyConstraint(['part_id'], ['spare_part.id'], name=op.f('fk_spare_part_fit_part_id_spare_part')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spare_part_fit')),
    sa.UniqueConstraint('part_id', 'equipment_id', name='uq_spare_part_fit')
    )
    with op.batch_alter_table('spare_part_fit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spare_part_fit_equipment_id'), ['equipment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_spare_part_fit_part_id'), ['part_id'], unique=False)

    op.create_table('calibration_point',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('calibration_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('nominal', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('as_found', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('as_left', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('tolerance', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['calibration_id'], ['calibration.id'], name=op.f('fk_calibration_point_calibration_id_calibration')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calibration_point'))
    )
    with op.batch_alter_table('calibration_point', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calibration_point_calibration_id'), ['calibration_id'], unique=False)

    op.create_table('impact_assessment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('equipment_id', sa.BigInteger(), nullable=False),
    sa.Column('calibration_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('conclusion', sa.Text(), nullable=False),
    sa.Column('deviation_number', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=True),
    sa.Column('author', sa.String(length=150), nullable=False),
    sa.ForeignKeyConstraint(['calibration_id'], ['calibration.id'], name=op.f('fk_impact_assessment_calibration_id_calibration')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_impact_assessment')),
    sa.UniqueConstraint('number', name=op.f('uq_impact_assessment_number'))
    )
    with op.batch_alter_table('impact_assessment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_impact_assessment_calibration_id'), ['calibration_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_impact_assessment_equipment_id'), ['equipment_id'], unique=False)

    op.create_table('inspection_result',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('round_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('point_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('equipment_id', sa.BigInteger(), nullable=False),
    sa.Column('scanned', sa.String(length=60), nullable=False),
    sa.Column('numeric_value', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('yes_no_value', sa.Boolean(), nullable=True),
    sa.Column('text_value', sa.Text(), nullable=False),
    sa.Column('within_limits', sa.Boolean(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('fault_id', sa.BigInteger(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=150), nullable=False),
    sa.ForeignKeyConstraint(['point_id'], ['inspection_point.id'], name=op.f('fk_inspection_result_point_id_inspection_point')),
    sa.ForeignKeyConstraint(['round_id'], ['inspection_round.id'], name=op.f('fk_inspection_result_round_id_inspection_round')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_result')),
    sa.UniqueConstraint('round_id', 'point_id', name='uq_inspection_result_point')
    )
    with op.batch_alter_table('inspection_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_result_round_id'), ['round_id'], unique=False)

    op.create_table('maintenance_plan_task',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('plan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('mandatory', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['maintenance_plan.id'], name=op.f('fk_maintenance_plan_task_plan_id_maintenance_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_maintenance_plan_task'))
    )
    with op.batch_alter_table('maintenance_plan_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maintenance_plan_task_plan_id'), ['plan_id'], unique=False)

    op.create_table('work_order',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('equipment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('plan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('fault_id', sa.BigInteger(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('due_counter', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('assigned_to_id', sa.BigInteger(), nullable=True),
    sa.Column('assigned_to', sa.String(length=150), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('performed_by_id', sa.BigInteger(), nullable=True),
    sa.Column('performed_by', sa.String(length=150), nullable=False),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_work_order_equipment_id_equipment')),
    sa.ForeignKeyConstraint(['plan_id'], ['maintenance_plan.id'], name=op.f('fk_work_order_plan_id_maintenance_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order')),
    sa.UniqueConstraint('number', name=op.f('uq_work_order_number'))
    )
    with op.batch_alter_table('work_order', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_order_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_order_equipment_id'), ['equipment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_order_fault_id'), ['fault_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_order_plan_id'), ['plan_id'], unique=False)

    op.create_table('impact_item',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('assessment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('logbook_entry_id', sa.BigInteger(), nullable=False),
    sa.Column('reference', sa.String(length=60), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('verdict', sa.String(length=20), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['assessment_id'], ['impact_assessment.id'], name=op.f('fk_impact_item_assessment_id_impact_assessment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_impact_item'))
    )
    with op.batch_alter_table('impact_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_impact_item_assessment_id'), ['assessment_id'], unique=False)

    op.create_table('work_order_labour',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('work_order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('technician', sa.String(length=150), nullable=False),
    sa.Column('hours', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('worked_on', sa.Date(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.CheckConstraint('hours > 0', name=op.f('ck_work_order_labour_hours_positive')),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_order.id'], name=op.f('fk_work_order_labour_work_order_id_work_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_labour'))
    )
    with op.batch_alter_table('work_order_labour', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_order_labour_work_order_id'), ['work_order_id'], unique=False)

    op.create_table('work_order_task',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('work_order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('mandatory', sa.Boolean(), nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('done_by', sa.String(length=150), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_order.id'], name=op.f('fk_work_order_task_work_order_id_work_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_task'))
    )
    with op.batch_alter_table('work_order_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_order_task_work_order_id'), ['work_order_id'], unique=False)

    _create_append_only_guards()


def downgrade() -> None:
    _drop_append_only_guards()
    with op.batch_alter_table('work_order_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_order_task_work_order_id'))

    op.drop_table('work_order_task')
    with op.batch_alter_table('work_order_labour', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_order_labour_work_order_id'))

    op.drop_table('work_order_labour')
    with op.batch_alter_table('impact_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_impact_item_assessment_id'))

    op.drop_table('impact_item')
    with op.batch_alter_table('work_order', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_order_plan_id'))
        batch_op.drop_index(batch_op.f('ix_work_order_fault_id'))
        batch_op.drop_index(batch_op.f('ix_work_order_equipment_id'))
        batch_op.drop_index(batch_op.f('ix_work_order_due_on'))

    op.drop_table('work_order')
    with op.batch_alter_table('maintenance_plan_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maintenance_plan_task_plan_id'))

    op.drop_table('maintenance_plan_task')
    with op.batch_alter_table('inspection_result', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_result_round_id'))

    op.drop_table('inspection_result')
    with op.batch_alter_table('impact_assessment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_impact_assessment_equipment_id'))
        batch_op.drop_index(batch_op.f('ix_impact_assessment_calibration_id'))

    op.drop_table('impact_assessment')
    with op.batch_alter_table('calibration_point', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calibration_point_calibration_id'))

    op.drop_table('calibration_point')
    with op.batch_alter_table('spare_part_fit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spare_part_fit_part_id'))
        batch_op.drop_index(batch_op.f('ix_spare_part_fit_equipment_id'))

    op.drop_table('spare_part_fit')
    with op.batch_alter_table('maintenance_plan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maintenance_plan_next_due_on'))
        batch_op.drop_index(batch_op.f('ix_maintenance_plan_equipment_id'))

    op.drop_table('maintenance_plan')
    with op.batch_alter_table('inspection_point', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_point_route_id'))

    op.drop_table('inspection_point')
    with op.batch_alter_table('equipment_qualification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_equipment_qualification_equipment_id'))

    op.drop_table('equipment_qualification')
    with op.batch_alter_table('equipment_fault', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_equipment_fault_equipment_id'))

    op.drop_table('equipment_fault')
    with op.batch_alter_table('calibration', schema=None) as batch_op:
        batch_op.drop_index('ix_calibration_equipment_performed')

    op.drop_table('calibration')
    with op.batch_alter_table('spare_part_movement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spare_part_movement_work_order_id'))
        batch_op.drop_index(batch_op.f('ix_spare_part_movement_part_id'))

    op.drop_table('spare_part_movement')
    with op.batch_alter_table('inspection_round', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_round_due_by'))

    op.drop_table('inspection_round')
    with op.batch_alter_table('equipment', schema=None) as batch_op:
        batch_op.drop_index('ix_equipment_state_class')
        batch_op.drop_index(batch_op.f('ix_equipment_requalification_due_on'))
        batch_op.drop_index(batch_op.f('ix_equipment_class_id'))
        batch_op.drop_index(batch_op.f('ix_equipment_calibration_due_on'))

    op.drop_table('equipment')
    op.drop_table('spare_part')
    op.drop_table('inspection_route')
    with op.batch_alter_table('equipment_reminder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_equipment_reminder_raised_on'))
        batch_op.drop_index(batch_op.f('ix_equipment_reminder_equipment_id'))

    op.drop_table('equipment_reminder')
    with op.batch_alter_table('equipment_logbook', schema=None) as batch_op:
        batch_op.drop_index('ix_equipment_logbook_reference')
        batch_op.drop_index('ix_equipment_logbook_equipment_at')

    op.drop_table('equipment_logbook')
    op.drop_table('equipment_class')
    with op.batch_alter_table('equipment_attachment', schema=None) as batch_op:
        batch_op.drop_index('ix_equipment_attachment_owner')

    op.drop_table('equipment_attachment')
