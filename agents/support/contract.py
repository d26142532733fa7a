"""What the support conversation workflow and the portal share: names, inputs and results.

Plain data, no Django and no openai, so the workflow sandbox, the worker and the portal all read
it. Fields added later always have defaults, so recorded histories still replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from agents.framework.reviewer_actions import Signature
from agents.framework.types import AgentRunSpec, GateSnapshot, VerifyingKey

AGENT = "support"
SUPPORT_WORKFLOW = "SupportConversation"
# Updates: the customer's channel, and the support rep's (signed by the portal).
CUSTOMER_MESSAGE = "customer_message"
REP_REPLY = "rep_reply"
REP_CLOSE = "rep_close"
# An admin or a supervisor of the reps frees a handoff its holder left, for any rep to take.
REP_RELEASE = "rep_release"
TRANSCRIPT_QUERY = "transcript"
# Tool activities.
ACCOUNT_HISTORY = "support.account_history"
RAISE_TICKET = "support.raise_ticket"
# ApplicationError types of refused Updates.
MESSAGE_REFUSED = "MessageRefused"
CONVERSATION_CLOSED = "ConversationClosed"
REP_ACTION_REFUSED = "RepActionRefused"
REP_ACTION_APPLIED = "RepActionAlreadyApplied"

# Who wrote an entry of the transcript.
CUSTOMER = "customer"
ASSISTANT = "agent"
REP = "rep"
SYSTEM = "system"

# How a conversation stands, and how a customer message was answered.
OPEN = "open"
HANDED_OFF = "handed_off"
CLOSED = "closed"
ANSWERED = "answered"
WAITING = "waiting"  # handed off: a representative will answer

MAX_MESSAGE_LENGTH = 2000
# What a continued run carries: the last entries whole, the rest as a bounded summary.
KEPT_ENTRIES = 8
SUMMARY_LIMIT = 4000


@dataclass
class Entry:
    index: int
    author: str
    text: str
    at: datetime
    # The representative's username, for their entries.
    by: str = ""


@dataclass
class Handoff:
    reason: str
    gate: GateSnapshot | None = None
    closed: bool = False


@dataclass
class ConversationCarry:
    """What a run hands its continuation: bounded, whatever the conversation's length."""

    summary: str = ""
    recent: list[Entry] = field(default_factory=list)
    count: int = 0  # entries so far in the whole chain: the next entry's index
    handoff: Handoff | None = None
    previous_runs: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)  # the rep actions' ids, the last few


@dataclass
class SupportInput:
    customer_id: str
    # The pinned prompt, model and tools, and the handoff gate's policy (spec.gate).
    spec: AgentRunSpec
    trusted_keys: list[VerifyingKey]
    messages_per_run: int = 40
    idle_seconds: int = 24 * 3600
    carry: ConversationCarry | None = None


@dataclass
class CustomerMessage:
    text: str


@dataclass
class RepAction:
    """A representative's reply (`rep_reply`) or closing note (`rep_close`), or an admin's release
    (`rep_release`, its text the reason), signed by the portal."""

    text: str
    rep: str
    rep_id: str
    rep_roles: list[str]
    action_id: str
    signature: Signature | None = None


@dataclass
class TurnReply:
    status: str  # answered | handed_off | waiting
    reply: str
    index: int  # the entry's index in the transcript (a release adds none: the last one's)


@dataclass
class Transcript:
    customer_id: str
    status: str
    summary: str
    entries: list[Entry]
    gate_id: str = ""
    previous_runs: list[str] = field(default_factory=list)


@dataclass
class ConversationResult:
    status: str
    messages: int
