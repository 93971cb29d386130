"""Exchange with spreadsheets and other QDA tools: exports of coded excerpts (CSV, xlsx,
Markdown, REFI-QDA project and codebook) and imports (reviewed spreadsheets, REFI-QDA
codebooks and projects). Imported files are untrusted; see `archive`."""
