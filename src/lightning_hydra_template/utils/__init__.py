"""Generic helpers that know nothing about the template: pure matplotlib figures."""
