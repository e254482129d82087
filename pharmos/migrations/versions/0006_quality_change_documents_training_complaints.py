"""quality change control, documents, training, complaints

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 16:27:05.247510
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create_text_search_index() -> None:
    # PostgreSQL only (pg_trgm, created by 0005): ILIKE '%…%' search over document number and titles.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE INDEX ix_controlled_document_text_trgm ON controlled_document USING gin "
               "(number gin_trgm_ops, title_zh gin_trgm_ops, title_en gin_trgm_ops)")


def upgrade() -> None:
    op.create_table('change_control',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('justification', sa.Text(), nullable=False),
    sa.Column('change_type', sa.String(length=30), nullable=False),
    sa.Column('affected_records', sa.JSON(), nullable=False),
    sa.Column('proposed_by', sa.String(length=150), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=True),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('target_date', sa.Date(), nullable=True),
    sa.Column('classification', sa.String(length=10), nullable=False),
    sa.Column('classification_rationale', sa.Text(), nullable=False),
    sa.Column('regulatory_filing', sa.Boolean(), nullable=True),
    sa.Column('effectiveness_review', sa.Text(), nullable=False),
    sa.Column('effective', sa.Boolean(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('implemented_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_control')),
    sa.UniqueConstraint('number', name=op.f('uq_change_control_number'))
    )
    with op.batch_alter_table('change_control', schema=None) as batch_op:
        batch_op.create_index('ix_change_control_state_id', ['state', 'id'], unique=False)

    op.create_table('complaint',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('customer', sa.String(length=200), nullable=False),
    sa.Column('customer_contact', sa.String(length=200), nullable=False),
    sa.Column('region', sa.String(length=100), nullable=False),
    sa.Column('product', sa.String(length=200), nullable=False),
    sa.Column('lot_number', sa.String(length=60), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('sample_received', sa.Boolean(), nullable=False),
    sa.Column('sample_received_on', sa.Date(), nullable=True),
    sa.Column('received_by', sa.String(length=150), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=True),
    sa.Column('classification', sa.String(length=10), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('adverse_event', sa.Boolean(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('investigator_id', sa.BigInteger(), nullable=True),
    sa.Column('investigator', sa.String(length=150), nullable=False),
    sa.Column('investigation', sa.Text(), nullable=False),
    sa.Column('root_cause', sa.Text(), nullable=False),
    sa.Column('justified', sa.Boolean(), nullable=True),
    sa.Column('linked_records', sa.JSON(), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('responded_on', sa.Date(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint')),
    sa.UniqueConstraint('number', name=op.f('uq_complaint_number'))
    )
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.create_index('ix_complaint_category_received', ['category', 'received_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaint_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaint_investigator_id'), ['investigator_id'], unique=False)
        batch_op.create_index('ix_complaint_state_id', ['state', 'id'], unique=False)

    op.create_table('controlled_document',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('doc_type', sa.String(length=20), nullable=False),
    sa.Column('title_zh', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('department', sa.String(length=100), nullable=False),
    sa.Column('owner_id', sa.BigInteger(), nullable=False),
    sa.Column('owner', sa.String(length=150), nullable=False),
    sa.Column('review_interval_months', sa.Integer(), nullable=False),
    sa.Column('training_due_days', sa.Integer(), nullable=False),
    sa.Column('effective_version', sa.Integer(), nullable=True),
    sa.Column('next_review_on', sa.Date(), nullable=True),
    sa.Column('obsolete', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('review_interval_months BETWEEN 1 AND 120', name=op.f('ck_controlled_document_review_interval_range')),
    sa.CheckConstraint('training_due_days BETWEEN 0 AND 365', name=op.f('ck_controlled_document_training_due_days_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_controlled_document')),
    sa.UniqueConstraint('number', name=op.f('uq_controlled_document_number'))
    )
    with op.batch_alter_table('controlled_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_controlled_document_next_review_on'), ['next_review_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_controlled_document_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index('ix_controlled_document_type_id', ['doc_type', 'id'], unique=False)

    op.create_table('quality_saved_filter',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('list_name', sa.String(length=30), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('query', sa.String(length=1000), nullable=False),
    sa.Column('shared', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_saved_filter')),
    sa.UniqueConstraint('user_id', 'list_name', 'name', name='uq_saved_filter_name')
    )
    op.create_table('training_skill',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('validity_months', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint('validity_months IS NULL OR validity_months BETWEEN 1 AND 120', name=op.f('ck_training_skill_validity_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_skill')),
    sa.UniqueConstraint('code', name=op.f('uq_training_skill_code'))
    )
    op.create_table('change_assessment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('change_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('function', sa.String(length=20), nullable=False),
    sa.Column('assessor_id', sa.BigInteger(), nullable=False),
    sa.Column('assessor', sa.String(length=150), nullable=False),
    sa.Column('impact', sa.Text(), nullable=False),
    sa.Column('impact_level', sa.String(length=10), nullable=False),
    sa.Column('required_actions', sa.Text(), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('proposer_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['change_id'], ['change_control.id'], name=op.f('fk_change_assessment_change_id_change_control')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_assessment')),
    sa.UniqueConstraint('change_id', 'function', name='uq_change_assessment_function')
    )
    with op.batch_alter_table('change_assessment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_change_assessment_assessor_id'), ['assessor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_change_assessment_change_id'), ['change_id'], unique=False)

    op.create_table('change_task',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('change_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('function', sa.String(length=20), nullable=False),
    sa.Column('owner_id', sa.BigInteger(), nullable=False),
    sa.Column('owner', sa.String(length=150), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['change_id'], ['change_control.id'], name=op.f('fk_change_task_change_id_change_control')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_task'))
    )
    with op.batch_alter_table('change_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_change_task_change_id'), ['change_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_change_task_owner_id'), ['owner_id'], unique=False)

    op.create_table('document_review',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('document_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('reviewer_id', sa.BigInteger(), nullable=False),
    sa.Column('reviewer', sa.String(length=150), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_review_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['controlled_document.id'], name=op.f('fk_document_review_document_id_controlled_document')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document_review'))
    )
    with op.batch_alter_table('document_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_review_document_id'), ['document_id'], unique=False)

    op.create_table('document_version',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('document_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('change_summary', sa.Text(), nullable=False),
    sa.Column('change_control', sa.String(length=40), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=False),
    sa.Column('author', sa.String(length=150), nullable=False),
    sa.Column('reviewer_ids', sa.JSON(), nullable=False),
    sa.Column('reviewers', sa.JSON(), nullable=False),
    sa.Column('approver_id', sa.BigInteger(), nullable=True),
    sa.Column('approver', sa.String(length=150), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=True),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('effective_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['controlled_document.id'], name=op.f('fk_document_version_document_id_controlled_document')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document_version')),
    sa.UniqueConstraint('document_id', 'version', name='uq_document_version')
    )
    with op.batch_alter_table('document_version', schema=None) as batch_op:
        batch_op.create_index('ix_document_version_state_effective_on', ['state', 'effective_on'], unique=False)

    op.create_table('training_requirement',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('role', sa.String(length=64), nullable=False),
    sa.Column('document_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('skill_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=150), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(document_id IS NULL) <> (skill_id IS NULL)', name=op.f('ck_training_requirement_document_xor_skill')),
    sa.ForeignKeyConstraint(['document_id'], ['controlled_document.id'], name=op.f('fk_training_requirement_document_id_controlled_document')),
    sa.ForeignKeyConstraint(['skill_id'], ['training_skill.id'], name=op.f('fk_training_requirement_skill_id_training_skill')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_requirement')),
    sa.UniqueConstraint('role', 'document_id', 'skill_id', name='uq_training_requirement')
    )
    with op.batch_alter_table('training_requirement', schema=None) as batch_op:
        batch_op.create_index('ix_training_requirement_document', ['document_id'], unique=False)

    op.create_table('document_file',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['document_version.id'], name=op.f('fk_document_file_version_id_document_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document_file')),
    sa.UniqueConstraint('version_id', name=op.f('uq_document_file_version_id'))
    )
    op.create_table('training_record',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('username', sa.String(length=150), nullable=False),
    sa.Column('full_name', sa.String(length=150), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('document_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('skill_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('subject', sa.String(length=260), nullable=False),
    sa.Column('assigned_by', sa.String(length=150), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('trainer', sa.String(length=150), nullable=False),
    sa.Column('trainer_id', sa.BigInteger(), nullable=True),
    sa.Column('result', sa.String(length=10), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.CheckConstraint('(document_id IS NULL) <> (skill_id IS NULL)', name=op.f('ck_training_record_document_xor_skill')),
    sa.ForeignKeyConstraint(['document_id'], ['controlled_document.id'], name=op.f('fk_training_record_document_id_controlled_document')),
    sa.ForeignKeyConstraint(['skill_id'], ['training_skill.id'], name=op.f('fk_training_record_skill_id_training_skill')),
    sa.ForeignKeyConstraint(['version_id'], ['document_version.id'], name=op.f('fk_training_record_version_id_document_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_record'))
    )
    with op.batch_alter_table('training_record', schema=None) as batch_op:
        batch_op.create_index('ix_training_record_document_user', ['document_id', 'user_id'], unique=False)
        batch_op.create_index('ix_training_record_skill_user', ['skill_id', 'user_id'], unique=False)
        batch_op.create_index('ix_training_record_state_due', ['state', 'due_on'], unique=False)
        batch_op.create_index('ix_training_record_user_state', ['user_id', 'state'], unique=False)
        batch_op.create_index('uq_training_record_open_version', ['user_id', 'version_id'], unique=True, postgresql_where=sa.text("state = 'assigned' AND version_id IS NOT NULL"), sqlite_where=sa.text("state = 'assigned' AND version_id IS NOT NULL"))

    _create_text_search_index()



def downgrade() -> None:
    with op.batch_alter_table('training_record', schema=None) as batch_op:
        batch_op.drop_index('uq_training_record_open_version', postgresql_where=sa.text("state = 'assigned' AND version_id IS NOT NULL"), sqlite_where=sa.text("state = 'assigned' AND version_id IS NOT NULL"))
        batch_op.drop_index('ix_training_record_user_state')
        batch_op.drop_index('ix_training_record_state_due')
        batch_op.drop_index('ix_training_record_skill_user')
        batch_op.drop_index('ix_training_record_document_user')

    op.drop_table('training_record')
    op.drop_table('document_file')
    with op.batch_alter_table('training_requirement', schema=None) as batch_op:
        batch_op.drop_index('ix_training_requirement_document')

    op.drop_table('training_requirement')
    with op.batch_alter_table('document_version', schema=None) as batch_op:
        batch_op.drop_index('ix_document_version_state_effective_on')

    op.drop_table('document_version')
    with op.batch_alter_table('document_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_review_document_id'))

    op.drop_table('document_review')
    with op.batch_alter_table('change_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_change_task_owner_id'))
        batch_op.drop_index(batch_op.f('ix_change_task_change_id'))

    op.drop_table('change_task')
    with op.batch_alter_table('change_assessment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_change_assessment_change_id'))
        batch_op.drop_index(batch_op.f('ix_change_assessment_assessor_id'))

    op.drop_table('change_assessment')
    op.drop_table('training_skill')
    op.drop_table('quality_saved_filter')
    with op.batch_alter_table('controlled_document', schema=None) as batch_op:
        batch_op.drop_index('ix_controlled_document_type_id')
        if op.get_bind().dialect.name == "postgresql":
            batch_op.drop_index('ix_controlled_document_text_trgm')
        batch_op.drop_index(batch_op.f('ix_controlled_document_owner_id'))
        batch_op.drop_index(batch_op.f('ix_controlled_document_next_review_on'))

    op.drop_table('controlled_document')
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.drop_index('ix_complaint_state_id')
        batch_op.drop_index(batch_op.f('ix_complaint_investigator_id'))
        batch_op.drop_index(batch_op.f('ix_complaint_due_on'))
        batch_op.drop_index('ix_complaint_category_received')

    op.drop_table('complaint')
    with op.batch_alter_table('change_control', schema=None) as batch_op:
        batch_op.drop_index('ix_change_control_state_id')

    op.drop_table('change_control')
