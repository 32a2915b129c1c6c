"""Sign-in hardening and the audit page: lockout counters, SSO identities, form drafts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

`users` gains `failed_attempts` and `locked_until` (lockout after repeated failed sign-ins) and
`sso_subject` (the single sign-on identity mapped to the account, unique). Columns are added
with plain ALTER TABLE (no table rebuild on SQLite: other tables refer to `users`).
`form_drafts` holds, per user, what their forms held when an idle timeout signed them out,
until they sign in again. Accounts are never deleted: a trigger refuses DELETE on `users`
(disable an account instead). The audit log gets indexes for the admin page's filters.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("users", sa.Column("locked_until", UTC_TIME, nullable=True))
    op.add_column("users", sa.Column("sso_subject", sa.String(255), nullable=True))
    op.create_index(op.f("ix_users_sso_subject"), "users", ["sso_subject"], unique=True)

    op.create_table(
        "form_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("saved_at", UTC_TIME, nullable=False),
        sa.Column("contents", JSON_DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_form_drafts_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_drafts")),
        sa.UniqueConstraint("user_id", name=op.f("uq_form_drafts_user_id")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_actor"), "audit_log", ["actor"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION refuse_account_deletion() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'users are never deleted: disable the account instead'
                    USING ERRCODE = 'integrity_constraint_violation';
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER users_no_delete BEFORE DELETE ON users "
            "FOR EACH ROW EXECUTE FUNCTION refuse_account_deletion()"
        )
        op.execute(
            "CREATE TRIGGER users_no_truncate BEFORE TRUNCATE ON users "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_account_deletion()"
        )
    else:
        op.execute(
            "CREATE TRIGGER users_no_delete BEFORE DELETE ON users "
            "BEGIN SELECT RAISE(ABORT, 'users are never deleted: disable the account instead'); "
            "END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS users_no_delete ON users")
        op.execute("DROP TRIGGER IF EXISTS users_no_truncate ON users")
        op.execute("DROP FUNCTION IF EXISTS refuse_account_deletion()")
    else:
        op.execute("DROP TRIGGER IF EXISTS users_no_delete")
    op.drop_index(op.f("ix_audit_log_actor"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("form_drafts")
    op.drop_index(op.f("ix_users_sso_subject"), table_name="users")
    for column in ("sso_subject", "locked_until", "failed_attempts"):
        op.drop_column("users", column)  # SQLite 3.35+ drops columns in place
