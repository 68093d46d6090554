"""WSGI entry point for gunicorn: ``gunicorn -c deploy/gunicorn.conf.py server.wsgi:app``."""

from server import create_app

app = create_app()
