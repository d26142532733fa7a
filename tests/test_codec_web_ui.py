"""The Temporal Web UI, pointed at the portal's codec endpoint, shows a run in plaintext only to
people the portal lets decode. Real parts: a Temporal dev server with its Web UI (codec endpoint
`<portal>/codec/{namespace}`, as `make dev` sets it), a worker, the portal under pytest-django's
live server, and headless Chromium. Each visitor's UI codec settings are put in its localStorage
as someone who turns on "include cross-origin credentials" in the UI would have them.

An auditor logged in to the portal reads a loan run's applicant in the UI's input panel: the UI
sends the portal session cookie with its decode requests, and the endpoint logs the access. An
anonymous visitor with the same UI settings gets 401 and sees the ciphertext Temporal holds, which
never has the applicant's name in it.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, Response, expect
from pytest_django.live_server_helper import LiveServer
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.history.v1 import History
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import WorkflowHandle

from reviewer_portal.codec.models import CodecAccess
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from tests.browser import log_in, new_page
from tests.conftest import APPROVABLE, loan_input, make_user, projected_gate, start_loan
from tests.harness import TemporalHarness
from tests.processes import free_port

pytestmark = pytest.mark.browser

APPLICANT = APPROVABLE.applicant_name
UI_START_TIMEOUT = 30.0


class TemporalWithWebUi(TemporalHarness):
    """The test harness's dev server, with its Web UI on a free port of the live server's host and
    the codec endpoint the UI offers pointed at the portal (as `make dev` does)."""

    def __init__(self, host: str, codec_endpoint: str) -> None:
        self.ui_port = free_port()
        self.ui_url = f"http://{host}:{self.ui_port}"
        self.codec_endpoint = codec_endpoint
        # No internet: the UI's news request would only fail.
        super().__init__(
            ui_port=self.ui_port,
            extra_args=["--ui-codec-endpoint", codec_endpoint, "--ui-disable-news-fetch"],
        )
        self._wait_for_ui()

    def _wait_for_ui(self) -> None:
        """The dev server answers gRPC before its UI server listens: wait for the UI's settings."""
        deadline = time.monotonic() + UI_START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{self.ui_url}/api/v1/settings", timeout=5) as response:
                    settings = json.load(response)
                    assert settings["Codec"]["Endpoint"] == self.codec_endpoint, settings
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@pytest.fixture(scope="module")
def temporal_ui(live_server: LiveServer, payload_keys: str) -> Iterator[TemporalWithWebUi]:
    # As `make dev` configures it: one endpoint for every namespace, named by the UI in X-Namespace.
    harness = TemporalWithWebUi(
        urlsplit(live_server.url).hostname or "localhost", f"{live_server.url}/codec/{{namespace}}"
    )
    yield harness
    harness.close()


def ui_visitor(browser: Browser, temporal_ui: TemporalWithWebUi) -> Page:
    """A page of its own browser context whose Temporal UI codec settings say: this endpoint,
    include cross-origin credentials. The UI honours its credentials switch only together with an
    endpoint set in the browser ("override"), never for the server-configured endpoint, so all
    three keys are set. The page comes from `new_page`, so the portal's CSP check watches it too
    (the Temporal UI serves no CSP of its own and reports no violations)."""
    page = new_page(browser)
    codec_settings = {
        "overrideRemoteCodecConfiguration": True,
        "endpoint": temporal_ui.codec_endpoint,
        "includeCredentials": True,
    }
    page.add_init_script(
        f"""
        if (location.origin === {json.dumps(temporal_ui.ui_url)}) {{
          for (const [key, value] of Object.entries({json.dumps(codec_settings)})) {{
            localStorage.setItem(key, JSON.stringify(value));
          }}
        }}
        """
    )
    return page


@pytest.fixture
def loan(temporal_ui: TemporalWithWebUi, settings) -> Iterator[WorkflowHandle]:
    """A loan run at its gate on the UI's dev server, its worker still serving it; the portal
    admits the UI's origin to the codec endpoint."""
    settings.CODEC_CORS_ORIGINS = [temporal_ui.ui_url]
    with temporal_ui.worker(portal_activities=PORTAL_ACTIVITIES) as queue:
        handle = start_loan(temporal_ui, queue, loan_input(APPROVABLE))
        projected_gate(handle)
        yield handle


def test_an_auditor_logged_in_to_the_portal_reads_the_run_in_the_web_ui(
    temporal_ui: TemporalWithWebUi, loan: WorkflowHandle, live_server: LiveServer, browser: Browser, settings
) -> None:
    make_user("auditor", "auditor")
    page = ui_visitor(browser, temporal_ui)
    log_in(page, live_server.url, "auditor")

    input_panel, decoded = open_run(page, temporal_ui, loan)

    expect(input_panel).to_contain_text(f'"applicant_name": "{APPLICANT}"')
    assert decoded.status == 200
    sent = decoded.request.all_headers()  # as sent, cookies included
    assert f"{settings.SESSION_COOKIE_NAME}=" in sent.get("cookie", "")
    assert (sent["origin"], sent["x-namespace"]) == (temporal_ui.ui_url, "default")
    accesses = CodecAccess.objects.values_list("user__username", "via", "operation", "namespace", "allowed")
    assert set(accesses) == {("auditor", "session", "decode", "default", True)}
    assert APPLICANT.encode() not in stored_history(temporal_ui, loan).SerializeToString()


def test_an_anonymous_visitor_sees_only_ciphertext(
    temporal_ui: TemporalWithWebUi, loan: WorkflowHandle, browser: Browser, settings
) -> None:
    history = stored_history(temporal_ui, loan)
    [stored_input] = history.events[0].workflow_execution_started_event_attributes.input.payloads
    ciphertext = base64.b64encode(stored_input.data).decode()
    page = ui_visitor(browser, temporal_ui)

    input_panel, decoded = open_run(page, temporal_ui, loan)

    assert decoded.status == 401
    assert f"{settings.SESSION_COOKIE_NAME}=" not in decoded.request.all_headers().get("cookie", "")
    expect(input_panel).to_contain_text(ciphertext[:64])  # the payload exactly as Temporal holds it
    assert APPLICANT not in page.content()
    assert stored_input.metadata["encoding"] == b"binary/encrypted"
    assert APPLICANT.encode() not in history.SerializeToString()
    accesses = CodecAccess.objects.values_list("user", "via", "operation", "allowed")
    assert set(accesses) == {(None, "none", "decode", False)}


def open_run(page: Page, temporal_ui: TemporalWithWebUi, handle: WorkflowHandle) -> tuple[Locator, Response]:
    """Open the run's page in the Web UI; returns its input panel and the first decode response."""
    endpoint = urlsplit(temporal_ui.codec_endpoint)
    # The UI does not fill in "{namespace}": it goes percent-encoded, with the namespace in X-Namespace.
    decode_url = (endpoint.netloc, f"{quote(endpoint.path)}/decode")

    def is_decode(response: Response) -> bool:
        url = urlsplit(response.url)
        return response.request.method == "POST" and (url.netloc, url.path) == decode_url

    with page.expect_response(is_decode) as decoded:
        page.goto(f"{temporal_ui.ui_url}/namespaces/default/workflows/{handle.id}")
    input_panel = page.get_by_test_id("input-and-result").locator(":scope > div").first
    expect(input_panel).to_contain_text("Input")
    return input_panel, decoded.value


def stored_history(temporal_ui: TemporalWithWebUi, handle: WorkflowHandle) -> History:
    """The run's history as Temporal holds it, fetched without the codec (the raw service call):
    in its serialized form a plaintext payload's bytes would appear as they are."""
    request = GetWorkflowExecutionHistoryRequest(
        namespace="default", execution=WorkflowExecution(workflow_id=handle.id)
    )
    return temporal_ui.run(
        temporal_ui.client.workflow_service.get_workflow_execution_history(request)
    ).history
