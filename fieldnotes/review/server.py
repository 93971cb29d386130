"""The review page: a small local web app over the results database.

Bound to 127.0.0.1 only, on a random free port unless one is given. The page opens with a
one-time login link, which the server exchanges for the session's secret token in an HttpOnly,
SameSite=Strict cookie: the token itself is never on a command line or in an address. Every
request must carry the token (that cookie, or a header for programs), its Host must be this
server, and a write must come from this page's origin, so neither another local user nor a web
page in the same browser can read or drive it.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import webbrowser
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, urlparse

from fieldnotes.codebook import LoadedCodebook
from fieldnotes.errors import DecisionConflictError, FieldnotesError, StoreError
from fieldnotes.store import ReviewFilter, Store

STATIC_FILES = {"/app.js": "application/javascript", "/app.css": "text/css"}
MAX_BODY = 64 * 1024


@dataclass
class ReviewSession:
    database: Path
    loaded: LoadedCodebook
    coder: str
    token: str
    threshold: float
    # Opens the page once: exchanged for a cookie holding `token`, so the token itself is never
    # on a command line (the browser's) or in an address.
    login_code: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    _login_used: bool = False
    _login_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def redeem(self, code: str) -> bool:
        """True once, for the login code; after that the code opens nothing."""
        with self._login_lock:
            if self._login_used or not secrets.compare_digest(
                code.encode("utf-8", "surrogateescape"), self.login_code.encode()
            ):
                return False
            self._login_used = True
            return True

    # --- reading ------------------------------------------------------------

    def codebook(self) -> dict:
        book = self.loaded.codebook
        return {
            "id": book.id,
            "name": book.name,
            "codes": [{"id": c.id, "name": c.name, "definition": c.definition} for c in book.codes],
            "coder": self.coder,
            "threshold": self.threshold,
        }

    def items(self, query: dict[str, str]) -> dict:
        """Suggestions with their passage, filtered and ordered as asked."""
        wanted = ReviewFilter(
            site=query.get("site"),
            code=query.get("code"),
            document=query.get("document"),
            status=query.get("status"),
            min_score=_score(query, "min_score"),
            max_score=_score(query, "max_score"),
        )
        # By default closest to the threshold first: where a decision teaches the tool most
        # (benchmarks/real/decisions_curve.py: better than document or random order on real prose).
        uncertain_around = None if query.get("order") == "document" else self.threshold
        codebook_id = self.loaded.codebook.id
        with Store.open(self.database) as store:
            rows = store.reads.review_items(codebook_id, wanted, uncertain_around)
            progress = store.reads.review_progress(codebook_id)
            facets = {"sites": store.corpus.active_sites(), "documents": store.corpus.document_paths()}
        return {
            "items": [dict(row) for row in rows],
            "progress": [dict(row) for row in progress],
            "facets": facets,
        }

    def document(self, query: dict[str, str]) -> dict:
        """One document to read whole: every passage, with the codes and suggestions on it, so
        that a passage the tool suggested nothing for can be coded by hand too."""
        path = query.get("document") or ""
        with Store.open(self.database) as store:
            paths = store.corpus.document_paths()
            if not path and paths:
                path = paths[0]
            passages = [dict(row) for row in store.reads.document_passages(path)]
            codings = [dict(row) for row in store.reads.document_codings(self.loaded.codebook.id, path)]
        if not passages and path:
            raise FieldnotesError(f"no document '{path}' in the results (documents: {len(paths)})")
        by_passage: dict[str, list[dict]] = {}
        for coding in codings:
            by_passage.setdefault(coding["passage_id"], []).append(coding)
        for passage in passages:
            passage["codings"] = by_passage.get(passage["passage_id"], [])
        return {"document": path, "documents": paths, "passages": passages}

    # --- writing ------------------------------------------------------------

    def act(self, body: object) -> dict:
        body = _checked_body(body)
        action = body.get("action")
        codebook_id = self.loaded.codebook.id
        known = set(self.loaded.codebook.code_ids)
        with Store.open(self.database) as store:
            if action in ("accept", "reject"):
                status = "accepted" if action == "accept" else "rejected"
                store.decisions.record(
                    str(body["excerpt_id"]),
                    str(body["code"]),
                    status,
                    self.coder,
                    body.get("memo"),
                    live=True,
                    codebook_id=codebook_id,
                )
            elif action == "undo":
                last = store.decisions.undo_last(self.coder, codebook_id)
                return {"undone": dict(last) if last else None}
            elif action == "memo":
                store.decisions.set_memo(
                    str(body["excerpt_id"]),
                    str(body["code"]),
                    str(body.get("memo", "")),
                    self.coder,
                    live=True,
                    codebook_id=codebook_id,
                )
            elif action == "recode":
                if body.get("new_code") not in known:
                    raise FieldnotesError(f"unknown code '{body.get('new_code')}'")
                store.decisions.recode(
                    str(body["excerpt_id"]),
                    str(body["code"]),
                    str(body["new_code"]),
                    codebook_id,
                    self.coder,
                    live=True,
                )
            elif action == "span":
                if body.get("code") not in known:
                    raise FieldnotesError(f"unknown code '{body.get('code')}'")
                excerpt_id = store.decisions.adjust_span(
                    str(body["excerpt_id"]),
                    str(body["code"]),
                    str(body["passage_id"]),
                    _offset(body, "start"),
                    _offset(body, "end"),
                    codebook_id,
                    self.coder,
                    live=True,
                )
                return {"excerpt_id": excerpt_id}
            elif action == "add":
                if body.get("code") not in known:
                    raise FieldnotesError(f"unknown code '{body.get('code')}'")
                excerpt_id = store.decisions.add_code(
                    str(body["passage_id"]),
                    _offset(body, "start"),
                    _offset(body, "end"),
                    str(body["code"]),
                    codebook_id,
                    self.coder,
                    body.get("memo"),
                )
                return {"excerpt_id": excerpt_id}
            else:
                raise FieldnotesError(f"unknown action '{action}'")
        return {"ok": True}


def _score(query: dict[str, str], key: str) -> float | None:
    if not query.get(key):
        return None
    try:
        value = float(query[key])
    except ValueError:
        raise FieldnotesError(f"{key} must be a number between 0 and 1, not '{query[key]}'") from None
    if not 0.0 <= value <= 1.0:
        raise FieldnotesError(f"{key} must be a number between 0 and 1, not '{query[key]}'")
    return value


def _checked_body(body: object) -> dict:
    """The request's JSON, refused unless it is an object whose memo (if any) is text."""
    if not isinstance(body, dict):
        raise FieldnotesError("the request body must be a JSON object")
    if body.get("memo") is not None and not isinstance(body["memo"], str):
        raise FieldnotesError("a memo must be text")
    return body


def _offset(body: dict, key: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FieldnotesError(f"'{key}' must be a character offset (a whole number, 0 or more)")
    return value


# Connections served at once; one more is closed at once rather than given a thread (a page
# needs two or three; a local program opening thousands must not exhaust the machine).
MAX_CONNECTIONS = 64


class ReviewServer(ThreadingHTTPServer):
    """The review page's server on 127.0.0.1: its session, and its own origin (what a request's
    Host and Origin must name). At most MAX_CONNECTIONS requests hold a thread at a time."""

    daemon_threads = True
    request_queue_size = 128  # connections waiting to be accepted (the default 5 drops bursts)

    def __init__(self, session: ReviewSession, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), ReviewHandler)
        self.session = session
        self.origin = f"http://127.0.0.1:{self.server_address[1]}"
        # Cookies are per host, not per port: each server's cookie has its own name.
        self.cookie_name = f"fieldnotes_review_{self.server_address[1]}"
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: closed, no thread started
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class ReviewHandler(BaseHTTPRequestHandler):
    """One request to the review page; the session and the page's origin are the server's."""

    server_version = "fieldnotes-review"
    # A connection that sends nothing for this long is closed, so idle ones cannot hold threads.
    timeout = 30

    @property
    def _server(self) -> ReviewServer:
        return cast(ReviewServer, self.server)

    def log_message(self, format: str, *args: object) -> None:
        return  # quiet: the terminal belongs to the researcher

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'",
        )
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: object) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _allowed(self, url) -> bool:
        origin = self._server.origin
        if self.headers.get("Host") != origin.removeprefix("http://"):
            return False  # another host name pointing here (DNS rebinding)
        token = self.headers.get("X-Fieldnotes-Token") or self._cookie_token()
        # As bytes: compare_digest raises TypeError on non-ASCII text, and a header may carry any.
        return secrets.compare_digest(token.encode("utf-8", "surrogateescape"), self._server.session.token.encode())

    def _cookie_token(self) -> str:
        from http.cookies import CookieError, SimpleCookie

        try:
            cookies = SimpleCookie(self.headers.get("Cookie") or "")
        except CookieError:
            return ""
        morsel = cookies.get(self._server.cookie_name)
        return morsel.value if morsel is not None else ""

    def _login(self, code: str) -> None:
        """Exchange the one-time login code for the session cookie, then show the page."""
        if not self._server.session.redeem(code):
            message = (
                "this login link was used already (it opens the page once); in the browser that used it, "
                f"open {self._server.origin}/ again; elsewhere, restart `fieldnotes review` for a new link"
            )
            return self._json(HTTPStatus.FORBIDDEN, {"error": message})
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header(
            "Set-Cookie",
            f"{self._server.cookie_name}={self._server.session.token}; HttpOnly; SameSite=Strict; Path=/",
        )
        self.send_header("Location", "/")
        self.send_header("Content-Length", "0")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        return None

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/favicon.ico":  # browsers ask for it without the token: answer, don't refuse
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()
            return None
        if url.path in STATIC_FILES:  # code, no data: served without the token
            body = resources.files("fieldnotes.review").joinpath("static", url.path[1:]).read_bytes()
            return self._send(HTTPStatus.OK, body, STATIC_FILES[url.path])
        if url.path == "/" and "login" in parse_qs(url.query):
            if self.headers.get("Host") != self._server.origin.removeprefix("http://"):
                return self._json(HTTPStatus.FORBIDDEN, {"error": "missing or wrong session token"})
            return self._login(parse_qs(url.query)["login"][0])
        if not self._allowed(url):
            return self._json(HTTPStatus.FORBIDDEN, {"error": "missing or wrong session token"})
        if url.path == "/":
            body = resources.files("fieldnotes.review").joinpath("static", "index.html").read_bytes()
            return self._send(HTTPStatus.OK, body, "text/html")
        if url.path == "/api/codebook":
            return self._json(HTTPStatus.OK, self._server.session.codebook())
        if url.path == "/api/items":
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            return self._answer(lambda: self._server.session.items(query))
        if url.path == "/api/document":
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            return self._answer(lambda: self._server.session.document(query))
        return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def _answer(self, work) -> None:
        """Run `work` and answer with its JSON; every error still gets an answer the page can show."""
        try:
            return self._json(HTTPStatus.OK, work())
        except StoreError as exc:
            return self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)})
        except DecisionConflictError as exc:
            return self._json(HTTPStatus.CONFLICT, {"error": str(exc)})
        except sqlite3.Error as exc:
            message = f"the results database cannot be used ({exc}); nothing was changed"
            return self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": message})
        except (FieldnotesError, KeyError, ValueError, TypeError, OverflowError) as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})

    def do_POST(self) -> None:
        url = urlparse(self.path)
        if not self._allowed(url):
            return self._json(HTTPStatus.FORBIDDEN, {"error": "missing or wrong session token"})
        if self.headers.get("Origin") not in (None, self._server.origin):
            return self._json(HTTPStatus.FORBIDDEN, {"error": "requests from other origins are refused"})
        if url.path != "/api/act":
            return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
        declared = self.headers.get("Content-Length") or "0"
        if not declared.isdigit():  # negative, a word: never read to the end of the stream
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "Content-Length must be a whole number of bytes"})
        length = int(declared)
        if length > MAX_BODY:
            return self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "request too large"})
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": f"the request body is not JSON ({exc})"})
        return self._answer(lambda: self._server.session.act(body))


def start_server(session: ReviewSession, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start serving in a background thread; returns the server and the page's one-time login
    URL (it sets the session cookie and shows the page)."""
    server = ReviewServer(session, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"{server.origin}/?login={session.login_code}"


def review(
    out_dir: Path, loaded: LoadedCodebook, coder: str, port: int = 0, threshold: float = 0.5, open_browser: bool = True
) -> tuple[ThreadingHTTPServer, str]:
    from fieldnotes.workspace import Workspace

    database = Workspace.at(out_dir).require_database(FieldnotesError)
    session = ReviewSession(database, loaded, coder, secrets.token_urlsafe(24), threshold)
    server, url = start_server(session, port)
    if open_browser:
        webbrowser.open(url)
    return server, url
