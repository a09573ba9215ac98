"""Settings for the MLOps portal: one module, every knob from the environment.

Defaults are for a laptop (`make run`): SQLite, a SQLite-file Celery broker and a local MLflow
server, all under `var/`. Production sets the environment variables listed in README.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

VAR_DIR = Path(env("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=LOCAL_HOSTS)
# A deployment that answers only on loopback is somebody's laptop or a test run: it may use a
# generated secret key and plain HTTP. Anything else is production and must be configured.
SERVES_ONLY_LOOPBACK = all(host in LOCAL_HOSTS for host in ALLOWED_HOSTS)


def _secret_key() -> str:
    configured = env("DJANGO_SECRET_KEY", default="")
    if configured:
        return configured
    if not (DEBUG or SERVES_ONLY_LOOPBACK):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false and DJANGO_ALLOWED_HOSTS "
            f"names a host other than localhost (got {', '.join(ALLOWED_HOSTS)})."
        )
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()

INSTALLED_APPS = [
    "registry.admin_site.PortalAdminConfig",  # django.contrib.admin, refusing non-staff with a page
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "registry",
    "monitoring",
    "assessments",
    "mlopsportal.demo",  # `manage.py demo` and `runlocal`; the domain apps never import it
]

MIDDLEWARE = [
    # First: chunked bodies are read before anything looks at the body, and whatever a response
    # left unread is drained after everything else has answered (mlopsportal/request_body.py).
    "mlopsportal.request_body.RequestBodyMiddleware",
    "mlopsportal.request_body.NoNulInQueryMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # A service's refusal that a page view left unhandled: its 4xx page, not a 500 (registry/live.py).
    "registry.live.PortalErrorPageMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mlopsportal.urls"
WSGI_APPLICATION = "mlopsportal.wsgi.application"

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
                "registry.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat share one SQLite file locally: wait for locks instead
    # of failing, and let readers run beside the single writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests get a file too, not Django's default in-memory shared-cache database: there a table lock
    # fails at once ("database table is locked") whatever the timeout, so concurrent approvals and
    # a Celery worker's threads would fail instead of waiting their turn as they do in `make run`.
    # One per test session, so two sessions in one checkout never share (and drop) each other's.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_portal_{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("PORTAL_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
# Plotly's browser bundle is vendored in static/vendor/plotly/: the partial "cartesian" bundle at the
# plotly.js version plotly.py builds figures for (`make plotly-bundle` refreshes it), a third of the
# full bundle plotly.py ships. collectstatic gives it a hashed name, WhiteNoise gzips it and serves
# hashed files with a year-long immutable max-age.
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Tests and `runserver` serve static files from the finders, without collectstatic.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)
MEDIA_ROOT = Path(env("PORTAL_MEDIA_ROOT", default=str(VAR_DIR / "media")))

# --- Monitoring: raw inference files and reference uploads, kept so windows can be recomputed. ---
# Another backend (object storage, e.g. django-storages' S3Storage) takes its own options as a JSON
# object in PORTAL_MONITORING_STORAGE_OPTIONS ({"bucket_name": "...", "location": "monitoring"}).
STORAGES["monitoring"] = {
    "BACKEND": env("PORTAL_MONITORING_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"),
    "OPTIONS": env.json("PORTAL_MONITORING_STORAGE_OPTIONS", default={})
    or {"location": env("PORTAL_MONITORING_STORAGE_DIR", default=str(MEDIA_ROOT / "monitoring"))},
}
MONITORING_MAX_BATCH_BYTES = env.int("PORTAL_MONITORING_MAX_BATCH_BYTES", default=50 * 1024 * 1024)
# Bodies over this size are read and parsed one (or this many) at a time per web process: parsing
# costs several times a body's size, and eight 50 MB uploads at once took one worker to 953 MB RSS.
# The demo's stand-in training pipeline (mlopsportal/demo/pipeline.py), which `make run` serves.
PORTAL_DEMO_PIPELINE_PORT = env.int("PORTAL_DEMO_PIPELINE_PORT", default=8765)
PORTAL_DEMO_PIPELINE_URL = f"http://127.0.0.1:{PORTAL_DEMO_PIPELINE_PORT}/apis/v2beta1/runs"
MONITORING_LARGE_BODY_BYTES = env.int("PORTAL_MONITORING_LARGE_BODY_BYTES", default=8 * 1024 * 1024)
MONITORING_LARGE_BODIES_AT_ONCE = env.int("PORTAL_MONITORING_LARGE_BODIES_AT_ONCE", default=1)
# What one batch or reference may hold once read (Parquet compresses 20 M rows into 91 KB).
MONITORING_MAX_ROWS = env.int("PORTAL_MONITORING_MAX_ROWS", default=2_000_000)
MONITORING_MAX_COLUMNS = env.int("PORTAL_MONITORING_MAX_COLUMNS", default=2_000)
MONITORING_MAX_DECOMPRESSED_BYTES = env.int("PORTAL_MONITORING_MAX_DECOMPRESSED_BYTES", default=128 * 1024 * 1024)
MONITORING_WEBHOOK_TIMEOUT = env.float("PORTAL_MONITORING_WEBHOOK_TIMEOUT", default=5.0)

# --- Security: strict by default outside loopback, each switch overridable. ---
_production = not (DEBUG or SERVES_ONLY_LOOPBACK)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=_production)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=_production)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=_production)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000 if _production else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_production)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=_production)
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# A Content-Security-Policy on every response: scripts only from the portal's own static files (no
# inline script or event handler anywhere; Plotly's figures travel as json_script data), styles
# from them too plus style attributes (the progress bars' widths, Plotly's own styling).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Login throttling (django-axes): after this many failed sign-ins for one username, or from one
# address, that username or address is refused for the cool-off, with a page that says so. ---
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("PORTAL_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("PORTAL_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each counted on its own
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# --- E-mail: printed to the console locally, SMTP in production. ---
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env("DJANGO_EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
EMAIL_HOST = env("DJANGO_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("DJANGO_EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("DJANGO_EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("DJANGO_EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("DJANGO_EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="MLOps Portal <portal@localhost>")

# --- MLflow ---
# Unset, the portal uses (and `make run` starts) a local server on this port; 5000 is taken on some
# laptops (macOS's AirPlay receiver), hence the knob.
PORTAL_MLFLOW_PORT = env.int("PORTAL_MLFLOW_PORT", default=5000)
MLFLOW_TRACKING_URI = env("MLFLOW_TRACKING_URI", default=f"http://127.0.0.1:{PORTAL_MLFLOW_PORT}").rstrip("/")
# MLflow's own client honours these too; the portal passes them on its REST calls.
MLFLOW_TRACKING_USERNAME = env("MLFLOW_TRACKING_USERNAME", default="")
MLFLOW_TRACKING_PASSWORD = env("MLFLOW_TRACKING_PASSWORD", default="")
MLFLOW_TRACKING_TOKEN = env("MLFLOW_TRACKING_TOKEN", default="")
MLFLOW_TRACKING_INSECURE_TLS = env.bool("MLFLOW_TRACKING_INSECURE_TLS", default=False)
# Short on purpose: MLflow's client defaults retry for minutes and would pin a worker.
MLFLOW_REQUEST_TIMEOUT = env.float("PORTAL_MLFLOW_TIMEOUT", default=5.0)
MLFLOW_UI_URL = env("PORTAL_MLFLOW_UI_URL", default=MLFLOW_TRACKING_URI).rstrip("/")
# A few quick retries (0.4 s, 0.8 s) inside one call; longer outages are Celery's to retry.
MLFLOW_REQUEST_RETRIES = env.int("PORTAL_MLFLOW_RETRIES", default=2)
# Sync: the incremental pass re-reads runs that started or ended this long before the last
# watermark (client clocks differ from the server's); a running sync older than the stale limit
# is taken as crashed and its lock released.
PORTAL_SYNC_OVERLAP = timedelta(seconds=env.int("PORTAL_SYNC_OVERLAP_SECONDS", default=300))
PORTAL_SYNC_STALE_AFTER = timedelta(seconds=env.int("PORTAL_SYNC_STALE_AFTER_SECONDS", default=900))
PORTAL_SYNC_INCREMENTAL_SECONDS = env.int("PORTAL_SYNC_INCREMENTAL_SECONDS", default=60)
PORTAL_SYNC_FULL_SECONDS = env.int("PORTAL_SYNC_FULL_SECONDS", default=3600)
# Webhooks from MLflow 3: the shared HMAC secret, the URL MLflow should call (this portal's
# /webhooks/mlflow/ as the MLflow server reaches it) and how old a delivery may be.
PORTAL_MLFLOW_WEBHOOK_SECRET = env("PORTAL_MLFLOW_WEBHOOK_SECRET", default="")
PORTAL_MLFLOW_WEBHOOK_URL = env("PORTAL_MLFLOW_WEBHOOK_URL", default="")
PORTAL_MLFLOW_WEBHOOK_MAX_AGE = timedelta(seconds=env.int("PORTAL_MLFLOW_WEBHOOK_MAX_AGE_SECONDS", default=300))

# --- Celery ---
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=f"sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}")
# A queue of its own lets two portals share one broker (the end-to-end tests' stack beside `make run`).
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # task outcomes are recorded in our own models
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# How long the worker's main process waits for a dead pool process's last words before it declares
# the worker lost (and a drift job is sent again): Celery's default; tests of lost workers shorten it.
CELERY_WORKER_LOST_WAIT = env.float("CELERY_WORKER_LOST_WAIT", default=10.0)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
# Redis re-delivers an unacknowledged task after the visibility timeout: keep it well above the
# hard time limit so a long task is never run twice while it is still running.
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 6} if CELERY_BROKER_URL.startswith(("redis", "rediss")) else {}
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Notifications and retrain calls that failed are retried after about this many seconds, doubling
# (jittered), capped; each call itself is bounded by PORTAL_MONITORING_WEBHOOK_TIMEOUT.
MONITORING_DELIVERY_RETRY_BACKOFF = env.float("PORTAL_MONITORING_DELIVERY_RETRY_BACKOFF", default=2.0)
MONITORING_DELIVERY_RETRY_MAX_DELAY = env.float("PORTAL_MONITORING_DELIVERY_RETRY_MAX_DELAY", default=300.0)
# Queued work whose task never reached a worker (the broker was down) is sent again after this long.
MONITORING_LOST_WORK_AFTER_SECONDS = env.float("PORTAL_MONITORING_LOST_WORK_AFTER_SECONDS", default=120.0)
# A drift job whose worker process died (killed, out of memory) is sent again after this many seconds;
# a window not finished after this many attempts is stopped as failed instead of retried for ever.
DRIFT_RUN_LOST_WORKER_RETRY_DELAY = env.float("PORTAL_DRIFT_RUN_LOST_WORKER_RETRY_DELAY", default=10.0)
DRIFT_RUN_MAX_ATTEMPTS = env.int("PORTAL_DRIFT_RUN_MAX_ATTEMPTS", default=3)
# Shadow evaluation (monitoring/shadow/evaluations.py): before a promotion is decided, the candidate and the
# alias's holder are run on a sample of what production sent the model's monitor over the last
# SHADOW_DAYS days (at most SHADOW_MAX_ROWS rows, spread evenly over the days), each in a child
# process with no secrets in its environment, SHADOW_SECONDS and SHADOW_MEMORY_MB at most. The jobs
# go to their own queue, so an installation can give them workers of their own (README: Shadow).
SHADOW_DAYS = env.int("PORTAL_SHADOW_DAYS", default=7)
SHADOW_MAX_ROWS = env.int("PORTAL_SHADOW_MAX_ROWS", default=20_000)
SHADOW_SECONDS = env.float("PORTAL_SHADOW_SECONDS", default=120.0)
SHADOW_MEMORY_MB = env.int("PORTAL_SHADOW_MEMORY_MB", default=4096)
# The interpreter each model runs in (monitoring/shadow/environments.py): "local", the worker's own, or
# "uv", a virtualenv built from the model's logged requirements by MLflow's environment handling,
# kept under SHADOW_ENV_DIR and reused for the same requirements; a build gets SHADOW_ENV_BUILD_SECONDS.
SHADOW_ENV_MANAGER = env("PORTAL_SHADOW_ENV_MANAGER", default="local")
if SHADOW_ENV_MANAGER not in ("local", "uv"):
    raise ImproperlyConfigured(
        f"PORTAL_SHADOW_ENV_MANAGER must be local or uv (got {SHADOW_ENV_MANAGER!r}); MLflow's conda and "
        "virtualenv (pyenv) managers are not supported for shadow replays (README: Shadow evaluation)."
    )
SHADOW_ENV_DIR = Path(env("PORTAL_SHADOW_ENV_DIR", default=str(VAR_DIR / "shadow-envs")))
SHADOW_ENV_BUILD_SECONDS = env.float("PORTAL_SHADOW_ENV_BUILD_SECONDS", default=900.0)
# The whole job around the two model processes (and their environments' builds): sampling,
# downloads and statistics take minutes at most.
SHADOW_JOB_SECONDS = 2 * (SHADOW_SECONDS + (SHADOW_ENV_BUILD_SECONDS if SHADOW_ENV_MANAGER == "uv" else 0)) + 900
# A replay older than this no longer speaks for the traffic: the check says "cannot tell".
SHADOW_MAX_AGE_HOURS = env.float("PORTAL_SHADOW_MAX_AGE_HOURS", default=24.0)
# A worker started without --queues takes both queues (what `make run` does); a dedicated replay
# worker is `celery -A mlopsportal worker --queues <SHADOW_QUEUE>`, the others `--queues celery`.
SHADOW_QUEUE = env("PORTAL_SHADOW_QUEUE", default=f"{CELERY_TASK_DEFAULT_QUEUE}-shadow")
CELERY_TASK_ROUTES = {"monitoring.tasks.shadow_evaluation_execute": {"queue": SHADOW_QUEUE}}
# Each queue bound under its own name: a queue declared without a key would get the default one
# and receive a copy of every default task.
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name), routing_key=name) for name in (CELERY_TASK_DEFAULT_QUEUE, SHADOW_QUEUE)
)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {
        "task": "registry.tasks.worker_heartbeat",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 25},
    },
    # MLflow mirror: an incremental pass every minute, a full reconcile every hour. A pass that
    # waited longer than its interval in the queue is dropped: the next one covers it.
    "mlflow-sync-incremental": {
        "task": "registry.tasks.mlflow_sync",
        "schedule": timedelta(seconds=PORTAL_SYNC_INCREMENTAL_SECONDS),
        "kwargs": {"kind": "incremental"},
        "options": {"expires": PORTAL_SYNC_INCREMENTAL_SECONDS},
    },
    "mlflow-sync-full": {
        "task": "registry.tasks.mlflow_sync",
        "schedule": timedelta(seconds=PORTAL_SYNC_FULL_SECONDS),
        "kwargs": {"kind": "full"},
        "options": {"expires": PORTAL_SYNC_FULL_SECONDS},
    },
    "monitoring-drift-schedule": {
        "task": "monitoring.tasks.drift_schedule",
        "schedule": timedelta(minutes=env.int("PORTAL_MONITORING_SCHEDULE_MINUTES", default=15)),
        "options": {"expires": 600},
    },
    # Work recorded while the broker was down, sent once it is back (mlopsportal/dispatch.py) when
    # it is older than PORTAL_MONITORING_LOST_WORK_AFTER_SECONDS (120).
    "monitoring-lost-work-sweep": {
        "task": "monitoring.tasks.lost_work_sweep",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 55},
    },
}
# /healthz calls a worker alive when its last heartbeat is younger than this.
PORTAL_WORKER_HEARTBEAT_MAX_AGE = timedelta(seconds=env.int("PORTAL_WORKER_HEARTBEAT_MAX_AGE", default=120))

# --- Cache ---
# Holds the API's rate-limit counters, so every web worker must see the same one: files under var/
# by default (no extra service), Redis in production (PORTAL_CACHE_URL=redis://host:6379/1).
CACHES = {"default": env.cache_url("PORTAL_CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}

# --- REST API ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous API call then gets 401 with a WWW-Authenticate header.
        "registry.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "registry.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # registry/throttling.py: rates are "<n>/<second|minute|hour|day>"; an empty variable switches one off.
    "DEFAULT_THROTTLE_CLASSES": ["registry.throttling.UserApiThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env("PORTAL_API_RATE_PER_USER", default="1200/minute") or None,
        "ingest": env("PORTAL_INGEST_RATE_PER_MONITOR", default="600/minute") or None,
        "credential_failures": env("PORTAL_API_TOKEN_FAILURE_RATE", default="20/minute") or None,
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "registry.pagination.StrictPageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "registry.api_errors.json_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MLOps Portal API",
    "DESCRIPTION": "Projects, MLflow mirror, promotion gate, drift monitoring and maturity scorecards.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # registry/api_schema.py: every operation's error answers in the one error shape, the ingest
    # endpoint's bearer token; request bodies get their own components, so a required text field
    # says it cannot be blank.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "registry.api_schema.errors_documented"],
    "COMPONENT_SPLIT_REQUEST": True,
    # One choice set used by two fields (numeric and categorical method) gets one schema name.
    "ENUM_NAME_OVERRIDES": {
        "DriftMethodEnum": "monitoring.models.Monitor.Method",
        "NotificationChannelKindEnum": "monitoring.models.NotificationChannel.Kind",
        "AlertKindEnum": "monitoring.models.Alert.Kind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("PORTAL_LOG_LEVEL", default="INFO")},
}

# --- Assessments ---
# Attested answers older than this are flagged stale and stop counting as met until confirmed.
ASSESSMENTS_ANSWER_MAX_AGE = timedelta(days=env.int("PORTAL_ASSESSMENT_ANSWER_MAX_AGE_DAYS", default=180))
# How far back automatic criteria look (runs, promotions, retraining).
ASSESSMENTS_EVIDENCE_WINDOW = timedelta(days=env.int("PORTAL_ASSESSMENT_WINDOW_DAYS", default=90))
CELERY_BEAT_SCHEDULE["assessments-nightly-recompute"] = {
    "task": "assessments.tasks.scorecards_recompute_all",
    "schedule": crontab(hour=env.int("PORTAL_ASSESSMENT_RECOMPUTE_HOUR", default=2), minute=30),
}

# --- Promotion gate ---
# Where the portal is reached, for links in e-mails.
PORTAL_BASE_URL = env("PORTAL_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# The promote task retries an unreachable MLflow with exponential backoff (seconds), then fails the
# request with an alert and a "retry" button.
PORTAL_PROMOTION_MAX_RETRIES = env.int("PORTAL_PROMOTION_MAX_RETRIES", default=8)
PORTAL_PROMOTION_RETRY_BACKOFF = env.float("PORTAL_PROMOTION_RETRY_BACKOFF", default=5.0)
PORTAL_PROMOTION_RETRY_MAX_DELAY = env.float("PORTAL_PROMOTION_RETRY_MAX_DELAY", default=300.0)
# The sweeper re-dispatches approved promotions whose task has not finished after this long.
PORTAL_PROMOTION_SWEEP_AFTER_SECONDS = env.int("PORTAL_PROMOTION_SWEEP_AFTER_SECONDS", default=600)
CELERY_BEAT_SCHEDULE["promotion-outbox-sweep"] = {
    "task": "registry.promotion_tasks.promotion_outbox_sweep",
    "schedule": timedelta(seconds=60),
    "options": {"expires": 55},
}
