"""Cross-site comparison: statistics, charts and the HTML report."""
