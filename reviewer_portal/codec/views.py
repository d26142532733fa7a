"""The codec endpoint, Temporal's codec-server protocol: `POST /codec/<namespace>/decode` and
`/encode` (also under `/codec/<namespace>/workflows/<workflow id>/`), for the Temporal Web UI
(the portal session, sent with "include cross-origin credentials") and the CLI (`--codec-auth
'Bearer <token>'` from `manage.py codec_token`). Every request is logged, allowed or not."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
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
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), origin)
    if request.method != "POST":
        return _cors(HttpResponse(status=405, headers={"Allow": "POST, OPTIONS"}), origin)
    if origin and origin not in _allowed_origins(request):
        return HttpResponse("This origin may not use the codec endpoint.", status=403)
    namespace, refusal = _namespace(request, namespace)
    if refusal:
        return _cors(HttpResponse(refusal, status=400), origin)
    user, via = _caller(request)
    run = workflow_named_by(request, workflow_id)
    scope = decode_scope(user, run, namespace) if operation == "decode" else encode_scope(user)
    if scope is DecodeScope.NOTHING:  # refused before the body is even read
        _log(user, via, operation, namespace, run, allowed=False)
        status = 401 if not user.is_authenticated else 403
        return _cors(HttpResponse("Not allowed to use the codec for this.", status=status), origin)
    payloads = _read(request)
    if payloads is None:
        _log(user, via, operation, namespace, run, allowed=True)
        return _cors(HttpResponse("The body is not a Payloads message in JSON.", status=400), origin)
    try:
        codec = EncryptionCodec(payload_keys().of(namespace), namespace)
    except KeyNotFound:
        return _cors(HttpResponse("No keys for this namespace.", status=404), origin)
    convert = codec.decrypt if operation == "decode" else codec.encrypt
    mine = _of_the_run(scope, namespace, run, payloads)
    answer = [_or_unchanged(convert, p) if mine(p) else p for p in payloads.payloads]
    foreign = sum(not mine(p) for p in payloads.payloads)
    _log(user, via, operation, namespace, run, allowed=True, count=len(answer), foreign=foreign)
    return _cors(JsonResponse(json_format.MessageToDict(Payloads(payloads=answer)), safe=False), origin)


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
    """(namespace, "") or ("", why not). The Web UI names the namespace it shows in `X-Namespace`;
    an endpoint configured as `/codec/{namespace}` (one for every namespace) takes it from there."""
    named = request.headers.get("X-Namespace", "")
    if in_path == NAMESPACE_PLACEHOLDER:
        return (named, "") if RUN_ID_PATTERN.fullmatch(named) else ("", "Name the namespace in X-Namespace.")
    if named and named != in_path:
        return "", f"This endpoint is for namespace {in_path}, not {named}."
    return in_path, ""


def _caller(request: HttpRequest) -> tuple[AbstractBaseUser | AnonymousUser, str]:
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("Bearer "):
        user = user_for_token(authorization.removeprefix("Bearer ").strip())
        return (user, "token") if user is not None else (AnonymousUser(), "bad token")
    return request.user, "session" if request.user.is_authenticated else "none"


def _read(request: HttpRequest) -> Payloads | None:
    try:
        return json_format.Parse(request.body, Payloads())
    except (json_format.ParseError, DecodeError, UnicodeDecodeError, ValueError):
        return None


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


def _log(user, via, operation, namespace, run, *, allowed, count=0, foreign=0) -> None:  # type: ignore[no-untyped-def]
    CodecAccess.objects.create(
        user=user if user.is_authenticated else None,
        via=via,
        operation=operation,
        namespace=namespace[:200],
        workflow_id=run,
        payloads=count,
        foreign_payloads=foreign,
        allowed=allowed,
    )
    who = user.get_username() if user.is_authenticated else "anonymous"
    log.info("codec %s by %s (%s) in %s, run %s: %d payloads (%d not of the run), %s",
             operation, who, via, namespace, run or "-", count, foreign,
             "allowed" if allowed else "refused")  # fmt: skip
