"""Site assignment: metadata, manifest, folder, headings (marked and unmarked), mentions."""

from pathlib import Path

import pytest
from conftest import DATA, make_docx

from fieldnotes.ingest.readers import read_document
from fieldnotes.ingest.run import process_document
from fieldnotes.ingest.segment import default_splitters
from fieldnotes.ingest.sites import SiteMatcher


@pytest.fixture(scope="module")
def splitters():
    return default_splitters()


@pytest.fixture
def place(settings, splitters, tmp_path):
    """Write a document, run it through the stages, return [(site, first words)]."""

    def run(relpath: str, text: str | None = None, manifest: dict | None = None, path: Path | None = None):
        if path is None:
            path = tmp_path / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        source = read_document(path, relpath)
        _, passages, notes = process_document(source, settings, SiteMatcher(settings.site), splitters, manifest)
        run.notes = notes
        run.passages = passages
        return [(p.site, " ".join(p.text.split()[:3])) for p in passages]

    return run


def test_aliases_in_english_and_japanese(settings):
    matcher = SiteMatcher(settings.site)
    assert matcher.mentions("Minami-Odaka station in Aichi") == {"nagoya": 2}
    assert matcher.mentions("the Hanshin Health and Welfare Cooperative in Amagasaki") == {"osaka": 2}
    assert matcher.mentions("新居浜医療福祉生協と尼崎") == {"niihama": 1, "osaka": 1}
    assert matcher.mentions("Minamiya and Osakan food") == {}
    assert matcher.resolve("Osaka") == "osaka" and matcher.resolve("tokyo") is None


def test_front_matter_site_wins_over_folder_and_text(place):
    text = "---\nsite: niihama\n---\n\n# Notes from Nagoya\n\nThe Nagoya han met.\n"
    assert place("nagoya/x.md", text) == [("niihama", "The Nagoya han")]
    assert "front matter: site=niihama" in place.passages[0].site_evidence


def test_manifest_gives_the_site_of_files_without_metadata(place):
    assert place("documents/report.txt", "Annual report\n\nWe opened a clinic.\n", {"site": "osaka"}) == [
        ("osaka", "We opened a")
    ]
    assert place.passages[0].site_evidence == "manifest: site=osaka"


def test_unknown_site_in_metadata_is_noted_and_ignored(place):
    assert place("x.md", "---\nsite: tokyo\n---\n\nMembers met in Niihama.\n") == [("niihama", "Members met in")]
    assert any("unknown site 'tokyo'" in note for note in place.notes)


def test_folder_gives_the_site(place):
    assert place("field/Osaka/notes.txt", "Clinic visit\n\nThe nurses met in Niihama once.\n") == [
        ("osaka", "The nurses met")
    ]
    assert place.passages[0].site_evidence == "folder: Osaka/"


def test_plain_text_article_with_unmarked_headings(place):
    placed = place("articles/three-sites.txt", path=DATA / "mini" / "articles" / "three-sites.txt")
    assert placed == [
        ("general", "This paper compares"),  # the introduction names all three sites
        ("nagoya", "The Minami cooperative"),  # mentions Amagasaki in passing: stays Nagoya
        ("nagoya", "Nurses sit on"),  # an unmarked subheading inside the Nagoya section
        ("osaka", "The Hanshin cooperative"),
        ("niihama", "In Niihama, neighbours"),
        ("general", "Across the three"),  # "Concluding remarks" names no site
    ]
    assert place.passages[1].site_evidence.startswith('heading "2. Minami Health and Welfare Cooperative, Nagoya"')


def test_markdown_sections_and_subsections(place):
    text = (
        "# Co-production in three cooperatives\n\nAn introduction naming Nagoya, Osaka and Niihama.\n\n"
        "## Nagoya\n\nThe Minami han meet monthly.\n\n### Han groups\n\nThey take blood pressure together.\n\n"
        "## Niihama\n\nNeighbours run the salon.\n\n## Conclusion\n\nAll three differ.\n"
    )
    assert place("articles/a.md", text) == [
        ("general", "An introduction naming"),
        ("nagoya", "The Minami han"),
        ("nagoya", "They take blood"),
        ("niihama", "Neighbours run the"),
        ("general", "All three differ."),
    ]


def test_word_headings_decide_sections(place, tmp_path):
    path = make_docx(
        tmp_path / "report.docx",
        [
            ("Heading 1", "Staff work environment"),
            ("", "This report covers three cooperatives."),
            ("Heading 2", "Hyogo: Hanshin clinics"),
            ("Heading 3", "Control"),
            ("", "Clinic staff set their own rota."),
            ("Heading 2", "Implications"),
            ("", "Staff need more say in all three."),
        ],
    )
    assert place("articles/report.docx", path=path) == [
        ("general", "This report covers"),
        ("osaka", "Clinic staff set"),
        ("general", "Staff need more"),
    ]


def test_documents_without_site_headings_fall_back_to_what_they_name(place):
    assert place("notes/a.txt", "A note\n\nWe met the Hanshin nurses.\n\nThey work in Amagasaki.\n") == [
        ("osaka", "We met the"),
        ("osaka", "They work in"),
    ]
    assert "names only Osaka" in place.passages[0].site_evidence
    assert place("notes/b.txt", "A note\n\nWe took the train.\n") == [("general", "We took the")]


def test_run_in_section_openings(place):
    text = "Comparison\n\nNagoya: the han are many and active.\n\nOsaka: the clinics are small.\n\nBoth matter.\n"
    assert [site for site, _ in place("notes/c.txt", text)] == ["nagoya", "osaka", "osaka"]


def test_japanese_heading_names_the_site(place):
    text = "お知らせ\n\n新居浜のサロン\n\nサロンが一周年を迎えました。ボランティアを募集しています。\n"
    assert place("ja/news.txt", text) == [("niihama", "サロンが一周年を迎えました。ボランティアを募集しています。")]


# --- site evidence weighed, not counted ----------------------------------------------------------

LONG_GENERAL = "\n\n".join(
    f"Paragraph {n} is about how cooperatives in Japan organise care for older members." for n in range(6)
)


def test_a_section_whose_heading_names_no_site_takes_the_site_its_text_is_about(place):
    """A case section headed by its theme: from the sentence that names the place, the section
    is that place's; the general lead-in before it stays general."""
    text = (
        "# Caring together\n\n## Background\n\nCooperatives grew after the war.\n\n"
        "## Members who run their clinic\n\nMany clinics say members decide.\n\n"
        "For example, the Niihama cooperative asks every han before it changes the hours.\n\n"
        "The Niihama board then votes on the han's answers.\n\n"
        "## Implications\n\nThis matters everywhere.\n"
    )
    assert place("articles/a.md", text) == [
        ("general", "Cooperatives grew after"),
        ("general", "Many clinics say"),
        ("niihama", "For example, the"),
        ("niihama", "The Niihama board"),
        ("general", "This matters everywhere."),
    ]
    assert "is about Niihama" in place.passages[2].site_evidence
    assert "has not named Niihama yet" in place.passages[1].site_evidence


def test_an_affiliation_or_a_reference_list_is_no_evidence_for_a_site(place):
    text = (
        f"New book on care\n\n{LONG_GENERAL}\n\n"
        "The author is a guest professor at Osaka University and writes on welfare.\n\n"
        "Tanaka, H., Sato, K., 2014. Care in Nagoya: a study. J. Coop. Stud. 3, 1-9. http://doi.org/10/x. "
        "Suzuki, M., 2016. Welfare in Niihama. Osaka: Sogensha.\n"
    )
    sites = place("web/book.txt", text)
    assert {site for site, _ in sites} == {"general"}
    assert "only in references or institutions' names" in place.passages[-1].site_evidence


def test_one_passing_mention_in_a_long_document_makes_only_its_passage_that_site(place):
    text = f"Notes on care\n\n{LONG_GENERAL}\n\nOnce we also visited a salon in Amagasaki.\n"
    sites = place("notes/long.txt", text)
    assert sites[-1][0] == "osaka" and {site for site, _ in sites[:-1]} == {"general"}
    assert "the rest of the document does not" in place.passages[-1].site_evidence
    # A short note is about the place it names, even once.
    assert place("notes/short.txt", "We visited a salon in Amagasaki.\n") == [("osaka", "We visited a")]


def test_a_heading_wrapped_over_three_lines_with_odd_separators_opens_its_site(place):
    """A PDF extract: the heading's parts joined by ideographic spaces and a combining stroke
    standing for a dash. It is still a heading, and its site holds until the next one."""
    text = (
        "Co-production in care\n\nCooperatives grew after the war in many towns.\n\n"
        "Nagoya and its han\n\nIn Nagoya the han meet every month in the clinic.\n\n"
        "Co-production and the community-\nbased integrated care system\u3000\u3000\u3000\n\u0336 an example from Osaka\n\n"
        "The cooperative works with the ward office and the hospitals.\n\n"
        "Concluding remarks\n\nAll three show members deciding.\n"
    )
    sites = dict((words, site) for site, words in place("articles/extract.txt", text))
    assert sites["The cooperative works"] == "osaka"
    assert sites["In Nagoya the"] == "nagoya"
    assert sites["All three show"] == "general"
