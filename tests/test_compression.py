"""Compression and caching as deployed: a production portal (DEBUG off, static files built by
collectstatic) under daphne, asked over HTTP as a browser would ask it."""

from __future__ import annotations

import gzip
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from http.client import HTTPResponse
from pathlib import Path

import pytest

from tests.conftest import ROOT, logged_in, make_user, manage_py, production_env
from tests.processes import free_port

# A production portal on a SQLite database of its own, whatever the pass: one CI pass.
pytestmark = pytest.mark.once

ONE_YEAR = 365 * 24 * 3600
HASHED = re.compile(r"\.[0-9a-f]{12}\.(css|js)$")


@pytest.fixture(scope="module")
def production_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The portal's base URL, served by daphne with production settings and built static files."""
    root = tmp_path_factory.mktemp("production")
    env = production_env(
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        STATIC_ROOT=str(root / "static"),
        DATABASE_URL=f"sqlite:///{root / 'portal.sqlite3'}",
    )
    built = manage_py("collectstatic", "--noinput", "-v0", env=env)
    assert built.returncode == 0, built.stderr
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "reviewer_portal.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the portal did not start"
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def fetch(url: str, **headers: str) -> tuple[HTTPResponse, bytes]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip, br", **headers})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response, response.read()


def test_pages_are_compressed(production_portal):
    response, body = fetch(f"{production_portal}/accounts/login/")
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    html = gzip.decompress(body)
    assert b"<form" in html and len(body) < 0.7 * len(html)


def test_a_page_asked_for_without_compression_comes_plain(production_portal):
    response, body = fetch(f"{production_portal}/accounts/login/", **{"Accept-Encoding": "identity"})
    assert response.headers["Content-Encoding"] is None
    assert b"<form" in body


def test_static_files_are_hashed_compressed_and_cached_for_a_year(production_portal):
    _, body = fetch(f"{production_portal}/accounts/login/")
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', gzip.decompress(body).decode())
    assert any(a.endswith(".css") for a in assets) and any(a.endswith(".js") for a in assets)
    for asset in assets:
        assert HASHED.search(asset), f"{asset} has no content hash in its name"
        response, _ = fetch(production_portal + asset)
        cache = response.headers["Cache-Control"]
        max_age = int(re.search(r"max-age=(\d+)", cache).group(1))
        assert max_age >= ONE_YEAR and "immutable" in cache, (asset, cache)
        assert response.headers["Content-Encoding"] in {"gzip", "br"}, asset


def test_the_csrf_token_differs_on_every_response_so_compression_leaks_nothing(production_portal):
    """BREACH guesses a secret repeated in compressed responses: Django masks the token anew."""
    first, body = fetch(f"{production_portal}/accounts/login/")
    cookie = first.headers["Set-Cookie"].split(";")[0]
    _, again = fetch(f"{production_portal}/accounts/login/", Cookie=cookie)
    token = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
    assert token.search(gzip.decompress(body)).group(1) != token.search(gzip.decompress(again)).group(1)


@pytest.mark.django_db
def test_the_inbox_is_compressed_in_development_too():
    client = logged_in(make_user("officer", "credit_officer"))
    response = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
    assert b"Pending decisions" in gzip.decompress(response.content)


def test_static_settings_build_hashed_files_only_without_debug():
    from django.conf import settings

    assert Path(settings.STATIC_ROOT).is_absolute()
    assert "django.middleware.gzip.GZipMiddleware" in settings.MIDDLEWARE
    # Outside WhiteNoise, which serves built files pre-compressed and short-circuits the rest.
    assert settings.MIDDLEWARE.index("django.middleware.gzip.GZipMiddleware") < settings.MIDDLEWARE.index(
        "whitenoise.middleware.WhiteNoiseMiddleware"
    )
