"""The yardstick: a bare Flask "hello" app, served by `make bench` under the same gunicorn configuration as Notejam."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
