"""Generic helpers that know nothing about the template: pure matplotlib figures, the garbage collector at start-up."""
