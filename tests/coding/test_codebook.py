"""Codebooks load, and every kind of mistake is reported with file, line, code and field."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA

from fieldnotes.cli import cli
from fieldnotes.codebook import CodebookError, load_codebook

FIXED_IDS = [
    "individual-coproduction", "collective-coproduction", "community-coproduction", "volunteering",
    "participatory-governance", "staff-autonomy", "mutual-help", "integrated-care", "social-interaction",
    "openness-inclusion", "local-needs", "equality-diversity", "privacy-risk", "welfare-state-contrast",
]  # fmt: skip


def test_shipped_codebook_has_the_fourteen_fixed_codes_in_groups():
    loaded = load_codebook()
    book = loaded.codebook
    assert sorted(book.code_ids) == sorted(FIXED_IDS)
    assert all(code.parent for code in book.codes) and len(book.groups) >= 3
    assert all(len(code.examples) >= 5 and code.definition and code.exclude for code in book.codes)
    assert loaded.reference_path.is_file() and loaded.calibration_path.is_file()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "book.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = (DATA / "codebooks" / "mini.yaml").read_text(encoding="utf-8").replace("reference: mini-reference.csv\n", "")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.replace("    definition: Unpaid", "    defintion: Unpaid"),
            r"book.yaml:\d+: unknown key 'defintion' \(code \"volunteering\"",
        ),
        (lambda t: t.replace("id: privacy-risk", "id: volunteering"), "code id 'volunteering' is defined twice"),
        (
            lambda t: t.replace('regex: "\\\\bconfidential\\\\w*"', 'regex: "(unclosed"'),
            r'code "privacy-risk", field patterns\[0\].*invalid regular expression',
        ),
        (
            lambda t: t.replace('{LEMMA: "deliver"}', '{LEMA: "deliver"}'),
            r'code "volunteering", field patterns\[1\].*unknown key',
        ),
        (
            lambda t: t.replace('{LEMMA: "deliver"}', '{LEMMA: "deliver", OP: "!!"}'),
            r'code "volunteering", field patterns: invalid token pattern',
        ),
        (
            lambda t: t.replace(
                "    parent: forms\n    definition: Unpaid", "    parent: nowhere\n    definition: Unpaid"
            ),
            "parent 'nowhere' is not a group",
        ),
        (
            lambda t: t.replace(
                "  - id: welfare-state-contrast\n    name: Welfare-state contrast\n", "  - id: welfare-state-contrast\n"
            ),
            r'code "welfare-state-contrast", field name is missing; add a line \'name: ...\' to this code',
        ),
        (lambda t: t.replace("id: privacy-risk", "id: Privacy Risk"), "a code id is lower-case words"),
        (lambda t: t.split("codes:")[0] + "codes: []\n", "the codebook has no codes"),
        (lambda t: t.replace("name: Forms\n", "name: [Forms\n"), r"book.yaml:\d+: not valid YAML"),
        (
            lambda t: t.replace("    name: Welfare-state contrast\n", "      name: Welfare-state contrast\n"),
            r"book.yaml:\d+: not valid YAML .*indented differently from the line above it",
        ),
        (
            lambda t: t.replace("    name: Welfare-state contrast\n", "    name: Welfare: state contrast\n"),
            r"book.yaml:\d+: not valid YAML .*a value holding ': ' needs quotes",
        ),
        (lambda t: "reference: missing.csv\n" + t, r"book.yaml:1: reference file 'missing.csv' not found"),
    ],
)
def test_invalid_codebooks_are_refused_with_a_precise_message(tmp_path, change, message):
    path = write(tmp_path, change(GOOD))
    with pytest.raises(CodebookError, match=message):
        load_codebook(path)


def test_line_numbers_point_at_the_offending_key(tmp_path):
    text = GOOD.replace("    definition: Unpaid", "    defintion: Unpaid")
    path = write(tmp_path, text)
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "defintion" in row)
    with pytest.raises(CodebookError, match=rf"book.yaml:{line}:"):
        load_codebook(path)


def test_codebook_commands():
    runner = CliRunner()
    checked = runner.invoke(cli, ["codebook", "check"])
    assert checked.exit_code == 0 and "valid" in checked.output and "14 codes in 5 groups" in checked.output
    shown = runner.invoke(cli, ["codebook", "show", str(DATA / "codebooks" / "mini.yaml"), "--full"])
    assert shown.exit_code == 0
    assert "volunteering" in shown.output and "Unpaid work given by members" in shown.output
    missing = runner.invoke(cli, ["codebook", "check", "nowhere.yaml"])
    assert missing.exit_code == 1 and "codebook not found" in missing.output


def _load_in_a_new_process(path: Path, cache: Path) -> tuple[int, str]:
    """Load the codebook in a fresh interpreter with its own user cache: (exit code, output), the
    output ending in whether spaCy was imported."""
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from fieldnotes.codebook import CodebookError, load_codebook\n"
        "try:\n"
        f"    load_codebook({str(path)!r})\n"
        "except CodebookError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
        "print('spacy imported' if 'spacy' in sys.modules else 'spacy not imported')\n"
    )
    env = {**os.environ, "FIELDNOTES_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout.strip()


def test_token_patterns_spacy_accepted_once_are_not_checked_again_and_a_change_is(tmp_path):
    cache = tmp_path / "cache"
    path = write(tmp_path, GOOD)
    assert _load_in_a_new_process(path, cache) == (0, "spacy imported")
    assert len(list((cache / "checked-patterns").iterdir())) == 1
    assert _load_in_a_new_process(path, cache) == (0, "spacy not imported")
    # An edited pattern is checked again, and a refused one is never marked as checked.
    path.write_text(GOOD.replace('{LEMMA: "deliver"}', '{LEMMA: "deliver", OP: "!!"}'), encoding="utf-8")
    for _ in range(2):
        code, output = _load_in_a_new_process(path, cache)
        assert code == 3 and 'code "volunteering", field patterns: invalid token pattern' in output
    assert len(list((cache / "checked-patterns").iterdir())) == 1


def test_an_unwritable_user_cache_only_costs_the_check_again(tmp_path):
    cache = tmp_path / "cache"
    cache.write_text("a file where the cache folder should be", encoding="utf-8")
    path = write(tmp_path, GOOD)
    for _ in range(2):
        assert _load_in_a_new_process(path, cache) == (0, "spacy imported")
