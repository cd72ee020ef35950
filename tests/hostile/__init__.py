"""The hostile corpus: case lists and the writers that make each case's inputs (see README.md)."""
