"""Saved queries: the files, their typed parameters, the runner."""
