"""fieldnotes: code qualitative field material on co-production, by site."""

__version__ = "0.1.0"
