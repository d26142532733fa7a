"""Issuing, checking and revoking codec tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from reviewer_portal.codec.models import CodecToken

PREFIX = "rpc_"  # reviewer-portal codec


def codec_token_issue(*, user: AbstractBaseUser, days: int) -> tuple[CodecToken, str]:
    """A new token for `user`, good for `days`; returns it and its secret (shown only now)."""
    secret = PREFIX + secrets.token_urlsafe(32)
    token = CodecToken.objects.create(
        user=user, secret_sha256=_digest(secret), expires_at=timezone.now() + timedelta(days=days)
    )
    return token, secret


def codec_token_revoke(*, token_id: int) -> CodecToken | None:
    token = CodecToken.objects.filter(pk=token_id, revoked_at=None).first()
    if token is not None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def user_for_token(secret: str) -> AbstractBaseUser | None:
    """The active user a usable token belongs to, or None."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    token = CodecToken.objects.select_related("user").filter(secret_sha256=_digest(secret)).first()
    if token is None or not token.usable or not token.user.is_active:
        return None
    return token.user


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
