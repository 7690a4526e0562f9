"""Helpers for the judges of `authsim emulator` (tests/py/test_emulator_*.py)."""
