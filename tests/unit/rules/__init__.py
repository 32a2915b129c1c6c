"""Unit tests of the clinical rules."""
