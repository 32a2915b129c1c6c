"""The first schema: users, patients, admissions, history, doses, observations, flags, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Written by hand (checked against the models by tests/integration/test_store_schema.py). The
allowed values are spelled out here rather than imported, so that this revision stays what it
was when later code changes. `observations`, `doses` and `audit_log` are append-only: triggers
refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) with an integrity error on both backends.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("audit_log", "observations", "doses")

UTC_TIME = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
RECORD_STATUS = "IN ('final', 'amended', 'entered_in_error')"


def _correction_shape(status: str) -> str:
    return (
        f"({status} = 'final' AND supersedes_id IS NULL) OR "
        f"({status} <> 'final' AND supersedes_id IS NOT NULL AND correction_reason IS NOT NULL)"
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "role IN ('nurse', 'physician', 'admin', 'system')", name=op.f("ck_users_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )

    op.create_table(
        "patients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mrn", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("sex", sa.String(16), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "sex IN ('female', 'male', 'other', 'unknown')", name=op.f("ck_patients_sex")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patients")),
        sa.UniqueConstraint("mrn", name=op.f("uq_patients_mrn")),
    )

    op.create_table(
        "admissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("admitted_at", UTC_TIME, nullable=False),
        sa.Column("ward", sa.String(40), nullable=True),
        sa.Column("bed", sa.String(40), nullable=True),
        sa.Column("weight_kg", sa.Double(), nullable=False),
        sa.Column("height_cm", sa.Double(), nullable=True),
        sa.Column("regimen_iu_per_kg", sa.Integer(), nullable=False),
        sa.Column("usual_sbp_mmhg", sa.Double(), nullable=True),
        sa.Column("spo2_target", sa.String(5), nullable=False),
        sa.Column("brain_metastases", sa.String(32), nullable=True),
        sa.Column("systemic_steroids", sa.Boolean(), nullable=True),
        sa.Column("ecog", sa.Integer(), nullable=True),
        sa.Column("prior_therapies", JSON_DOCUMENT, nullable=True),
        sa.Column("discharged_at", UTC_TIME, nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "spo2_target IN ('94-98', '88-92')", name=op.f("ck_admissions_spo2_target")
        ),
        sa.CheckConstraint(
            "brain_metastases IN ('none', 'treated_stable', 'untreated_or_active')",
            name=op.f("ck_admissions_brain_metastases"),
        ),
        sa.CheckConstraint("ecog BETWEEN 0 AND 5", name=op.f("ck_admissions_ecog")),
        sa.CheckConstraint(
            "prior_therapies IS NOT NULL OR (brain_metastases IS NULL "
            "AND systemic_steroids IS NULL AND ecog IS NULL)",
            name=op.f("ck_admissions_history_given"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_admissions_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admissions")),
        sa.UniqueConstraint(
            "patient_id", "admitted_at", name=op.f("uq_admissions_patient_id_admitted_at")
        ),
    )
    op.create_index(op.f("ix_admissions_patient_id"), "admissions", ["patient_id"])

    op.create_table(
        "prior_toxicities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("admission_id", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(200), nullable=False),
        sa.Column("irae", sa.String(32), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=False),
        sa.Column("onset", sa.Date(), nullable=True),
        sa.Column("resolved", sa.Date(), nullable=True),
        sa.Column("steroids", sa.Boolean(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "irae IN ('hepatitis', 'colitis', 'pneumonitis', 'thyroiditis', 'hypophysitis', "
            "'adrenal_insufficiency', 'nephritis', 'myocarditis', 'dermatitis', 'arthritis', "
            "'diabetes', 'other')",
            name=op.f("ck_prior_toxicities_irae"),
        ),
        sa.CheckConstraint("grade BETWEEN 1 AND 5", name=op.f("ck_prior_toxicities_grade")),
        sa.ForeignKeyConstraint(
            ["admission_id"],
            ["admissions.id"],
            name=op.f("fk_prior_toxicities_admission_id_admissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prior_toxicities")),
    )
    op.create_index(op.f("ix_prior_toxicities_admission_id"), "prior_toxicities", ["admission_id"])

    op.create_table(
        "doses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("admission_id", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("time", UTC_TIME, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", UTC_TIME, nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.Column("record_status", sa.String(16), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("correction_reason", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(100), nullable=True),
        sa.CheckConstraint("cycle IN (1, 2)", name=op.f("ck_doses_cycle")),
        sa.CheckConstraint("number BETWEEN 1 AND 14", name=op.f("ck_doses_number")),
        sa.CheckConstraint(
            "status IN ('given', 'held', 'not_given')", name=op.f("ck_doses_status")
        ),
        sa.CheckConstraint(f"record_status {RECORD_STATUS}", name=op.f("ck_doses_record_status")),
        sa.CheckConstraint(_correction_shape("record_status"), name=op.f("ck_doses_correction")),
        sa.ForeignKeyConstraint(
            ["admission_id"], ["admissions.id"], name=op.f("fk_doses_admission_id_admissions")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["users.id"], name=op.f("fk_doses_recorded_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"], ["doses.id"], name=op.f("fk_doses_supersedes_id_doses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doses")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_doses_supersedes_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_doses_idempotency_key")),
    )
    op.create_index(
        op.f("ix_doses_admission_id_cycle_number"), "doses", ["admission_id", "cycle", "number"]
    )

    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("admission_id", sa.Integer(), nullable=False),
        sa.Column("observed_at", UTC_TIME, nullable=False),
        sa.Column("recorded_at", UTC_TIME, nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("value_text", sa.String(32), nullable=True),
        sa.Column("unit", sa.String(16), nullable=True),
        sa.Column("entered_value", sa.String(64), nullable=True),
        sa.Column("entered_unit", sa.String(16), nullable=True),
        sa.Column("ref_low", sa.Double(), nullable=True),
        sa.Column("ref_high", sa.Double(), nullable=True),
        sa.Column("period_h", sa.Double(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("correction_reason", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(100), nullable=True),
        sa.CheckConstraint(f"status {RECORD_STATUS}", name=op.f("ck_observations_status")),
        sa.CheckConstraint(_correction_shape("status"), name=op.f("ck_observations_correction")),
        sa.CheckConstraint(
            "(value IS NULL AND value_text IS NOT NULL) "
            "OR (value IS NOT NULL AND value_text IS NULL)",
            name=op.f("ck_observations_one_value"),
        ),
        sa.ForeignKeyConstraint(
            ["admission_id"],
            ["admissions.id"],
            name=op.f("fk_observations_admission_id_admissions"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["users.id"], name=op.f("fk_observations_recorded_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["observations.id"],
            name=op.f("fk_observations_supersedes_id_observations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_observations_supersedes_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_observations_idempotency_key")),
    )
    # The hot query: one admission's values of one code over time.
    op.create_index(
        op.f("ix_observations_admission_id_code_observed_at"),
        "observations",
        ["admission_id", "code", "observed_at"],
    )
    op.create_index(
        op.f("ix_observations_admission_id_observed_at"),
        "observations",
        ["admission_id", "observed_at"],
    )

    op.create_table(
        "flag_acknowledgements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("admission_id", sa.Integer(), nullable=False),
        sa.Column("flag_code", sa.String(64), nullable=False),
        sa.Column("flag_time", UTC_TIME, nullable=False),
        sa.Column("acknowledged_by", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", UTC_TIME, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("snooze_until", UTC_TIME, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["admission_id"],
            ["admissions.id"],
            name=op.f("fk_flag_acknowledgements_admission_id_admissions"),
        ),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["users.id"],
            name=op.f("fk_flag_acknowledgements_acknowledged_by_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_acknowledgements")),
    )
    op.create_index(
        op.f("ix_flag_acknowledgements_admission_id_flag_code_flag_time"),
        "flag_acknowledgements",
        ["admission_id", "flag_code", "flag_time"],
    )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=True),
        sa.Column("before", JSON_DOCUMENT, nullable=True),
        sa.Column("after", JSON_DOCUMENT, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_entity_entity_id"), "audit_log", ["entity", "entity_id"])

    _refuse_changes_to_append_only_tables()


def _refuse_changes_to_append_only_tables() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Created in the first schema of search_path, like the tables.
        op.execute(
            """
            CREATE FUNCTION refuse_change_to_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'integrity_constraint_violation';
            END
            $$
            """
        )
        for table in APPEND_ONLY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_change_to_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_to_append_only()"
            )
        return
    for table in APPEND_ONLY_TABLES:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS refuse_change_to_append_only()")
    else:
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    for table in (
        "audit_log",
        "flag_acknowledgements",
        "observations",
        "doses",
        "prior_toxicities",
        "admissions",
        "patients",
        "users",
    ):
        op.drop_table(table)
