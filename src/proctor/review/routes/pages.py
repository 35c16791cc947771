"""The review app's pages: the queue of escalated reports, every report (paged), one report
with its claims, trace, lab log, verdicts and reviews, the live metrics, and the findings."""

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from proctor.review.inputs import Page, PerPage, RowId
from proctor.review.routes.decisions import MAX_NOTE
from proctor.review.state import Reader, State, render
from proctor.review.views import METRIC_ROWS, metric_cells, report_view

__all__ = ["PER_PAGE", "PREVIEW_CHARS", "RESULT_CHARS", "router"]

RESULT_CHARS = 2_000
"""Lab call results are shown truncated to this many characters of JSON..."""
PREVIEW_CHARS = 110
"""... and folded (a <details> element) to this many until the reviewer opens them."""
PER_PAGE = 100
"""Reports on one page of /reports unless ``?per_page=`` says otherwise."""

router = APIRouter()


@router.get("/")
def queue(request: Request, state: State, login: Reader) -> Response:
    rows = state.store.escalations()
    by_loop: dict[str, int] = {}
    for row in rows:
        by_loop[row.loop_id] = by_loop.get(row.loop_id, 0) + 1
    return render(
        request,
        "queue.html",
        login,
        {"active": "queue", "rows": rows, "by_loop": sorted(by_loop.items())},
    )


@router.get("/reports")
def report_list(
    request: Request,
    state: State,
    login: Reader,
    status: str | None = None,
    page: Page = 1,
    per_page: PerPage = PER_PAGE,
) -> Response:
    rows = state.store.reports(status=status or None)
    pages = max(1, -(-len(rows) // per_page))
    shown = rows[(page - 1) * per_page : page * per_page]
    return render(
        request,
        "reports.html",
        login,
        {
            "active": "reports",
            "rows": shown,
            "total": len(rows),
            "status": status or "",
            "page": page,
            "pages": pages,
            "per_page": per_page,
            "default_per_page": PER_PAGE,
        },
    )


@router.get("/reports/{report_id}")
def report_page(request: Request, report_id: RowId, state: State, login: Reader) -> Response:
    store = state.store
    row = store.report(report_id)
    if row is None:
        raise HTTPException(404, f"there is no report {report_id}")
    earlier = None
    if "#" in row.item_key:
        for item in store.items(row.loop_id):
            if item.item_key == row.item_key:
                earlier = item
    waiting = [r.id for r in store.escalations() if r.id != row.id]
    later = [i for i in waiting if i > row.id]
    next_id = (later or waiting)[0] if waiting else None
    return render(
        request,
        "report.html",
        login,
        {
            "active": "queue" if row.status == "escalated" else "reports",
            "row": row,
            "view": report_view(row),
            "reviews": store.reviews(row.id),
            "item": earlier,
            "next_id": next_id,
            "waiting": len(waiting),
            "max_note": MAX_NOTE,
            "result_chars": RESULT_CHARS,
            "preview_chars": PREVIEW_CHARS,
        },
    )


@router.get("/metrics")
def metrics(request: Request, state: State, login: Reader) -> Response:
    store = state.store
    columns = [("All loops", metric_cells(store.metrics()))]
    for loop_id, name, _ in sorted(store.loops(), key=lambda t: t[2]):
        label = loop_id if name in ("", loop_id) else f"{name} ({loop_id})"
        columns.append((label, metric_cells(store.metrics(loop_id))))
    return render(
        request,
        "metrics.html",
        login,
        {"active": "metrics", "rows": METRIC_ROWS, "columns": columns},
    )


@router.get("/findings")
def findings(request: Request, state: State, login: Reader) -> Response:
    return render(
        request,
        "findings.html",
        login,
        {"active": "findings", "rows": state.store.findings()},
    )
