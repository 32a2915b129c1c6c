"""The tables, as SQLAlchemy 2 typed ORM classes. The schema itself is made by the migrations.

Corrections never overwrite. `observations`, `doses` and `audit_log` are append-only, and the
database refuses UPDATE and DELETE on them (triggers in migration 0001); accounts (`users`) are
never deleted, only disabled (a trigger in migration 0002 refuses DELETE). A correction is a new
row that names the row it corrects in `supersedes_id`, with `status` (`record_status` for
doses) `amended` (new values) or `entered_in_error` (the values of the row it withdraws, marked
as an error), who made it and why. The current version of a record is the row no other row
supersedes, and it counts only if it is not `entered_in_error` (see `il2_tox.store.records`).
`supersedes_id` is unique: a row is corrected at most once, so two people correcting the same
row at the same time cannot both win (the second gets an IntegrityError and must re-read). This
is the concurrency guard of append-only rows; the mutable tables (users, patients, admissions,
flag acknowledgements) carry a `version` column that the ORM checks on every UPDATE.

Times are aware UTC datetimes in Python (`UTCDateTime`); naive datetimes are refused.
Dry weight and height belong to the admission (they are the baselines of that course and
change between admissions); the patient row holds identity only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from il2_tox.course import DOSE_STATUSES, IRAE_ORGANS

ROLES = ("nurse", "physician", "admin", "system")
SEXES = ("female", "male", "other", "unknown")
SPO2_TARGETS = ("94-98", "88-92")
BRAIN_METASTASES = ("none", "treated_stable", "untreated_or_active")
RECORD_STATUSES = ("final", "amended", "entered_in_error")


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so the value is stored as naive
    UTC text and given back with `tzinfo=UTC`. A naive datetime is refused, never guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give a UTC offset")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), float: Double()}


class Versioned:
    """A `version` number the ORM checks and increments on every UPDATE of the row.

    An UPDATE whose version no longer matches (someone saved in between) raises
    `sqlalchemy.orm.exc.StaleDataError`: optimistic concurrency for the mutable tables.
    """

    version: Mapped[int] = mapped_column(Integer, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.version}


class User(Versioned, Base):
    """Someone (or something, role `system`) who records. System users have no password."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_one_of("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Failed sign-ins in a row; at the limit the account is locked until `locked_until`.
    failed_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    # The single sign-on identity (OIDC `sub`, or an e-mail address) that signs in as this user.
    sso_subject: Mapped[str | None] = mapped_column(String(255), index=True, unique=True)


class FormDraft(Base):
    """What one user's open forms held when an idle timeout signed them out (one per user).

    Given back to that user, and only to them, when they sign in again; then deleted.
    """

    __tablename__ = "form_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
    contents: Mapped[dict[str, Any]] = mapped_column(JSONDocument)


class Patient(Versioned, Base):
    """A person, identified by MRN. Demographics only; per-course baselines are on Admission."""

    __tablename__ = "patients"
    __table_args__ = (CheckConstraint(_one_of("sex", SEXES), name="sex"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mrn: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    sex: Mapped[str | None] = mapped_column(String(16))
    birth_date: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Admission(Versioned, Base):
    """One admission for a course of HD IL-2, with what was known before the first dose.

    `prior_therapies` is NULL when no history was given at all (the course's `history` is
    absent); an empty list means a history was given with no prior therapies.
    """

    __tablename__ = "admissions"
    __table_args__ = (
        UniqueConstraint("patient_id", "admitted_at"),
        CheckConstraint(_one_of("spo2_target", SPO2_TARGETS), name="spo2_target"),
        CheckConstraint(_one_of("brain_metastases", BRAIN_METASTASES), name="brain_metastases"),
        CheckConstraint("ecog BETWEEN 0 AND 5", name="ecog"),
        CheckConstraint(
            "prior_therapies IS NOT NULL OR (brain_metastases IS NULL "
            "AND systemic_steroids IS NULL AND ecog IS NULL)",
            name="history_given",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    admitted_at: Mapped[datetime]
    ward: Mapped[str | None] = mapped_column(String(40))
    bed: Mapped[str | None] = mapped_column(String(40))
    weight_kg: Mapped[float]  # pre-treatment (dry) weight: the baseline for weight gain
    height_cm: Mapped[float | None]
    regimen_iu_per_kg: Mapped[int]
    usual_sbp_mmhg: Mapped[float | None]
    spo2_target: Mapped[str] = mapped_column(String(5))
    brain_metastases: Mapped[str | None] = mapped_column(String(32))
    systemic_steroids: Mapped[bool | None]
    ecog: Mapped[int | None]
    prior_therapies: Mapped[list[str] | None] = mapped_column(JSONDocument)
    discharged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PriorToxicity(Base):
    """An immune-related adverse event of earlier checkpoint-inhibitor therapy, as known here."""

    __tablename__ = "prior_toxicities"
    __table_args__ = (
        CheckConstraint(_one_of("irae", IRAE_ORGANS), name="irae"),
        CheckConstraint("grade BETWEEN 1 AND 5", name="grade"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    admission_id: Mapped[int] = mapped_column(ForeignKey("admissions.id"), index=True)
    agent: Mapped[str] = mapped_column(String(200))
    irae: Mapped[str] = mapped_column(String(32))
    grade: Mapped[int]
    onset: Mapped[date | None]
    resolved: Mapped[date | None]  # NULL: not resolved
    steroids: Mapped[bool | None]
    note: Mapped[str | None] = mapped_column(Text)


# A correction names what it corrects and why; an original names nothing.
_CORRECTION_SHAPE = (
    "({status} = 'final' AND supersedes_id IS NULL) OR "
    "({status} <> 'final' AND supersedes_id IS NOT NULL AND correction_reason IS NOT NULL)"
)


class Dose(Base):
    """One IL-2 dose slot (given, held or not given). Append-only; see the module docstring."""

    __tablename__ = "doses"
    __table_args__ = (
        CheckConstraint("cycle IN (1, 2)", name="cycle"),
        CheckConstraint("number BETWEEN 1 AND 14", name="number"),
        CheckConstraint(_one_of("status", DOSE_STATUSES), name="status"),
        CheckConstraint(_one_of("record_status", RECORD_STATUSES), name="record_status"),
        CheckConstraint(_CORRECTION_SHAPE.format(status="record_status"), name="correction"),
        Index(None, "admission_id", "cycle", "number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    admission_id: Mapped[int] = mapped_column(ForeignKey("admissions.id"))
    cycle: Mapped[int]
    number: Mapped[int]
    time: Mapped[datetime]  # when given, or when it was due (held, not given)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    record_status: Mapped[str] = mapped_column(String(16), default="final")
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("doses.id"), unique=True)
    correction_reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)


class Observation(Base):
    """One measurement or assessment. Append-only; see the module docstring.

    Quantities: `value` canonical in `unit`. Coded items (ACVPU, rales) have `value_text` and
    no unit. `entered_value` is the value as entered, as JSON text (`98.6`, `112`, `"A"`: int,
    float or text kept exactly), in `entered_unit`. `ref_low` / `ref_high` are canonical.
    """

    __tablename__ = "observations"
    __table_args__ = (
        CheckConstraint(_one_of("status", RECORD_STATUSES), name="status"),
        CheckConstraint(_CORRECTION_SHAPE.format(status="status"), name="correction"),
        CheckConstraint(
            "(value IS NULL AND value_text IS NOT NULL) "
            "OR (value IS NOT NULL AND value_text IS NULL)",
            name="one_value",
        ),
        Index(None, "admission_id", "code", "observed_at"),
        Index(None, "admission_id", "observed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    admission_id: Mapped[int] = mapped_column(ForeignKey("admissions.id"))
    observed_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    code: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None]
    value_text: Mapped[str | None] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(16))
    entered_value: Mapped[str | None] = mapped_column(String(64))
    entered_unit: Mapped[str | None] = mapped_column(String(16))
    ref_low: Mapped[float | None]
    ref_high: Mapped[float | None]
    period_h: Mapped[float | None]
    status: Mapped[str] = mapped_column(String(16), default="final")
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("observations.id"), unique=True)
    correction_reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)


class FlagAcknowledgement(Versioned, Base):
    """A clinician's acknowledgement of one flag raised at one time, optionally snoozed."""

    __tablename__ = "flag_acknowledgements"
    __table_args__ = (Index(None, "admission_id", "flag_code", "flag_time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    admission_id: Mapped[int] = mapped_column(ForeignKey("admissions.id"))
    flag_code: Mapped[str] = mapped_column(String(64))
    flag_time: Mapped[datetime]
    acknowledged_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)
    snooze_until: Mapped[datetime | None]


class AuditEvent(Base):
    """One entry of the audit log: who did what to which record, before and after, and why.

    `actor` is the username as text, so the entry stands on its own. Append-only.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    reason: Mapped[str | None] = mapped_column(Text)
