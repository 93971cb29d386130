"""The shipped sample corpus reads cleanly and every kind of document lands in the right site."""

import pytest
from conftest import REPO

from fieldnotes.pipeline import ingest_corpus


@pytest.fixture(scope="module")
def shipped(tmp_path_factory, settings):
    out = tmp_path_factory.mktemp("out")
    report = ingest_corpus(REPO / "corpus", out, settings)
    import csv

    with report.csv_path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return report, rows


def sites_of(rows, document):
    return [row["site"] for row in rows if row["document"] == document]


def test_every_document_is_read(shipped):
    report, _rows = shipped
    assert report.errors == [] and report.notes == []
    assert set(report.documents_by_format) == {"md", "txt", "docx", "pdf", "html"}
    assert report.documents >= 40 and report.passages >= 300
    assert {"nagoya", "osaka", "niihama", "general"} <= set(report.passages_by_site)


def test_folders_and_manifest_decide_whole_documents(shipped):
    _, rows = shipped
    for row in rows:
        top = row["document"].split("/")[0]
        if top in ("nagoya", "osaka", "niihama"):
            assert row["site"] == top, row["document"]
    assert set(sites_of(rows, "documents/neighbourhood-supporters-guide.txt")) == {"niihama"}


@pytest.mark.parametrize(
    "document",
    [
        "articles/coproduction-three-cooperatives.md",
        "articles/working-paper-governance.txt",
        "articles/staff-work-environment-report.docx",
        "articles/community-coproduction-brief.pdf",
    ],
)
def test_multi_site_articles_open_with_general_then_visit_each_site_and_close_general(shipped, document):
    _, rows = shipped
    sites = sites_of(rows, document)
    # Collapse runs: general introduction, one section per site, general ending.
    runs = [site for i, site in enumerate(sites) if i == 0 or sites[i - 1] != site]
    assert runs == ["general", "nagoya", "osaka", "niihama", "general"], runs


def test_japanese_document_is_decoded_and_placed(shipped):
    _, rows = shipped
    japanese = [row for row in rows if row["document"] == "japanese/niihama-newsletter-ja.txt"]
    assert japanese and all(row["site"] == "niihama" and row["language"] == "ja" for row in japanese)
    assert "ふれあいサロン" in japanese[0]["text"]


def test_pdf_text_is_repaired(shipped):
    _, rows = shipped
    text = " ".join(row["text"] for row in rows if row["document"].endswith(".pdf"))
    assert "Minami-Odaka" in text and "co-production" in text
    assert "Policy brief 2025/1" not in text  # running header
    assert "  " not in text
