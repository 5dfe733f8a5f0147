"""Gradent settings: one module, driven by environment variables (see .env.example).

SQLite + the django-q2 ORM broker by default; DATABASE_URL and REDIS_URL scale out.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

from gradent.env import (
    env_bool,
    env_float,
    env_int,
    env_json,
    env_list,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("GRADENT_DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _generated_secret_key() -> str:
    """A key generated once into DATA_DIR, so a fresh install needs no configuration.

    O_EXCL makes concurrent first starts (web, dispatcher, workers) agree on one key.
    """
    path = DATA_DIR / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = env_secret("SECRET_KEY") or _generated_secret_key()
# Key for secrets stored encrypted in the database; defaults to one derived from SECRET_KEY.
GRADENT_ENCRYPTION_KEY = env_secret("GRADENT_ENCRYPTION_KEY")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Where people reach Gradent. Unset: pages show the address each request came to
# (gradent.lib.siteurl); links in messages sent without a request use `up`'s --host/--port
# (GRADENT_UP_URL, set by `up` for its children), else http://localhost:8000.
SITE_URL_SET = bool(env_str("SITE_URL", ""))
SITE_URL = env_str("SITE_URL", "") or env_str("GRADENT_UP_URL", "") or "http://localhost:8000"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    # Before django_q: its `qcluster` command is gradent's (gradent/management/commands/qcluster.py).
    "gradent",
    "django_q",
    "django_crontab",
    "workspaces",
    "agents",
    "proactive",
    "notifications",
    "autonomy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After authentication: pages show times in the signed-in user's zone.
    "workspaces.middleware.UserTimezoneMiddleware",
]

ROOT_URLCONF = "gradent.urls"
WSGI_APPLICATION = "gradent.wsgi.application"

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
            ],
            # `when`, `ago` and `zone_label` on every page without a `{% load %}`.
            "builtins": ["gradent.templatetags.times"],
        },
    },
]

# --- Database -------------------------------------------------------------------------
SQLITE_PATH = Path(env_str("GRADENT_SQLITE_PATH", str(DATA_DIR / "gradent.sqlite3")))
DATABASE_URL = env_secret("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "gradent.db.sqlite3",
            "NAME": SQLITE_PATH,
            # Web, dispatcher and workers write concurrently. IMMEDIATE takes the write
            # lock at BEGIN so a reader never has to upgrade (the "database is locked"
            # failure of deferred transactions); WAL lets readers run beside the writer.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": env_int("GRADENT_SQLITE_TIMEOUT", 20),
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA busy_timeout=20000;"
                    "PRAGMA foreign_keys=ON;"
                ),
            },
            # django-q2's ORM broker calls close_old_connections() before every enqueue:
            # without a max age each one reconnects and re-runs the PRAGMAs (measured:
            # 9-10 ms instead of 17-19 ms per webhook delivery with it).
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            # A file, not :memory:, so a real cluster in a system test can share it.
            "TEST": {"NAME": str(DATA_DIR / "test_gradent.sqlite3")},
        }
    }
DB_IS_SQLITE = DATABASES["default"]["ENGINE"].endswith("sqlite3")
# Connections per worker process on PostgreSQL: a pool, opened in each worker process
# (agents.pool), shared by the runs it holds.
GRADENT_DB_POOL_SIZE = env_int("GRADENT_DB_POOL_SIZE", 10, minimum=1)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------
REDIS_URL = env_secret("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # Shared by every process on this machine (throttles, cluster stats for /healthz).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

# --- django-q2 ------------------------------------------------------------------------
# The Run table is the source of truth and the dispatcher recovers lost work, so the
# broker must never retry on its own: one attempt, failures acknowledged, and `retry`
# well above `timeout` plus queue wait (django-q2 counts queue wait in its retry clock).
GRADENT_TASK_TIMEOUT = env_int("GRADENT_TASK_TIMEOUT", 1800, minimum=10)
Q_CLUSTER = {
    "name": env_str("GRADENT_Q_NAME", "gradent"),
    "workers": env_int("GRADENT_WORKERS", 2, minimum=1),
    "recycle": 500,
    "timeout": GRADENT_TASK_TIMEOUT,
    "retry": GRADENT_TASK_TIMEOUT * 2 + 600,
    "max_attempts": 1,
    "ack_failures": True,
    # django-q2 keeps no successful task (the Run row is the history): with a limit it
    # re-reads up to that many rows under the write lock after every task (halved the
    # no-op runs/s on SQLite). Failures are always kept.
    "save_limit": env_int("GRADENT_Q_SAVE_LIMIT", -1),
    "scheduler": False,  # our dispatcher schedules; django-q2 only executes
    "catch_up": False,
    "poll": env_float("GRADENT_Q_POLL", 0.2),
    "label": "Task queue",
    "log_level": env_str("GRADENT_LOG_LEVEL", "INFO"),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "workspaces.auth.APITokenAuthentication",
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "workspaces.permissions.TokenScopePermission",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("GRADENT_THROTTLE_ANON", "60/minute"),
        "user": env_str("GRADENT_THROTTLE_USER", "1200/minute"),
        "run_start": env_str("GRADENT_THROTTLE_RUN_START", "120/minute"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON bodies only, as the original designs' clients send: form encodings cannot say
    # null, a number or a missing boolean, so the schema could not be true for them.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_PAGINATION_CLASS": "gradent.api.StrictLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "gradent.api.exception_handler",
}
# --- Bad input and what workspace members may name (issue 9) ---------------------------
# Input JSON (API bodies, JSON typed into pages) may nest this deep; deeper, and numbers
# out of the float range (1e999999), are a 400 naming the field.
GRADENT_JSON_MAX_DEPTH = env_int("GRADENT_JSON_MAX_DEPTH", 64, minimum=2)
# JSON bodies only (above), through the strict parser.
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = ["gradent.parsers.JSONParser"]
# The Python functions a "callable" monitor probe may name (dotted paths). Workspace members
# choose among these; nothing else is imported. Checked by `manage.py check` (proactive.E003).
GRADENT_CALLABLE_PROBES = env_list("GRADENT_CALLABLE_PROBES", [])

SIMPLE_JWT = {
    "AUTH_HEADER_TYPES": ("Bearer",),
    "SIGNING_KEY": SECRET_KEY,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Gradent API",
    "DESCRIPTION": "Run AI agents unattended: agents, runs, threads and workspaces.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Request bodies as their own components (no read-only fields), so they can refuse
    # unknown properties as the API does; see gradent/schema.py for the hooks.
    "COMPONENT_SPLIT_REQUEST": True,
    # Names for choice sets that share a field name (else "StatusBa0Enum").
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "agents.models.RunStatus",
        "GoalStatusEnum": "autonomy.models.Goal.Status",
        "ScheduleKindEnum": "proactive.models.Schedule.Kind",
        "OkStatusEnum": ["ok"],
    },
    "PREPROCESSING_HOOKS": ["gradent.schema.drop_slash_twins"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "gradent.schema.add_error_responses",
    ],
}

# --- i18n / static --------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# One date format everywhere (gradent.lib.timefmt): "2026-12-04 09:47", never "Dec. 4, 2026, 4:38 a.m.".
FORMAT_MODULE_PATH = ["gradent.formats"]
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve app static files straight from their folders: `up` needs no collectstatic.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Transport security, login lockout, Content Security Policy --------------------------
# GRADENT_PRODUCTION=true turns on what `manage.py check --deploy` asks for, assuming a
# TLS-terminating proxy in front (docs/deploy.md); each part can be set on its own too.
GRADENT_PRODUCTION = env_bool("GRADENT_PRODUCTION", False)
GRADENT_BEHIND_PROXY = env_bool("GRADENT_BEHIND_PROXY", GRADENT_PRODUCTION)
# Proxies in front that append to X-Forwarded-For: the client is the address the outermost
# one saw (gradent.lib.clientip). Only read when GRADENT_BEHIND_PROXY is on.
GRADENT_PROXY_COUNT = env_int("GRADENT_PROXY_COUNT", 1, minimum=1)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if GRADENT_BEHIND_PROXY else None
SECURE_SSL_REDIRECT = env_bool("GRADENT_SSL_REDIRECT", GRADENT_PRODUCTION)
# A load balancer or monitor probes the backend over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("GRADENT_HSTS_SECONDS", 31_536_000 if GRADENT_PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("GRADENT_HSTS_INCLUDE_SUBDOMAINS", GRADENT_PRODUCTION)
# Preloading is a promise to browsers about the whole domain, for its owner to make.
SECURE_HSTS_PRELOAD = env_bool("GRADENT_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SESSION_COOKIE_SECURE = env_bool("GRADENT_SECURE_COOKIES", GRADENT_PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# django-axes: the login page and the admin lock a user name, and an address, out after
# AXES_FAILURE_LIMIT failed logins within the cool-off; /api/auth/token counts too.
INSTALLED_APPS += ["axes", "csp"]
MIDDLEWARE += ["csp.middleware.CSPMiddleware", "axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("GRADENT_LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("GRADENT_LOGIN_COOLOFF_MINUTES", 15.0))
# "username": a name guessed at from anywhere; "ip_address": one address guessing many
# names; "username+ip_address": the pair only (a name cannot be locked from elsewhere).
AXES_LOCKOUT_PARAMETERS = [
    item.split("+") if "+" in item else item
    for item in env_list("GRADENT_LOGIN_LOCKOUT_BY", ["username", "ip_address"])
]
AXES_CLIENT_IP_CALLABLE = "gradent.lib.clientip.client_ip"
AXES_LOCKOUT_CALLABLE = "gradent.lockout.locked_out"
AXES_RESET_ON_SUCCESS = False  # a success must not clear an address's failures at other names
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_DISABLE_ACCESS_LOG = True  # no row per successful login
AXES_VERBOSE = False

# django-csp: nothing inline, nothing from elsewhere. Pages keep their scripts in
# static/*.js (htmx is configured by a meta tag so it injects no <style> of its own).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Gradent --------------------------------------------------------------------------
# Outbound reach (gradent/lib/safehttp.py). Private/loopback targets allowed per purpose:
# "*", CIDRs, IPs or host names. GRADENT_ALLOW_PRIVATE_URLS is the older, global name: it is
# now only the default of the model endpoints' list (docs/decisions.md, issue 9).
GRADENT_ALLOW_PRIVATE_URLS = env_list("GRADENT_ALLOW_PRIVATE_URLS", [])
GRADENT_ALLOW_PRIVATE_URLS_MODELS = env_list("GRADENT_ALLOW_PRIVATE_URLS_MODELS", GRADENT_ALLOW_PRIVATE_URLS)
GRADENT_ALLOW_PRIVATE_URLS_TOOLS = env_list("GRADENT_ALLOW_PRIVATE_URLS_TOOLS", [])
GRADENT_ALLOW_PRIVATE_URLS_PROBES = env_list("GRADENT_ALLOW_PRIVATE_URLS_PROBES", [])
GRADENT_ALLOW_PRIVATE_URLS_CHANNELS = env_list("GRADENT_ALLOW_PRIVATE_URLS_CHANNELS", [])
# Where Gradent's own web server listens (host:port; 0.0.0.0 or [::] = every address of this
# machine): agent tools, monitor probes and channels never connect there. `up` sets it.
GRADENT_WEB_ADDRESSES = env_list("GRADENT_WEB_ADDRESSES", ["0.0.0.0:8000"])
# Keys that stored secrets may still be encrypted with (comma-separated; after a rotation,
# until `manage.py rotate_encryption_key` has run). New values use GRADENT_ENCRYPTION_KEY.
GRADENT_ENCRYPTION_OLD_KEYS = [k.strip() for k in env_secret("GRADENT_ENCRYPTION_OLD_KEYS").split(",") if k.strip()]
# Your own plug-ins, by dotted path, added to the built-ins (never replacing one; see
# gradent/lib/registry.py): Tool and Provider subclasses, dispatcher Sources, Probes,
# signature schemes. Transports and action handlers below take the same shape.
GRADENT_EXTRA_TOOLS = env_list("GRADENT_EXTRA_TOOLS", [])
GRADENT_EXTRA_PROVIDERS = env_list("GRADENT_EXTRA_PROVIDERS", [])
GRADENT_EXTRA_DISPATCHER_SOURCES = env_list("GRADENT_EXTRA_DISPATCHER_SOURCES", [])
GRADENT_EXTRA_PROBES = env_list("GRADENT_EXTRA_PROBES", [])
GRADENT_EXTRA_SIGNATURE_SCHEMES = env_list("GRADENT_EXTRA_SIGNATURE_SCHEMES", [])
GRADENT_RUNS_PER_HOUR = env_int("GRADENT_RUNS_PER_HOUR", 1000, minimum=0)
GRADENT_RUN_GRACE_SECONDS = env_int("GRADENT_RUN_GRACE_SECONDS", 60, minimum=1)
GRADENT_QUEUED_STALE_SECONDS = env_int("GRADENT_QUEUED_STALE_SECONDS", 300, minimum=1)
# Runs in flight per worker process: a run mostly waits on a model or a tool, so one
# process holds many (a thread each). See docs/deploy.md for sizing.
GRADENT_RUNS_PER_WORKER = env_int("GRADENT_RUNS_PER_WORKER", 100, minimum=1)
# Runs started together (a tick's due schedules, a batch of webhook deliveries) travel to
# the workers this many to a task: one task per run cost the dispatcher more than the
# runs' rows, and each task costs django-q2's pusher and monitor a write.
GRADENT_RUNS_PER_TASK = env_int("GRADENT_RUNS_PER_TASK", 20, minimum=1)
GRADENT_WORKER_HEARTBEAT_SECONDS = env_float("GRADENT_WORKER_HEARTBEAT_SECONDS", 5.0)
# A worker silent this long is lost: the dispatcher hands its runs back.
GRADENT_WORKER_LOST_SECONDS = env_float("GRADENT_WORKER_LOST_SECONDS", 15.0)
# On SIGTERM, stop or recycle, how long a worker lets its runs finish before handing
# the rest back (keep it under the stop timeout of whatever supervises the cluster).
GRADENT_WORKER_STOP_GRACE_SECONDS = env_float("GRADENT_WORKER_STOP_GRACE_SECONDS", 10.0)
# Free slots, no task and tasks waiting in the broker for this long: the cluster's task
# queue is wedged and the cluster is restarted (agents.pool). 0 turns the watch off.
GRADENT_WORKER_WEDGED_SECONDS = env_float("GRADENT_WORKER_WEDGED_SECONDS", 30.0)
GRADENT_RETRY_BASE_SECONDS = env_float("GRADENT_RETRY_BASE_SECONDS", 10.0)
GRADENT_RETRY_MAX_SECONDS = env_float("GRADENT_RETRY_MAX_SECONDS", 600.0)
GRADENT_DISPATCHER_MAX_SLEEP = env_float("GRADENT_DISPATCHER_MAX_SLEEP", 1.0)
GRADENT_DISPATCHER_STALE_SECONDS = env_int("GRADENT_DISPATCHER_STALE_SECONDS", 30)
GRADENT_HISTORY_MESSAGES = env_int("GRADENT_HISTORY_MESSAGES", 20, minimum=0)
# Optional system-cron driver (DESIGN §9): `manage.py crontab add` writes one crontab line
# that runs a single dispatcher tick a minute, for hosts that prefer cron to a long-running
# `manage.py dispatch`. Use one or the other.
CRONJOBS = [("* * * * *", "django.core.management.call_command", ["dispatch"], {"once": True})]
CRONTAB_COMMAND_SUFFIX = "2>&1"
# Notifications: where Discord / Slack requests go (only the stored URL's path is sent
# there, so a relay proxy or a test can stand in), the total seconds one send may take,
# attempts, backoff, the cap on honoured Retry-After, and the opt-in tool-call tracker.
GRADENT_NOTIFY_DISCORD_BASE = env_str("GRADENT_NOTIFY_DISCORD_BASE", "https://discord.com")
GRADENT_NOTIFY_SLACK_BASE = env_str("GRADENT_NOTIFY_SLACK_BASE", "https://hooks.slack.com")
GRADENT_NOTIFY_TIMEOUT = env_float("GRADENT_NOTIFY_TIMEOUT", 15.0)
GRADENT_NOTIFY_MAX_ATTEMPTS = env_int("GRADENT_NOTIFY_MAX_ATTEMPTS", 5, minimum=1)
GRADENT_NOTIFY_RETRY_BASE_SECONDS = env_float("GRADENT_NOTIFY_RETRY_BASE_SECONDS", 5.0)
GRADENT_NOTIFY_RETRY_MAX_SECONDS = env_float("GRADENT_NOTIFY_RETRY_MAX_SECONDS", 900.0)
GRADENT_NOTIFY_MAX_RETRY_AFTER = env_float("GRADENT_NOTIFY_MAX_RETRY_AFTER", 86400.0)
GRADENT_NOTIFY_TOOL_CALLS_PER_MINUTE = env_int("GRADENT_NOTIFY_TOOL_CALLS_PER_MINUTE", 6, minimum=0)
GRADENT_NOTIFY_TRANSPORTS = env_json("GRADENT_NOTIFY_TRANSPORTS", {})
# Autonomy: record host metrics (load, memory, disk, queue depth, run failure rate) each
# cycle, and your own action handlers: ["package.module.callable"] or {"name": "path"}.
GRADENT_AUTONOMY_HOST_METRICS = env_bool("GRADENT_AUTONOMY_HOST_METRICS", True)
GRADENT_AUTONOMY_ACTION_HANDLERS = env_json("GRADENT_AUTONOMY_ACTION_HANDLERS", {})
# Metric points and events older than this are deleted; points older than RAW_DAYS are
# downsampled to one per metric per hour.
GRADENT_AUTONOMY_RETENTION_DAYS = env_int("GRADENT_AUTONOMY_RETENTION_DAYS", 90, minimum=1)
GRADENT_AUTONOMY_RAW_DAYS = env_int("GRADENT_AUTONOMY_RAW_DAYS", 7, minimum=1)
# A schedule slot fired later than this counts as missed (the dispatcher was down).
GRADENT_FIRE_LATE_SECONDS = env_int("GRADENT_FIRE_LATE_SECONDS", 60, minimum=1)
# How often the dispatcher mines history for suggestions; 0 turns mining off.
GRADENT_MINING_INTERVAL = env_int("GRADENT_MINING_INTERVAL", 3600, minimum=0)
# Incoming webhooks (/api/hooks/, anyone may POST there; docs/security.md). Caps on what a
# tenant may set on a webhook: its body size, and its deliveries a minute (0: no cap, so a
# tenant may turn its limit off). Unsigned webhooks (scheme "none") only where allowed.
GRADENT_WEBHOOK_MAX_BODY_BYTES = env_int("GRADENT_WEBHOOK_MAX_BODY_BYTES", 5 * 1024 * 1024, minimum=1)
GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE = env_int("GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE", 600, minimum=0)
GRADENT_WEBHOOK_ALLOW_UNSIGNED = env_bool("GRADENT_WEBHOOK_ALLOW_UNSIGNED", False)
# Requests a minute from one address to the whole endpoint (beyond: 429, nothing stored;
# 0: no limit), and how many requests to unknown paths an address gets stored an hour.
GRADENT_WEBHOOK_PER_ADDRESS_PER_MINUTE = env_int("GRADENT_WEBHOOK_PER_ADDRESS_PER_MINUTE", 600, minimum=0)
GRADENT_WEBHOOK_UNKNOWN_SAMPLES = env_int("GRADENT_WEBHOOK_UNKNOWN_SAMPLES", 10, minimum=0)
# An oversize body is read and dropped up to this many bytes so its sender gets the 413.
GRADENT_WEBHOOK_DISCARD_BYTES = env_int("GRADENT_WEBHOOK_DISCARD_BYTES", 64 * 1024 * 1024, minimum=0)
# Deliveries are kept this many days, and at most this many per webhook (and as many of
# requests to unknown paths); the dispatcher prunes them every RETENTION_INTERVAL seconds.
GRADENT_WEBHOOK_RETENTION_DAYS = env_int("GRADENT_WEBHOOK_RETENTION_DAYS", 30, minimum=1)
GRADENT_WEBHOOK_RETENTION_COUNT = env_int("GRADENT_WEBHOOK_RETENTION_COUNT", 1000, minimum=1)
GRADENT_WEBHOOK_RETENTION_INTERVAL = env_int("GRADENT_WEBHOOK_RETENTION_INTERVAL", 600, minimum=0)
# USD per million tokens: {"model": [input, output]}; extend with GRADENT_MODEL_PRICES.
GRADENT_MODEL_PRICES = {
    "gpt-4o": [2.50, 10.00],
    "gpt-4o-mini": [0.15, 0.60],
    "gpt-4.1": [2.00, 8.00],
    "gpt-4.1-mini": [0.40, 1.60],
    "gpt-4.1-nano": [0.10, 0.40],
    "o4-mini": [1.10, 4.40],
    "claude-sonnet-4-5": [3.00, 15.00],
    "claude-opus-4-1": [15.00, 75.00],
    "claude-haiku-4-5": [1.00, 5.00],
    "claude-3-5-haiku-latest": [0.80, 4.00],
    **env_json("GRADENT_MODEL_PRICES", {}),
}

# Off: no log line per request or per task (gradent.lib.quietlog); `up --verbose` turns it on.
GRADENT_VERBOSE = env_bool("GRADENT_VERBOSE", False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"quiet": {"()": "gradent.lib.quietlog.QuietFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["quiet"]}},
    "root": {"handlers": ["console"], "level": env_str("GRADENT_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
