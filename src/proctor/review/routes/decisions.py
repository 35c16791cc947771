"""A reviewer's decision on an escalated report: accept, reject or send back, with a note
(needed unless accepting), recorded with who and when; CSRF-checked for cookie logins."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from proctor.live.db import LiveStoreError
from proctor.live.records import HUMAN_DECISIONS
from proctor.review.inputs import RowId
from proctor.review.state import State, Writer

__all__ = ["MAX_NOTE", "router"]

MAX_NOTE = 20_000
"""Longest reviewer note accepted (characters)."""

router = APIRouter()


@router.post("/reports/{report_id}/decision")
def decide(
    request: Request,
    report_id: RowId,
    state: State,
    login: Writer,
    decision: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    store = state.store
    row = store.report(report_id)
    if row is None:
        raise HTTPException(404, f"there is no report {report_id}")
    if decision not in HUMAN_DECISIONS:
        raise HTTPException(
            400, f"decision must be one of {', '.join(HUMAN_DECISIONS)}, got {decision!r}"
        )
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise HTTPException(400, f"the note is longer than {MAX_NOTE:,} characters")
    if decision != "accept" and not note:
        raise HTTPException(
            400,
            "rejecting or sending back needs a note saying why (the note is kept "
            "as the reason, and a sent-back task carries it to the researcher)",
        )
    if row.status != "escalated":
        raise HTTPException(
            409, f"report {report_id} is not awaiting review: it is already {row.status}"
        )
    try:
        store.decide(report_id, login.user, decision, note)
    except LiveStoreError as err:
        raise HTTPException(409, str(err)) from None
    return RedirectResponse(f"/reports/{report_id}#reviews", status_code=303)
