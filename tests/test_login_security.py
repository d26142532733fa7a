"""Login and session protection: lockout with an admin unlock, the password policy, idle and
absolute session limits, the Content-Security-Policy, demo passwords only with DEBUG, and no
development secret in production."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from reviewer_portal.accounts.session_limits import ACTIVITY_STEP, LAST_ACTIVE, LOGGED_IN_AT
from tests.conftest import logged_in, make_user, manage_py, production_env

GOOD_PASSWORD = "correct horse battery staple"


def log_in(client: Client, username: str, password: str):
    client.get("/accounts/login/")
    return client.post("/accounts/login/", {"username": username, "password": password})


@pytest.fixture
def admin(db):
    user = make_user("root", superuser=True)
    user.set_password(GOOD_PASSWORD)
    user.save()
    return user


def test_wrong_passwords_lock_the_account_even_against_the_right_one_until_an_admin_unlocks_it(admin):
    client = Client()

    failures = [log_in(client, "root", f"wrong-{n}").status_code for n in range(5)]
    locked = log_in(client, "root", GOOD_PASSWORD)
    call_command("axes_reset_username", "root", stdout=StringIO())
    unlocked = log_in(Client(), "root", GOOD_PASSWORD)

    assert failures[:4] == [200, 200, 200, 200]  # the form again, "didn't match"
    assert locked.status_code == 429 and "Account locked" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    assert unlocked.status_code == 302 and unlocked["Location"] == "/"


def test_behind_a_proxy_a_forged_forwarded_for_does_not_escape_the_address_lockout(admin, settings):
    """Behind one proxy, the client writes the left of X-Forwarded-For and the proxy appends the
    address it saw: a sprayer changing the left part on each guess is still one address.
    (`daphne --proxy-headers` puts the left-most address in REMOTE_ADDR, as these clients do.)"""
    settings.PROXY_COUNT = 1
    sprayer = "203.0.113.7"

    def guess(username: str, password: str, forged: str):
        client = Client(REMOTE_ADDR=forged, HTTP_X_FORWARDED_FOR=f"{forged}, {sprayer}")
        return log_in(client, username, password)

    misses = [guess(f"user{n}", "wrong-password", f"198.51.100.{n}").status_code for n in range(5)]
    from_the_sprayer = guess("root", GOOD_PASSWORD, "192.0.2.99")
    from_elsewhere = Client(REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR="192.0.2.10")

    assert misses[:4] == [200] * 4
    assert from_the_sprayer.status_code == 429
    assert log_in(from_elsewhere, "root", GOOD_PASSWORD).status_code == 302


@pytest.mark.parametrize("password", ["password", "12345678", "short-pw1", "123456789012"])
def test_weak_passwords_are_refused(admin, password):
    with pytest.raises(ValidationError):
        validate_password(password, user=admin)


def test_a_strong_password_passes(admin):
    validate_password(GOOD_PASSWORD, user=admin)


def test_a_session_idle_too_long_is_signed_out_and_background_refreshes_do_not_count(admin, settings):
    client = logged_in(admin)
    client.get("/")
    session = client.session
    session[LAST_ACTIVE] = time.time() - settings.SESSION_IDLE_SECONDS + 60  # a minute to go
    session.save()

    background = client.get("/", headers={"X-Portal-Background": "1", "HX-Request": "true"})
    web_ui = client.post("/codec/default/decode", "{}", content_type="application/json")  # the UI's own calls
    session = client.session
    session[LAST_ACTIVE] -= 120  # two minutes later, with nothing but background refreshes
    session.save()
    expired = client.get("/")

    assert background.status_code == 200 and web_ui.status_code == 200
    assert expired.status_code == 302 and expired["Location"].startswith("/accounts/login/")
    assert client.get("/").status_code == 302  # signed out for good


def test_activity_within_a_minute_of_the_last_kept_does_not_save_the_session_again(admin, settings):
    client = logged_in(admin)
    client.get("/")
    kept = client.session[LAST_ACTIVE]

    with CaptureQueriesContext(connection) as soon:
        client.get("/")
    session = client.session
    session[LAST_ACTIVE] -= ACTIVITY_STEP  # a minute later
    session.save()
    client.get("/")

    assert not [
        q for q in soon.captured_queries if q["sql"].startswith("UPDATE") and "django_session" in q["sql"]
    ]
    assert client.session[LAST_ACTIVE] > kept  # the clock moved on after a minute
    session = client.session
    session[LAST_ACTIVE] = time.time() - settings.SESSION_IDLE_SECONDS - 1
    session.save()
    assert client.get("/").status_code == 302  # and idle still signs out


def test_a_short_idle_limit_keeps_its_clock_to_a_tenth_of_itself(admin, settings):
    """A one-minute idle limit with a one-minute clock would sign out someone active all along."""
    settings.SESSION_IDLE_SECONDS = 60
    client = logged_in(admin)
    client.get("/")
    session = client.session
    session[LAST_ACTIVE] -= 7  # active seven seconds ago: more than a tenth of the limit
    session.save()
    before = session[LAST_ACTIVE]

    client.get("/")

    assert client.session[LAST_ACTIVE] > before + 6


def test_a_session_lasts_at_most_its_absolute_age_however_active(admin, settings):
    """Each request re-saves the session, which used to push Django's own expiry on by
    SESSION_COOKIE_AGE: a busy session never ended. The login time now bounds it."""
    client = logged_in(admin)
    client.get("/")
    session = client.session
    session[LOGGED_IN_AT] -= settings.SESSION_COOKIE_AGE - 60  # logged in 11 h 59 min ago
    session.save()

    still_in = client.get("/")
    session = client.session
    session[LOGGED_IN_AT] -= 120  # active all along, two minutes later
    session.save()
    too_old = client.get("/")

    assert still_in.status_code == 200
    assert too_old.status_code == 302 and too_old["Location"].startswith("/accounts/login/")
    assert client.get("/").status_code == 302
    assert settings.SESSION_COOKIE_AGE == 12 * 3600 and settings.SESSION_IDLE_SECONDS == 30 * 60


def test_every_page_carries_a_strict_content_security_policy(admin):
    policy = logged_in(admin).get("/")["Content-Security-Policy"]

    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_demo_users_are_created_only_with_debug(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="runs only with DEBUG"):
        call_command("seed_demo", "--users-only", stdout=StringIO())


def test_production_refuses_the_development_secret_key():
    check = manage_py("check", env=production_env(SECRET_KEY="dev-only-insecure-key"))

    assert check.returncode != 0 and "SECRET_KEY is the development key" in check.stderr


def test_secrets_can_come_from_files(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("a-secret-key-from-a-mounted-file-" + "x" * 40 + "\n")
    env = production_env(SECRET_KEY=None, SECRET_KEY_FILE=str(secret_file))

    shown = manage_py("shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)", env=env)

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1] == "a-secret-key-from-a-mounted-file-" + "x" * 40
