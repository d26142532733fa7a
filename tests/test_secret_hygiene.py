"""Keys and tokens stay out of history, logs and pages.

The redaction rules on their own; the log handler the settings install; and a loan run whose
provider echoes the API key it refuses (as OpenAI's 401 does), after which history (raw and
decoded), everything logged and every page a reviewer or auditor opens are searched for the
provider key, the payload keys, the portal's signing key, SECRET_KEY and a codec token.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.test import Client as DjangoClient
from temporalio.client import Client

from agents.framework.llm import LlmSettings
from agents.framework.redaction import REDACTED, redact
from reviewer_portal.codec.tokens import codec_token_issue
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.log_redaction import RedactSecrets
from tests.conftest import TEST_PAYLOAD_KEYS, logged_in, make_user, start_loan, wait_for_gate
from tests.fake_openai import FakeOpenAI, Fault
from tests.test_sandbox import probe_module, run_probe

pytestmark = pytest.mark.once  # nothing here depends on the database or channel layer: CI runs it in one pass

PROVIDER_KEY = "sk-proj-" + "Zq4Lw8Hn2Vt6" * 4


@pytest.mark.parametrize(
    "secret",
    [
        PROVIDER_KEY,
        "rpc_" + "a1B2c3D4e5F6g7H8i9J0" * 2,
        "Bearer abc.DEF-123_456~789",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhdWRpdG9yIn0.c2lnbmF0dXJlLWJ5dGVz",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIGx0\n-----END PRIVATE KEY-----",
        "q3N8vXw0Zk7mB2cR5tY1uL4oP6sD9fG0hJ2kA8eWzXc=",  # 32 bytes of base64, as a payload key
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # 32 bytes of hex
    ],
    ids=["provider-key", "codec-token", "bearer", "jwt", "pem", "base64-key", "hex-key"],
)
def test_key_and_token_shapes_are_redacted_wherever_they_appear(secret):
    line = f"calling with {secret} now"

    assert redact(line) == f"calling with {REDACTED} now"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://portal:s3cret-pw@db:5432/portal", f"postgres://portal:{REDACTED}@db:5432/portal"),
        ("password=hunter2hunter2 user=x", f"password={REDACTED} user=x"),
        ('{"api_key": "not-shaped-like-a-key"}', f'{{"api_key": "{REDACTED}"}}'),
        ("OPENAI_API_KEY=abc123", f"OPENAI_API_KEY={REDACTED}"),
    ],
)
def test_named_secrets_and_url_passwords_are_redacted(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Gate loan-2bf0ff99-0751-46e5-8375-50e79a12d4c0--g1 approved by officer",
        "/work/main/.venv/lib/python3.11/site-packages/temporalio/worker/_workflow_instance.py",
        "prompt_token=512 completion tokens: 88",
        "Model provider answered HTTP 429: Rate limit reached. Retry after 3 s.",
        "Résumé of María-José Núñez, 東京 branch",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


@contextmanager
def configured_log_output(level: int = logging.DEBUG) -> Iterator[io.StringIO]:
    """What the handlers the settings install write (to a buffer instead of stderr), at `level`."""
    root = logging.getLogger()
    handlers = [h for h in root.handlers if any(isinstance(f, RedactSecrets) for f in h.filters)]
    assert handlers, "the settings install the redacting filter on the root handler"
    buffer = io.StringIO()
    streams = [h.setStream(buffer) for h in handlers]
    previous_level = root.level
    root.setLevel(level)
    try:
        yield buffer
    finally:
        root.setLevel(previous_level)
        for handler, stream in zip(handlers, streams, strict=True):
            handler.setStream(stream)


def test_the_log_handler_redacts_configured_secrets_in_messages_arguments_and_tracebacks(settings):
    settings.SECRET_KEY = "a plain sentence used as the secret key"  # nothing key-shaped about it
    with configured_log_output() as output:
        log = logging.getLogger("agents.test")
        log.warning("signing with %s", settings.SECRET_KEY)
        try:
            raise RuntimeError(f"connect failed with {PROVIDER_KEY}")
        except RuntimeError:
            log.exception("provider call failed")

    text = output.getvalue()
    assert "signing with [redacted]" in text and "a plain sentence" not in text
    assert "RuntimeError: connect failed with [redacted]" in text and PROVIDER_KEY not in text


def test_a_provider_echoing_the_key_leaves_no_key_in_history_logs_or_pages(
    temporal, portal_settings, portal_signing_key, settings
):
    settings.OPENAI_API_KEY = PROVIDER_KEY
    auditor = make_user("auditor", "auditor")
    _, token = codec_token_issue(user=auditor, days=1)
    refusal = json.dumps(
        {"error": {"message": f"Incorrect API key provided: {PROVIDER_KEY}.", "code": "invalid_api_key"}}
    )
    with configured_log_output() as output, FakeOpenAI([Fault(401, refusal)], repeat_last=True) as fake:
        llm = LlmSettings(api_key=PROVIDER_KEY, base_url=fake.base_url)
        with temporal.worker(llm=llm, portal_activities=PORTAL_ACTIVITIES) as queue:
            settings.TEMPORAL_TASK_QUEUE = queue
            handle = start_loan(temporal, queue)
            gate = wait_for_gate(temporal, handle)
            officer = logged_in(make_user("officer", "credit_officer"))
            pages = [
                officer.get("/").content,
                officer.get(f"/gates/{gate.gate_id}/").content,
                logged_in(auditor).get(f"/audit/{handle.id}/").content,
                logged_in(auditor).get("/dashboard/").content,
            ]
            decode = DjangoClient().post(
                "/codec/default/decode",
                data=json.dumps({"payloads": []}),
                content_type="application/json",
                headers={"Authorization": f"Bearer {token}"},
            )
            temporal.run(handle.terminate("test done"))

    without_codec = temporal.run(Client.connect(temporal.address)).get_workflow_handle(handle.id)
    raw = json.dumps(temporal.run(without_codec.fetch_history()).to_json_dict())
    decoded = json.dumps(temporal.run(handle.fetch_history()).to_json_dict())
    payload_keys = [
        k for ns in json.loads(TEST_PAYLOAD_KEYS)["namespaces"].values() for k in ns["keys"].values()
    ]
    signing_key = json.loads(portal_signing_key.to_json())["private_key"]
    secrets = [PROVIDER_KEY, settings.SECRET_KEY, token, signing_key, *payload_keys]

    assert "Incorrect API key provided: [redacted]" in gate.needs_attention  # the reviewer still learns why
    assert decode.status_code == 200 and output.getvalue()  # something was logged
    for place, text in [
        ("raw history", raw),
        ("decoded history", decoded),
        ("logs", output.getvalue()),
        *((f"page {i}", page.decode()) for i, page in enumerate(pages)),
    ]:
        for secret in secrets:
            assert secret not in text, f"a secret in the {place}"


FAILING_PROBE = """
from temporalio import workflow


@workflow.defn(name="FailingProbe")
class FailingProbe:
    @workflow.run
    async def run(self, message: str) -> str:
        raise RuntimeError(message)
"""


@pytest.fixture
def failing_probe(tmp_path, monkeypatch) -> Iterator[type]:
    """A workflow whose task fails with the message it is given."""
    yield from probe_module(tmp_path, monkeypatch, FAILING_PROBE, "FailingProbe")


@pytest.mark.parametrize("sandbox", ["strict", "shared"])
def test_a_failed_workflow_task_is_logged_from_inside_the_sandbox_with_its_secrets_redacted(
    temporal, failing_probe, settings, sandbox, recwarn
):
    """The SDK logs a failed workflow task from inside the sandbox. The redacting filter read the
    settings there through an import of its own, which gave the sandbox a fresh, unconfigured
    copy of Django: no configured secret was known, and one that is not key-shaped was logged."""
    settings.EMAIL_HOST_PASSWORD = "a plain sentence used as the mail password"
    with configured_log_output(logging.WARNING) as output:
        result, failures = run_probe(
            temporal, failing_probe, sandbox, f"could not send with {settings.EMAIL_HOST_PASSWORD}"
        )

    text = output.getvalue()
    assert result is None and failures  # the task failed, and the SDK logged it
    assert "RuntimeError: could not send with [redacted]" in text
    assert "a plain sentence" not in text
    # Nothing was imported inside the sandbox to log it (the SDK warns of each such import).
    assert not [w for w in recwarn if "imported after initial workflow load" in str(w.message)]
