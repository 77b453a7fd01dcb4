"""The fleet's tables as typed SQLAlchemy 2 models. Every schema change is an Alembic migration
(``posguard/fleet/migrations/versions``); ``tests/fleet/test_migrations.py`` checks the two agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from posguard.fleet.diagnosis.shard import slot_of

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both dialects (SQLite keeps no zone by itself)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; the fleet stores aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # PostgreSQL sessions are in UTC (engine.py)
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # the name every older reader shows; the admin page keeps it equal to the Chinese name (or
    # the English one when there is no Chinese name)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # the name in each language, when registered (migration 0014); pages show the reader's
    name_zh: Mapped[str | None] = mapped_column(String(200), nullable=True)
    name_en: Mapped[str | None] = mapped_column(String(200), nullable=True)


class MerchantContact(Base):
    """Who hears of a merchant's incidents (migration 0014): a notification channel of the
    notify config (its id) and the address on it (an e-mail address; empty for a chat robot,
    which posts to its group), in the contact's language; a phone number for people to call.
    Notification routing uses these before the notify config's ``merchants`` section."""

    __tablename__ = "merchant_contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[str] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    person: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    channel: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(320), default="")
    lang: Mapped[str] = mapped_column(String(2), default="zh")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Terminal(Base):
    __tablename__ = "terminals"
    __table_args__ = (
        # the inventory's keyset paging: ORDER BY <column>, id walks these (migration 0010)
        Index("ix_terminals_model_id", "model", "id"),
        Index("ix_terminals_firmware_id", "firmware", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    model: Mapped[str] = mapped_column(String(64))
    brand: Mapped[str] = mapped_column(String(64))
    firmware: Mapped[str] = mapped_column(String(64))
    acquirer_host: Mapped[str] = mapped_column(String(128), index=True)
    area: Mapped[str] = mapped_column(String(128), index=True)
    location: Mapped[str] = mapped_column(String(200), default="")
    # the maker's serial number, when registered (searchable in the inventory)
    serial: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    install_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    warranty_end: Mapped[date | None] = mapped_column(Date, nullable=True)
    # sha256 of the terminal's random bearer secret (256 bits of entropy, so a fast hash
    # is enough; argon2 is for low-entropy passwords). Never the secret itself.
    credential_hash: Mapped[str] = mapped_column(String(64))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


def _slot_default(context: DefaultExecutionContext) -> int:
    """A row written through the ORM without its slot gets it from its terminal id (ingest's
    bulk paths set it themselves)."""
    return slot_of(context.get_current_parameters()["terminal_id"])  # type: ignore[no-untyped-call]


class EventRow(Base):
    """One stored event (heartbeats are not: they upsert :class:`TerminalLiveness`).

    On PostgreSQL the table is partitioned by day on ``ts`` (migration 0006,
    :mod:`posguard.fleet.db.partitions`): its primary key there is ``(id, ts)`` and no foreign
    key can point at it; the idempotency key holds ``ts`` on both dialects (a resent event is
    the same outbox row, with the same ``ts``)."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("terminal_id", "seq", "ts"),
        Index("ix_events_terminal_id_ts", "terminal_id", "ts"),
        Index("ix_events_kind_ts", "kind", "ts"),  # dashboard charts and printer states
        Index("ix_events_shard_slot_id", "shard_slot", "id"),  # a diagnoser shard's rows
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"))
    merchant_id: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    ts: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    kind: Mapped[str] = mapped_column(String(32))
    code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # crc32(terminal_id) mod 1024, set at ingest (posguard.fleet.diagnosis.shard.slot_of)
    shard_slot: Mapped[int] = mapped_column(SmallInteger, default=_slot_default)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(
            "resolved_at IS NULL OR resolved_at >= opened_at", name="resolved_after_opened"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    # "terminal:T0001", "host:acq-east", "area:shanghai-pudong"
    scope: Mapped[str] = mapped_column(String(200))
    # rule_id|scope while open or acknowledged, NULL once closed: one open incident per key.
    open_key: Mapped[str | None] = mapped_column(String(270), unique=True, nullable=True)
    # rule_id|scope|the event that opened it: a replay reaching the same decision finds it taken
    cause_key: Mapped[str | None] = mapped_column(String(320), unique=True, nullable=True)
    code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    terminal_id: Mapped[str | None] = mapped_column(
        ForeignKey("terminals.id"), nullable=True, index=True
    )
    merchant_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id"), nullable=True, index=True
    )
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON)
    # the time of the event that opened it; detected_at: when the diagnoser opened it (NULL:
    # opened before migration 0005)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    detected_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    time_to_ack_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    time_to_resolve_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    # the workflow (migration 0007): "user:<name>" or "team:<id>"; a resolution reason from
    # posguard.fleet.incident_policy.RESOLUTION_REASONS with its free text; times reopened
    assignee: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    resolution_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class IncidentAudit(Base):
    """Every action on an incident, append-only (posguard.fleet.audit): who (``user:alice``,
    ``rule:…``, ``system``), when, what, from where (client IP, ``cli`` or ``system``), and its
    details. ``merchant_safe`` entries are the ones a merchant user may read."""

    __tablename__ = "incident_audit"
    __table_args__ = (Index("ix_incident_audit_incident_id_id", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(80))
    origin: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    merchant_safe: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class IncidentEvent(Base):
    __tablename__ = "incident_events"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    # no foreign key: a partitioned events table has none to point at, and a day past
    # retention is dropped whole (the incident keeps its explanation)
    event_id: Mapped[int] = mapped_column(BigId, primary_key=True)


class Command(Base):
    __tablename__ = "commands"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # a rule's command: issued_at is the time of the event that caused it, detected_at when the
    # diagnoser issued it; an operator's command: issued_at is when they did, detected_at NULL
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    detected_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    issued_by: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True)
    # one of a bulk action's commands (the dashboard's group actions), else NULL
    bulk_id: Mapped[int | None] = mapped_column(
        ForeignKey("bulk_actions.id"), nullable=True, index=True
    )
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # not taken by the terminal by then: expired (NULL: never expires)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class BulkAction(Base):
    """One command sent to a group of terminals at once (the dashboard's bulk actions): what was
    selected, who confirmed it, and the terminals left out because they cannot run it. Each
    terminal's command is an ordinary ``commands`` row pointing here (``bulk_id``)."""

    __tablename__ = "bulk_actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    selection: Mapped[dict[str, Any]] = mapped_column(JSON)  # the filter or list, as chosen
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[list[str]] = mapped_column(JSON)  # terminal ids without the capability
    # staged: the terminal ids of each stage; stages below ``released`` have their commands
    plan: Mapped[list[list[str]]] = mapped_column(JSON)
    released: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # running | paused | stopped | done
    max_failure: Mapped[float | None] = mapped_column(Float, nullable=True)  # auto-pause above


class FirmwarePackage(Base):
    """A software package an admin uploaded for rollouts (migration 0012): stored on disk under
    the fleet's package directory by its SHA-256; ``models``: the terminal models it is for."""

    __tablename__ = "firmware_packages"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    models: Mapped[list[str]] = mapped_column(JSON)
    filename: Mapped[str] = mapped_column(String(255))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # the Ed25519 signature of the package (base64, common.package_signature; migration 0014)
    signature: Mapped[str | None] = mapped_column(String(100), nullable=True)


class DiagnosisState(Base):
    """Where one diagnoser shard stands: the last event id diagnosed, ids below it not yet
    committed when it passed (``gaps``), and when it last stepped (its own downtime)."""

    __tablename__ = "diagnosis_state"

    shard: Mapped[str] = mapped_column(String(32), primary_key=True)  # "K/N"
    cursor: Mapped[int] = mapped_column(BigInteger)
    gaps: Mapped[list[int]] = mapped_column(JSON)
    last_step_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TerminalLiveness(Base):
    """One row per terminal, upserted at ingest by each heartbeat newer than the one it holds
    (heartbeats are not stored as events): absence rules and health states read it."""

    __tablename__ = "terminal_liveness"
    __table_args__ = (Index("ix_terminal_liveness_received_at", "received_at"),)

    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    last_heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    seq: Mapped[int] = mapped_column(BigInteger)
    interval_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    shard_slot: Mapped[int] = mapped_column(SmallInteger, default=_slot_default)


class HeartbeatSample(Base):
    """A sampled heartbeat history: per terminal and sample period (``bucket``, the period's
    start; ``heartbeat_sample_s`` in the fleet settings) the earliest heartbeat by ``(ts, seq)``,
    written in the same transaction as :class:`TerminalLiveness`. The network report and the
    maintenance prediction read it (heartbeats are not stored as events). Partitioned by day
    of ``bucket`` on PostgreSQL (revision 0013, :mod:`posguard.fleet.db.partitions`)."""

    __tablename__ = "heartbeat_samples"
    __table_args__ = (Index("ix_heartbeat_samples_ts", "ts"),)  # report windows, retention

    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UtcDateTime())
    seq: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    shard_slot: Mapped[int] = mapped_column(SmallInteger, default=_slot_default)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class GroupHit(Base):
    """A shard's count for the correlator (:mod:`posguard.fleet.diagnosis.group_hits`): per
    correlation rule, terminal, minute of event time (``bucket``) and card BIN (``''`` for
    none), the events that matched the rule (the first and latest of them) and the
    transactions that named the BIN. ``version`` grows with every write (the correlator's
    cursor); ``counted_seqs`` the sorted sequence numbers of the events counted (NULL past
    ``MAX_COUNTED`` of them, or written before migration 0016: then only ``seq_hw``, the highest
    sequence number counted, says which events are in the counts)."""

    __tablename__ = "group_hits"
    __table_args__ = (
        Index("ix_group_hits_version", "version"),
        Index("ix_group_hits_bucket", "bucket"),
    )

    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    bin6: Mapped[str] = mapped_column(String(8), primary_key=True)
    shard: Mapped[str] = mapped_column(String(32))
    seq_hw: Mapped[int] = mapped_column(BigInteger)
    hits: Mapped[int] = mapped_column(Integer)
    tries: Mapped[int] = mapped_column(Integer)
    first: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    last: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    tried_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    tried_id: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    counted_seqs: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True), nullable=True)


class MaintenanceSchedule(Base):
    __tablename__ = "maintenance_schedules"

    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    inspection_interval_days: Mapped[int] = mapped_column(Integer)
    firmware_minimum: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


class MaintenanceRecord(Base):
    __tablename__ = "maintenance_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    performed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    performed_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


class User(Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class UserPref(Base):
    """Per-user dashboard state: the language, and when the user last logged out (sessions
    issued until then are dead)."""

    __tablename__ = "user_prefs"

    username: Mapped[str] = mapped_column(
        ForeignKey("users.username", ondelete="CASCADE"), primary_key=True
    )
    lang: Mapped[str | None] = mapped_column(String(8), nullable=True)
    logout_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # UNIX seconds
    time_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)  # IANA name
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class NotificationOutbox(Base):
    """One notification to one recipient about one incident transition (posguard.fleet.notify).

    ``idem_key`` = sha256 of (incident, transition, channel, recipient): enqueued once, whatever
    replays, restarts or second workers do. No secret and no rendered message is stored: the
    message is built from the incident when it is sent."""

    __tablename__ = "notification_outbox"
    __table_args__ = (Index("ix_notification_outbox_due", "channel", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idem_key: Mapped[str] = mapped_column(String(64), unique=True)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id"), nullable=True, index=True
    )
    transition: Mapped[str] = mapped_column(String(32))  # open | escalate:<n> | ack | resolve
    route_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(320))  # an address, or "" for a robot
    lang: Mapped[str] = mapped_column(String(8))
    audience: Mapped[str] = mapped_column(String(16))  # ops | merchant
    # pending | sending | sent | failed | suppressed (merged, acknowledged or cleared first)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    message_key: Mapped[str | None] = mapped_column(String(64), nullable=True)  # one per message
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)


class TrainingSession(Base):
    """A training session held with a merchant's staff (migration 0008): the operator trained
    (NULL: the whole shop), its topics (catalog ``OPS.*`` codes), when and by whom."""

    __tablename__ = "training_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    operator: Mapped[str | None] = mapped_column(String(16), nullable=True)
    topics: Mapped[list[str]] = mapped_column(JSON)
    held_at: Mapped[datetime] = mapped_column(UtcDateTime())
    trainer: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PredictionVisit(Base):
    """A technician's visit against a maintenance prediction and what it found (migration 0009;
    posguard.fleet.prediction.visits)."""

    __tablename__ = "prediction_visits"
    __table_args__ = (
        CheckConstraint("outcome IN ('confirmed', 'not_confirmed')", name="outcome"),
        Index("ix_prediction_visits_terminal_id_visited_at", "terminal_id", "visited_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"))
    component: Mapped[str] = mapped_column(String(32))
    risk: Mapped[float] = mapped_column(Float)
    reasons: Mapped[dict[str, Any]] = mapped_column(JSON)
    visited_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    outcome: Mapped[str] = mapped_column(String(16))
    part_replaced: Mapped[bool] = mapped_column(Boolean)
    performed_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)


class _NetworkParts:
    """The columns of one terminal's part (``posguard.fleet.network_report.parts.Part``)."""

    carrier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    link: Mapped[str | None] = mapped_column(String(16), nullable=True)
    first_ts: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    first_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_ts: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer)
    timeouts: Mapped[int] = mapped_column(Integer)
    resets: Mapped[int] = mapped_column(Integer)
    heartbeats: Mapped[int] = mapped_column(Integer)
    signal_reports: Mapped[int] = mapped_column(Integer)
    weak: Mapped[int] = mapped_column(Integer)
    failover_reports: Mapped[int] = mapped_column(Integer)
    failover: Mapped[int] = mapped_column(Integer)
    rtts: Mapped[dict[str, int]] = mapped_column(JSON)


class NetworkDaily(_NetworkParts, Base):
    """The network report's daily rollup (migration 0015; posguard.fleet.network_report.rollup):
    per UTC day and terminal, what the report counts under each carrier × link the terminal's
    sampled heartbeats named that day (``part`` 1..n, in heartbeat order), and its attempts
    before its first heartbeat of the day (``part`` 0, no carrier or link)."""

    __tablename__ = "network_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    terminal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    part: Mapped[int] = mapped_column(SmallInteger, primary_key=True)


class NetworkDailyDay(Base):
    """Which days :class:`NetworkDaily` holds, and whether they are current: ingest bumps
    ``gen`` when it stores an event or sample of a past day; a day's rows are current while
    ``built_gen`` (the ``gen`` read before they were built) equals it (migration 0015)."""

    __tablename__ = "network_daily_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    gen: Mapped[int] = mapped_column(BigInteger, default=0)
    built_gen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    built_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class NetworkHourly(_NetworkParts, Base):
    """The network report's hourly rollup (migration 0017): as :class:`NetworkDaily`, per
    terminal and span ``[since, until)`` of a UTC day cut at an hour: every prefix (``since``
    the day's start) and every suffix (``until`` its end), so a report takes the part of a day
    on either side of a week boundary, and of its partial end days, from two rows a terminal."""

    __tablename__ = "network_hourly"

    since: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    until: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    part: Mapped[int] = mapped_column(SmallInteger, primary_key=True)


class NetworkHour(Base):
    """:class:`NetworkDailyDay` per hour (its start) for :class:`NetworkHourly`: a span is
    current while every hour in it is (migration 0017)."""

    __tablename__ = "network_hours"

    hour: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    gen: Mapped[int] = mapped_column(BigInteger, default=0)
    built_gen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    built_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
