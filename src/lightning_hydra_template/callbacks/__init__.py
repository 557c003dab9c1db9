"""The template's own Lightning callbacks."""
