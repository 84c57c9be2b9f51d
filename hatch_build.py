"""Copy the widgets' front-end sources (widgets/*.js, *.css) into the package.

The wheel and editable installs both get them under nbrag/views/static/, so an
installed nbrag loads its JavaScript from disk: no CDN, no network.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        root = Path(self.root)
        source = root / "widgets"
        target = root / "nbrag" / "views" / "static"
        if not source.is_dir():  # building from an sdist that already holds static/
            return
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.iterdir()):
            if path.suffix in {".js", ".css"}:
                shutil.copy2(path, target / path.name)
