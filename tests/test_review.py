"""The review web app (proctor.review) through FastAPI's TestClient: logins, CSRF, decisions,
escaping, metrics, findings and the confined bench folders. Real episodes make the rows."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from review_fixtures import LOOP, PASSWORD, PRIVATE, SCRIPT, TOKEN, Rows, build_store, episode

from proctor.live.db import LiveStore, QueueItem
from proctor.review import ReviewSettings, create_app, hash_password, verify_password
from proctor.review.app import fmt_time

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
