"""``proctor review``: the web app where humans review what the live loop's gate escalated.

Reviewers log in, work through the queue of escalated reports (oldest first), read each
report with its claims, trace, lab log and every protocol's verdict, and accept, reject or
send it back with a note; decisions are recorded with who and when, and counted in the live
metrics. Reviewers never see a report's grade or its researcher's disposition.

``create_app(settings)`` builds the FastAPI app, ``serve(settings)`` runs it with uvicorn, and
``hash_password`` makes the password hashes that ``ReviewSettings.users`` holds. Needs the
``review`` extra (fastapi, uvicorn, python-multipart, itsdangerous).
"""

from proctor.review.app import ReviewSettings, create_app, serve
from proctor.review.auth import hash_password, verify_password

__all__ = ["ReviewSettings", "create_app", "hash_password", "serve", "verify_password"]
