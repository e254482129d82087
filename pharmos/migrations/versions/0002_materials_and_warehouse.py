"""Materials and warehouse: material master, suppliers, POs, receipts, lots, locations, stock ledger.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:12:56.818091
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# EU GMP Annex 11 §9 / ARCHITECTURE data rules: the stock ledger is append-only like the
# audit trail; balances are derived from it. (pharmos_reject_change() comes from 0001.)
def _create_ledger_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TRIGGER stock_movement_append_only BEFORE UPDATE OR DELETE ON stock_movement "
                   "FOR EACH ROW EXECUTE FUNCTION pharmos_reject_change()")
        op.execute("CREATE TRIGGER stock_movement_no_truncate BEFORE TRUNCATE ON stock_movement "
                   "FOR EACH STATEMENT EXECUTE FUNCTION pharmos_reject_change()")
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER stock_movement_no_{verb.lower()} BEFORE {verb} ON stock_movement "
                   f"BEGIN SELECT RAISE(ABORT, 'stock_movement is append-only: {verb} refused'); END")


def _drop_ledger_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS stock_movement_no_truncate ON stock_movement")
        op.execute("DROP TRIGGER IF EXISTS stock_movement_append_only ON stock_movement")
        return
    for verb in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS stock_movement_no_{verb}")


def upgrade() -> None:
    op.create_table('fefo_override_review',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('movement_id', sa.BigInteger(), nullable=False),
    sa.Column('reviewed_by', sa.String(length=150), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fefo_override_review')),
    sa.UniqueConstraint('movement_id', name=op.f('uq_fefo_override_review_movement_id'))
    )
    op.create_table('material',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('material_type', sa.String(length=30), nullable=False),
    sa.Column('base_unit', sa.String(length=10), nullable=False),
    sa.Column('storage_condition', sa.String(length=20), nullable=False),
    sa.Column('protect_from_light', sa.Boolean(), nullable=False),
    sa.Column('shelf_life_days', sa.Integer(), nullable=True),
    sa.Column('retest_interval_days', sa.Integer(), nullable=True),
    sa.Column('min_remaining_shelf_life_days', sa.Integer(), nullable=False),
    sa.Column('sampling_plan', sa.String(length=100), nullable=False),
    sa.Column('gmp_critical', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=True),
    sa.Column('author', sa.String(length=150), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_material')),
    sa.UniqueConstraint('code', 'version', name='uq_material_code_version')
    )
    with op.batch_alter_table('material', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_material_code'), ['code'], unique=False)

    op.create_table('stock_movement',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('lot_id', sa.BigInteger(), nullable=False),
    sa.Column('container_id', sa.BigInteger(), nullable=False),
    sa.Column('material_id', sa.BigInteger(), nullable=False),
    sa.Column('quantity_change', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('unit', sa.String(length=10), nullable=False),
    sa.Column('from_location_id', sa.BigInteger(), nullable=True),
    sa.Column('to_location_id', sa.BigInteger(), nullable=True),
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('actor', sa.String(length=150), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fefo_override', sa.Boolean(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_stock_movement_quantity_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_movement'))
    )
    with op.batch_alter_table('stock_movement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_movement_container_id'), ['container_id'], unique=False)
        batch_op.create_index('ix_stock_movement_lot_at', ['lot_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_movement_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_movement_material_id'), ['material_id'], unique=False)

    op.create_table('storage_location',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('parent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('storage_class', sa.String(length=20), nullable=False),
    sa.Column('light_protected', sa.Boolean(), nullable=False),
    sa.Column('status_zone', sa.String(length=20), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['storage_location.id'], name=op.f('fk_storage_location_parent_id_storage_location')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_storage_location')),
    sa.UniqueConstraint('code', name=op.f('uq_storage_location_code'))
    )
    with op.batch_alter_table('storage_location', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_storage_location_parent_id'), ['parent_id'], unique=False)

    op.create_table('supplier',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=False),
    sa.Column('last_audit_on', sa.Date(), nullable=True),
    sa.Column('next_audit_due', sa.Date(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier')),
    sa.UniqueConstraint('code', name=op.f('uq_supplier_code'))
    )
    op.create_table('cycle_count',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('location_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('counted_by_id', sa.BigInteger(), nullable=True),
    sa.Column('created_by', sa.String(length=150), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['storage_location.id'], name=op.f('fk_cycle_count_location_id_storage_location')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cycle_count')),
    sa.UniqueConstraint('number', name=op.f('uq_cycle_count_number'))
    )
    op.create_table('material_unit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('material_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('unit', sa.String(length=10), nullable=False),
    sa.Column('factor_to_base', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.CheckConstraint('factor_to_base > 0', name=op.f('ck_material_unit_factor_positive')),
    sa.ForeignKeyConstraint(['material_id'], ['material.id'], name=op.f('fk_material_unit_material_id_material')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_material_unit')),
    sa.UniqueConstraint('material_id', 'unit', name='uq_material_unit_material_unit')
    )
    with op.batch_alter_table('material_unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_material_unit_material_id'), ['material_id'], unique=False)

    op.create_table('purchase_order',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('supplier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('ordered_on', sa.Date(), nullable=False),
    sa.Column('created_by', sa.String(length=150), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name=op.f('fk_purchase_order_supplier_id_supplier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_order')),
    sa.UniqueConstraint('number', name=op.f('uq_purchase_order_number'))
    )
    with op.batch_alter_table('purchase_order', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_order_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('supplier_approval',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('supplier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('material_code', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('decided_by', sa.String(length=150), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name=op.f('fk_supplier_approval_supplier_id_supplier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_approval')),
    sa.UniqueConstraint('supplier_id', 'material_code', name='uq_supplier_approval_pair')
    )
    with op.batch_alter_table('supplier_approval', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supplier_approval_material_code'), ['material_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_supplier_approval_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('purchase_order_line',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('material_code', sa.String(length=40), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('unit', sa.String(length=10), nullable=False),
    sa.Column('quantity_base', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('received_base', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('tolerance_pct', sa.Numeric(precision=6, scale=2), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_purchase_order_line_quantity_positive')),
    sa.ForeignKeyConstraint(['order_id'], ['purchase_order.id'], name=op.f('fk_purchase_order_line_order_id_purchase_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_order_line')),
    sa.UniqueConstraint('order_id', 'line_no', name='uq_purchase_order_line_no')
    )
    with op.batch_alter_table('purchase_order_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_order_line_order_id'), ['order_id'], unique=False)

    op.create_table('receipt',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('supplier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('delivery_note', sa.String(length=100), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_by_id', sa.BigInteger(), nullable=True),
    sa.Column('received_by', sa.String(length=150), nullable=False),
    sa.Column('logger_id', sa.String(length=100), nullable=False),
    sa.Column('transport_min_c', sa.Numeric(precision=6, scale=2), nullable=True),
    sa.Column('transport_max_c', sa.Numeric(precision=6, scale=2), nullable=True),
    sa.Column('location_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['storage_location.id'], name=op.f('fk_receipt_location_id_storage_location')),
    sa.ForeignKeyConstraint(['order_id'], ['purchase_order.id'], name=op.f('fk_receipt_order_id_purchase_order')),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name=op.f('fk_receipt_supplier_id_supplier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt')),
    sa.UniqueConstraint('number', name=op.f('uq_receipt_number'))
    )
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipt_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_receipt_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('material_lot',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('material_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('material_code', sa.String(length=40), nullable=False),
    sa.Column('receipt_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('supplier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('supplier_lot', sa.String(length=100), nullable=False),
    sa.Column('manufactured_on', sa.Date(), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('retest_on', sa.Date(), nullable=True),
    sa.Column('quantity_received', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('unit', sa.String(length=10), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('received_by_id', sa.BigInteger(), nullable=True),
    sa.Column('received_by', sa.String(length=150), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('qa_flag', sa.Text(), nullable=False),
    sa.Column('qa_flag_assessed', sa.Boolean(), nullable=False),
    sa.Column('short_dated_use_approved', sa.Boolean(), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['material_id'], ['material.id'], name=op.f('fk_material_lot_material_id_material')),
    sa.ForeignKeyConstraint(['order_line_id'], ['purchase_order_line.id'], name=op.f('fk_material_lot_order_line_id_purchase_order_line')),
    sa.ForeignKeyConstraint(['receipt_id'], ['receipt.id'], name=op.f('fk_material_lot_receipt_id_receipt')),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name=op.f('fk_material_lot_supplier_id_supplier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_material_lot')),
    sa.UniqueConstraint('number', name=op.f('uq_material_lot_number'))
    )
    with op.batch_alter_table('material_lot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_material_lot_material_code'), ['material_code'], unique=False)
        batch_op.create_index('ix_material_lot_material_expiry', ['material_id', 'expires_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_material_lot_material_id'), ['material_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_material_lot_receipt_id'), ['receipt_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_material_lot_state'), ['state'], unique=False)

    op.create_table('lot_container',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=50), nullable=False),
    sa.Column('lot_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('material_id', sa.BigInteger(), nullable=False),
    sa.Column('location_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('quantity', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('reserved', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_lot_container_quantity_not_negative')),
    sa.CheckConstraint('reserved >= 0 AND reserved <= quantity', name=op.f('ck_lot_container_reserved_within_quantity')),
    sa.ForeignKeyConstraint(['location_id'], ['storage_location.id'], name=op.f('fk_lot_container_location_id_storage_location')),
    sa.ForeignKeyConstraint(['lot_id'], ['material_lot.id'], name=op.f('fk_lot_container_lot_id_material_lot')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lot_container')),
    sa.UniqueConstraint('number', name=op.f('uq_lot_container_number'))
    )
    with op.batch_alter_table('lot_container', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lot_container_location_id'), ['location_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lot_container_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lot_container_material_id'), ['material_id'], unique=False)

    op.create_table('cycle_count_line',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('count_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('container_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('expected', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('counted', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.ForeignKeyConstraint(['container_id'], ['lot_container.id'], name=op.f('fk_cycle_count_line_container_id_lot_container')),
    sa.ForeignKeyConstraint(['count_id'], ['cycle_count.id'], name=op.f('fk_cycle_count_line_count_id_cycle_count')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cycle_count_line'))
    )
    with op.batch_alter_table('cycle_count_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cycle_count_line_count_id'), ['count_id'], unique=False)

    op.create_table('stock_reservation',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('container_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lot_id', sa.BigInteger(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('purpose', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_by', sa.String(length=150), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_stock_reservation_quantity_positive')),
    sa.ForeignKeyConstraint(['container_id'], ['lot_container.id'], name=op.f('fk_stock_reservation_container_id_lot_container')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_reservation'))
    )
    with op.batch_alter_table('stock_reservation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_reservation_container_id'), ['container_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_reservation_lot_id'), ['lot_id'], unique=False)


    _create_ledger_guards()

def downgrade() -> None:
    _drop_ledger_guards()
    with op.batch_alter_table('stock_reservation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_reservation_lot_id'))
        batch_op.drop_index(batch_op.f('ix_stock_reservation_container_id'))

    op.drop_table('stock_reservation')
    with op.batch_alter_table('cycle_count_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cycle_count_line_count_id'))

    op.drop_table('cycle_count_line')
    with op.batch_alter_table('lot_container', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lot_container_material_id'))
        batch_op.drop_index(batch_op.f('ix_lot_container_lot_id'))
        batch_op.drop_index(batch_op.f('ix_lot_container_location_id'))

    op.drop_table('lot_container')
    with op.batch_alter_table('material_lot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_material_lot_state'))
        batch_op.drop_index(batch_op.f('ix_material_lot_receipt_id'))
        batch_op.drop_index(batch_op.f('ix_material_lot_material_id'))
        batch_op.drop_index('ix_material_lot_material_expiry')
        batch_op.drop_index(batch_op.f('ix_material_lot_material_code'))

    op.drop_table('material_lot')
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receipt_supplier_id'))
        batch_op.drop_index(batch_op.f('ix_receipt_order_id'))

    op.drop_table('receipt')
    with op.batch_alter_table('purchase_order_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_order_line_order_id'))

    op.drop_table('purchase_order_line')
    with op.batch_alter_table('supplier_approval', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supplier_approval_supplier_id'))
        batch_op.drop_index(batch_op.f('ix_supplier_approval_material_code'))

    op.drop_table('supplier_approval')
    with op.batch_alter_table('purchase_order', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_order_supplier_id'))

    op.drop_table('purchase_order')
    with op.batch_alter_table('material_unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_material_unit_material_id'))

    op.drop_table('material_unit')
    op.drop_table('cycle_count')
    op.drop_table('supplier')
    with op.batch_alter_table('storage_location', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_storage_location_parent_id'))

    op.drop_table('storage_location')
    with op.batch_alter_table('stock_movement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_movement_material_id'))
        batch_op.drop_index(batch_op.f('ix_stock_movement_lot_id'))
        batch_op.drop_index('ix_stock_movement_lot_at')
        batch_op.drop_index(batch_op.f('ix_stock_movement_container_id'))

    op.drop_table('stock_movement')
    with op.batch_alter_table('material', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_material_code'))

    op.drop_table('material')
    op.drop_table('fefo_override_review')
