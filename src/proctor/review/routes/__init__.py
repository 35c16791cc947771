"""The review app's routes, one router per concern, in the order the app includes them."""

from fastapi import APIRouter

from proctor.review.routes import assets, bench, decisions, login, pages

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    login.router,
    assets.router,
    pages.router,
    decisions.router,
    bench.router,
)
"""Every router of the app: login and logout, the stylesheet, the pages, decisions, bench runs."""
