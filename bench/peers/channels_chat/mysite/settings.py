"""Settings for the Channels peer: only what the tutorial's chat and channels_postgres need.

DATABASE_URL is a libpq conninfo (key=value or URI), as the benchmark's scratch
database gives it.
"""

import os

from psycopg.conninfo import conninfo_to_dict

SECRET_KEY = os.environ.get("SECRET_KEY", "bench-peer-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = ["daphne", "channels", "channels_postgres", "chatroom"]
ROOT_URLCONF = "mysite.urls"
ASGI_APPLICATION = "mysite.asgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _database(url: str) -> dict:
    params = conninfo_to_dict(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": params.pop("dbname", ""),
        "USER": params.pop("user", ""),
        "PASSWORD": params.pop("password", ""),
        "HOST": params.pop("host", ""),
        "PORT": params.pop("port", ""),
        "OPTIONS": params,
    }


_db = _database(os.environ["DATABASE_URL"])
DATABASES = {
    # Django's own connection pool (psycopg_pool), as Django's docs advise under ASGI
    # instead of persistent connections.
    "default": {**_db, "OPTIONS": {**_db["OPTIONS"], "pool": True}},
    # channels_postgres' README: its own alias (its models live there) ...
    "channels_postgres": _db,
}
CHANNEL_LAYERS = {
    # ... and the same settings as the layer's CONFIG, with its defaults.
    "default": {"BACKEND": "channels_postgres.core.PostgresChannelLayer", "CONFIG": _db},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
