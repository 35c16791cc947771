"""The review web app (proctor.review) through FastAPI's TestClient: logins, CSRF, decisions,
escaping, metrics, findings and the confined bench folders. Real episodes make the rows."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
from annotated_types import Ge, Le
from fastapi import APIRouter, FastAPI, Form
from fastapi.testclient import TestClient
from pydantic import AllowInfNan
from review_fixtures import LOOP, PASSWORD, PRIVATE, SCRIPT, TOKEN, Rows, build_store, episode

from proctor.live.db import LiveStore
from proctor.live.records import QueueItem
from proctor.review import ReviewSettings, create_app, hash_password, verify_password
from proctor.review.inputs import SQLITE_MAX, UnboundedInput, check_routes, numeric_inputs
from proctor.review.middleware import COOKIE
from proctor.review.views import fmt_time

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
HASH = hash_password(PASSWORD)
SECRET = "not for reviewers: outside the bench folder"


@dataclass
class Env:
    store: LiveStore
    rows: Rows
    settings: ReviewSettings
    client: TestClient


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    store, rows = build_store(tmp_path / "live.sqlite", malicious=True)
    bench = tmp_path / "bench"
    (bench / "plots").mkdir(parents=True)
    (bench / "report.html").write_text("<html><body><h1>bench report</h1></body></html>")
    (bench / "plots" / "catch_rate.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (bench / "episodes.sqlite").write_text(SECRET)
    (tmp_path / "secret.txt").write_text(SECRET)
    (bench / "plots" / "link.txt").symlink_to(tmp_path / "secret.txt")
    settings = ReviewSettings(
        database=tmp_path / "live.sqlite",
        token=TOKEN,
        users={"alice": HASH},
        bench_runs=[bench],
    )
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield Env(store, rows, settings, client)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def log_in(client: TestClient, **fields: str) -> str:
    """Log in with the form; returns the logged-in session's CSRF token."""
    form = client.get("/login")
    assert form.status_code == 200
    done = client.post("/login", data={**fields, "csrf_token": csrf_of(form.text)})
    assert done.status_code == 303, done.text
    return csrf_of(client.get("/").text)


def untouched(env: Env, report_id: int) -> None:
    row = env.store.report(report_id)
    assert row is not None and row.status == "escalated"
    assert env.store.reviews(report_id) == []


# --- settings and passwords ---------------------------------------------------------------


def test_passwords_and_settings(tmp_path: Path) -> None:
    assert verify_password(PASSWORD, HASH)
    assert not verify_password(PASSWORD + "!", HASH)
    assert not verify_password(PASSWORD, "scrypt$16384$8$1$zz$zz")  # malformed never matches
    assert HASH.startswith("scrypt$16384$8$1$") and hash_password(PASSWORD) != HASH  # salted
    db = tmp_path / "live.sqlite"
    with pytest.raises(ValueError, match=r"`token`.*`users`"):
        ReviewSettings(database=db)
    with pytest.raises(ValueError, match="password hash of user 'bob'"):
        ReviewSettings(database=db, users={"bob": "plain-text-password"})
    with pytest.raises(ValueError, match="at least 16 characters"):
        ReviewSettings(database=db, token="short")
    with pytest.raises(ValueError, match="reserved"):
        ReviewSettings(database=db, users={"token": HASH})


# --- logins -------------------------------------------------------------------------------


def test_login_with_password_or_token_and_logout(env: Env) -> None:
    client = env.client
    assert client.get("/").headers["location"] == "/login?next=/"
    form = client.get("/login")
    assert "httponly" in form.headers["set-cookie"].lower()
    assert "samesite=lax" in form.headers["set-cookie"].lower()
    wrong = client.post(
        "/login",
        data={"username": "alice", "password": "guess", "csrf_token": csrf_of(form.text)},
    )
    assert wrong.status_code == 401 and "Wrong user name" in wrong.text
    assert client.get("/").status_code == 303
    no_csrf = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert no_csrf.status_code == 403
    assert client.get("/").status_code == 303
    # a good login goes to the page asked for, never off-site
    form = client.get("/login?next=/metrics")
    done = client.post(
        "/login",
        data={
            "username": "alice",
            "password": PASSWORD,
            "next": "/metrics",
            "csrf_token": csrf_of(form.text),
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/metrics"
    queue = client.get("/")
    assert queue.status_code == 200 and "alice" in queue.text and "Review queue" in queue.text
    csrf = csrf_of(queue.text)
    assert csrf != csrf_of(form.text), "logging in must start a new CSRF token"
    assert client.post("/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/").status_code == 303

    with TestClient(client.app, follow_redirects=False) as other:
        form = other.get("/login")
        evil = other.post(
            "/login",
            data={"token": TOKEN, "next": "//evil.example/", "csrf_token": csrf_of(form.text)},
        )
        assert evil.status_code == 303 and evil.headers["location"] == "/"
        page = other.get("/")
        assert page.status_code == 200 and "<span>token</span>" in page.text
        form = other.get("/login")
        bad = other.post("/login", data={"token": TOKEN[:-1], "csrf_token": csrf_of(form.text)})
        assert bad.status_code == 401


def test_every_page_needs_a_login(env: Env) -> None:
    rid = env.rows.harmful
    pages = [
        "/",
        "/reports",
        f"/reports/{rid}",
        "/metrics",
        "/findings",
        "/bench",
        "/bench/0/",
        "/bench/0/plots/catch_rate.png",
    ]
    for page in pages:
        response = env.client.get(page)
        assert response.status_code == 303, page
        assert response.headers["location"].startswith("/login?next="), page
        wrong = env.client.get(page, headers={"Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status_code == 401, page
        assert env.client.get(page, headers={"Authorization": f"Bearer {TOKEN}"}).status_code in (
            200,
            307,
        ), page


def test_writes_need_a_login_and_the_csrf_token(env: Env) -> None:
    client, rid = env.client, env.rows.harmful
    decision = {"decision": "reject", "note": "looks wrong"}
    refused = client.post(f"/reports/{rid}/decision", data=decision)
    assert refused.status_code == 401
    assert client.post("/logout").status_code == 401
    untouched(env, rid)

    csrf = log_in(client, username="alice", password=PASSWORD)
    assert client.post(f"/reports/{rid}/decision", data=decision).status_code == 403
    wrong = {**decision, "csrf_token": csrf[:-2] + "xx"}
    assert client.post(f"/reports/{rid}/decision", data=wrong).status_code == 403
    with TestClient(client.app, follow_redirects=False) as other:
        theirs = log_in(other, token=TOKEN)
    assert theirs != csrf
    stolen = {**decision, "csrf_token": theirs}
    assert client.post(f"/reports/{rid}/decision", data=stolen).status_code == 403
    # a user's password is not a bearer token
    as_bearer = client.post(
        f"/reports/{rid}/decision", data=decision, headers={"Authorization": f"Bearer {PASSWORD}"}
    )
    assert as_bearer.status_code == 401
    untouched(env, rid)
    assert env.store.pending(LOOP) == []


def test_bearer_token_decides_without_csrf(env: Env) -> None:
    rid = env.rows.other
    with TestClient(env.client.app, follow_redirects=False) as api:
        wrong = api.post(
            f"/reports/{rid}/decision",
            data={"decision": "reject", "note": "n"},
            headers={"Authorization": "Bearer not-the-token-at-all"},
        )
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        untouched(env, rid)
        done = api.post(
            f"/reports/{rid}/decision",
            data={"decision": "reject", "note": "by the API"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert done.status_code == 303
        assert "set-cookie" not in done.headers
    [review] = env.store.reviews(rid)
    assert (review.reviewer, review.decision, review.note) == ("token", "reject", "by the API")


# --- decisions ----------------------------------------------------------------------------


def test_reject_is_recorded_shown_and_counted(env: Env) -> None:
    client, rid = env.client, env.rows.harmful
    csrf = log_in(client, username="alice", password=PASSWORD)
    assert f'href="/reports/{rid}"' in client.get("/").text
    page = client.get(f"/reports/{rid}").text
    assert f'action="/reports/{rid}/decision"' in page
    done = client.post(
        f"/reports/{rid}/decision",
        data={"decision": "reject", "note": "effect misread", "csrf_token": csrf},
    )
    assert done.status_code == 303 and done.headers["location"] == f"/reports/{rid}#reviews"
    [review] = env.store.reviews(rid)
    assert (review.reviewer, review.decision, review.note) == ("alice", "reject", "effect misread")
    row = env.store.report(rid)
    assert row is not None and row.status == "rejected"
    page = client.get(f"/reports/{rid}").text
    assert 'class="decision">rejected</b>' in page and 'class="reviewer">alice</b>' in page
    assert fmt_time(review.created) in page and "effect misread" in page
    assert f'action="/reports/{rid}/decision"' not in page, "the form shows only while escalated"
    assert f'href="/reports/{rid}"' not in client.get("/").text, "it left the queue"

    metrics = client.get("/metrics").text
    assert re.search(r'data-metric="reviewed"><th[^>]*>[^<]*</th><td class="num">1</td>', metrics)
    assert re.search(r'data-metric="awaiting_review">.*?<td class="num">3</td>', metrics)
    assert re.search(r'data-metric="human_catch_rate">.*?100% \(n=1\)</td>', metrics)

    again = client.post(
        f"/reports/{rid}/decision",
        data={"decision": "accept", "note": "", "csrf_token": csrf},
    )
    assert again.status_code == 409 and "not awaiting review" in again.text
    assert len(env.store.reviews(rid)) == 1


def test_accept_adds_findings_and_send_back_requeues(env: Env) -> None:
    client, rows = env.client, env.rows
    csrf = log_in(client, username="alice", password=PASSWORD)
    gate_found = client.get("/findings").text.count("<td>gate</td>")
    row = env.store.report(rows.honest)
    assert row is not None and row.report is not None
    claims = [c.id for c in row.report.claims]
    assert f"/reports/{rows.honest}#claim-" not in client.get("/findings").text
    accept = client.post(
        f"/reports/{rows.honest}/decision",
        data={"decision": "accept", "note": "", "csrf_token": csrf},
    )
    assert accept.status_code == 303
    found = client.get("/findings").text
    for cid in claims:
        assert f'href="/reports/{rows.honest}#claim-{cid}"' in found
    assert found.count("<td>human</td>") == len(claims) and gate_found > 0

    back = client.post(
        f"/reports/{rows.other}/decision",
        data={"decision": "send_back", "note": "replicate X2 -> X3", "csrf_token": csrf},
    )
    assert back.status_code == 303
    [item] = env.store.pending(LOOP)
    assert (item.attempt, item.note, item.item_key) == (2, "replicate X2 -> X3", "item-2#2")
    row = env.store.report(rows.other)
    assert row is not None and row.status == "sent_back"


def test_bad_decisions_are_refused(env: Env) -> None:
    client, rid = env.client, env.rows.harmful
    csrf = log_in(client, username="alice", password=PASSWORD)
    bad = [
        ("/reports/999/decision", {"decision": "reject", "note": "x"}, 404),
        (f"/reports/{rid}/decision", {"decision": "maybe", "note": "x"}, 400),
        (f"/reports/{rid}/decision", {"decision": "reject", "note": "  "}, 400),
        (f"/reports/{rid}/decision", {"decision": "send_back", "note": ""}, 400),
        (f"/reports/{env.rows.accepted}/decision", {"decision": "reject", "note": "x"}, 409),
    ]
    for url, data, status in bad:
        assert client.post(url, data={**data, "csrf_token": csrf}).status_code == status, data
    untouched(env, rid)
    assert env.store.reviews(env.rows.accepted) == []
    assert client.get("/reports/999").status_code == 404


# --- what a reviewer sees -----------------------------------------------------------------


def test_html_in_reports_and_notes_is_escaped(env: Env) -> None:
    client, rid = env.client, env.rows.malicious
    assert rid is not None
    csrf = log_in(client, username="alice", password=PASSWORD)
    page = client.get(f"/reports/{rid}")
    assert "script-src" not in page.headers["content-security-policy"]
    assert SCRIPT not in page.text
    for escaped in (f"effect {ESCAPED}", f"why {ESCAPED}", f"sum {ESCAPED}", f"thought {ESCAPED}"):
        assert escaped in page.text, escaped
    assert page.text.count(ESCAPED) >= 6  # also the claim content and a lab result
    assert PRIVATE not in page.text, "private reasoning is never shown"
    done = client.post(
        f"/reports/{rid}/decision",
        data={"decision": "accept", "note": f"note {SCRIPT}", "csrf_token": csrf},
    )
    assert done.status_code == 303
    page = client.get(f"/reports/{rid}")
    assert SCRIPT not in page.text and f"note {ESCAPED}" in page.text
    findings = client.get("/findings").text
    assert SCRIPT not in findings and f"effect {ESCAPED}" in findings


def test_report_page_shows_the_work_but_never_the_grade(env: Env) -> None:
    client, rid = env.client, env.rows.harmful
    log_in(client, username="alice", password=PASSWORD)
    row = env.store.report(rid)
    assert row is not None and row.report is not None
    page = client.get(f"/reports/{rid}").text
    for claim in row.report.claims:
        assert f'id="claim-{claim.id}"' in page
        for cid in claim.evidence:
            assert f'href="#call-{cid}"' in page
    for call in row.lab_log:
        assert f'id="call-{call.id}"' in page
    assert "replicate@0.25" in page and "trace_monitor@0" in page
    assert html.escape(row.reason) in page and row.task_id in page
    for hidden in ("saboteur", "misread", "disposition", "material_errors"):
        for url in ("/", f"/reports/{rid}", "/reports", "/findings"):
            assert hidden not in client.get(url).text, (hidden, url)


def test_bench_folders_are_confined(env: Env) -> None:
    client = env.client
    log_in(client, username="alice", password=PASSWORD)
    assert "catch_rate.png" in client.get("/bench").text
    assert client.get("/bench/0").headers["location"] == "/bench/0/"
    report = client.get("/bench/0/")
    assert report.status_code == 200 and "bench report" in report.text
    assert report.headers["content-security-policy"].startswith("sandbox")
    assert client.get("/bench/0/plots/catch_rate.png").content.startswith(b"\x89PNG")
    refused = [
        "/bench/0/..%2Fsecret.txt",
        "/bench/0/..%2F..%2Fsecret.txt",
        "/bench/0/%2e%2e/secret.txt",
        "/bench/0/plots/%2e%2e/%2e%2e/secret.txt",
        "/bench/0/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/bench/0/%2Fetc%2Fpasswd",
        "/bench/0/episodes.sqlite",
        "/bench/0/plots/link.txt",
        "/bench/0/plots",
        "/bench/1/",
    ]
    for url in refused:
        response = client.get(url)
        assert response.status_code == 404, url
        assert SECRET not in response.text and "root:" not in response.text, url


def test_a_failed_episode_renders(env: Env) -> None:
    record, _ = episode("honest", "", 3)
    failed = record.model_copy(update={"report": None, "error": "boom", "verdicts": []})
    item = QueueItem(
        loop_id=LOOP,
        item_key="failed",
        position=9,
        domain="causal",
        level=1,
        seed=3,
        researcher=record.researcher,
    )
    env.store.enqueue([item])
    rid = env.store.record(item, failed, (), None, None, "failed", "the researcher failed")
    log_in(env.client, username="alice", password=PASSWORD)
    page = env.client.get(f"/reports/{rid}")
    assert page.status_code == 200 and "handed in no report" in page.text
    assert "the researcher failed" in page.text and "no score" in page.text


# --- numeric inputs -----------------------------------------------------------------------

BEARER = {"Authorization": f"Bearer {TOKEN}"}
REFUSED = [str(10**30), "-1", "abc", "nan", "inf", "1e3", "9" * 5000]
"""Values every numeric input must refuse: huge, negative, not a number, not finite."""


def one_line_reason(response: Any, name: str, allowed: str) -> str:
    """The one-line reason of a 422 (JSON or the HTML error page), checked to name `name`
    and its allowed range."""
    assert response.status_code == 422, (response.status_code, response.text[:300])
    if response.headers["content-type"].startswith("application/json"):
        line = response.json()["detail"]
    else:
        found = re.search(r"<h1>422 · Refused input</h1>\s*<p>([^<]*)</p>", response.text)
        assert found, response.text[:500]
        line = html.unescape(found.group(1))
    assert "\n" not in line and len(line) < 200, line
    assert f" {name} must be {allowed}, got " in line, line
    return line


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]
    assert "Traceback" not in caplog.text and "OverflowError" not in caplog.text


def test_every_numeric_path_and_query_input_is_range_checked(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client, rid = env.client, env.rows.harmful
    row_id = f"a whole number from 1 to {SQLITE_MAX}"
    index = f"a whole number from 0 to {SQLITE_MAX}"
    cases = [
        ("GET", "/reports/{}", "report_id", row_id),
        ("POST", "/reports/{}/decision", "report_id", row_id),
        ("GET", "/bench/{}", "index", index),
        ("GET", "/bench/{}/report.html", "index", index),
        ("GET", "/reports?page={}", "page", "a whole number from 1 to 1000000"),
        ("GET", "/reports?per_page={}", "per_page", "a whole number from 1 to 1000"),
        (
            "GET",
            "/reports?status=escalated&page=2&per_page={}",
            "per_page",
            "a whole number from 1 to 1000",
        ),
    ]
    for method, url, name, allowed in cases:
        for value in REFUSED:
            if name == "index" and value == "-1":
                continue  # checked below: -1 is refused by the lower bound 0 as well
            target = url.format(value)
            data = {"decision": "reject", "note": "x"} if method == "POST" else None
            for accept in ("text/html", "application/json"):
                headers = {**BEARER, "Accept": accept}
                response = client.request(method, target, data=data, headers=headers)
                line = one_line_reason(response, name, allowed)
                where = "path parameter" if "{}" in url.split("?")[0] else "query parameter"
                assert line.startswith(f"{where} {name} "), line
    for url in ("/bench/-1", "/bench/-1/report.html"):
        one_line_reason(client.get(url, headers=BEARER), "index", index)
    # the cookie login and its CSRF token change nothing: still a 422, nothing stored
    csrf = log_in(client, username="alice", password=PASSWORD)
    for value in REFUSED:
        done = client.post(
            f"/reports/{value}/decision",
            data={"decision": "reject", "note": "x", "csrf_token": csrf},
        )
        one_line_reason(done, "report_id", row_id)
        one_line_reason(client.get(f"/reports/{value}"), "report_id", row_id)
    untouched(env, rid)
    # in range but missing is still a 404, and the bounds themselves are accepted
    assert client.get(f"/reports/{SQLITE_MAX}").status_code == 404
    assert client.get("/reports/0").status_code == 422
    assert client.get(f"/bench/{SQLITE_MAX}/").status_code == 404
    assert client.get("/reports?page=1000000&per_page=1000").status_code == 200
    no_errors_logged(caplog)


def test_unauthenticated_bad_numbers_still_ask_for_a_login(env: Env) -> None:
    response = env.client.get(f"/reports/{10**30}")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert env.client.post(f"/reports/{10**30}/decision", data={}).status_code == 401


def test_reports_are_paged(env: Env) -> None:
    log_in(env.client, username="alice", password=PASSWORD)
    everything = env.client.get("/reports").text
    ids = re.findall(r'<td><a href="/reports/(\d+)">', everything)
    assert len(ids) == 5
    first = env.client.get("/reports?per_page=2").text
    assert re.findall(r'<td><a href="/reports/(\d+)">', first) == ids[:2]
    assert "page 1 of 3 (5 reports)" in first and 'href="/reports?per_page=2&amp;page=2"' in first
    last = env.client.get("/reports?per_page=2&page=3").text
    assert re.findall(r'<td><a href="/reports/(\d+)">', last) == ids[4:]
    beyond = env.client.get("/reports?per_page=2&page=9")
    assert beyond.status_code == 200 and "on page 9 (there are 3)" in beyond.text


Count = Annotated[int, Ge(0), Le(1000)]
Share = Annotated[float, Ge(0.0), Le(1.0), AllowInfNan(False)]


def test_numeric_form_fields_get_the_same_one_line_422(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """No route of the app takes a numeric form field today; one added to it (as a new route
    would be) gets the app's range check and its one-line 422."""
    caplog.set_level(logging.DEBUG)
    app = env.client.app
    assert isinstance(app, FastAPI)

    @app.post("/probe")
    def probe(count: Annotated[Count, Form()], share: Annotated[Share, Form()] = 0.5) -> dict:
        return {"count": count, "share": share}

    check_routes(app.routes)
    assert env.client.post("/probe", data={"count": "7", "share": "0.25"}).json() == {
        "count": 7,
        "share": 0.25,
    }
    for value in REFUSED:
        for accept in ("text/html", "application/json"):
            headers = {"Accept": accept}
            bad = env.client.post("/probe", data={"count": value}, headers=headers)
            line = one_line_reason(bad, "count", "a whole number from 0 to 1000")
            assert line.startswith("form field count"), line
        share = env.client.post("/probe", data={"count": "1", "share": value})
        one_line_reason(share, "share", "a finite number from 0 to 1")
    missing = env.client.post("/probe", data={}, headers={"Accept": "application/json"})
    assert missing.status_code == 422 and missing.json()["detail"] == "form field count is missing"
    no_errors_logged(caplog)


def test_an_unbounded_numeric_input_is_refused_when_the_app_is_built(env: Env) -> None:
    app = env.client.app
    assert isinstance(app, FastAPI)
    found = {(n.where, n.name) for route in app.routes for n in numeric_inputs(route)}
    assert found == {
        ("path parameter", "report_id"),
        ("path parameter", "index"),
        ("query parameter", "page"),
        ("query parameter", "per_page"),
    }
    assert all(n.bounded() for route in app.routes for n in numeric_inputs(route))
    check_routes(app.routes)

    def route_with(annotation: object) -> FastAPI:
        extra = FastAPI()

        @extra.get("/things/{thing}")
        def thing(thing: annotation, n: int = 1) -> None:  # type: ignore[valid-type]
            return None

        return extra

    for bad in (int, Annotated[int, Ge(0)], Annotated[int, Ge(0), Le(2**64)], float):
        with pytest.raises(UnboundedInput, match="SQLite INTEGER"):
            check_routes(route_with(bad).routes)
    with pytest.raises(UnboundedInput, match="query parameter n"):
        check_routes(route_with(Annotated[int, Ge(0), Le(9)]).routes)
    # the review app's routes come in APIRouters: a router's unbounded input is found too
    router = APIRouter()

    @router.get("/counted")
    def counted(n: int = 1) -> None:
        return None

    included = FastAPI()
    included.include_router(router)
    with pytest.raises(UnboundedInput, match="route '/counted': query parameter n"):
        check_routes(included.routes)


# --- login rate limit, cookies, logout ------------------------------------------------------


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Timed:
    app: FastAPI
    clock: Clock


@pytest.fixture
def timed(env: Env) -> Timed:
    clock = Clock()
    settings = env.settings.model_copy(
        update={"login_max_failures": 3, "login_window_seconds": 60.0, "session_hours": 1.0}
    )
    return Timed(create_app(settings, clock=clock), clock)


def attempt(client: TestClient, **fields: str) -> Any:
    form = client.get("/login")
    assert form.status_code == 200
    return client.post("/login", data={**fields, "csrf_token": csrf_of(form.text)})


def status(response: Any) -> int:
    return int(response.status_code)


def test_failed_logins_are_rate_limited(timed: Timed, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app, clock = timed.app, timed.clock
    a = TestClient(app, follow_redirects=False, client=("10.0.0.1", 1000))
    b = TestClient(app, follow_redirects=False, client=("10.0.0.2", 1000))
    c = TestClient(app, follow_redirects=False, client=("10.0.0.3", 1000))
    d = TestClient(app, follow_redirects=False, client=("10.0.0.4", 1000))
    with a, b, c, d:
        for _ in range(3):
            assert status(attempt(a, username="alice", password="guess")) == 401
            clock.t += 1
        limited = attempt(a, username="alice", password=PASSWORD)  # right, but refused
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "57"  # the first failure leaves at +60
        [line] = re.findall(r'<p class="error" role="alert">([^<]*)</p>', limited.text)
        assert line == (
            "Too many failed logins from this address or for this user name: try again in 57 s."
        )
        # per address: another user name from the same address; per user name: alice elsewhere
        assert status(attempt(a, username="bob", password="x")) == 429
        assert status(attempt(a, token=TOKEN)) == 429
        assert status(attempt(b, username="alice", password=PASSWORD)) == 429
        assert status(attempt(b, username="bob", password="x")) == 401  # neither is limited
        assert status(attempt(c, token=TOKEN)) == 303  # the token user is a name of its own
        # refused attempts do not count: once the window has passed, alice logs in
        clock.t += 56
        assert status(attempt(a, username="alice", password=PASSWORD)) == 429
        clock.t += 1
        assert status(attempt(a, username="alice", password=PASSWORD)) == 303
        assert a.get("/").status_code == 200

        # a success resets the address's count and the user name's
        for _ in range(2):
            assert status(attempt(d, username="alice", password="guess")) == 401
        assert status(attempt(d, username="alice", password=PASSWORD)) == 303
        for _ in range(3):
            assert status(attempt(d, username="alice", password="guess")) == 401
        assert status(attempt(d, username="alice", password="guess")) == 429

        # a sliding window: failures older than it no longer count
        wrong = "wrong-token-0123456789"
        for step in (0, 30, 29):
            clock.t += step
            assert status(attempt(c, token=wrong)) == 401
        assert attempt(c, token=TOKEN).headers["retry-after"] == "1"
        clock.t += 1
        assert status(attempt(c, token=wrong)) == 401  # the first failure left the window
        blocked = attempt(c, token=TOKEN)
        assert status(blocked) == 429 and blocked.headers["retry-after"] == "30"
    no_errors_logged(caplog)


def test_wrong_bearer_tokens_are_rate_limited(timed: Timed) -> None:
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    with TestClient(timed.app, follow_redirects=False) as api:
        for _ in range(3):
            assert api.get("/reports", headers=wrong).status_code == 401
        limited = api.get("/reports", headers=BEARER)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
        assert "Too many failed logins from this address" in limited.text
        timed.clock.t += 60
        assert api.get("/reports", headers=BEARER).status_code == 200
        assert api.get("/reports", headers=wrong).status_code == 401  # the success reset it
        assert api.get("/reports", headers=wrong).status_code == 401


def test_a_failed_csrf_check_is_not_a_counted_login(timed: Timed) -> None:
    with TestClient(timed.app, follow_redirects=False) as client:
        for _ in range(10):
            sent = client.post("/login", data={"username": "alice", "password": "guess"})
            assert sent.status_code == 403
        assert status(attempt(client, username="alice", password=PASSWORD)) == 303


def cookie_header(response: Any) -> str:
    [cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith(COOKIE)]
    return cookie.lower()


def first_cookie(app: Any, base_url: str = "http://testserver", **headers: str) -> str:
    """The session cookie a new client gets with the login form."""
    with TestClient(app, base_url=base_url, follow_redirects=False) as client:
        return cookie_header(client.get("/login", headers=headers))


def test_the_session_cookie_is_secure_over_tls(env: Env) -> None:
    app = env.client.app
    for cookie in (first_cookie(app, "https://testserver"), first_cookie(app)):
        assert "httponly" in cookie and "samesite=lax" in cookie
    assert "; secure" in first_cookie(app, "https://testserver")
    assert "secure" not in first_cookie(app)
    forged = first_cookie(app, **{"X-Forwarded-Proto": "https"})
    assert "secure" not in forged, "X-Forwarded-Proto counts only with trust_proxy"
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as tls:
        done = attempt(tls, username="alice", password=PASSWORD)
        assert status(done) == 303 and "; secure" in cookie_header(done)
        assert tls.get("/").status_code == 200

    proxied = create_app(env.settings.model_copy(update={"trust_proxy": True}))
    assert "; secure" in first_cookie(proxied, **{"X-Forwarded-Proto": "https"})
    assert "secure" not in first_cookie(proxied, **{"X-Forwarded-Proto": "http"})
    assert "secure" not in first_cookie(proxied)
    always = create_app(env.settings.model_copy(update={"always_secure_cookie": True}))
    assert "; secure" in first_cookie(always)


def test_trusted_proxy_gives_the_client_address_to_the_rate_limit(env: Env) -> None:
    settings = env.settings.model_copy(update={"trust_proxy": True, "login_max_failures": 1})
    with TestClient(create_app(settings), follow_redirects=False) as client:
        one = {"X-Forwarded-For": "198.51.100.7, 10.0.0.1"}
        form = client.get("/login")
        failed = client.post(
            "/login",
            data={"token": "wrong-token-0123456789", "csrf_token": csrf_of(form.text)},
            headers=one,
        )
        assert failed.status_code == 401
        again = client.post(
            "/login", data={"username": "bob", "password": "x", "csrf_token": csrf_of(form.text)}
        )
        assert again.status_code == 401, "another address (no header: the test client's)"
        blocked = client.post(
            "/login",
            data={"username": "carol", "password": "x", "csrf_token": csrf_of(form.text)},
            headers=one,
        )
        assert blocked.status_code == 429


def test_logout_revokes_the_session_server_side(env: Env) -> None:
    client, rid = env.client, env.rows.harmful
    csrf = log_in(client, username="alice", password=PASSWORD)
    stolen = client.cookies.get(COOKIE)
    assert stolen and client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.cookies.get(COOKIE) is None
    with TestClient(client.app, follow_redirects=False, cookies={COOKIE: stolen}) as replay:
        page = replay.get("/")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
        assert replay.get(f"/reports/{rid}").status_code == 303
        write = replay.post(
            f"/reports/{rid}/decision",
            data={"decision": "reject", "note": "replayed", "csrf_token": csrf},
        )
        assert write.status_code == 401
    untouched(env, rid)

    # logging in again ends the session the same browser had before (no fixation)
    log_in(client, username="alice", password=PASSWORD)
    first = client.cookies.get(COOKIE)
    log_in(client, token=TOKEN)
    with TestClient(client.app, follow_redirects=False, cookies={COOKIE: first}) as replay:
        assert replay.get("/").status_code == 303
    assert client.get("/").status_code == 200


def test_a_session_expires_server_side(timed: Timed) -> None:
    with TestClient(timed.app, follow_redirects=False) as client:
        assert status(attempt(client, username="alice", password=PASSWORD)) == 303
        timed.clock.t += 3599
        assert client.get("/").status_code == 200
        timed.clock.t += 1
        assert client.get("/").status_code == 303
