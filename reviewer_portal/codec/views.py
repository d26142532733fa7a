"""The codec endpoint, Temporal's codec-server protocol: `POST /codec/<namespace>/decode` and
`/encode` (also under `/codec/<namespace>/workflows/<workflow id>/`), for the Temporal Web UI
(the portal session, sent with "include cross-origin credentials") and the CLI (`--codec-auth
'Bearer <token>'` from `manage.py codec_token`). Every request is logged, answered or refused
(whatever the reason: origin, namespace, caller, keys, body); only a CORS preflight is not."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload, Payloads

from agents.framework.codec import EncryptionCodec, KeyNotFound
from reviewer_portal.codec import run_payloads
from reviewer_portal.codec.access import DecodeScope, decode_scope, may_encode, workflow_named_by
from reviewer_portal.codec.keys import payload_keys
from reviewer_portal.codec.models import CodecAccess
from reviewer_portal.codec.tokens import user_for_token
from reviewer_portal.run_ids import RUN_ID_PATTERN

log = logging.getLogger(__name__)
NAMESPACE_PLACEHOLDER = "{namespace}"
ALLOWED_HEADERS = "Content-Type, X-Namespace, X-Workflow-Id, Authorization, Authorization-Extras"


@csrf_exempt  # cross-origin by design: CORS admits only the Web UI, and the answer is data, not a change
def codec_view(request: HttpRequest, namespace: str, operation: str, workflow_id: str = "") -> HttpResponse:
    origin = request.headers.get("Origin", "")
    if request.method == "OPTIONS":  # a preflight: it carries no credentials and asks for nothing
        return _cors(HttpResponse(status=204), origin)
    user, via = _caller(request)
    run = workflow_named_by(request, workflow_id)
    namespace, refusal = _namespace(request, namespace)
    asked = _Asked(user, via, operation, namespace, run)
    if request.method != "POST":
        return _refused(asked, HttpResponse(status=405, headers={"Allow": "POST, OPTIONS"}), origin)
    if origin and origin not in _allowed_origins(request):
        return _refused(
            asked, HttpResponse("This origin may not use the codec endpoint.", status=403), origin
        )
    if refusal:
        return _refused(asked, HttpResponse(refusal, status=400), origin)
    scope = decode_scope(user, run, namespace) if operation == "decode" else encode_scope(user)
    if scope is DecodeScope.NOTHING:  # refused before the body is even read
        status = 401 if not user.is_authenticated else 403
        return _refused(asked, HttpResponse("Not allowed to use the codec for this.", status=status), origin)
    try:
        codec = EncryptionCodec(payload_keys().of(namespace), namespace)
    except KeyNotFound:
        return _refused(asked, HttpResponse("No keys for this namespace.", status=404), origin)
    payloads = _read(request)
    if isinstance(payloads, HttpResponse):
        return _refused(asked, payloads, origin)
    convert = codec.decrypt if operation == "decode" else codec.encrypt
    mine = _of_the_run(scope, namespace, run, payloads)
    answer = [_or_unchanged(convert, p) if mine(p) else p for p in payloads.payloads]
    foreign = sum(not mine(p) for p in payloads.payloads)
    asked.log(allowed=True, count=len(answer), foreign=foreign)
    return _cors(JsonResponse(json_format.MessageToDict(Payloads(payloads=answer)), safe=False), origin)


@dataclass(frozen=True)
class _Asked:
    """Who asked the endpoint for what, as its log keeps it."""

    user: AbstractBaseUser | AnonymousUser
    via: str
    operation: str
    namespace: str
    run: str

    def log(self, *, allowed: bool, count: int = 0, foreign: int = 0) -> None:
        CodecAccess.objects.create(
            user=self.user if self.user.is_authenticated else None,
            via=self.via,
            operation=self.operation,
            namespace=self.namespace[:200],
            workflow_id=self.run,
            payloads=count,
            foreign_payloads=foreign,
            allowed=allowed,
        )
        who = self.user.get_username() if self.user.is_authenticated else "anonymous"
        log.info("codec %s by %s (%s) in %s, run %s: %d payloads (%d not of the run), %s",
                 self.operation, who, self.via, self.namespace[:200], self.run or "-", count, foreign,
                 "allowed" if allowed else "refused")  # fmt: skip


def _refused(asked: _Asked, response: HttpResponse, origin: str) -> HttpResponse:
    """Every refusal is logged; the Web UI's origin reads why (another origin reads nothing)."""
    asked.log(allowed=False)
    return _cors(response, origin)


def encode_scope(user: AbstractBaseUser | AnonymousUser) -> DecodeScope:
    return DecodeScope.EVERYTHING if may_encode(user) else DecodeScope.NOTHING


def _of_the_run(
    scope: DecodeScope, namespace: str, run: str, payloads: Payloads
) -> Callable[[Payload], bool]:
    """Which payloads the caller may have converted: all of them, or (a reviewer who named their
    run) those in the run's history; the others are answered as they came, still encrypted."""
    if scope is DecodeScope.EVERYTHING:
        return lambda payload: True
    known = run_payloads.of_run(namespace, run, payloads.payloads)
    return lambda payload: run_payloads.digest(payload) in known


def _namespace(request: HttpRequest, in_path: str) -> tuple[str, str]:
    """(namespace, "") or (the namespace asked for, why not). The Web UI names the namespace it
    shows in `X-Namespace`; an endpoint configured as `/codec/{namespace}` (one for every
    namespace) takes it from there."""
    named = request.headers.get("X-Namespace", "")
    if in_path == NAMESPACE_PLACEHOLDER:
        return named, "" if RUN_ID_PATTERN.fullmatch(named) else "Name the namespace in X-Namespace."
    if named and named != in_path:
        return named, f"This endpoint is for namespace {in_path}, not {named}."
    return in_path, ""


def _caller(request: HttpRequest) -> tuple[AbstractBaseUser | AnonymousUser, str]:
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("Bearer "):
        user = user_for_token(authorization.removeprefix("Bearer ").strip())
        return (user, "token") if user is not None else (AnonymousUser(), "bad token")
    return request.user, "session" if request.user.is_authenticated else "none"


def _read(request: HttpRequest) -> Payloads | HttpResponse:
    """The body as a Payloads message, or the answer refusing it."""
    try:
        return json_format.Parse(request.body, Payloads())
    except RequestDataTooBig:  # past DATA_UPLOAD_MAX_MEMORY_SIZE: not read on
        return HttpResponse("The body is too large.", status=413)
    except (json_format.ParseError, DecodeError, UnicodeDecodeError, ValueError):
        return HttpResponse("The body is not a Payloads message in JSON.", status=400)


def _or_unchanged(convert, payload):  # type: ignore[no-untyped-def]
    """A payload this namespace's keys cannot read (rotated away, another namespace's) is
    answered unchanged: the UI shows it encrypted instead of failing the whole page."""
    try:
        return convert(payload)
    except (KeyNotFound, ValueError):
        return payload


def _allowed_origins(request: HttpRequest) -> set[str]:
    return {*settings.CODEC_CORS_ORIGINS, f"{request.scheme}://{request.get_host()}"}


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    if origin in settings.CODEC_CORS_ORIGINS:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Credentials"] = "true"
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    return response
