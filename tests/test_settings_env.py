"""Numbers in the environment are read as the operator wrote them, or refused by name.

django-environ's reader took `1e3` seconds as 13 (it drops every character but digits, dots,
commas and minus signs before it reads a float), read `1,5` as 1.5 and `10 s` as 10, and refused
`ten` or `sixteen` with a bare "could not convert string to float" that named no setting.
"""

from __future__ import annotations

import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from reviewer_portal.settings_env import env
from tests.conftest import manage_py

NAME = "PORTAL_TEST_NUMBER"


@pytest.mark.parametrize(
    ("raw", "read"), [("1e3", 1000.0), ("2.5", 2.5), (" 10 ", 10.0), ("-1", -1.0), ("1_000.5", 1000.5)]
)
def test_a_float_is_read_as_python_reads_it(monkeypatch, raw, read):
    monkeypatch.setenv(NAME, raw)
    assert env.float(NAME, default=7.0) == read


@pytest.mark.parametrize(
    "raw", ["ten", "1,5", "10 s", "nan", "inf", "-inf", "1e999", "\uff11\uff10"]
)  # last: fullwidth digits
def test_a_float_that_is_not_a_plain_finite_number_is_refused_by_name(monkeypatch, raw):
    monkeypatch.setenv(NAME, raw)
    with pytest.raises(ImproperlyConfigured, match=f"^{NAME} must be a number"):
        env.float(NAME, default=7.0)


@pytest.mark.parametrize(
    "raw", ["sixteen", "16.0", "1e3", "0x10", "16 threads", "\u0661\u0666"]
)  # last: Arabic-Indic digits
def test_an_integer_that_is_not_a_plain_whole_number_is_refused_by_name(monkeypatch, raw):
    monkeypatch.setenv(NAME, raw)
    with pytest.raises(ImproperlyConfigured, match=f"^{NAME} must be a whole number"):
        env.int(NAME, default=7)


@pytest.mark.parametrize(("raw", "read"), [("16", 16), ("+16", 16), ("-1", -1), ("1_000", 1000), (" 8 ", 8)])
def test_an_integer_is_read_as_python_writes_it(monkeypatch, raw, read):
    monkeypatch.setenv(NAME, raw)
    assert env.int(NAME, default=7) == read


def test_an_empty_or_unset_number_takes_its_default(monkeypatch):
    monkeypatch.setenv(NAME, "  ")
    assert env.int(NAME, default=7) == 7
    assert env.float(NAME, default=7.5) == 7.5
    monkeypatch.delenv(NAME)
    assert env.int(NAME, default=7) == 7
    with pytest.raises(ImproperlyConfigured, match=f"Set the {NAME} environment variable"):
        env.int(NAME)


def test_the_portal_refuses_to_start_on_a_number_it_cannot_read_and_names_it():
    checked = manage_py("check", env={**os.environ, "PORTAL_REQUEST_THREADS": "sixteen"})
    assert checked.returncode != 0
    assert "PORTAL_REQUEST_THREADS must be a whole number, not 'sixteen'" in checked.stderr
