"""The review page's server: token, host and origin checks, and every action saved in the database."""

import json
import secrets
import urllib.error
import urllib.request

import pytest

from fieldnotes.codebook import load_codebook
from fieldnotes.review.server import ReviewSession, start_server
from fieldnotes.store import Store


@pytest.fixture
def server(coded_store):
    session = ReviewSession(coded_store.path, load_codebook(), "aiko", secrets.token_urlsafe(16), 0.33)
    httpd, url = start_server(session)
    yield session, url
    httpd.shutdown()


def call(url: str, path: str, token: str | None, body: dict | None = None, headers: dict | None = None):
    base = url.split("/?")[0]
    request = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None)
    if token:
        request.add_header("X-Fieldnotes-Token", token)
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null") if "json" in response.headers[
                "Content-Type"
            ] else response.read()
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_requests_without_the_token_or_from_elsewhere_are_refused(server):
    session, url = server
    assert call(url, "/api/items", None)[0] == 403
    assert call(url, "/api/items", "wrong")[0] == 403
    assert call(url, "/api/items", session.token, headers={"Host": "evil.example:80"})[0] == 403
    status, _ = call(url, "/api/act", session.token, {"action": "undo"}, headers={"Origin": "http://evil.example"})
    assert status == 403
    assert call(url, "/app.js", None)[0] == 200  # code only, no data


def test_page_lists_suggestions_and_saves_every_action(server, coded_store):
    session, url = server
    request = urllib.request.Request(url.split("/?")[0] + "/", headers={"X-Fieldnotes-Token": session.token})
    with urllib.request.urlopen(request, timeout=10) as page:
        assert b"fieldnotes review" in page.read()
        assert "Content-Security-Policy" in page.headers
    status, data = call(url, "/api/items?order=uncertain", session.token)
    assert status == 200 and len(data["items"]) == 2
    # Most uncertain first is the page's default order.
    assert call(url, "/api/items", session.token)[1]["items"] == data["items"]
    item = next(i for i in data["items"] if i["code_id"] == "staff-autonomy")
    assert (
        item["passage_text"][item["start"] - item["passage_start"] : item["end"] - item["passage_start"]]
        == item["text"]
    )
    assert (
        call(
            url,
            "/api/act",
            session.token,
            {"action": "accept", "excerpt_id": item["excerpt_id"], "code": "staff-autonomy"},
        )[0]
        == 200
    )
    status, added = call(
        url,
        "/api/act",
        session.token,
        {
            "action": "add",
            "passage_id": item["passage_id"],
            "start": item["passage_start"],
            "end": item["passage_start"] + 20,
            "code": "volunteering",
        },
    )
    assert status == 200 and added["excerpt_id"].startswith("m")
    assert (
        call(
            url,
            "/api/act",
            session.token,
            {"action": "memo", "excerpt_id": item["excerpt_id"], "code": "staff-autonomy", "memo": "clear"},
        )[0]
        == 200
    )
    assert (
        call(
            url,
            "/api/act",
            session.token,
            {"action": "recode", "excerpt_id": item["excerpt_id"], "code": "staff-autonomy", "new_code": "nope"},
        )[0]
        == 400
    )
    status, filtered = call(url, "/api/items?status=accepted", session.token)
    assert {i["code_id"] for i in filtered["items"]} == {"staff-autonomy", "volunteering"}
    with Store.open(session.database) as store:
        history = [(h["action"], h["coder"]) for h in store.decisions.history(item["excerpt_id"])]
    assert history == [("accepted", "aiko"), ("memo", "aiko")]
    status, undone = call(url, "/api/act", session.token, {"action": "undo"})
    assert status == 200 and undone["undone"]["action"] == "added"
    status, moved = call(
        url,
        "/api/act",
        session.token,
        {
            "action": "span",
            "excerpt_id": item["excerpt_id"],
            "code": "staff-autonomy",
            "passage_id": item["passage_id"],
            "start": item["start"],
            "end": item["start"] + 25,
        },
    )
    assert status == 200 and moved["excerpt_id"] != item["excerpt_id"]
    with Store.open(session.database) as store:
        assert [h["action"] for h in store.decisions.history(item["excerpt_id"])][-1] == "span-moved"


def raw_post(url: str, token: str, body: bytes, length: str) -> tuple[int, dict]:
    """A POST whose Content-Length and body are given as they are (not as urllib would set them)."""
    import http.client
    from urllib.parse import urlparse

    where = urlparse(url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    connection.putrequest("POST", "/api/act")
    connection.putheader("X-Fieldnotes-Token", token)
    connection.putheader("Content-Length", length)
    connection.endheaders()
    connection.send(body)
    response = connection.getresponse()
    payload = json.loads(response.read() or b"null")
    connection.close()
    return response.status, payload


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2, 3], "the request body must be a JSON object"),
        ("just text", "the request body must be a JSON object"),
        ({"action": "accept", "excerpt_id": "e1", "code": "x", "memo": {"a": 1}}, "a memo must be text"),
        ({"action": "add", "passage_id": "p", "start": 1e400, "end": 5, "code": "volunteering"}, "'start' must be"),
        ({"action": "add", "passage_id": "p", "start": -3, "end": 5, "code": "volunteering"}, "'start' must be"),
        ({"action": "add", "passage_id": "p", "start": True, "end": 5, "code": "volunteering"}, "'start' must be"),
    ],
)
def test_malformed_actions_get_an_answer_and_change_nothing(server, coded_store, body, message):
    session, url = server
    before = coded_store.connection.execute("SELECT count(*) FROM decisions").fetchone()[0]
    status, answer = call(url, "/api/act", session.token, body)
    assert status == 400 and message in answer["error"]
    assert coded_store.connection.execute("SELECT count(*) FROM decisions").fetchone()[0] == before


def test_bad_lengths_and_scores_get_an_answer(server):
    session, url = server
    assert raw_post(url, session.token, b'{"action": "undo"}', "-1") == (
        400,
        {"error": "Content-Length must be a whole number of bytes"},
    )
    assert raw_post(url, session.token, b"{}", "abc")[0] == 400
    assert raw_post(url, session.token, b"{not json", "9")[1]["error"].startswith("the request body is not JSON")
    status, answer = call(url, "/api/items?min_score=abc", session.token)
    assert status == 400 and "min_score must be a number between 0 and 1" in answer["error"]


def test_a_database_that_cannot_be_used_gets_an_answer(server, coded_store):
    session, url = server
    coded_store.path.write_bytes(b"")  # emptied under the running page
    status, answer = call(url, "/api/items", session.token)
    assert status == 503 and "empty (0 bytes)" in answer["error"]


def test_undo_over_another_coders_later_decision_is_refused_with_409(server, coded_store):
    session, url = server
    rota = coded_store.rota
    body = {"action": "accept", "excerpt_id": rota.excerpt_id, "code": "staff-autonomy"}
    assert call(url, "/api/act", session.token, body)[0] == 200
    with Store.open(session.database) as store:
        store.decisions.record(rota.excerpt_id, "staff-autonomy", "rejected", "bob")
    status, answer = call(url, "/api/act", session.token, {"action": "undo"})
    assert status == 409 and "'bob' changed that suggestion afterwards" in answer["error"]
    with Store.open(session.database) as store:
        row = store.connection.execute(
            "SELECT status, status_by FROM suggestions WHERE excerpt_id = ? AND code_id = 'staff-autonomy'",
            (rota.excerpt_id,),
        ).fetchone()
    assert tuple(row) == ("rejected", "bob")


def test_a_decision_from_a_page_loaded_before_a_rerun_withdrew_the_suggestion_is_refused(server, coded_store):
    session, url = server
    rota = coded_store.rota
    with Store.open(session.database) as store:  # what a re-run does to a suggestion it no longer makes
        store.connection.execute(
            "UPDATE suggestions SET status = 'withdrawn' WHERE excerpt_id = ? AND code_id = 'staff-autonomy'",
            (rota.excerpt_id,),
        )
        store.connection.commit()
    for body in (
        {"action": "accept", "excerpt_id": rota.excerpt_id, "code": "staff-autonomy"},
        {"action": "memo", "excerpt_id": rota.excerpt_id, "code": "staff-autonomy", "memo": "late"},
        {"action": "recode", "excerpt_id": rota.excerpt_id, "code": "staff-autonomy", "new_code": "volunteering"},
    ):
        status, answer = call(url, "/api/act", session.token, body)
        assert status == 409 and "no longer current" in answer["error"] and "reload the page" in answer["error"]
    with Store.open(session.database) as store:
        assert store.decisions.history(rota.excerpt_id) == []
        row = store.connection.execute(
            "SELECT status FROM suggestions WHERE excerpt_id = ? AND code_id = 'staff-autonomy'", (rota.excerpt_id,)
        ).fetchone()
    assert row["status"] == "withdrawn"


def test_a_span_move_that_fails_writes_nothing_and_a_memo_on_an_accepted_span_is_kept(server, coded_store):
    session, url = server
    rota = coded_store.rota
    passage = {"passage_id": rota.passage_id, "start": rota.start, "end": rota.start + 20}
    with Store.open(session.database) as store:
        before = store.connection.execute("SELECT COUNT(*) FROM suggestions").fetchone()[0]
    for code, excerpt in (("no-such-code", "no-such-excerpt"), ("staff-autonomy", "no-such-excerpt")):
        status, _ = call(
            url, "/api/act", session.token, {"action": "span", "excerpt_id": excerpt, "code": code, **passage}
        )
        assert status in (400, 503)
    with Store.open(session.database) as store:
        assert store.connection.execute("SELECT COUNT(*) FROM suggestions").fetchone()[0] == before
    add = {"action": "add", "code": "volunteering", **passage}
    assert call(url, "/api/act", session.token, add)[0] == 200
    status, added = call(url, "/api/act", session.token, {**add, "memo": "the second look"})
    assert status == 200
    with Store.open(session.database) as store:
        history = [(h["action"], h["memo"]) for h in store.decisions.history(added["excerpt_id"])]
        memo = store.connection.execute(
            "SELECT memo FROM suggestions WHERE excerpt_id = ? AND code_id = 'volunteering'", (added["excerpt_id"],)
        ).fetchone()[0]
    assert memo == "the second look" and history[-1] == ("memo", "the second look")


def test_idle_connections_cannot_take_more_than_a_bounded_number_of_threads(server):
    import socket
    import threading

    from fieldnotes.review.server import MAX_CONNECTIONS

    session, url = server
    host, port = url.split("/")[2].split(":")
    before = threading.active_count()
    idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(MAX_CONNECTIONS + 40)]
    try:
        import time

        time.sleep(0.5)
        assert threading.active_count() - before <= MAX_CONNECTIONS
    finally:
        for connection in idle:
            connection.close()
    time.sleep(0.5)
    assert call(url, "/api/items", session.token)[0] == 200  # slots come back when the connections go


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_the_login_link_opens_the_page_once_and_the_token_never_travels_in_an_address(server):
    session, url = server
    assert "login=" in url and session.token not in url
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(url, timeout=10)
        raise AssertionError("the login link should redirect")
    except urllib.error.HTTPError as answer:
        assert answer.code == 303 and answer.headers["Location"] == "/"
        cookie = answer.headers["Set-Cookie"]
    assert session.token in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    base = url.split("/?")[0]
    page = urllib.request.Request(base + "/", headers={"Cookie": cookie.split(";")[0]})
    with urllib.request.urlopen(page, timeout=10) as response:
        assert response.status == 200 and b"fieldnotes review" in response.read()
    status, answer = call(url, "/?" + url.split("?")[1], None)  # the same link again
    assert status == 403 and "used already" in answer["error"]
    assert call(url, f"/api/items?token={session.token}", None)[0] == 403  # no token in addresses


def test_a_whole_document_comes_with_every_passage_and_the_codes_on_it(server, coded_store):
    session, url = server
    rota = coded_store.rota
    status, data = call(url, "/api/document?document=osaka/clinic-notes.txt", session.token)
    assert status == 200 and data["document"] == "osaka/clinic-notes.txt"
    assert "documents/leaflet.md" in data["documents"]
    coded = [p for p in data["passages"] if p["codings"]]
    assert [c["code_id"] for p in coded for c in p["codings"]] == ["staff-autonomy", "volunteering"]
    assert coded[0]["passage_id"] == rota.passage_id and coded[0]["codings"][0]["start"] == rota.start
    status, data = call(url, "/api/document?document=documents/leaflet.md", session.token)
    assert status == 200 and data["passages"] and not any(p["codings"] for p in data["passages"])
    status, data = call(url, "/api/document?document=nowhere.md", session.token)
    assert status == 400 and "no document 'nowhere.md'" in data["error"]
    assert call(url, "/api/document", None)[0] == 403
