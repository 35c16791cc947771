"""The bench runs named in the settings: ``/bench`` lists them, ``/bench/{i}/`` serves run
``i``'s ``report.html`` (and ``summary.md``), ``/bench/{i}/plots/...`` its plots; nothing else of
the folder, and nothing outside it, in a sandbox without scripts."""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from proctor.review.inputs import BenchIndex
from proctor.review.state import Reader, ReviewState, State, render

__all__ = ["BENCH_CSP", "BENCH_FILES", "bench_file_path", "router"]

router = APIRouter()

BENCH_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""Content-Security-Policy of served bench files: a sandbox without scripts, in which a
bench report cannot reach the session or the app."""

BENCH_FILES = ("report.html", "summary.md")
"""Files of a bench run folder that /bench serves, besides everything under plots/."""


def bench_file_path(run: Path, path: str) -> Path | None:
    """The file `path` of bench folder `run`, if it is one that may be served: report.html,
    summary.md or a file under plots/, resolved (symlinks too) to inside the folder."""
    base = run.resolve()
    try:
        target = (base / path).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    rel = target.relative_to(base).parts
    if len(rel) == 1 and rel[0] in BENCH_FILES:
        return target
    if len(rel) >= 2 and rel[0] == "plots" and not any(p.startswith(".") for p in rel):
        return target
    return None


@router.get("/bench")
def bench(request: Request, state: State, login: Reader) -> Response:
    listed = []
    for i, run in enumerate(state.runs):
        plots = run / "plots"
        listed.append(
            {
                "index": i,
                "name": run.name,
                "path": str(run),
                "report": (run / "report.html").is_file(),
                "plots": sorted(p.name for p in plots.iterdir() if p.is_file())
                if plots.is_dir()
                else [],
            }
        )
    return render(request, "bench.html", login, {"active": "bench", "runs": listed})


def bench_run(state: ReviewState, index: int) -> Path:
    if not 0 <= index < len(state.runs):
        raise HTTPException(404, f"there is no bench run {index}")
    return state.runs[index]


@router.get("/bench/{index}")
def bench_folder(index: BenchIndex, state: State, login: Reader) -> Response:
    bench_run(state, index)
    return RedirectResponse(f"/bench/{index}/", status_code=307)


@router.get("/bench/{index}/{path:path}")
def bench_file(index: BenchIndex, path: str, state: State, login: Reader) -> Response:
    run = bench_run(state, index)
    target = bench_file_path(run, path or "report.html")
    if target is None:
        raise HTTPException(404, f"bench run {index} has no file {path!r} to show")
    headers = {"Content-Security-Policy": BENCH_CSP, "Cache-Control": "no-cache"}
    if target.suffix == ".md":
        return PlainTextResponse(target.read_text("utf-8", errors="replace"), headers=headers)
    return FileResponse(target, headers=headers)
