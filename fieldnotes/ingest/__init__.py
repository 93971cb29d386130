"""Ingestion: read files, repair extraction damage, segment, and assign sites."""
