"""Themes: topic models (BERTopic) over passages, sized to the corpus."""
