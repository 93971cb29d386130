"""Document and codebook text never becomes markup: the HTML report and the review page show a
`<script>` or `<img onerror>` in a field note or a code's name as text. (The report's escaping of a
hand-made ReportData is in test_report.py, the review server's token checks in test_review_server.py.)"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import urllib.error
import urllib.request
from html.parser import HTMLParser

import pytest
from conftest import DATA, REPO, open_page

from fieldnotes.codebook import load_codebook
from fieldnotes.coding.excerpts import build_excerpts
from fieldnotes.compare.run import compare
from fieldnotes.pipeline import ingest_corpus
from fieldnotes.records import Suggestion
from fieldnotes.review.server import ReviewSession, start_server
from fieldnotes.store import Store

SCRIPT = "<script>window.__pwned = 'script'</script>"
IMG_DOC = "<img src=x onerror=\"window.__pwned='document'\">"
IMG_CODE = "<img src=x onerror=window.__pwned='codebook'>"
EVIL_FILE = "<img src=x onerror=alert(1)>.txt"


class Markup(HTMLParser):
    """The elements and attributes a browser would build from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def evil(tmp_path_factory, settings):
    """A corpus and a codebook whose texts carry markup, coded and partly accepted."""
    root = tmp_path_factory.mktemp("evil")
    corpus = root / "corpus"
    shutil.copytree(DATA / "mini", corpus)
    (corpus / "osaka" / "evil.txt").write_text(
        f"Rota night\n\nNurses plan the rota {SCRIPT} and {IMG_DOC} together in the Osaka clinic.\n",
        encoding="utf-8",
    )
    (corpus / "osaka" / EVIL_FILE).write_text("Members in Osaka cook meals for each other every week.\n")
    book = (DATA / "codebooks" / "mini.yaml").read_text(encoding="utf-8")
    book = book.replace("name: Mini codebook for tests", f'name: "Mini {IMG_CODE}"', 1)
    book = book.replace("name: Volunteering", f'name: "Volunteering {IMG_CODE}"', 1)
    book = book.replace(
        "definition: Unpaid work given by members or residents in their own time.",
        f'definition: "Unpaid work {SCRIPT} given by members or residents in their own time."',
        1,
    )
    (root / "evil.yaml").write_text(book, encoding="utf-8")
    shutil.copy(DATA / "codebooks" / "mini-reference.csv", root / "mini-reference.csv")
    loaded = load_codebook(root / "evil.yaml")
    out = root / "out"
    ingest_corpus(corpus, out, settings)
    with Store.open(out / "fieldnotes.db") as store:
        run_id = store.runs.begin("code", "", "", "{}", {})
        passages, sentences, texts = store.corpus.passages_with_sentences()
        excerpts = build_excerpts(passages, sentences, texts, 40)
        store.coding.save_excerpts(run_id, excerpts)
        evil_ones = [e for e in excerpts if e.document in ("osaka/evil.txt", f"osaka/{EVIL_FILE}")]
        assert len(evil_ones) == 2
        store.coding.save_suggestions(
            run_id,
            loaded.codebook.id,
            [Suggestion(e.excerpt_id, "volunteering", 0.9, "rules", f"matched {SCRIPT}", {}) for e in evil_ones],
        )
        for e in evil_ones:
            store.decisions.record(e.excerpt_id, "volunteering", "accepted", "aiko", memo=f"memo {IMG_DOC}")
    return out, loaded, settings


def test_report_shows_markup_from_documents_and_codebook_as_text(evil):
    out, loaded, settings = evil
    report = compare(out, settings, loaded)
    html = report.report_path.read_text(encoding="utf-8")
    parser = Markup()
    parser.feed(html)
    assert not [tag for tag, _ in parser.tags if tag in ("script", "iframe", "object", "embed")]
    assert not [(tag, name) for tag, attrs in parser.tags for name in attrs if name.startswith("on")]
    assert all(
        (attrs.get("src") or "").startswith("data:image/png;base64,") for tag, attrs in parser.tags if tag == "img"
    )
    # The text is there, escaped: the document's sentence, the file name and the code's name.
    assert "&lt;script&gt;window.__pwned" in html
    assert "Volunteering &lt;img src=x onerror=window.__pwned=" in html
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in html


@pytest.fixture
def review_server(evil):
    out, loaded, _ = evil
    session = ReviewSession(out / "fieldnotes.db", loaded, "aiko", secrets.token_urlsafe(16), 0.33)
    httpd, url = start_server(session)
    yield session, url
    httpd.shutdown()


def get(url: str, token: str | None = None):
    request = urllib.request.Request(url)
    if token:
        request.add_header("X-Fieldnotes-Token", token)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers, response.read()


def test_review_api_sends_data_as_json_never_as_a_page(review_server):
    session, url = review_server
    base = url.split("/?")[0]
    for path in ("/api/items", "/api/codebook"):
        headers, body = get(base + path, session.token)
        assert headers["Content-Type"].startswith("application/json")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "unsafe-inline" not in headers["Content-Security-Policy"]
        data = json.loads(body)
        assert SCRIPT in json.dumps(data, ensure_ascii=False)  # raw text; the page inserts it as text
    headers, page = get(base + "/", session.token)
    assert b"__pwned" not in page  # the page itself is static: no data is ever templated into it


def test_review_page_script_inserts_data_only_as_text():
    script = (REPO / "fieldnotes" / "review" / "static" / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    assert not re.search(r"""setAttribute\(\s*["'](href|src|on\w+)""", script)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/items?token=%E2%98%83", {}),  # a token that is not ASCII once decoded
        ("/api/items", {"X-Fieldnotes-Token": "\u00e9t\u00e9"}),
        ("/api/items", {"Host": "localhost"}),  # right token, another name for this host
        ("/", {}),  # the page without its token
    ],
)
def test_review_server_refuses_odd_requests_cleanly(review_server, path, headers):
    session, url = review_server
    base = url.split("/?")[0]
    request = urllib.request.Request(base + path)
    if "X-Fieldnotes-Token" not in headers and "token=" not in path and path != "/":
        request.add_header("X-Fieldnotes-Token", session.token)
    for key, value in headers.items():
        request.add_header(key, value.encode("utf-8").decode("latin-1"))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


def test_review_page_in_a_browser_runs_no_injected_code(browser, review_server):
    from playwright.sync_api import expect

    _, url = review_server
    context, page, errors = open_page(browser)
    try:
        page.goto(url)
        expect(page.locator("#list .item")).to_have_count(2)
        page.locator("#list .item").filter(has_text="Nurses plan the rota").first.click()
        expect(page.locator("#detail")).to_contain_text(SCRIPT)
        expect(page.locator("#detail")).to_contain_text("Volunteering <img src=x")
        expect(page.locator("#who")).to_contain_text(f"Mini {IMG_CODE}")
        assert page.evaluate("window.__pwned") is None
        assert page.locator("img").count() == 0
        assert page.locator("script").count() == 1  # app.js
        assert not errors, errors
    finally:
        context.close()
