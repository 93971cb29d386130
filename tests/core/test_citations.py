"""Reference lists are recognised (fieldnotes.citations), and `code` leaves them out of the
suggestions, the themes and the comparison, while a researcher can still code them by hand.
The texts here are written for the test."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldnotes.citations import is_reference_list, reads_as_references
from fieldnotes.cli import cli

REFERENCE_ENTRIES = (
    "Tanaka, H. & Mori, K. (2019). Members and staff in health cooperatives. Journal of Care Work, 12(3), "
    "45-67. https://doi.org/10.0000/example. Ito, S. (2021). The han group revisited. Osaka: Example Press."
)


@pytest.mark.parametrize(
    ("text", "section", "expected"),
    [
        (REFERENCE_ENTRIES, "", True),
        (REFERENCE_ENTRIES, "Findings", True),
        ("Ito, S. (2021). The han group revisited.", "References", True),  # one entry under its heading
        ("Ito, S. (2021). The han group revisited.", "4. Bibliography", True),
        ("伊藤 (2021) 班会の再検討, 例出版.", "参考文献", True),
        ("Ito, S. (2021). The han group revisited.", "Discussion", False),  # one citation in prose is prose
        ("Members of the han group visit older neighbours every week (Ito, 2021).", "Findings", False),
        ("The references below were chosen by the members' committee.", "References", False),  # cites nothing
        ("Nurses plan their own rota on a whiteboard in the staff room.", "", False),
    ],
)
def test_reference_lists_are_told_from_prose(text, section, expected):
    assert is_reference_list(text, section) is expected


def test_prose_with_a_few_citations_does_not_read_as_references():
    prose = (
        "As Tanaka (2019) and Ito (2021) describe, the han group is where members first meet the staff, "
        "and in Niihama the nurses visit the groups every month to hear what the neighbourhood needs."
    )
    assert not reads_as_references(prose)


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_code_scores_no_excerpt_of_a_reference_list_and_leaves_it_out_of_themes_and_comparison(
    mini_corpus, tmp_path, shared_embedder
):
    article = mini_corpus / "osaka" / "2024-12-01_report.md"
    article.write_text(
        "# The clinic's volunteers\n\nVolunteers from the neighbourhood help at the clinic every week, "
        "and the nurses plan the rota with them.\n\n## References\n\n"
        "Tanaka, H. (2019). Volunteers in the clinic. Journal of Care Work, 12(3), 45-67.\n\n"
        "Ito, S. (2021). Nurses who plan their own rota. Osaka: Example Press.\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["code", str(mini_corpus), "--out", str(out), "--settings", str(_low(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "excerpts of reference lists not scored" in result.output
    db = sqlite3.connect(out / "fieldnotes.db")
    listed = {
        row[0] for row in db.execute("SELECT passage_id FROM passages WHERE active = 1 AND text LIKE '%(20__).%'")
    }
    assert len(listed) == 2
    coded_passages = {row["passage_id"] for row in read_csv(out / "excerpts.csv")}
    assert coded_passages and not coded_passages & listed  # everything else may be suggested, not these
    themed = {row[0] for row in db.execute("SELECT passage_id FROM passage_topics")}
    assert themed and not themed & listed
    site_passages = {int(row["site_passages"]) for row in read_csv(out / "code_by_site.csv") if row["site"] == "osaka"}
    active_osaka = db.execute("SELECT COUNT(*) FROM passages WHERE active = 1 AND site = 'osaka'").fetchone()[0]
    assert site_passages == {active_osaka - 2}


def _low(tmp_path: Path) -> Path:
    """Settings under which nearly every excerpt gets a suggestion, so an absent one means skipped."""
    path = tmp_path / "low.toml"
    path.write_text("[coding]\nthreshold = 0.01\n\n[themes]\nmin_topic_size = 2\n", encoding="utf-8")
    return path
