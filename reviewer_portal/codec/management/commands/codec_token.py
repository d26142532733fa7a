"""`python manage.py codec_token USERNAME [--days N]` prints a token for the Temporal CLI's
`--codec-auth 'Bearer <token>'`; `codec_token --revoke ID` revokes one; `codec_token --list
USERNAME` shows a user's tokens (never their secrets, which are not kept)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from reviewer_portal.codec.models import CodecToken
from reviewer_portal.codec.tokens import codec_token_issue, codec_token_revoke


class Command(BaseCommand):
    help = "Issue, list or revoke a codec token (the Temporal CLI decodes payloads with it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", nargs="?")
        parser.add_argument("--days", type=int, default=settings.CODEC_TOKEN_DAYS, help="how long it lasts")
        parser.add_argument("--revoke", type=int, metavar="ID", help="revoke the token with this id")
        parser.add_argument("--list", action="store_true", help="list the user's tokens")

    def handle(self, *args: object, username: str | None, days: int, revoke: int | None, list: bool,
               **options: object) -> None:  # fmt: skip
        if revoke is not None:
            if codec_token_revoke(token_id=revoke) is None:
                raise CommandError(f"No unrevoked codec token {revoke}.")
            self.stdout.write(f"Revoked codec token {revoke}.")
            return
        user = (
            get_user_model().objects.filter(username=username, is_active=True).first() if username else None
        )
        if user is None:
            raise CommandError("Name an active user: codec_token USERNAME.")
        if list:
            for token in CodecToken.objects.filter(user=user).order_by("created_at"):
                state = "revoked" if token.revoked_at else "expired" if not token.usable else "usable"
                self.stdout.write(
                    f"{token.pk}: created {token.created_at:%Y-%m-%d}, expires {token.expires_at:%Y-%m-%d}, {state}"
                )
            return
        if not 1 <= days <= 366:
            raise CommandError("--days is from 1 to 366.")
        token, secret = codec_token_issue(user=user, days=days)
        self.stderr.write(
            f"Codec token {token.pk} for {user.get_username()}, until {token.expires_at:%Y-%m-%d %H:%M} UTC:"
        )
        self.stdout.write(secret)
