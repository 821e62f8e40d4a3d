"""WSGI entry point: `gunicorn -c gunicorn.conf.py app:app`, `flask --app app ...`."""

from chat.factory import create_app

app = create_app()
