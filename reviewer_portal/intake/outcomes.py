"""What a submission came to when it was not simply started: the answers the intake page gives,
and the exceptions that carry them (reviewer_portal.intake.services raises them)."""

from __future__ import annotations

QUEUED = (
    "Temporal is busy right now, so the run may not have started yet. Your submission is kept: the"
    " portal starts it as soon as Temporal answers, and you need not send it again."
)
FORM_OF_ANOTHER = "This form was already sent by someone else; reload the page to submit your own."
FORM_CHANGED = (
    "This form was already submitted with other values, and that submission stands as it was sent"
    " (see My submissions); nothing was submitted now. Send this form again to submit these values"
    " as a new submission."
)
NOT_RECORDED = "The portal could not record your submission right now, so nothing was submitted. Try again."
UNREACHABLE = "Temporal is not reachable right now, so nothing was submitted. Try again."
NOT_STARTED = (
    "The run could not be started, so nothing was submitted. Try again; if it happens again, tell"
    " an administrator."
)


class RunNotStarted(Exception):
    """Nothing was started or kept: the submitter may simply send the same form again."""


class RunOfAnother(RunNotStarted):
    """The form's id is another user's submission, or names a run someone else started."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(FORM_OF_ANOTHER)
        self.workflow_id = workflow_id


class RunChanged(RunNotStarted):
    """The form's id was already submitted, by the same user, with other content: that submission
    stands, and nothing of this one was started, kept or replaced."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(FORM_CHANGED)
        self.workflow_id = workflow_id


class RunQueued(RunNotStarted):
    """Temporal did not confirm the start within the wait (the run may have started): the
    submission is kept with the run's input, the start goes on and confirms it, or else the
    delivery loop starts the run, or finds it started (reviewer_portal.intake.pending_starts).
    Sending the same form again is harmless."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(QUEUED)
        self.workflow_id = workflow_id
