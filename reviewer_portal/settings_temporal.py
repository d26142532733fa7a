"""The settings of the portal's side of Temporal: the server and its namespaces, the archive of
closed runs, the workers' sandbox and threads, the waits on Updates and starts, and the keys that
sign reviewer actions and encrypt payloads. Read into reviewer_portal/settings.py."""

from __future__ import annotations

import os

import environ

from agents.framework.contract import SANDBOX_MODES
from reviewer_portal.settings_env import DEBUG, VAR_DIR, env, secret

# --- Temporal -------------------------------------------------------------------------------
TEMPORAL_ADDRESS = env.str("TEMPORAL_ADDRESS", default="127.0.0.1:7233")
TEMPORAL_NAMESPACE = env.str("TEMPORAL_NAMESPACE", default="default")
TEMPORAL_TASK_QUEUE = env.str("TEMPORAL_TASK_QUEUE", default="agents")
TEMPORAL_API_KEY = secret("TEMPORAL_API_KEY")
TEMPORAL_TLS_CA = env.str("TEMPORAL_TLS_CA", default="")
TEMPORAL_TLS_CERT = env.str("TEMPORAL_TLS_CERT", default="")
TEMPORAL_TLS_KEY = env.str("TEMPORAL_TLS_KEY", default="")
TEMPORAL_TLS = env.bool("TEMPORAL_TLS", default=bool(TEMPORAL_API_KEY or TEMPORAL_TLS_CERT))
TEMPORAL_UI_URL = env.str("TEMPORAL_UI_URL", default="http://127.0.0.1:8233")
# A namespace and task queue per agent domain (reviewer_portal/domains.py), as JSON, e.g.
# {"loans": {"namespace": "loans", "task_queue": "loans"}}; agents it does not name run in
# TEMPORAL_NAMESPACE on TEMPORAL_TASK_QUEUE. `make dev` gives each domain its own.
AGENT_DOMAINS = env.json("AGENT_DOMAINS", default={})
# How long Temporal keeps a closed run; `make dev` sets it on the namespaces it creates.
TEMPORAL_RETENTION_DAYS = env.int("TEMPORAL_RETENTION_DAYS", default=30)
# The archive (reviewer_portal/archive): closed runs are copied into this database by a Temporal
# Schedule every ARCHIVE_EVERY_MINUTES, well inside the retention above, and kept for
# ARCHIVE_RETENTION_DAYS (seven years by default) before a recorded purge empties them.
ARCHIVE_EVERY_MINUTES = env.int("ARCHIVE_EVERY_MINUTES", default=60)
ARCHIVE_RETENTION_DAYS = env.int("ARCHIVE_RETENTION_DAYS", default=7 * 365)
ARCHIVE_TASK_QUEUE = env.str("ARCHIVE_TASK_QUEUE", default="audit-archive")
# Each pass lists runs closed since the last one less this much (visibility lists a run a moment
# after it closes).
ARCHIVE_VISIBILITY_LAG_SECONDS = env.int("ARCHIVE_VISIBILITY_LAG_SECONDS", default=3600)
# How the worker's Temporal sandbox treats the workflow modules (agents/framework/sandbox.py):
# `strict` checks them in every run (development and tests, where code is written), `shared`
# imports them once for all runs (production: a worker reaches gates at a higher rate).
WORKFLOW_SANDBOX = env.str("WORKFLOW_SANDBOX", default="strict" if DEBUG else "shared")
if WORKFLOW_SANDBOX not in SANDBOX_MODES:
    raise environ.ImproperlyConfigured(
        f"WORKFLOW_SANDBOX must be {' or '.join(SANDBOX_MODES)}, not {WORKFLOW_SANDBOX!r}."
    )
# Threads each worker process writes gates' openings on (the local publish), apart from the
# shared activity threads; each may hold a database connection, so a worker may not take more
# than a third of PostgreSQL's default 100 on its own.
GATE_OPENING_THREADS = env.int("GATE_OPENING_THREADS", default=4)
if not 1 <= GATE_OPENING_THREADS <= 32:
    raise environ.ImproperlyConfigured(
        "GATE_OPENING_THREADS must be from 1 to 32: each thread may hold a database connection."
    )
# How long the portal waits for the workflow to accept or refuse a decision before telling the
# reviewer it is recorded and will be delivered.
TEMPORAL_UPDATE_TIMEOUT_SECONDS = env.float("TEMPORAL_UPDATE_TIMEOUT_SECONDS", default=10.0)
# How long a submitter waits for Temporal to confirm a run's start. A start not confirmed by then
# goes on; the submission is kept meanwhile and confirmed by the start or by the delivery loop
# (reviewer_portal/intake/pending_starts.py). A short wait answers every submission of a burst at
# once, at the price of "kept" answers when Temporal is merely slow.
START_WAIT_SECONDS = env.float("START_WAIT_SECONDS", default=15.0)

# Whether a decision names the run's digest of the gate it was made on (DecideInput.content). A
# worker from before digests refuses such a decision as badly signed: turn this off before rolling
# the workers back, and on again once every worker runs a release with digests.
DECISIONS_NAME_CONTENT = env.bool("DECISIONS_NAME_CONTENT", default=True)

# --- Signed reviewer actions ------------------------------------------------------------------
# The portal's Ed25519 signing key (a small JSON document, see reviewer_portal/trust/keys.py):
# inline, or from a secret file. `make dev` generates a development key at the default path;
# production has no default and refuses a development key.
PORTAL_SIGNING_KEY = secret("PORTAL_SIGNING_KEY")
PORTAL_SIGNING_KEY_FILE = env.str(
    "PORTAL_SIGNING_KEY_FILE", default=str(VAR_DIR / "keys" / "portal-signing.json") if DEBUG else ""
)
# The archive's own key, which signs the archive chain's checkpoints and nothing a run accepts
# (reviewer_portal/trust/archive_key.py; `manage.py signing_key archive-key` makes one, endorsed
# by the portal's key). Without one the archiver signs with the portal's key, as it used to.
ARCHIVE_SIGNING_KEY = secret("ARCHIVE_SIGNING_KEY")
ARCHIVE_SIGNING_KEY_FILE = env.str(
    "ARCHIVE_SIGNING_KEY_FILE", default=str(VAR_DIR / "keys" / "archive-signing.json") if DEBUG else ""
)
# The portal's published public keys, which workers check every signed action against
# (reviewer_portal/trust/public_keys.py): what `manage.py signing_key public` prints, inline or in a
# file. Not secret. A process with the signing key and neither of these uses that key's own.
PORTAL_PUBLIC_KEYS = env.str("PORTAL_PUBLIC_KEYS", default="")
PORTAL_PUBLIC_KEYS_FILE = env.str("PORTAL_PUBLIC_KEYS_FILE", default="")
# Starts, continue-as-new and activities carry seals made with the payload keys, which workers
# check (agents/framework/seals.py). While portals and workers from before seals may still make
# them (the first rollout), set this to a time after the last of them stopped: runs created and
# activities scheduled before it go on unsealed. ISO 8601 with a zone, e.g. 2026-12-01T09:00:00+00:00.
WORKER_UNSEALED_BEFORE = env.str("WORKER_UNSEALED_BEFORE", default="")

# --- Payload encryption -----------------------------------------------------------------------
# AES-256 keys per Temporal namespace (agents/framework/codec.py): the JSON document, or a secret
# file holding it. `make dev` generates development keys at the default path; production has no
# default and refuses development keys.
PAYLOAD_KEYS = secret("PAYLOAD_KEYS")
PAYLOAD_KEYS_FILE = env.str(
    "PAYLOAD_KEYS_FILE", default=str(VAR_DIR / "keys" / "payload-keys.json") if DEBUG else ""
)
if PAYLOAD_KEYS_FILE and not PAYLOAD_KEYS:
    # Code that runs without Django (the document store, inside a tool) reads the same variable.
    os.environ.setdefault("PAYLOAD_KEYS_FILE", PAYLOAD_KEYS_FILE)
# Origins allowed to call the codec endpoint with the portal session (the Temporal Web UI's).
CODEC_CORS_ORIGINS = env.list(
    "CODEC_CORS_ORIGINS", default=["http://127.0.0.1:8233", "http://localhost:8233"]
)
CODEC_TOKEN_DAYS = env.int("CODEC_TOKEN_DAYS", default=30)

# Claim check: payloads this large or larger are stored here, with only a reference in history.
CLAIM_CHECK_DIR = env.path("CLAIM_CHECK_DIR", default=VAR_DIR / "claims")
CLAIM_CHECK_THRESHOLD_BYTES = env.int("CLAIM_CHECK_THRESHOLD_BYTES", default=128 * 1024)
