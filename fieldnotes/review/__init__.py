"""Reviewing machine-suggested codes: inter-coder agreement between two parties."""
