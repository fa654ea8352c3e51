"""Screenshots of the pages the browser tests drive, for docs/screenshots/."""

import os
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"


def screenshot(page, name: str, **options) -> None:
    """Into docs/screenshots/ with SIGNOFF_SCREENSHOTS=1 (to refresh the committed ones), else into a temporary
    folder: a test run leaves the checkout as it found it."""
    folder = DOCS if os.environ.get("SIGNOFF_SCREENSHOTS") else Path(tempfile.gettempdir()) / "signoff-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), **options)
