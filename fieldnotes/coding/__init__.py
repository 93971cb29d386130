"""Coding: excerpts, embeddings, suggesters and their calibrated combination."""
