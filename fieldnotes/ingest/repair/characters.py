"""Character damage: mojibake, ligatures, full-width forms, odd dashes, spaces and invisible marks."""

from __future__ import annotations

_CHAR_FIXES = str.maketrans(
    {
        "\u00ad": None,  # soft hyphen inside a line
        "\u200b": None,
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
        "\ufeff": None,
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2043": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u2007": " ",
        "\u202f": " ",
        "\t": " ",
    }
)


def normalize_text(text: str) -> str:
    """NFKC, mojibake, ligatures, full-width forms, curly quotes, odd dashes and spaces."""
    import ftfy

    text = text.replace("\u00ad\n", "-\n")  # a soft hyphen that broke a line acts as a hyphen
    text = ftfy.fix_text(text, normalization="NFKC", unescape_html=False)
    return text.translate(_CHAR_FIXES)
