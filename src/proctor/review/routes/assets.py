"""The review app's one stylesheet."""

from fastapi import APIRouter
from fastapi.responses import Response

from proctor.review.state import State

__all__ = ["router"]

router = APIRouter()


@router.get("/static/style.css")
def stylesheet(state: State) -> Response:
    return Response(state.css, media_type="text/css", headers={"Cache-Control": "max-age=300"})
