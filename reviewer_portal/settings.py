"""Settings for the reviewer portal.

Every deployment knob is an environment variable read here and nowhere else (here meaning this
module and the two it reads: settings_env.py, what every setting reads first, and
settings_temporal.py, the Temporal side's settings). The defaults run the
embedded stack (SQLite, local Temporal dev server, offline model); production sets DEBUG=false and
supplies SECRET_KEY, DATABASE_URL, REDIS_URL and the Temporal/OpenAI credentials.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF

from reviewer_portal import backends
from reviewer_portal.settings_env import BASE_DIR, DEBUG, VAR_DIR, env, secret

# Development gets a throwaway key; production must set SECRET_KEY (no production default), or
# SECRET_KEY_FILE, and may not use the development one.
DEV_SECRET_KEY = "dev-only-insecure-key"
SECRET_KEY = secret("SECRET_KEY", default=DEV_SECRET_KEY if DEBUG else environ.Env.NOTSET)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise environ.ImproperlyConfigured("SECRET_KEY is the development key; production needs its own.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "channels",
    "reviewer_portal.accounts",
    "reviewer_portal.inbox",
    "reviewer_portal.intake",
    "reviewer_portal.audit",
    "reviewer_portal.live",
    "reviewer_portal.dashboard",
    "reviewer_portal.trust",
    "reviewer_portal.codec",
    "reviewer_portal.archive",
    "reviewer_portal.operations",
    "reviewer_portal.conversations",
    "reviewer_portal.history",
    "reviewer_portal.notices",
    "reviewer_portal.team",
    "reviewer_portal.search",
    "agents",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Compresses pages (and, in development, the static files WhiteNoise serves unhashed; built
    # static files come pre-compressed and pass through). Outside everything that reads or writes
    # a body. BREACH: pages hold no secret repeated across requests for an attacker to guess at:
    # Django masks the CSRF token afresh on every response, and pads each compressed one with
    # random bytes (the gzip header's file name) so its length gives little away.
    "django.middleware.gzip.GZipMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "reviewer_portal.accounts.no_store.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A signed-out form post or htmx request goes back to its page after logging in again.
    "reviewer_portal.accounts.login_redirects.LoginRedirectsMiddleware",
    "reviewer_portal.accounts.session_limits.SessionLimitsMiddleware",
    # Last, as django-axes asks: it answers a locked-out login.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "reviewer_portal.urls"
ASGI_APPLICATION = "reviewer_portal.asgi.application"
# Long-lived threads each portal process lends its requests to sync views, keeping their database
# connections (reviewer_portal/request_threads.py); 0: Django's own ASGI handler.
PORTAL_REQUEST_THREADS = env.int("PORTAL_REQUEST_THREADS", default=16)
# How many of them run a request at once; more when the database is far (each query's round trip
# then leaves the CPU idle).
PORTAL_RUNNING_REQUESTS = env.int("PORTAL_RUNNING_REQUESTS", default=1)
# A serve_portal process whose event loop has not run for this long is replaced (its requests
# are lost with it): a loop that hangs would otherwise keep its share of connections.
PORTAL_LOOP_STALL_SECONDS = env.float("PORTAL_LOOP_STALL_SECONDS", default=10.0)
# How long a stopping serve_portal process lets its requests finish (at least START_WAIT_SECONDS,
# the longest a request waits on Temporal). With the 5 s the supervisor adds for a hung process,
# keep it within what the service manager waits after SIGTERM: Kubernetes 30 s, systemd 90 s.
PORTAL_GRACEFUL_SECONDS = env.int("PORTAL_GRACEFUL_SECONDS", default=20)
# The largest request body the portal reads (uploads are at most 5 MB, plus the form around them);
# a larger one is answered 413 before it is read on, signed in or not.
PORTAL_MAX_BODY_BYTES = env.int("PORTAL_MAX_BODY_BYTES", default=6 * 1024 * 1024)
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reviewer_portal.accounts.context_processors.reviewer",
                "reviewer_portal.live.context_processors.live",
                "reviewer_portal.team.context_processors.team",
            ],
        },
    }
]

DATABASES = backends.databases(
    secret("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"), VAR_DIR
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = secret("REDIS_URL")
CHANNEL_LAYERS = backends.channel_layers(REDIS_URL)
CACHES = backends.caches(REDIS_URL, VAR_DIR)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login lockout (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username (or from one
# address), it is locked for the cool-off time, or until an admin unlocks it
# (`python manage.py axes_reset_username USER`, or the Django admin's "Access attempts").
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either: a guessed name, or a spraying address
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Proxies in front of the portal: the client's address is that many from the right of
# X-Forwarded-For (reviewer_portal/accounts/client_address.py).
PROXY_COUNT = env.int("PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "reviewer_portal.accounts.client_address.client_address"
# Content-Security-Policy (django-csp): scripts, styles and connections from the portal only; no
# inline script or style, no eval (htmx runs with allowEval off), no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Sessions: signed out after SESSION_IDLE_MINUTES without a request of the user's own (pages'
# background refreshes do not count), and SESSION_MAX_HOURS after logging in whatever happens.
SESSION_IDLE_SECONDS = env.int("SESSION_IDLE_MINUTES", default=30) * 60
SESSION_ENGINE = "reviewer_portal.accounts.session_store"  # Django's database sessions, read lean
SESSION_COOKIE_AGE = env.int("SESSION_MAX_HOURS", default=12) * 3600
LOGIN_URL = "login"
LOGIN_URL_PATH = "/accounts/login/"
LOGIN_REDIRECT_URL = "inbox:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))  # collectstatic writes here
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Built static files (DEBUG off) have the hash of their content in their names: WhiteNoise serves
# them with `max-age` of ten years and `immutable`. With DEBUG they are served unhashed from the
# source folders as they are edited, so the browser asks again each time (max-age 0, a 304 if
# unchanged) rather than keep a stale stylesheet.

SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Every record goes through one handler, whose filter redacts keys and tokens
# (reviewer_portal/log_redaction.py); Django's own loggers are routed to it too.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "reviewer_portal.log_redaction.RedactSecrets"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
    },
}

# --- Temporal, the archive, signed actions, payload encryption: reviewer_portal/settings_temporal.py
from reviewer_portal.settings_temporal import *  # noqa: E402, F403

# --- LLM provider ---------------------------------------------------------------------------
# Without OPENAI_API_KEY the deterministic offline model answers through the same openai client.
OPENAI_API_KEY = secret("OPENAI_API_KEY")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
# Per-request timeout of the provider client, and the longest Retry-After the worker honours.
OPENAI_TIMEOUT_SECONDS = env.float("OPENAI_TIMEOUT_SECONDS", default=60.0)
OPENAI_MAX_RETRY_AFTER_SECONDS = env.float("OPENAI_MAX_RETRY_AFTER_SECONDS", default=120.0)

# --- Agents ---------------------------------------------------------------------------------
AGENT_PACKAGES = env.list(
    "AGENT_PACKAGES",
    default=[
        "agents.loans",
        "agents.advice",
        "agents.regulatory",
        "agents.finops",
        "agents.market",
        "agents.customer_service",
        "agents.support",
        "agents.fraud",
        "agents.credit_outlook",
    ],
)
# A provider key of an agent's own (OPENAI_API_KEY_LOANS, or OPENAI_API_KEY_LOANS_FILE), used by
# the worker serving it instead of OPENAI_API_KEY; such an agent needs a task queue of its own.
AGENT_OPENAI_API_KEYS = {
    name: key
    for name in (package.rsplit(".", 1)[-1] for package in AGENT_PACKAGES)
    if (key := secret(f"OPENAI_API_KEY_{name.upper()}"))
}
LOAN_GATE_SLA_SECONDS = env.int("LOAN_GATE_SLA_SECONDS", default=4 * 3600)
LOAN_ESCALATION_SLA_SECONDS = env.int("LOAN_ESCALATION_SLA_SECONDS", default=4 * 3600)

# --- E-mail (notifications to reviewers) --------------------------------------------------------
# e.g. smtp+tls://user:password@smtp.example.com:587; the console in development.
EMAIL_CONFIG = environ.Env.email_url_config(secret("EMAIL_URL", default="consolemail://"))
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="reviewer-portal@localhost")
# Where links in e-mails point.
PORTAL_URL = env.str("PORTAL_URL", default="http://127.0.0.1:8000")

# Customer chat (reviewer_portal/conversations/customers.py): the key online banking signs a
# customer's number with when it sends them to the chat; no key, no chat. Development derives one.
SUPPORT_CUSTOMER_KEY = secret(
    "SUPPORT_CUSTOMER_KEY", default=f"dev-support-customers:{SECRET_KEY}" if DEBUG else ""
)
SUPPORT_ASSERTION_SECONDS = env.int("SUPPORT_ASSERTION_SECONDS", default=300)
# Rate limits on the customer chat (reviewer_portal/conversations/throttle.py), per portal process.
SUPPORT_CHATS_PER_HOUR = env.int("SUPPORT_CHATS_PER_HOUR", default=5)
SUPPORT_MESSAGES_PER_MINUTE = env.int("SUPPORT_MESSAGES_PER_MINUTE", default=10)

# The demo users' password: only with DEBUG (seed_demo refuses to create demo users otherwise).
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="demo" if DEBUG else "")
# The currency every amount in the portal is in (loan amounts, incomes, payments).
CURRENCY = env.str("CURRENCY", default="GBP")
LOAN_MODEL = env.str("LOAN_MODEL", default="gpt-4o-mini")
# What a new run of an agent pins beyond its spec's defaults: model and SLAs, per agent.
AGENT_PINS = {
    "loans": {
        "model": LOAN_MODEL,
        "sla_seconds": LOAN_GATE_SLA_SECONDS,
        "escalation_sla_seconds": LOAN_ESCALATION_SLA_SECONDS,
    }
}
