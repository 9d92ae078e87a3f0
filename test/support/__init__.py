"""Helpers shared by the test modules (never tests themselves); ``REPO`` is the repository root."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
