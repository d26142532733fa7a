"""The support agent's tools: the customer's account history, and raising a ticket.

A ticket is keyed by the conversation's workflow id and the index of the customer message it
answers, and written with O_EXCL: an activity delivered twice (a retry after a lost completion,
a worker lost mid-call) finds the ticket it raised the first time and raises no other. Tickets are
sealed at rest with the namespace's payload keys (agents/framework/sealed_files.py); tickets
written before that still read.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity

from agents.framework.codec import KeyNotFound, NamespaceKeys, PayloadKeys
from agents.framework.sealed_files import read_sealed, seal
from agents.framework.tools import tool
from agents.support.contract import ACCOUNT_HISTORY, RAISE_TICKET
from agents.support.data import ACCOUNTS

TICKETS_DIR_ENV = "SUPPORT_TICKETS_DIR"
DEFAULT_NAMESPACE = "default"


@dataclass
class AccountArgs:
    customer_id: str


@dataclass
class TicketArgs:
    summary: str
    # Set by the conversation, never by the model: which customer and message the ticket answers.
    customer_id: str = ""
    message_index: int = 0


@tool(ACCOUNT_HISTORY, "The customer's account: card status, last payment, recent events.")
async def account_history(args: AccountArgs) -> dict[str, Any]:
    account = ACCOUNTS.get(args.customer_id)
    if account is None:
        raise ValueError(f"No account for customer {args.customer_id}.")
    return {"customer_id": args.customer_id, **account}


@tool(RAISE_TICKET, "Raise a ticket for the back office with a one-line summary of the problem.")
def raise_ticket(args: TicketArgs) -> dict[str, Any]:
    info = activity.info()
    key = f"{info.workflow_id}#m{args.message_index}"
    summary = args.summary[:500]
    return ticket_raise(key=key, customer_id=args.customer_id, summary=summary, namespace=info.namespace)


def ticket_raise(*, key: str, customer_id: str, summary: str, namespace: str) -> dict[str, Any]:
    """The ticket for `key`: raised now, or the one raised for it before."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    path = tickets_dir() / f"{digest}.json"
    keys = _keys(namespace)
    ticket = {"ticket": f"T-{digest[:8].upper()}", "key": key, "customer_id": customer_id, "summary": summary}
    path.parent.mkdir(parents=True, exist_ok=True)
    # Sealed under the ticket's own name, written aside, then linked into place: readers never
    # see half a ticket, and of two deliveries racing, one links and the other finds its ticket.
    draft = path.with_name(f"{digest}.{uuid.uuid4().hex}.draft")
    draft.write_bytes(seal(keys, namespace, path.name, json.dumps(ticket).encode()))
    try:
        os.link(draft, path)
    except FileExistsError:
        return {**json.loads(read_sealed(path, keys, namespace)), "raised": False}
    finally:
        draft.unlink()
    return {**ticket, "raised": True}


def tickets_for(key_prefix: str, namespace: str = DEFAULT_NAMESPACE) -> list[dict[str, Any]]:
    """The tickets of `namespace` whose key starts with `key_prefix` (a conversation's workflow
    id). A file its keys do not open (another namespace's, or copied under another name) is none."""
    keys = _keys(namespace)
    found: list[dict[str, Any]] = []
    for path in sorted(tickets_dir().glob("*.json")):
        try:
            found.append(json.loads(read_sealed(path, keys, namespace)))
        except (KeyNotFound, ValueError):
            continue
    return [t for t in found if str(t.get("key", "")).startswith(key_prefix)]


def _keys(namespace: str) -> NamespaceKeys:
    return PayloadKeys.from_env().of(namespace)


def tickets_dir() -> Path:
    default = Path(__file__).resolve().parents[2] / "var" / "support-tickets"
    return Path(os.environ.get(TICKETS_DIR_ENV) or default)
