"""Data passed between the ingestion steps (read -> repair -> segment); what ingestion hands on is a
fieldnotes.records.Passage."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class BlockKind(StrEnum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST = "list"
    TABLE = "table"
    # Plain text and PDFs do not mark headings; repair decides from layout.
    UNKNOWN = "unknown"


@dataclass
class RawBlock:
    """A block of text as a reader found it: the lines of one paragraph, heading, list or table."""

    lines: list[str]
    kind: BlockKind = BlockKind.UNKNOWN
    level: int | None = None
    page: int | None = None
    # Set by readers that see typography (PDF): bold or larger type than the body.
    looks_like_heading: bool = False
    # Set by readers that see the page (PDF): in the top or bottom margin, where
    # running headers, footers and page numbers live.
    at_page_edge: bool = False
    # Set by readers that see a page's layout (HTML): navigation, menus, share links, footers
    # and other template text around the body. Repair drops these blocks.
    boilerplate: bool = False


@dataclass
class SourceDocument:
    """One file as read: blocks of text plus metadata, before any repair."""

    path: Path
    relpath: str
    format: str
    raw_hash: str
    blocks: list[RawBlock]
    metadata: dict[str, object] = field(default_factory=dict)
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CleanBlock:
    """A repaired block and its character offsets in the cleaned document text."""

    text: str
    kind: BlockKind
    level: int | None
    start: int
    end: int
    # True when the heading level was inferred from layout, not from markup.
    inferred: bool = False


@dataclass
class CleanDocument:
    source: SourceDocument
    text: str
    blocks: list[CleanBlock]
    repairs: dict[str, int]
