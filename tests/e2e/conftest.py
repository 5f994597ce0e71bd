"""Browser tests: the app server, Chromium and ``login`` live in tests/conftest.py (the reliability
suite drives them too); screenshots go to ``artifacts/``."""

from __future__ import annotations

from tests.conftest import ROOT

ARTIFACTS = ROOT / "artifacts"
