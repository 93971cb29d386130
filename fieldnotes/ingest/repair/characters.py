"""Character damage: mojibake, ligatures, full-width forms, odd dashes, spaces and invisible marks."""

from __future__ import annotations

import re

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


# A combining overlay (long stroke, short stroke, slash) with no letter under it: a PDF's way of
# drawing a dash between two parts of a heading ("... care system / ̶ an example from Osaka").
_LONE_OVERLAY = re.compile(r"(^|\s)[\u0335\u0336\u0337\u0338\u20d2]+", re.M)


def normalize_text(text: str) -> str:
    """NFKC, mojibake, ligatures, full-width forms, curly quotes, odd dashes and spaces."""
    import ftfy

    text = text.replace("\u00ad\n", "-\n")  # a soft hyphen that broke a line acts as a hyphen
    text = ftfy.fix_text(text, normalization="NFKC", unescape_html=False)
    text = _LONE_OVERLAY.sub(lambda match: match.group(1) + "\u2013", text)
    return text.translate(_CHAR_FIXES)
