"""The first-run screen: an honest duration and a progress bar that shows from the first second."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui import firstrun

SCRIPT = """
import time
from pathlib import Path
from ui import firstrun

class Slow(firstrun.Build):
    def run(self, root):  # the real build would take minutes: the screen's first draw is what counts
        time.sleep(5)

    def __init__(self):
        super().__init__()
        self.done = True  # so the screen draws once instead of polling

firstrun._build.clear()
firstrun.Build = Slow
firstrun.wait_for_demo(Path("/nonexistent-store"), poll_seconds=0.01)
"""


def test_a_new_build_shows_progress_before_the_first_period() -> None:
    build = firstrun.Build()
    assert build.progress > 0 and build.message.startswith("Starting")
    build._step(0.0, "billing period 2024-11")
    assert build.progress > 0  # the generator's first report (0 periods done) keeps the bar visible
    build._step(24 / 25, "billing period 2026-11")
    assert "then the rollups" in build.message


def test_the_screen_says_how_long_it_may_take(tmp_path: Path) -> None:
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    at.run(timeout=30)
    text = " ".join(m.value for m in at.markdown)
    assert "one to two minutes" in text and "under a minute" not in text
    bar = at.get("progress")[0]
    assert bar.proto.value > 0 and "s so far" in bar.proto.text
