"""The registry's tables at the newest schema revision, as SQLAlchemy Core.

The migrations in ``migrations/versions`` build exactly this schema (a test compares the two on
SQLite and PostgreSQL); a change here needs a new migration there.

Times are seconds since the epoch (float). Runs, experiments, models and versions have integer
keys for joins; runs are named outside by a 32-character hex id (``runs.uuid``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Sizes: names and keys are short; values are text.
NAME = 128
KEY = 250

# Deleting (migration 0005): experiments, runs, models and versions are deleted softly
# (deleted_at: hidden, restorable), then permanently (purged_at: what they held is removed, the
# row stays as a tombstone that lineage and the audit still name). See _deletes.py.

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("deleted_at", Float, nullable=True),
    Column("purged_at", Float, nullable=True),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(32), nullable=False, unique=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(NAME), nullable=True),
    Column("status", String(16), nullable=False),
    Column("start_time", Float, nullable=False),
    Column("end_time", Float, nullable=True),
    # The process running it (migration 0004): where (machine and pid namespace), its pid and
    # start time, and its last heartbeat; see _stale.py. NULL for runs from before 0004.
    Column("host", String(255), nullable=True),
    Column("pid", Integer, nullable=True),
    Column("pid_start", BigInteger, nullable=True),
    Column("heartbeat_at", Float, nullable=True),
    Column("deleted_at", Float, nullable=True),
    Column("purged_at", Float, nullable=True),
    # Who started it (migration 0007): a token's principal (service:ci) or the OS login.
    Column("actor", String(NAME), nullable=True),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    Index("ix_runs_status", "status"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("key", String(KEY), primary_key=True),
    Column("value", Text, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("key", String(KEY), primary_key=True),
    Column("value", Text, nullable=False),
)

# Every logged point (the history); the newest point per key lives in latest_metrics.
metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("key", String(KEY), nullable=False),
    Column("value", Float, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", Float, nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

# The point with the greatest (step, timestamp, id) per run and key: what search filters and
# sorts on, kept current in the same transaction as each write (added by migration 0002).
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("key", String(KEY), primary_key=True),
    Column("value", Float, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", Float, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
)

# Files of a run: a name in the run and the content hash of the stored bytes.
artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("name", String(NAME), nullable=True),
    Column("schema", Text, nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("profile_sha256", String(64), nullable=True),
    Column("source", Text, nullable=True),
    Column("created_at", Float, nullable=False),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), primary_key=True),
    Column("context", String(64), primary_key=True),
    Index("ix_run_inputs_dataset", "dataset_id"),
)

models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # The highest version number handed out; bumped in the registering transaction, so a
    # rolled-back registration leaves no gap.
    Column("last_version", Integer, nullable=False),
    Column("deleted_at", Float, nullable=True),
    Column("purged_at", Float, nullable=True),
)

model_tags = Table(
    "model_tags",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id"), primary_key=True),
    Column("key", String(KEY), primary_key=True),
    Column("value", Text, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=True),
    Column("bundle_sha256", String(64), nullable=False),
    Column("profile_sha256", String(64), nullable=True),
    Column("description", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("deleted_at", Float, nullable=True),
    Column("purged_at", Float, nullable=True),
    Column("actor", String(NAME), nullable=True),  # who registered it (migration 0007)
    UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    Index("ix_model_versions_run", "run_id"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id"), primary_key=True),
    Column("key", String(KEY), primary_key=True),
    Column("value", Text, nullable=False),
)

aliases = Table(
    "aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id"), primary_key=True),
    Column("alias", String(NAME), primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Every alias move, in order: what it pointed to before and after, when, why and by whom.
alias_events = Table(
    "alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id"), nullable=False),
    Column("alias", String(NAME), nullable=False),
    Column("version", Integer, nullable=True),
    Column("previous_version", Integer, nullable=True),
    Column("reason", Text, nullable=True),
    Column("actor", String(NAME), nullable=True),
    Column("at", Float, nullable=False),
    Index("ix_alias_events_model", "model_id", "id"),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("target", String(256), nullable=False),
    Column("alias", String(NAME), nullable=True),
    Column("details", Text, nullable=True),
    Column("at", Float, nullable=False),
    Index("ix_deployments_version", "version_id"),
)

# Monitoring (migration 0003): each window a seawall.monitoring.Monitor evaluated, its drift per
# feature, and the alerts its rules raised. Models are named, not keyed: a monitor may watch a
# model that is not in this registry.
monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(NAME), nullable=False),
    Column("version", String(NAME), nullable=True),
    Column("window_start", Float, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("drift_share", Float, nullable=True),
    Column("dataset_drift", Boolean, nullable=True),
    # JSON: missing shares, prediction summary, quality, slice and label counts
    Column("details", Text, nullable=False),
    # the window's merged Profile of the features and of the predictions (Profile.to_bytes)
    Column("profile", LargeBinary, nullable=True),
    Column("prediction_profile", LargeBinary, nullable=True),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("model", "window_start", "window_end", name="uq_monitor_windows_window"),
    Index("ix_monitor_windows_model_end", "model", "window_end"),
)

monitor_drift = Table(
    "monitor_drift",
    metadata,
    Column("window_id", Integer, ForeignKey("monitor_windows.id"), primary_key=True),
    Column("feature", String(KEY), primary_key=True),
    Column("method", String(32), nullable=False),
    Column("statistic", Float, nullable=False),
    Column("pvalue", Float, nullable=True),
    Column("threshold", Float, nullable=False),
    Column("drifted", Boolean, nullable=False),
)

monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(NAME), nullable=False),
    Column("rule", String(KEY), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject", String(KEY), nullable=True),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=False),
    Column("message", Text, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("resolved_at", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
    # who acknowledged it (a token's principal or the OS login), and when (migration 0008)
    Column("acknowledged_by", String(NAME), nullable=True),
    Column("acknowledged_at", Float, nullable=True),
    Index("ix_monitor_alerts_model_state", "model", "state"),
)

# Deleting and garbage collection (migration 0005): every delete, restore and purge, by whom
# and why; the objects writers are storing, held against a sweep until the transaction that
# references them commits; and the objects a sweep decided to remove (see _gc.py).
deletions = Table(
    "deletions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("target", String(300), nullable=False),
    Column("action", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("actor", String(NAME), nullable=True),
    Column("at", Float, nullable=False),
    Index("ix_deletions_target", "target", "id"),
)

store_pins = Table(
    "store_pins",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_store_pins_sha256", "sha256"),
)

gc_condemned = Table(
    "gc_condemned",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("gc_id", String(32), nullable=False),
    Column("at", Float, nullable=False),
)

# Events (migration 0006): the outbox, written in the transaction of the change each event
# describes; ids increase in commit order (see events/_outbox.py). AUTOINCREMENT on SQLite, so an
# id is never handed out twice even after old events are removed.
events = Table(
    "events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", Float, nullable=False),
    Column("type", String(64), nullable=False),
    Column("resource", String(512), nullable=False),
    Column("payload", Text, nullable=False),  # JSON object
    Column("key", String(256), nullable=False),  # the idempotency key: one event per key
    UniqueConstraint("key", name="uq_events_key"),
    sqlite_autoincrement=True,
)

# Webhook subscriptions and where each one's delivery stands: every event after `cursor` that
# matches `types` is still to be delivered, in order; a failed try waits until next_attempt_at.
# The secret signs bodies, so it is kept as given (never shown after it was created).
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    Column("types", Text, nullable=False),  # JSON list of event types; empty: every type
    Column("secret", String(256), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("cursor", BigInteger, nullable=False),
    Column("delivered", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),  # failed tries of the event after the cursor
    Column("next_attempt_at", Float, nullable=False),
    Column("last_attempt_at", Float, nullable=True),
    Column("last_error", Text, nullable=True),
    # the delivery worker that holds this subscription, until when
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", Float, nullable=True),
)

# Identity (migration 0007): principals (users and service accounts, each of a team) and their
# tokens, stored as digests only (seawall._server.tokens); auth_settings holds the registry's
# token issuer id.
auth_settings = Table(
    "auth_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

principals = Table(
    "principals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("team", String(NAME), nullable=False),
    Column("created_at", Float, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_id", String(12), nullable=False, unique=True),
    Column("principal_id", Integer, ForeignKey("principals.id"), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("scopes", Text, nullable=False),  # JSON list of ACTION:KIND/PATTERN
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    Column("rate_limit", Float, nullable=True),
    Column("description", Text, nullable=True),
    Column("created_by", String(NAME), nullable=True),
    Index("ix_tokens_principal", "principal_id"),
)
