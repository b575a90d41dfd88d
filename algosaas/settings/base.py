"""Settings read from the environment or a ``.env`` file by django-environ (one ``env``)."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

_INSECURE_KEY_PREFIX = "django-insecure"
SECRET_KEY = env.str("SECRET_KEY", default=f"{_INSECURE_KEY_PREFIX}-only-for-local-debug")
if not DEBUG and (SECRET_KEY.startswith(_INSECURE_KEY_PREFIX) or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a long random value when DEBUG is off "
        "(see .env.example; `make run` writes a .env with one)."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "csp",
    "django_structlog",
    "algosaas",
    "accounts",
    "strategies",
    "execution",
    "brokers",
    "optimisation",
    "notifications",
]

MIDDLEWARE = [
    # Outermost: it turns Django's own non-JSON error answers under /api/ into the JSON shape.
    "algosaas.middleware.ApiErrorShapeMiddleware",
    "algosaas.middleware.BodySizeLimitMiddleware",
    "algosaas.middleware.RequestLimitsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "algosaas.middleware.NoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "algosaas.urls"
WSGI_APPLICATION = "algosaas.wsgi.application"
ASGI_APPLICATION = "algosaas.asgi.application"

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
        },
    },
]

# --- Databases: an embedded SQLite file unless DATABASE_URL names PostgreSQL -----------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the q cluster share the file. WAL lets readers run beside the one
    # writer; IMMEDIATE takes the write lock at BEGIN, so a read-then-write transaction waits
    # its turn (busy timeout) instead of failing with "database is locked" on the upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Accounts ------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-up confirmations and notices. Locally the console prints them; in production set
# EMAIL_URL (e.g. smtp+tls://user:password@smtp.example.com:587).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="algosaas <no-reply@localhost>")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "landing"

# Brute-force protection: django-axes locks an account+IP pair after repeated failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "email"
AXES_HTTP_RESPONSE_CODE = 429
AXES_RESET_ON_SUCCESS = True
AXES_IPWARE_PROXY_COUNT = env.int("NUM_PROXIES", default=0)
AXES_VERBOSE = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "algosaas.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "algosaas.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "algosaas.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "algosaas.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login": env.str("THROTTLE_LOGIN", default="10/min"),
        "register": env.str("THROTTLE_REGISTER", default="5/min"),
        "user": env.str("THROTTLE_USER", default="1200/min"),
    },
    # Throttles key on REMOTE_ADDR unless a trusted proxy count is configured, so a forged
    # X-Forwarded-For header cannot mint fresh identities.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("ACCESS_TOKEN_EXPIRE_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("REFRESH_TOKEN_EXPIRE_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": env.str("ALGORITHM", default="HS256"),
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY + "-jwt"),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "CHECK_USER_IS_ACTIVE": True,
    # Every token carries a digest of the password hash, so a password change (or an operator
    # setting one) refuses the access tokens already issued at once, not when they expire.
    "CHECK_REVOKE_TOKEN": True,  # nosec B105: a flag named *TOKEN, not a password
}
if not DEBUG and len(env.str("JWT_SIGNING_KEY", default="")) < 32:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must be a long random value when DEBUG is off.")

SPECTACULAR_SETTINGS = {
    "TITLE": "algosaas API",
    "DESCRIPTION": "Strategies, backtests and paper trading. Authenticate with a JWT bearer token "
    "from POST /api/auth/token/.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "algosaas.api.schema.postprocess_schema",
    ],
    # One OpenAPI enum per domain vocabulary, named after it.
    "ENUM_NAME_OVERRIDES": {
        "StrategyStatusEnum": "strategies.models.StrategyStatus",
        "DeploymentStatusEnum": "strategies.models.DeploymentStatus",
        "BacktestStatusEnum": "execution.models.BacktestStatus",
        "OrderStatusEnum": "execution.models.OrderStatusChoices",
        "SweepMethodEnum": "optimisation.models.SweepMethod",
        # sweeps and robustness runs share one set of statuses (queued ... cancelled, failed)
        "RunStatusEnum": "optimisation.models.SweepStatus",
        "WalkForwardMethodEnum": "optimisation.api.robustness_serializers.WALK_FORWARD_METHODS",
        "MonteCarloMethodEnum": "optimisation.montecarlo.METHODS",
    },
}

# Bodies above this are refused before a view parses them (OWASP API4).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

# --- Jobs (django-q2) ----------------------------------------------------------------------
# ``retry`` must exceed ``timeout`` so a task is never redelivered while still running;
# ``catch_up`` is off so a cluster back from downtime does not replay every missed schedule.
Q_CLUSTER = {
    "name": "algosaas",
    "workers": env.int("Q_WORKERS", default=4),
    "timeout": env.int("Q_TIMEOUT", default=120),
    "retry": env.int("Q_RETRY", default=150),
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=3),
    "catch_up": False,
    "save_limit": 1000,
    "ack_failures": True,
    # Tasks a cluster pulls ahead of its workers. Sweeps scale out only if each cluster takes
    # a few at a time: with 500, the first cluster to poll hoards a whole sweep's chunks.
    "queue_limit": env.int("Q_QUEUE_LIMIT", default=500),
    "label": "Jobs",
    "orm": "default",
}
if REDIS_URL and env.bool("Q_USE_REDIS", default=True):
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = REDIS_URL

# --- Live push (execution/push/, docs/live-push.md) -----------------------------------------
# Steps run in the job cluster, so events reach the web processes only through a shared layer:
# Redis when REDIS_URL is set. Without it the in-memory layer serves one process: a page served
# by the ASGI app (make run's uvicorn) gets that process's own events (manual orders and stops
# placed there) by push and keeps polling for the steps' bars and fills (execution/push/mode.py).
if REDIS_URL:
    _push_hosts = [
        # redis-py 8's default 5 s socket_timeout would cut the core layer's 5 s blocking
        # reads (BZPOPMIN) of every idle socket, so it is longer. The publisher bounds its
        # own sends (PUBLISH_TIMEOUT_SECONDS).
        {"address": REDIS_URL, "socket_connect_timeout": 1, "socket_timeout": 15}
    ]
    _push_prefix = env.str("LIVE_PUSH_PREFIX", default="algosaas-push")
    # "pubsub": one PUBLISH per event, fanned out inside each web process; "core": a Redis
    # list per socket (bounded by LIVE_PUSH_CHANNEL_CAPACITY), one round trip per delivery,
    # several times slower to fan out (bench/ws.py, docs/live-push.md).
    if env.str("LIVE_PUSH_LAYER", default="pubsub") == "pubsub":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": _push_hosts, "prefix": _push_prefix},
            }
        }
    else:
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": _push_hosts,
                    "prefix": _push_prefix,
                    "capacity": env.int("LIVE_PUSH_CHANNEL_CAPACITY", default=500),
                    "expiry": 30,
                },
            }
        }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
LIVE_PUSH = {
    # Off: the live page never opens a socket and only polls. On, it opens one when it was
    # served by the ASGI app; what the socket carries depends on REDIS_URL (above).
    "ENABLED": env.bool("LIVE_PUSH", default=True),
    # A reconnecting client further behind than this many rows gets "resync", not a replay.
    "REPLAY_LIMIT": env.int("LIVE_PUSH_REPLAY_LIMIT", default=500),
    "HEARTBEAT_SECONDS": env.float("LIVE_PUSH_HEARTBEAT_SECONDS", default=20.0),
    # No message from the client for this many heartbeats: the socket is closed.
    "HEARTBEAT_MISSES": env.int("LIVE_PUSH_HEARTBEAT_MISSES", default=3),
    # Messages waiting to be written to one socket; a client that lets more pile up is dropped.
    "SEND_QUEUE": env.int("LIVE_PUSH_SEND_QUEUE", default=256),
    "AUTH_TIMEOUT_SECONDS": env.float("LIVE_PUSH_AUTH_TIMEOUT_SECONDS", default=10.0),
    "MAX_SUBSCRIPTIONS": env.int("LIVE_PUSH_MAX_SUBSCRIPTIONS", default=20),
    # Events waiting in a publishing process for the channel layer; beyond it they are dropped
    # (and logged): clients catch up from the database when they reconnect.
    "PUBLISH_QUEUE": env.int("LIVE_PUSH_PUBLISH_QUEUE", default=20_000),
    "PUBLISH_TIMEOUT_SECONDS": env.float("LIVE_PUSH_PUBLISH_TIMEOUT_SECONDS", default=2.0),
    # The sender takes up to PUBLISH_BATCH waiting events at once and sends up to
    # PUBLISH_CONCURRENCY deployments' groups side by side (each group's events in order).
    "PUBLISH_BATCH": env.int("LIVE_PUSH_PUBLISH_BATCH", default=500),
    "PUBLISH_CONCURRENCY": env.int("LIVE_PUSH_PUBLISH_CONCURRENCY", default=16),
}

# --- Notifications (notifications/) -----------------------------------------------------------
# Webhook attempts: MAX_ATTEMPTS in all, waiting BACKOFF_SECONDS * 2^(n-1) after attempt n.
# Private and loopback webhook addresses are allowed here (dev, tests); production refuses them.
NOTIFICATIONS = {
    "MAX_ATTEMPTS": env.int("WEBHOOK_MAX_ATTEMPTS", default=5),
    "BACKOFF_SECONDS": env.float("WEBHOOK_BACKOFF_SECONDS", default=30.0),
    "TIMEOUT_SECONDS": env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0),
    "ALLOW_PRIVATE_ADDRESSES": env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=True),
    "MAX_WEBHOOKS_PER_USER": env.int("MAX_WEBHOOKS_PER_USER", default=10),
}

# --- i18n, time, static ---------------------------------------------------------------------
LANGUAGE_CODE = "en-in"
TIME_ZONE = "Asia/Kolkata"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Security (tightened further in production.py) -------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

from algosaas.contentpolicy import content_security_policy  # noqa: E402

CONTENT_SECURITY_POLICY = content_security_policy(BASE_DIR / "templates", BASE_DIR / "static")

# --- Logging -------------------------------------------------------------------------------
LOG_FORMAT = env.str("LOG_FORMAT", default="console" if DEBUG else "json")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")

from algosaas.logconfig import configure_logging  # noqa: E402

LOGGING = configure_logging(log_format=LOG_FORMAT, level=LOG_LEVEL)
DJANGO_STRUCTLOG_CELERY_ENABLED = False
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = True

# --- Product limits ------------------------------------------------------------------------
ALGOSAAS = {
    "DEFAULT_CAPITAL": env.str("DEFAULT_CAPITAL", default="1000000.00"),
    "MAX_STRATEGIES_PER_USER": env.int("MAX_STRATEGIES_PER_USER", default=100),
    "MAX_RUNNING_DEPLOYMENTS_PER_USER": env.int("MAX_RUNNING_DEPLOYMENTS_PER_USER", default=20),
    "MAX_PAGE_SIZE": env.int("MAX_PAGE_SIZE", default=200),
    "MAX_ACTIVE_BACKTESTS_PER_USER": env.int("MAX_ACTIVE_BACKTESTS_PER_USER", default=5),
    # A running backtest renews its lease every third of this; one that misses it is dead and
    # the once-a-minute sweeper re-queues it, so a lost run is noticed within Q_CLUSTER retry.
    "BACKTEST_LEASE_SECONDS": env.int("BACKTEST_LEASE_SECONDS", default=30),
    # A queued backtest not started within this is sent to the queue again (its task may be lost).
    "BACKTEST_QUEUED_LEASE_SECONDS": env.int("BACKTEST_QUEUED_LEASE_SECONDS", default=60),
    "BACKTEST_MAX_ATTEMPTS": env.int("BACKTEST_MAX_ATTEMPTS", default=3),
    # An Idempotency-Key whose request died (worker killed) is released after this; longer
    # than any request lives (gunicorn's worker timeout is 30 s by default).
    "IDEMPOTENCY_LEASE_SECONDS": env.int("IDEMPOTENCY_LEASE_SECONDS", default=60),
    # The paper broker's order records of a deployment stopped longer ago than this are pruned
    # daily (the prune-paper-orders schedule); its orders, trades and positions are kept.
    "PAPER_ORDER_RETENTION_DAYS": env.int("PAPER_ORDER_RETENTION_DAYS", default=30),
    "DEPLOYMENT_RUNNER": env.str(
        "DEPLOYMENT_RUNNER", default="execution.services.live.PaperRunner"
    ),
    "REPLAY_SECONDS_PER_BAR": env.float("REPLAY_SECONDS_PER_BAR", default=2.0),
    # The dispatcher task runs each minute and hands due deployments to step tasks in chunks.
    "STEP_CHUNK": env.int("STEP_CHUNK", default=200),
    # 85 s: django-q2 checks schedules every ~30 s, so consecutive dispatchers overlap and
    # no bar waits for the next minute's dispatcher.
    "DISPATCH_SECONDS": env.int("DISPATCH_SECONDS", default=85),
    # When intraday (MIS) positions on an exchange session are squared off, local time (IST).
    "MIS_SQUAREOFF": env.str("MIS_SQUAREOFF", default="15:20"),
    # Market protection of a deployment's paper broker (SEBI: API market orders become limits
    # within a band): a MARKET or SL-M order fills no worse than this percentage from the last
    # price (the trigger), else it rests as a limit at the band. 0 switches it off.
    "MARKET_PROTECTION_PCT": env.float("MARKET_PROTECTION_PCT", default=2.0) or None,
    # Parameter sweeps (optimisation/): per-user limits, answered as a 400 naming the limit.
    "MAX_SWEEP_COMBINATIONS": env.int("MAX_SWEEP_COMBINATIONS", default=10_000),
    "MAX_RUNNING_SWEEPS_PER_USER": env.int("MAX_RUNNING_SWEEPS_PER_USER", default=2),
    # Backtests per django-q2 task: bars are loaded once and indicators computed once per chunk.
    "SWEEP_CHUNK_SIZE": env.int("SWEEP_CHUNK_SIZE", default=50),
    # The tail of a grid or random sweep is cut into smaller chunks (each 1/(2 x workers) of
    # what is left, at least SWEEP_CHUNK_MIN) so the workers sharing it finish together;
    # SWEEP_TAPER_WORKERS is how many workers are expected to share one sweep.
    "SWEEP_CHUNK_MIN": env.int("SWEEP_CHUNK_MIN", default=10),
    "SWEEP_TAPER_WORKERS": env.int("SWEEP_TAPER_WORKERS", default=4),
    # A pending sweep chunk or walk-forward step whose task was queued or taken longer ago than
    # Q_TIMEOUT plus this is queued again by the recover-optimisation-steps schedule (the Redis
    # broker loses a killed worker's task); a duplicate finds its step stored and skips.
    "STEP_STALE_MARGIN_SECONDS": env.int("STEP_STALE_MARGIN_SECONDS", default=60),
    # A stale chunk already started this many times (its worker killed, or it outran Q_TIMEOUT
    # each time) fails its sweep or walk-forward with the reason instead of being queued again.
    "STEP_MAX_ATTEMPTS": env.int("STEP_MAX_ATTEMPTS", default=3),
    # Robustness reports (optimisation/robustness.py): limits answered as a 400 naming them.
    "MAX_WALK_FORWARD_WINDOWS": env.int("MAX_WALK_FORWARD_WINDOWS", default=20),
    # windows x parameter sets: the in-sample backtests one walk-forward task runs
    # (one task: it must finish within Q_TIMEOUT; ~40 backtests/s of 10k bars on one core here)
    "MAX_WALK_FORWARD_BACKTESTS": env.int("MAX_WALK_FORWARD_BACKTESTS", default=2_000),
    "MAX_RUNNING_WALK_FORWARDS_PER_USER": env.int("MAX_RUNNING_WALK_FORWARDS_PER_USER", default=2),
    "MAX_MONTE_CARLO_PATHS": env.int("MAX_MONTE_CARLO_PATHS", default=10_000),
    # paths x trades of one Monte Carlo, run inline in the request (~0.1 s per million here)
    "MAX_MONTE_CARLO_STEPS": env.int("MAX_MONTE_CARLO_STEPS", default=10_000_000),
}

# --- Broker accounts (brokers/) ------------------------------------------------------------
# Fernet keys (comma-separated, newest first) that encrypt broker secrets at rest; rotate by
# putting a new key first and running `manage.py rotate_broker_secrets`. Unset: one key derived
# from SECRET_KEY (fine for a laptop; set real keys in production, see docs/brokers.md).
BROKER_SECRET_KEYS = env.list("BROKER_SECRET_KEYS", default=[])
KITE_API_ROOT = env.str("KITE_API_ROOT", default="https://api.kite.trade")
KITE_LOGIN_URL = env.str("KITE_LOGIN_URL", default="https://kite.zerodha.com/connect/login")
KITE_TIMEOUT_SECONDS = env.float("KITE_TIMEOUT_SECONDS", default=7.0)
# Market data from Kite: the ticker's WebSocket root and the historical API's request rate.
KITE_TICKER_ROOT = env.str("KITE_TICKER_ROOT", default="wss://ws.kite.trade")
KITE_HISTORY_REQUESTS_PER_SECOND = env.float("KITE_HISTORY_REQUESTS_PER_SECOND", default=3.0)
DHAN_API_ROOT = env.str("DHAN_API_ROOT", default="https://api.dhan.co/v2")
DHAN_TIMEOUT_SECONDS = env.float("DHAN_TIMEOUT_SECONDS", default=7.0)
# Dhan documents 5 requests a second for its data APIs (the chart history)
DHAN_HISTORY_REQUESTS_PER_SECOND = env.float("DHAN_HISTORY_REQUESTS_PER_SECOND", default=5.0)
DHAN_SCRIP_MASTER_URL = env.str(
    "DHAN_SCRIP_MASTER_URL", default="https://images.dhan.co/api-data/api-scrip-master.csv"
)
DHAN_FEED_ROOT = env.str("DHAN_FEED_ROOT", default="wss://api-feed.dhan.co")
# Order rate limits are shared by every worker through Redis when it is configured.
BROKER_RATE_LIMIT_REDIS_URL = env.str("BROKER_RATE_LIMIT_REDIS_URL", default=REDIS_URL)
