"""Quality: deviations with linked records and due-date extensions, and CAPA.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 15:21:04.048145
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_OPEN = "state NOT IN ('closed', 'cancelled')"


def _create_text_search_index() -> None:
    # PostgreSQL only: trigram GIN index for ILIKE '%…%' search over number, title and description
    # (pg_trgm is a trusted extension since PostgreSQL 13: the database owner may create it).
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE INDEX ix_deviation_text_trgm ON deviation USING gin "
               "(number gin_trgm_ops, title gin_trgm_ops, description gin_trgm_ops)")


def upgrade() -> None:
    op.create_table('deviation',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('area', sa.String(length=120), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('discovered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('immediate_action', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=120), nullable=False),
    sa.Column('reported_by', sa.String(length=150), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('classification', sa.String(length=10), nullable=False),
    sa.Column('severity', sa.Integer(), nullable=True),
    sa.Column('occurrence', sa.Integer(), nullable=True),
    sa.Column('detectability', sa.Integer(), nullable=True),
    sa.Column('risk_priority', sa.Integer(), nullable=True),
    sa.Column('classification_rationale', sa.Text(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('extensions_granted', sa.Integer(), nullable=False),
    sa.Column('investigator_id', sa.BigInteger(), nullable=True),
    sa.Column('investigator', sa.String(length=150), nullable=False),
    sa.Column('five_whys', sa.JSON(), nullable=False),
    sa.Column('root_cause_category', sa.String(length=20), nullable=False),
    sa.Column('root_cause', sa.Text(), nullable=False),
    sa.Column('impact_assessment', sa.Text(), nullable=False),
    sa.Column('product_impact', sa.Boolean(), nullable=True),
    sa.Column('conclusion', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('detectability IS NULL OR detectability BETWEEN 1 AND 5', name=op.f('ck_deviation_detectability_range')),
    sa.CheckConstraint('occurrence IS NULL OR occurrence BETWEEN 1 AND 5', name=op.f('ck_deviation_occurrence_range')),
    sa.CheckConstraint('severity IS NULL OR severity BETWEEN 1 AND 5', name=op.f('ck_deviation_severity_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deviation')),
    sa.UniqueConstraint('number', name=op.f('uq_deviation_number'))
    )
    with op.batch_alter_table('deviation', schema=None) as batch_op:
        batch_op.create_index('ix_deviation_classification_state', ['classification', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_deviation_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_deviation_investigator_id'), ['investigator_id'], unique=False)
        batch_op.create_index('ix_deviation_state_due', ['state', 'due_on'], unique=False)
        batch_op.create_index('ix_deviation_state_id', ['state', 'id'], unique=False)
        batch_op.create_index('ix_deviation_open_id', ['id'], unique=False,
                              postgresql_where=sa.text(_OPEN), sqlite_where=sa.text(_OPEN))

    op.create_table('capa',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('source_type', sa.String(length=20), nullable=False),
    sa.Column('source_reference', sa.String(length=60), nullable=False),
    sa.Column('deviation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('owner_id', sa.BigInteger(), nullable=False),
    sa.Column('owner', sa.String(length=150), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('effectiveness_criteria', sa.Text(), nullable=False),
    sa.Column('effectiveness_check_days', sa.Integer(), nullable=False),
    sa.Column('effectiveness_due_on', sa.Date(), nullable=True),
    sa.Column('implementation_summary', sa.Text(), nullable=False),
    sa.Column('effectiveness_result', sa.Text(), nullable=False),
    sa.Column('effective', sa.Boolean(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=True),
    sa.Column('author', sa.String(length=150), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('implemented_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('effectiveness_check_days >= 0', name=op.f('ck_capa_effectiveness_days_not_negative')),
    sa.ForeignKeyConstraint(['deviation_id'], ['deviation.id'], name=op.f('fk_capa_deviation_id_deviation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_capa')),
    sa.UniqueConstraint('number', name=op.f('uq_capa_number'))
    )
    with op.batch_alter_table('capa', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capa_deviation_id'), ['deviation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_capa_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_capa_effectiveness_due_on'), ['effectiveness_due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_capa_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_capa_state'), ['state'], unique=False)
        batch_op.create_index('ix_capa_state_due', ['state', 'due_on'], unique=False)

    op.create_table('deviation_extension',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('deviation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('current_due_on', sa.Date(), nullable=False),
    sa.Column('requested_due_on', sa.Date(), nullable=False),
    sa.Column('justification', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.String(length=150), nullable=False),
    sa.Column('requested_by_id', sa.BigInteger(), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('decided_by', sa.String(length=150), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_comment', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['deviation_id'], ['deviation.id'], name=op.f('fk_deviation_extension_deviation_id_deviation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deviation_extension'))
    )
    with op.batch_alter_table('deviation_extension', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deviation_extension_deviation_id'), ['deviation_id'], unique=False)

    op.create_table('deviation_link',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('deviation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('record_type', sa.String(length=20), nullable=False),
    sa.Column('reference', sa.String(length=60), nullable=False),
    sa.Column('added_by', sa.String(length=150), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['deviation_id'], ['deviation.id'], name=op.f('fk_deviation_link_deviation_id_deviation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deviation_link')),
    sa.UniqueConstraint('deviation_id', 'record_type', 'reference', name='uq_deviation_link')
    )
    with op.batch_alter_table('deviation_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deviation_link_deviation_id'), ['deviation_id'], unique=False)
        batch_op.create_index('ix_deviation_link_record', ['record_type', 'reference'], unique=False)
    _create_text_search_index()


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_deviation_text_trgm")
    with op.batch_alter_table('deviation_link', schema=None) as batch_op:
        batch_op.drop_index('ix_deviation_link_record')
        batch_op.drop_index(batch_op.f('ix_deviation_link_deviation_id'))

    op.drop_table('deviation_link')
    with op.batch_alter_table('deviation_extension', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deviation_extension_deviation_id'))

    op.drop_table('deviation_extension')
    with op.batch_alter_table('capa', schema=None) as batch_op:
        batch_op.drop_index('ix_capa_state_due')
        batch_op.drop_index(batch_op.f('ix_capa_state'))
        batch_op.drop_index(batch_op.f('ix_capa_owner_id'))
        batch_op.drop_index(batch_op.f('ix_capa_effectiveness_due_on'))
        batch_op.drop_index(batch_op.f('ix_capa_due_on'))
        batch_op.drop_index(batch_op.f('ix_capa_deviation_id'))

    op.drop_table('capa')
    with op.batch_alter_table('deviation', schema=None) as batch_op:
        batch_op.drop_index('ix_deviation_open_id')
        batch_op.drop_index('ix_deviation_state_id')
        batch_op.drop_index('ix_deviation_state_due')
        batch_op.drop_index(batch_op.f('ix_deviation_investigator_id'))
        batch_op.drop_index(batch_op.f('ix_deviation_due_on'))
        batch_op.drop_index('ix_deviation_classification_state')

    op.drop_table('deviation')
