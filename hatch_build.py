"""Copy the widgets' front-end sources (widgets/*.js, *.css) into the package.

The wheel and editable installs both get them under nbrag/views/static/, so an
installed nbrag loads its JavaScript from disk: no CDN, no network. Every widget
module is written with widgets/_shared.js (the helpers all widgets use) in front of
it, so each one stays a single self-contained ES module.
"""

from __future__ import annotations

from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SHARED = "_shared.js"


def build_static(source: Path, target: Path) -> list[Path]:
    """Write every widget's module (the shared helpers first) and stylesheet from ``source`` into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    shared = (source / SHARED).read_text(encoding="utf-8")
    written = []
    for path in sorted(source.iterdir()):
        if path.suffix == ".js" and path.name != SHARED:
            text = f"{shared}\n// ---- {path.name}\n\n{path.read_text(encoding='utf-8')}"
        elif path.suffix == ".css":
            text = path.read_text(encoding="utf-8")
        else:
            continue
        out = target / path.name
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            out.write_text(text, encoding="utf-8")
        written.append(out)
    return written


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        root = Path(self.root)
        source = root / "widgets"
        if not source.is_dir():  # building from an sdist that already holds static/
            return
        build_static(source, root / "nbrag" / "views" / "static")
