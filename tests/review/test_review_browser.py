"""The review page in a real headless browser: filter, accept, reject, add a code, memo, reload; all saved.

Uses Playwright for Python with the system's Chromium (Debian's `chromium` package), not a downloaded
browser. Skipped when either is missing, except under CI (CI=true), where a missing piece is a failure.
"""

from __future__ import annotations

import secrets

import pytest
from conftest import open_page

from fieldnotes.codebook import load_codebook
from fieldnotes.coding.excerpts import build_excerpts
from fieldnotes.pipeline import ingest_corpus
from fieldnotes.review.server import ReviewSession, start_server
from fieldnotes.store import Store

CODER = "aiko"
MEMO = "Rota on the whiteboard: the nurses decide, not management."
MANUAL_TEXT = "The head nurse said she would not go back to a hospital"

# Selects [start, end) (UTF-16 offsets into the element's text) the way a mouse drag would.
SELECT_JS = """([selector, start, end]) => {
  const root = document.querySelector(selector);
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  let seen = 0, node;
  while ((node = walker.nextNode())) {
    const length = node.data.length;
    if (start >= seen && start <= seen + length) range.setStart(node, start - seen);
    if (end >= seen && end <= seen + length) { range.setEnd(node, end - seen); break; }
    seen += length;
  }
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  return selection.toString();
}"""


@pytest.fixture
def review(coded_store):
    """The review server over the fixture database, plus a third suggestion so that moving on is visible."""
    from fieldnotes.records import Suggestion

    rota = coded_store.rota
    run_id = coded_store.connection.execute("SELECT MAX(run_id) FROM runs").fetchone()[0]
    coded_store.coding.save_suggestions(
        run_id,
        "coproduction",
        [
            Suggestion(rota.excerpt_id, "staff-autonomy", 0.9, "rules", "matched 'rota'", {}),
            Suggestion(rota.excerpt_id, "volunteering", 0.4, "semantic", "weak", {}),
            Suggestion(rota.excerpt_id, "welfare-state-contrast", 0.35, "semantic", "weaker", {}),
        ],
    )
    session = ReviewSession(coded_store.path, load_codebook(), CODER, secrets.token_urlsafe(16), 0.33)
    httpd, url = start_server(session)
    yield session, url, rota
    httpd.shutdown()


def test_review_path_in_a_real_browser(browser, review):
    from playwright.sync_api import expect

    session, url, rota = review
    names = {c.id: c.name for c in session.loaded.codebook.codes}
    context, page, errors = open_page(browser)

    rows = page.locator("#list .item")
    detail = page.locator("#detail")
    heading = detail.locator("h2")
    status_filter = page.locator("#filters [name=status]")
    code_filter = page.locator("#filters [name=code]")

    def current_is(code_id: str, status: str) -> None:
        expect(heading).to_have_text(names[code_id] + status)
        expect(heading.locator(".badge")).to_have_text(status)

    # --- open ------------------------------------------------------------------------
    page.goto(url)
    page.locator("select[name=order]").select_option("document")  # the default is most uncertain first
    page.wait_for_load_state("networkidle")  # the list in document order, before any key is typed
    expect(page.locator("#who")).to_contain_text(f"coder: {CODER}")
    expect(page.locator("#progress")).to_have_text("0 / 3 reviewed")
    expect(rows).to_have_count(3)
    current_is("staff-autonomy", "suggested")
    expect(detail.locator("#passage mark")).to_have_text(rota.text)
    # The rationale's component names are explained on the page.
    detail.locator("details.legend summary").click()
    expect(detail.locator("details.legend")).to_contain_text("example_max: similarity")

    # --- filter by code, then by status ----------------------------------------------
    code_filter.select_option("volunteering")
    expect(rows).to_have_count(1)
    current_is("volunteering", "suggested")
    code_filter.select_option("")
    status_filter.select_option("suggested")
    expect(rows).to_have_count(3)

    # --- accept with the button: the accepted item leaves the "to review" list, the next one shows --------
    detail.get_by_role("button", name="Accept (a)").click()
    expect(page.locator("#progress")).to_have_text("1 / 3 reviewed")
    expect(rows).to_have_count(2)
    current_is("volunteering", "suggested")

    # --- reject with the keyboard (focus off the filters, so the page gets the key) ----
    page.locator("#detail .definition").click()
    page.keyboard.press("r")
    expect(page.locator("#progress")).to_have_text("2 / 3 reviewed")
    expect(rows).to_have_count(1)
    current_is("welfare-state-contrast", "suggested")

    # Ctrl+A (select all) must not accept: the next key, r, still finds the item to review and rejects it; u undoes.
    page.keyboard.press("Control+a")
    page.keyboard.press("r")
    expect(page.locator("#progress")).to_have_text("3 / 3 reviewed")
    expect(page.locator("#detail")).to_contain_text("Nothing to review")
    page.keyboard.press("u")
    expect(page.locator("#progress")).to_have_text("2 / 3 reviewed")
    current_is("welfare-state-contrast", "suggested")

    # --- all statuses again; the accepted code, a memo and a code added by selection ----
    status_filter.select_option("")
    expect(rows).to_have_count(3)
    rows.nth(0).click()
    current_is("staff-autonomy", "accepted")
    passage_text = page.locator("#passage").text_content()
    start = passage_text.index(MANUAL_TEXT)
    assert page.evaluate(SELECT_JS, ["#passage", start, start + len(MANUAL_TEXT)]) == MANUAL_TEXT
    detail.get_by_label("Add a code to the selected text").select_option("participatory-governance")
    expect(rows).to_have_count(4)
    expect(detail.locator("#error")).to_have_text("")
    current_is("staff-autonomy", "accepted")  # still on the item the code was added from

    detail.get_by_label("Memo").fill(MEMO)
    detail.get_by_role("button", name="Save memo").click()
    expect(page.locator("#progress")).to_have_text("3 / 4 reviewed")
    expect(detail.get_by_label("Memo")).to_have_value(MEMO)

    # --- reload: every decision is on the page ---------------------------------------
    page.reload()
    expect(page.locator("#progress")).to_have_text("3 / 4 reviewed")
    status_filter.select_option("")  # a browser may restore the last filter on reload
    expect(rows).to_have_count(4)
    shown = {
        (row.locator(".code").evaluate("n => n.firstChild.textContent"), row.locator(".badge").text_content())
        for row in rows.all()
    }
    assert shown == {
        (names["staff-autonomy"], "accepted"),
        (names["volunteering"], "rejected"),
        (names["welfare-state-contrast"], "suggested"),
        (names["participatory-governance"], "accepted"),
    }
    rows.filter(has_text=names["staff-autonomy"]).click()
    current_is("staff-autonomy", "accepted")
    expect(detail.get_by_label("Memo")).to_have_value(MEMO)
    rows.filter(has_text=MANUAL_TEXT).click()
    current_is("participatory-governance", "accepted")
    expect(detail.locator("#passage mark")).to_have_text(MANUAL_TEXT)
    expect(detail.locator(".meta")).to_contain_text("added by hand")
    status_filter.select_option("accepted")
    expect(rows).to_have_count(2)
    assert errors == []
    context.close()

    # --- and in the database -----------------------------------------------------------
    with Store.open(session.database) as store:
        suggestions = {
            (r["excerpt_id"], r["code_id"]): r for r in store.connection.execute("SELECT * FROM suggestions")
        }
        manual = store.connection.execute("SELECT * FROM excerpts WHERE kind = 'manual'").fetchall()
        passage = store.connection.execute("SELECT * FROM passages WHERE passage_id = ?", (rota.passage_id,)).fetchone()
        assert len(manual) == 1
        excerpt = manual[0]
        assert excerpt["text"] == MANUAL_TEXT
        assert excerpt["passage_id"] == rota.passage_id
        assert excerpt["start"] == passage["start"] + passage["text"].index(MANUAL_TEXT)
        assert excerpt["end"] == excerpt["start"] + len(MANUAL_TEXT)
        assert {key: row["status"] for key, row in suggestions.items()} == {
            (rota.excerpt_id, "staff-autonomy"): "accepted",
            (rota.excerpt_id, "volunteering"): "rejected",
            (rota.excerpt_id, "welfare-state-contrast"): "suggested",
            (excerpt["excerpt_id"], "participatory-governance"): "accepted",
        }
        assert suggestions[(rota.excerpt_id, "staff-autonomy")]["memo"] == MEMO
        assert suggestions[(rota.excerpt_id, "staff-autonomy")]["status_by"] == CODER
        assert suggestions[(rota.excerpt_id, "volunteering")]["status_by"] == CODER
        rota_history = [
            (h["code_id"], h["action"], h["new_status"], h["coder"]) for h in store.decisions.history(rota.excerpt_id)
        ]
        manual_history = [
            (h["code_id"], h["action"], h["new_status"], h["coder"])
            for h in store.decisions.history(excerpt["excerpt_id"])
        ]
    assert rota_history == [
        ("staff-autonomy", "accepted", "accepted", CODER),
        ("volunteering", "rejected", "rejected", CODER),
        ("welfare-state-contrast", "rejected", "rejected", CODER),
        ("welfare-state-contrast", "undo", "suggested", CODER),
        ("staff-autonomy", "memo", "accepted", CODER),
    ]
    assert manual_history == [("participatory-governance", "added", "accepted", CODER)]


def test_quick_key_presses_decide_successive_items(browser, review):
    """a, r typed faster than the server answers: the first item accepted, the second rejected."""
    from playwright.sync_api import expect

    session, url, rota = review
    context, page, errors = open_page(browser)
    page.goto(url)
    page.locator("select[name=order]").select_option("document")  # the default is most uncertain first
    page.wait_for_load_state("networkidle")  # the list in document order, before any key is typed
    expect(page.locator("#list .item")).to_have_count(3)
    page.locator("#detail .definition").click()  # focus off the filters, so the page gets the keys
    page.keyboard.type("ar")
    expect(page.locator("#progress")).to_have_text("2 / 3 reviewed")
    expect(page.locator("#detail h2 .badge")).to_have_text("suggested")
    assert errors == []
    context.close()
    with Store.open(session.database) as store:
        history = [(h["code_id"], h["action"], h["previous_status"]) for h in store.decisions.history(rota.excerpt_id)]
    assert history == [("staff-autonomy", "accepted", "suggested"), ("volunteering", "rejected", "suggested")]


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_a_typed_memo_survives_moving_on_and_is_saved(browser, review):
    from playwright.sync_api import expect

    session, url, rota = review
    context, page, errors = open_page(browser)
    page.goto(url)
    page.locator("select[name=order]").select_option("document")
    page.wait_for_load_state("networkidle")
    memo = page.locator("#detail").get_by_label("Memo")
    memo.fill("typed, never saved by hand")
    page.locator("#detail .definition").click()  # focus leaves the box: the memo is saved
    expect(page.locator("#saved")).to_have_text("Memo saved.")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(page.locator("#detail").get_by_label("Memo")).to_have_value("typed, never saved by hand")
    assert errors == []
    context.close()
    with Store.open(session.database) as store:
        saved = store.connection.execute(
            "SELECT memo FROM suggestions WHERE excerpt_id = ? AND code_id = 'staff-autonomy'", (rota.excerpt_id,)
        ).fetchone()[0]
    assert saved == "typed, never saved by hand"


def test_enter_in_the_score_box_filters_and_stays_on_the_page(browser, review):
    from playwright.sync_api import expect

    _session, url, _rota = review
    context, page, errors = open_page(browser)
    page.goto(url)
    expect(page.locator("#list .item")).to_have_count(3)
    box = page.locator("input[name=min_score]")
    box.fill("0.95")  # a valid step: an invalid value would block the submit anyway
    box.press("Enter")
    expect(page.locator("#list .item")).to_have_count(0)
    page.wait_for_timeout(500)  # a form submission would navigate away by now
    assert page.url == url.split("?")[0]  # not submitted away from the page
    expect(page.locator("#progress")).to_have_text("0 / 3 reviewed")
    assert errors == []
    context.close()


def test_offsets_count_characters_not_utf16_units(browser, mini_corpus, tmp_path, settings):
    """An emoji or a kanji outside the BMP (𠮷 in 𠮷田) is one character in the database, two in JavaScript."""
    from playwright.sync_api import expect

    from fieldnotes.records import Suggestion

    notes = mini_corpus / "osaka" / "clinic-notes.txt"
    notes.write_text(
        notes.read_text(encoding="utf-8").replace(
            "Nurses plan", "Dr 𠮷田 runs the ward and is proud of it 🙂, as she often says. Nurses plan"
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    ingest_corpus(mini_corpus, out, settings)
    with Store.open(out / "fieldnotes.db") as store:
        run_id = store.runs.begin("code", "", "", "{}", {})
        passages, sentences, texts = store.corpus.passages_with_sentences()
        excerpts = build_excerpts(passages, sentences, texts, 40)
        store.coding.save_excerpts(run_id, excerpts)
        rota = next(e for e in excerpts if "rota" in e.text)
        assert rota.text.startswith("Nurses plan")
        store.coding.save_suggestions(
            run_id, "coproduction", [Suggestion(rota.excerpt_id, "staff-autonomy", 0.9, "rules", "rota", {})]
        )
    session = ReviewSession(out / "fieldnotes.db", load_codebook(), CODER, secrets.token_urlsafe(16), 0.33)
    httpd, url = start_server(session)
    try:
        context, page, errors = open_page(browser)
        page.goto(url)
        expect(page.locator("#passage mark")).to_have_text(rota.text)
        passage_text = page.locator("#passage").text_content()
        start = utf16_length(passage_text[: passage_text.index(MANUAL_TEXT)])  # a DOM Range counts UTF-16 units
        assert page.evaluate(SELECT_JS, ["#passage", start, start + len(MANUAL_TEXT)]) == MANUAL_TEXT
        page.get_by_label("Add a code to the selected text").select_option("participatory-governance")
        expect(page.locator("#list .item")).to_have_count(2)
        expect(page.locator("#error")).to_have_text("")
        # A drag that runs past the passage's end (into the rationale below) codes only the passage's part.
        tail = "where the roster comes from above."
        start = utf16_length(passage_text[: passage_text.index(tail)])
        page.evaluate(
            """(start) => {
              const text = document.querySelector("#passage").lastChild;
              const range = document.createRange();
              range.setStart(text, start - (text.parentNode.textContent.length - text.data.length));
              range.setEnd(document.querySelector("#detail .rationale").firstChild, 2);
              getSelection().removeAllRanges();
              getSelection().addRange(range);
            }""",
            start,
        )
        page.get_by_label("Add a code to the selected text").select_option("local-needs")
        expect(page.locator("#list .item")).to_have_count(3)
        expect(page.locator("#error")).to_have_text("")
        assert errors == []
        context.close()
    finally:
        httpd.shutdown()
    with Store.open(out / "fieldnotes.db") as store:
        manual = store.connection.execute("SELECT text FROM excerpts WHERE kind = 'manual'").fetchall()
    assert sorted(row["text"] for row in manual) == [MANUAL_TEXT, tail]


def test_a_document_without_suggestions_is_read_whole_and_coded_by_hand(browser, review):
    """Every passage of every document can be read and coded, not only those the tool suggested for:
    the leaflet has no suggestion at all."""
    from playwright.sync_api import expect

    session, url, _ = review
    wanted = "Supporters visit older residents who live alone"
    context, page, errors = open_page(browser)
    page.goto(url)
    page.locator("#filters [name=view]").select_option("read")
    page.locator("#filters [name=document]").select_option("documents/leaflet.md")
    detail = page.locator("#detail")
    expect(detail.locator("h2")).to_have_text("documents/leaflet.md")
    passage = detail.locator(".passage", has_text=wanted)
    expect(passage).to_have_count(1)
    expect(passage.locator("mark")).to_have_count(0)  # nothing suggested here
    text = passage.text_content()
    start = text.index(wanted)
    page.evaluate(
        "([wanted]) => document.querySelectorAll('#detail .passage').forEach((p, i) => { if (p.textContent.includes(wanted)) p.id = 'picked'; })",
        [wanted],
    )
    assert page.evaluate(SELECT_JS, ["#picked", start, start + len(wanted)]) == wanted
    detail.get_by_role("combobox", name="Add a code to the selected text").select_option("mutual-help")
    expect(page.locator("#saved")).to_contain_text("Added")
    # Shown at once as a coded span of that passage, and stored as the coder's accepted code.
    expect(detail.locator(".passage", has_text=wanted).locator("mark")).to_have_text(wanted)
    with Store.open(session.database) as store:
        row = store.connection.execute(
            "SELECT e.text, s.status, s.status_by, e.kind FROM suggestions s JOIN excerpts e USING (excerpt_id) "
            "WHERE s.code_id = 'mutual-help'"
        ).fetchone()
    assert tuple(row) == (wanted, "accepted", CODER, "manual")
    # Back to the suggestions: the review list is as it was.
    page.locator("#filters [name=view]").select_option("suggestions")
    page.locator("#filters [name=document]").select_option("")
    expect(page.locator("#list .item")).to_have_count(4)
    assert not errors, errors
    context.close()
