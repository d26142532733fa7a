"""The gate projection (Temporal is the source of truth) and the portal's decision record."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from reviewer_portal.accounts.roles import REVIEWER_ROLES

# The flag of a gate row whose writer did not work its flags out (see Gate.flags).
FLAGS_NOT_WORKED_OUT = (
    "Written by an older version of the portal, which did not check it against the agent's rules: "
    "read it in full before deciding."
)


class Gate(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        # Sent back to the agent with instructions; it reopens as pending with a new recommendation.
        CHANGES_REQUESTED = "changes_requested"

    gate_id = models.CharField(primary_key=True, max_length=200)
    workflow_id = models.CharField(max_length=200, db_index=True)
    # The chain of runs that opened the gate: its first run's id, which continue-as-new and reset
    # keep. Only that chain publishes to the row, and the portal's Updates name it, so a run started
    # again under the same workflow id (a copied start) neither changes the gate nor is sent its
    # actions (reviewer_portal.inbox.publishing). Empty for a row no chain has published to since;
    # a default in the database too, for rows an older process inserts during a rolling deploy.
    chain_id = models.CharField(max_length=100, blank=True, default="", db_default="")
    # The run of that chain that last published to the row (Temporal's word, the publish activity's
    # own): a lookup of the chain's latest run walks on from it, not from the chain's first run.
    run_id = models.CharField(max_length=100, blank=True, default="", db_default="")
    agent = models.CharField(max_length=50)
    kind = models.CharField(max_length=50)
    subject = models.CharField(max_length=300)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    case = models.JSONField(default=dict)
    submitted_by = models.CharField(max_length=150)
    # An outcome (approve, decline, ...) or, for a gate on a tool call, the tool's name.
    recommendation = models.CharField(max_length=100)
    rationale = models.TextField()
    risk_factors = models.JSONField(default=list)
    tool_results = models.JSONField(default=list)
    model = models.CharField(max_length=100)
    offline_model = models.BooleanField(default=False)
    needs_attention = models.TextField(blank=True)
    role = models.CharField(max_length=50)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    sla_seconds = models.PositiveIntegerField()
    opened_at = models.DateTimeField()
    deadline = models.DateTimeField()
    escalation_level = models.PositiveSmallIntegerField(default=0)
    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    version = models.PositiveIntegerField()
    prompt_id = models.CharField(max_length=100, blank=True)
    prompt_version = models.PositiveIntegerField(null=True, blank=True)
    prompt_sha256 = models.CharField(max_length=64, blank=True)
    # The structured proposal (advice text, a finding), which fields a reviewer may edit, and
    # what they changed (with the diff the workflow recorded).
    proposal = models.JSONField(default=dict)
    editable = models.JSONField(default=list)
    edits = models.JSONField(default=dict)
    edit_diff = models.TextField(blank=True)
    annotations = models.JSONField(default=list)
    # For a gate on a tool call: the call (name and arguments) that runs only once approved.
    tool_call = models.JSONField(null=True, blank=True)
    assignee = models.CharField(max_length=150, blank=True, db_index=True)
    # Roles that may reassign the gate while someone else holds it (e.g. on absence).
    supervisors = models.JSONField(default=list)
    bulk_allowed = models.BooleanField(default=False)
    # The agent's flags on the case and evidence (AgentSpec.flags), worked out at each write: a
    # flagged gate is never decided in bulk, and its inbox row says why. A row inserted by an older
    # portal or worker (a rolling deploy), which does not know the column, is flagged until its
    # run's next write works them out, rather than refused or offered in bulk unchecked.
    flags = models.JSONField(default=list, db_default=[FLAGS_NOT_WORKED_OUT])
    priority = models.CharField(max_length=20, default="normal")
    # Recommendations reviewers sent back, with their instructions (oldest first).
    revisions = models.JSONField(default=list)
    # Immutable user ids beside the usernames above; where the decision came from (portal or the
    # operator command) and the portal's id of the action that made it.
    submitted_by_id = models.CharField(max_length=64, blank=True)
    assignee_id = models.CharField(max_length=64, blank=True, db_index=True)
    decided_by_id = models.CharField(max_length=64, blank=True)
    decided_via = models.CharField(max_length=20, blank=True)
    decision_id = models.CharField(max_length=300, blank=True, db_index=True)
    # The workflow's own view of the gate at `version` (GateSnapshot as JSON): a patch from the
    # workflow applies to it, so history carries each change once (reviewer_portal.inbox.projection).
    snapshot = models.JSONField(default=dict)
    # The digest of what a reviewer decides on in `snapshot` (agents.framework.gate_content): a
    # decision names it, and the run refuses it if its own gate digests otherwise. Empty in rows
    # written before it (reviewer_portal.inbox.seen computes it from `snapshot` then).
    content_digest = models.CharField(max_length=64, blank=True, default="", db_default="")
    # Only the reviewer holding the gate may decide it (its policy's claim_required).
    claim_required = models.BooleanField(default=False)
    # The roles the gate has left, oldest first, and when it last moved: their reviewers keep the
    # gate's page, read-only, with who has it now and why.
    past_roles = models.JSONField(default=list)
    moved_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        indexes = [
            # The inbox (reviewer_portal/inbox/selectors.py). A queue in deadline order; the
            # other columns are what the inbox filters on, so the queue counts and most filtered
            # counts read this index alone (the SLA share left needs sla_seconds with deadline).
            models.Index(
                fields=[
                    "status",
                    "role",
                    "deadline",
                    "sla_seconds",
                    "agent",
                    "amount",
                    "escalation_level",
                    "assignee",
                    "opened_at",
                ],
                name="gate_queue",
            ),
            # Each sort walks its own index, so a page costs about the same at 100 or 10,000
            # pending gates; the amount and age ones also cover their range filters' counts.
            models.Index(fields=["status", "deadline", "gate_id"], name="gate_pending_deadline"),
            models.Index(
                fields=["status", "opened_at", "gate_id", "role", "agent", "deadline", "sla_seconds"],
                name="gate_pending_opened",
            ),
            models.Index(
                fields=["status", "amount", "gate_id", "role", "agent", "deadline", "sla_seconds"],
                name="gate_pending_amount",
            ),
            models.Index(fields=["prompt_id", "prompt_version"], name="gate_prompt"),
        ]
        ordering = ["deadline"]

    def __str__(self) -> str:
        return f"{self.subject} ({self.status})"

    @property
    def role_label(self) -> str:
        return REVIEWER_ROLES.get(self.role, self.role)


class ActionAttempt(models.Model):
    """A reviewer's decide, annotate or assign, recorded before it is sent, so an outage never
    loses it and a refusal is kept (a refused Update leaves no trace in Temporal history).

    `action_id` names the action, the same however often it is delivered, and the run applies it
    once. Each delivery is signed afresh (a signature is good for minutes) and sent under its own
    Update id, `update_id`; `envelope` is the signed input as last sent.
    """

    class Action(models.TextChoices):
        DECIDE = "decide"
        ANNOTATE = "annotate"
        ASSIGN = "assign"

    class Status(models.TextChoices):
        # Being sent now; left so by a portal that died mid-send, it is sent again.
        SENDING = "sending"
        ACCEPTED = "accepted"
        REFUSED = "refused"
        # Queued: Temporal or the worker did not answer. Sent again until accepted or refused.
        UNDELIVERED = "undelivered"
        # Its reviewer withdrew it. Final once no copy already sent can still be accepted and the
        # run confirms it never applied it.
        WITHDRAWING = "withdrawing"
        WITHDRAWN = "withdrawn"
        # Queued, and no longer sent by the portal (`detail` says why: the gate changed since its
        # reviewer decided, an absence; reviewer_portal.inbox.resend_checks), while a copy sent
        # before could still reach the run. Settled like a withdrawal: refused, or accepted if the
        # copy arrived.
        HELD = "held"

    OPEN = (Status.SENDING, Status.UNDELIVERED, Status.WITHDRAWING, Status.HELD)

    action = models.CharField(max_length=20, choices=Action.choices, default=Action.DECIDE)
    action_id = models.CharField(max_length=250, unique=True)
    gate = models.ForeignKey(Gate, on_delete=models.PROTECT, related_name="attempts")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    # "portal", or "operator" for the admin's override command.
    origin = models.CharField(max_length=20, default="portal")
    decision = models.CharField(max_length=20, blank=True)
    reason = models.TextField(blank=True)
    edits = models.JSONField(default=dict, blank=True)
    # decide: how many revisions the recommendation the reviewer saw had had (the run refuses the
    # decision if the agent has revised it since).
    revision = models.PositiveIntegerField(null=True, blank=True)
    text = models.TextField(blank=True)
    # assign: whom to (the reviewer themselves for a claim; none to unclaim).
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SENDING)
    detail = models.TextField(blank=True)
    deliveries = models.PositiveIntegerField(default=0)
    update_id = models.CharField(max_length=300, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    envelope = models.JSONField(null=True, blank=True)
    # decide: digests of the gate as its reviewer decided on it; a queued decision is not sent once
    # they no longer match (reviewer_portal.inbox.resend_checks). None for a row from before.
    seen = models.JSONField(null=True, blank=True)
    # Until when a copy already handed to Temporal could still be accepted (its signature's age
    # limit); None if no copy ever reached Temporal. A withdrawal is final only after it.
    in_flight_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A reviewer has at most one decision on a gate waiting to reach it: a second one can
            # never be silently resolved to the first.
            models.UniqueConstraint(
                fields=["gate", "reviewer"],
                condition=models.Q(
                    action="decide", status__in=["sending", "undelivered", "withdrawing", "held"]
                ),
                name="one_open_decision_per_reviewer_and_gate",
            )
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="attempt_open")]

    def __str__(self) -> str:
        return f"{self.action} {self.action_id} by {self.reviewer_id}: {self.status}"
