"""batches

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 18:39:59.502202
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('master_batch_record',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('product_code', sa.String(length=40), nullable=False),
    sa.Column('product_name', sa.String(length=200), nullable=False),
    sa.Column('stage', sa.String(length=30), nullable=False),
    sa.Column('batch_size', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('batch_unit', sa.String(length=20), nullable=False),
    sa.Column('theoretical_yield', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('yield_unit', sa.String(length=20), nullable=False),
    sa.Column('yield_low_pct', sa.Numeric(precision=7, scale=3), nullable=False),
    sa.Column('yield_high_pct', sa.Numeric(precision=7, scale=3), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('change_summary', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=True),
    sa.Column('author', sa.String(length=150), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('effective_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('content_snapshot', sa.JSON(), nullable=False),
    sa.CheckConstraint('batch_size > 0', name=op.f('ck_master_batch_record_batch_size_positive')),
    sa.CheckConstraint('yield_low_pct <= yield_high_pct', name=op.f('ck_master_batch_record_yield_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_master_batch_record')),
    sa.UniqueConstraint('number', 'version', name='number_version')
    )
    with op.batch_alter_table('master_batch_record', schema=None) as batch_op:
        batch_op.create_index('uq_master_batch_record_effective', ['product_code', 'stage'], unique=True, sqlite_where=sa.text("state = 'effective'"), postgresql_where=sa.text("state = 'effective'"))

    op.create_table('batch',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('mbr_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('mbr_number', sa.String(length=40), nullable=False),
    sa.Column('mbr_version', sa.Integer(), nullable=False),
    sa.Column('product_code', sa.String(length=40), nullable=False),
    sa.Column('product_name', sa.String(length=200), nullable=False),
    sa.Column('stage', sa.String(length=30), nullable=False),
    sa.Column('planned_size', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('scale_factor', sa.Numeric(precision=18, scale=9), nullable=False),
    sa.Column('planned_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('ordered_by', sa.String(length=150), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('hold_reason', sa.Text(), nullable=False),
    sa.Column('theoretical_yield', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('yield_unit', sa.String(length=20), nullable=False),
    sa.Column('yield_low_pct', sa.Numeric(precision=7, scale=3), nullable=False),
    sa.Column('yield_high_pct', sa.Numeric(precision=7, scale=3), nullable=False),
    sa.Column('actual_yield', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('yield_pct', sa.Numeric(precision=9, scale=3), nullable=True),
    sa.Column('reconciliation_note', sa.Text(), nullable=False),
    sa.Column('output_lot_id', sa.BigInteger(), nullable=True),
    sa.Column('output_lot_number', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['mbr_id'], ['master_batch_record.id'], name=op.f('fk_batch_mbr_id_master_batch_record')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch')),
    sa.UniqueConstraint('number', name=op.f('uq_batch_number'))
    )
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_mbr_id'), ['mbr_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_output_lot_id'), ['output_lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_output_lot_number'), ['output_lot_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_product_code'), ['product_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_state'), ['state'], unique=False)

    op.create_table('mbr_material',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('mbr_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('material_code', sa.String(length=40), nullable=False),
    sa.Column('material_name', sa.String(length=200), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('tolerance_pct', sa.Numeric(precision=7, scale=3), nullable=False),
    sa.Column('dispensed', sa.Boolean(), nullable=False),
    sa.Column('scan_required', sa.Boolean(), nullable=False),
    sa.Column('rounding_places', sa.Integer(), nullable=False),
    sa.Column('step_code', sa.String(length=20), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_mbr_material_quantity_positive')),
    sa.ForeignKeyConstraint(['mbr_id'], ['master_batch_record.id'], name=op.f('fk_mbr_material_mbr_id_master_batch_record')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mbr_material')),
    sa.UniqueConstraint('mbr_id', 'line_no', name='mbr_line')
    )
    with op.batch_alter_table('mbr_material', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mbr_material_mbr_id'), ['mbr_id'], unique=False)

    op.create_table('mbr_phase',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('mbr_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('parallel_with_previous', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['mbr_id'], ['master_batch_record.id'], name=op.f('fk_mbr_phase_mbr_id_master_batch_record')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mbr_phase')),
    sa.UniqueConstraint('mbr_id', 'seq', name='mbr_phase_seq')
    )
    with op.batch_alter_table('mbr_phase', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mbr_phase_mbr_id'), ['mbr_id'], unique=False)

    op.create_table('batch_material',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('material_code', sa.String(length=40), nullable=False),
    sa.Column('material_name', sa.String(length=200), nullable=False),
    sa.Column('target', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('tolerance_pct', sa.Numeric(precision=7, scale=3), nullable=False),
    sa.Column('low', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('high', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('dispensed', sa.Boolean(), nullable=False),
    sa.Column('scan_required', sa.Boolean(), nullable=False),
    sa.Column('step_code', sa.String(length=20), nullable=False),
    sa.Column('dispensed_total', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('reservations', sa.JSON(), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_batch_material_batch_id_batch')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_material')),
    sa.UniqueConstraint('batch_id', 'line_no', name='batch_line')
    )
    with op.batch_alter_table('batch_material', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_material_batch_id'), ['batch_id'], unique=False)

    op.create_table('genealogy_link',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('batch_number', sa.String(length=40), nullable=False),
    sa.Column('parent_lot_id', sa.BigInteger(), nullable=False),
    sa.Column('parent_lot_number', sa.String(length=40), nullable=False),
    sa.Column('child_lot_id', sa.BigInteger(), nullable=False),
    sa.Column('child_lot_number', sa.String(length=40), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_genealogy_link_batch_id_batch')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_genealogy_link')),
    sa.UniqueConstraint('parent_lot_id', 'child_lot_id', 'batch_number', name='genealogy_edge')
    )
    with op.batch_alter_table('genealogy_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_genealogy_link_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_genealogy_link_child_lot_id'), ['child_lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_genealogy_link_parent_lot_id'), ['parent_lot_id'], unique=False)

    op.create_table('mbr_step',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('mbr_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('phase_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('instructions', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('equipment_classes', sa.JSON(), nullable=False),
    sa.Column('sop_numbers', sa.JSON(), nullable=False),
    sa.Column('critical', sa.Boolean(), nullable=False),
    sa.Column('time_limit_minutes', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['mbr_id'], ['master_batch_record.id'], name=op.f('fk_mbr_step_mbr_id_master_batch_record')),
    sa.ForeignKeyConstraint(['phase_id'], ['mbr_phase.id'], name=op.f('fk_mbr_step_phase_id_mbr_phase')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mbr_step')),
    sa.UniqueConstraint('mbr_id', 'code', name='mbr_step_code'),
    sa.UniqueConstraint('mbr_id', 'seq', name='mbr_step_seq')
    )
    with op.batch_alter_table('mbr_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mbr_step_mbr_id'), ['mbr_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mbr_step_phase_id'), ['phase_id'], unique=False)

    op.create_table('batch_step',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('mbr_step_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('phase_seq', sa.Integer(), nullable=False),
    sa.Column('phase_name', sa.String(length=200), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('critical', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('available_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('performed_by', sa.String(length=150), nullable=True),
    sa.Column('performer_id', sa.BigInteger(), nullable=True),
    sa.Column('performed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_by', sa.String(length=150), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('record_snapshot', sa.JSON(), nullable=False),
    sa.Column('signature_round', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_batch_step_batch_id_batch')),
    sa.ForeignKeyConstraint(['mbr_step_id'], ['mbr_step.id'], name=op.f('fk_batch_step_mbr_step_id_mbr_step')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_step')),
    sa.UniqueConstraint('batch_id', 'seq', name='batch_step_seq')
    )
    with op.batch_alter_table('batch_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_step_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index('ix_batch_step_batch_state', ['batch_id', 'state'], unique=False)

    op.create_table('mbr_parameter',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('step_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('target', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('lower', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('upper', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('choices', sa.JSON(), nullable=False),
    sa.Column('expected', sa.String(length=200), nullable=False),
    sa.Column('critical', sa.Boolean(), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['step_id'], ['mbr_step.id'], name=op.f('fk_mbr_parameter_step_id_mbr_step')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mbr_parameter')),
    sa.UniqueConstraint('step_id', 'code', name='mbr_parameter_code')
    )
    with op.batch_alter_table('mbr_parameter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mbr_parameter_step_id'), ['step_id'], unique=False)

    op.create_table('batch_entry',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('step_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('parameter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('parameter_code', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('numeric_value', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('reference_id', sa.BigInteger(), nullable=True),
    sa.Column('within_limits', sa.Boolean(), nullable=True),
    sa.Column('recorded_by', sa.String(length=150), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('corrects_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('correction_reason', sa.Text(), nullable=False),
    sa.Column('superseded', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_batch_entry_batch_id_batch')),
    sa.ForeignKeyConstraint(['corrects_id'], ['batch_entry.id'], name=op.f('fk_batch_entry_corrects_id_batch_entry')),
    sa.ForeignKeyConstraint(['parameter_id'], ['mbr_parameter.id'], name=op.f('fk_batch_entry_parameter_id_mbr_parameter')),
    sa.ForeignKeyConstraint(['step_id'], ['batch_step.id'], name=op.f('fk_batch_entry_step_id_batch_step')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_entry'))
    )
    with op.batch_alter_table('batch_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_entry_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_entry_step_id'), ['step_id'], unique=False)

    op.create_table('dispense',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('material_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('step_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('container_number', sa.String(length=40), nullable=False),
    sa.Column('lot_id', sa.BigInteger(), nullable=False),
    sa.Column('lot_number', sa.String(length=40), nullable=False),
    sa.Column('gross', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('tare', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('net', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('balance_number', sa.String(length=40), nullable=False),
    sa.Column('weight_source', sa.String(length=20), nullable=False),
    sa.Column('allocated_lot', sa.Boolean(), nullable=False),
    sa.Column('substitution_reason', sa.Text(), nullable=False),
    sa.Column('movement_id', sa.BigInteger(), nullable=True),
    sa.Column('dispensed_by', sa.String(length=150), nullable=False),
    sa.Column('dispensed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('labels_printed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_dispense_batch_id_batch')),
    sa.ForeignKeyConstraint(['material_line_id'], ['batch_material.id'], name=op.f('fk_dispense_material_line_id_batch_material')),
    sa.ForeignKeyConstraint(['step_id'], ['batch_step.id'], name=op.f('fk_dispense_step_id_batch_step')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispense')),
    sa.UniqueConstraint('number', name=op.f('uq_dispense_number'))
    )
    with op.batch_alter_table('dispense', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispense_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispense_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispense_material_line_id'), ['material_line_id'], unique=False)

    op.create_table('batch_exception',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('critical', sa.Boolean(), nullable=False),
    sa.Column('step_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('step_code', sa.String(length=20), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('raised_by', sa.String(length=150), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deviation_number', sa.String(length=40), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('reviewed_by', sa.String(length=150), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review_comment', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_batch_exception_batch_id_batch')),
    sa.ForeignKeyConstraint(['entry_id'], ['batch_entry.id'], name=op.f('fk_batch_exception_entry_id_batch_entry')),
    sa.ForeignKeyConstraint(['step_id'], ['batch_step.id'], name=op.f('fk_batch_exception_step_id_batch_step')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_exception')),
    sa.UniqueConstraint('batch_id', 'seq', name='batch_exception_seq')
    )
    with op.batch_alter_table('batch_exception', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_exception_batch_id'), ['batch_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('batch_exception', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_exception_batch_id'))

    op.drop_table('batch_exception')
    with op.batch_alter_table('dispense', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispense_material_line_id'))
        batch_op.drop_index(batch_op.f('ix_dispense_lot_id'))
        batch_op.drop_index(batch_op.f('ix_dispense_batch_id'))

    op.drop_table('dispense')
    with op.batch_alter_table('batch_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_entry_step_id'))
        batch_op.drop_index(batch_op.f('ix_batch_entry_batch_id'))

    op.drop_table('batch_entry')
    with op.batch_alter_table('mbr_parameter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mbr_parameter_step_id'))

    op.drop_table('mbr_parameter')
    with op.batch_alter_table('batch_step', schema=None) as batch_op:
        batch_op.drop_index('ix_batch_step_batch_state')
        batch_op.drop_index(batch_op.f('ix_batch_step_batch_id'))

    op.drop_table('batch_step')
    with op.batch_alter_table('mbr_step', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mbr_step_phase_id'))
        batch_op.drop_index(batch_op.f('ix_mbr_step_mbr_id'))

    op.drop_table('mbr_step')
    with op.batch_alter_table('genealogy_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_genealogy_link_parent_lot_id'))
        batch_op.drop_index(batch_op.f('ix_genealogy_link_child_lot_id'))
        batch_op.drop_index(batch_op.f('ix_genealogy_link_batch_id'))

    op.drop_table('genealogy_link')
    with op.batch_alter_table('batch_material', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_material_batch_id'))

    op.drop_table('batch_material')
    with op.batch_alter_table('mbr_phase', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mbr_phase_mbr_id'))

    op.drop_table('mbr_phase')
    with op.batch_alter_table('mbr_material', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mbr_material_mbr_id'))

    op.drop_table('mbr_material')
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_state'))
        batch_op.drop_index(batch_op.f('ix_batch_product_code'))
        batch_op.drop_index(batch_op.f('ix_batch_output_lot_number'))
        batch_op.drop_index(batch_op.f('ix_batch_output_lot_id'))
        batch_op.drop_index(batch_op.f('ix_batch_mbr_id'))

    op.drop_table('batch')
    with op.batch_alter_table('master_batch_record', schema=None) as batch_op:
        batch_op.drop_index('uq_master_batch_record_effective', sqlite_where=sa.text("state = 'effective'"), postgresql_where=sa.text("state = 'effective'"))

    op.drop_table('master_batch_record')
