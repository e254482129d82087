"""Initial schema: audit trail, signatures, numbering, auth, controlled settings.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 10:50:30.693081
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# 21 CFR 11.10(e), EU GMP Annex 11 §9: the audit trail and signatures are append-only.
# The hash chain makes tampering evident; these triggers make it impossible for the
# application's own database account.
APPEND_ONLY_TABLES = ("audit_entry", "electronic_signature")


def _create_append_only_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION pharmos_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only (21 CFR 11.10(e)): % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        for table in APPEND_ONLY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION pharmos_reject_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION pharmos_reject_change()"
            )
        return
    for table in APPEND_ONLY_TABLES:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only (21 CFR 11.10(e)): {verb} refused'); END"
            )


def _drop_append_only_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS pharmos_reject_change()")
        return
    for table in APPEND_ONLY_TABLES:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")


def upgrade() -> None:
    op.create_table('audit_entry',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('actor', sa.String(length=150), nullable=False),
    sa.Column('record_type', sa.String(length=80), nullable=False),
    sa.Column('record_id', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('changes', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry')),
    sa.UniqueConstraint('prev_hash', name=op.f('uq_audit_entry_prev_hash'))
    )
    op.create_index('ix_audit_entry_actor_id', 'audit_entry', ['actor_id'], unique=False)
    op.create_index('ix_audit_entry_at', 'audit_entry', ['at'], unique=False)
    op.create_index('ix_audit_entry_record', 'audit_entry', ['record_type', 'record_id'], unique=False)

    op.create_table('auth_role',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('label_en', sa.String(length=150), nullable=False),
    sa.Column('label_zh', sa.String(length=150), nullable=False),
    sa.Column('builtin', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_role')),
    sa.UniqueConstraint('name', name=op.f('uq_auth_role_name'))
    )
    op.create_table('auth_user',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=150), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('language', sa.String(length=10), nullable=False),
    sa.Column('department', sa.String(length=100), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('must_change_password', sa.Boolean(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('failed_login_count', sa.Integer(), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('totp_secret', sa.Text(), nullable=True),
    sa.Column('totp_enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_user')),
    sa.UniqueConstraint('username', name=op.f('uq_auth_user_username'))
    )
    op.create_table('electronic_signature',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('record_type', sa.String(length=80), nullable=False),
    sa.Column('record_id', sa.String(length=80), nullable=False),
    sa.Column('signer_id', sa.BigInteger(), nullable=False),
    sa.Column('signer_username', sa.String(length=64), nullable=False),
    sa.Column('printed_name', sa.String(length=150), nullable=False),
    sa.Column('meaning', sa.String(length=40), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('binding', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_electronic_signature'))
    )
    op.create_index('ix_electronic_signature_record', 'electronic_signature', ['record_type', 'record_id'], unique=False)

    op.create_table('number_sequence',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('last_value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_number_sequence')),
    sa.UniqueConstraint('key', name=op.f('uq_number_sequence_key'))
    )
    op.create_table('site_controlled_setting',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('effective_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_site_controlled_setting')),
    sa.UniqueConstraint('number', name=op.f('uq_site_controlled_setting_number'))
    )
    op.create_index(op.f('ix_site_controlled_setting_key'), 'site_controlled_setting', ['key'], unique=False)

    op.create_table('auth_api_token',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['auth_user.id'], name=op.f('fk_auth_api_token_user_id_auth_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_auth_api_token_token_hash'))
    )
    op.create_index(op.f('ix_auth_api_token_user_id'), 'auth_api_token', ['user_id'], unique=False)

    op.create_table('auth_role_permission',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('role_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('permission', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['role_id'], ['auth_role.id'], name=op.f('fk_auth_role_permission_role_id_auth_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_role_permission')),
    sa.UniqueConstraint('role_id', 'permission', name='uq_auth_role_permission')
    )
    op.create_index(op.f('ix_auth_role_permission_role_id'), 'auth_role_permission', ['role_id'], unique=False)

    op.create_table('auth_session',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('idle_minutes', sa.Integer(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('client', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['auth_user.id'], name=op.f('fk_auth_session_user_id_auth_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_auth_session_token_hash'))
    )
    op.create_index(op.f('ix_auth_session_user_id'), 'auth_session', ['user_id'], unique=False)

    op.create_table('auth_user_role',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('role_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('granted_by', sa.String(length=150), nullable=False),
    sa.ForeignKeyConstraint(['role_id'], ['auth_role.id'], name=op.f('fk_auth_user_role_role_id_auth_role')),
    sa.ForeignKeyConstraint(['user_id'], ['auth_user.id'], name=op.f('fk_auth_user_role_user_id_auth_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_user_role')),
    sa.UniqueConstraint('user_id', 'role_id', name='uq_auth_user_role')
    )
    op.create_index(op.f('ix_auth_user_role_role_id'), 'auth_user_role', ['role_id'], unique=False)
    op.create_index(op.f('ix_auth_user_role_user_id'), 'auth_user_role', ['user_id'], unique=False)
    _create_append_only_guards()


def downgrade() -> None:
    _drop_append_only_guards()
    op.drop_index(op.f('ix_auth_user_role_user_id'), table_name='auth_user_role')
    op.drop_index(op.f('ix_auth_user_role_role_id'), table_name='auth_user_role')
    op.drop_table('auth_user_role')

    op.drop_index(op.f('ix_auth_session_user_id'), table_name='auth_session')
    op.drop_table('auth_session')

    op.drop_index(op.f('ix_auth_role_permission_role_id'), table_name='auth_role_permission')
    op.drop_table('auth_role_permission')

    op.drop_index(op.f('ix_auth_api_token_user_id'), table_name='auth_api_token')
    op.drop_table('auth_api_token')

    op.drop_index(op.f('ix_site_controlled_setting_key'), table_name='site_controlled_setting')
    op.drop_table('site_controlled_setting')
    op.drop_table('number_sequence')

    op.drop_index('ix_electronic_signature_record', table_name='electronic_signature')
    op.drop_table('electronic_signature')
    op.drop_table('auth_user')
    op.drop_table('auth_role')

    op.drop_index('ix_audit_entry_record', table_name='audit_entry')
    op.drop_index('ix_audit_entry_at', table_name='audit_entry')
    op.drop_index('ix_audit_entry_actor_id', table_name='audit_entry')
    op.drop_table('audit_entry')
