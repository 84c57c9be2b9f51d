"""Text for ``%nbrag``: what runs where, the settings, the magics."""

from __future__ import annotations

import dataclasses
from typing import Any

from nbrag.config import Settings, settings
from nbrag.errors import NbragError


def config() -> str:
    rows = [f"  {f.name:<14} = {getattr(settings, f.name)!r}\n      {f.metadata.get('help', '')}"
            for f in dataclasses.fields(Settings)]
    head = "nbrag settings (change with %config NbragMagics.<name> = value or nbrag.configure(...)):"
    return head + "\n" + "\n".join(rows)


def info() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from nbrag import models
    from nbrag.chunking import available

    try:
        device = models.resolve_device()
        dtype = str(models.resolve_dtype(device)).replace("torch.", "")
    except NbragError as error:
        device, dtype = f"unavailable ({error})", "?"
    lines = [
        f"nbrag {_version(version, PackageNotFoundError)}",
        f"device: {device} (setting {settings.device!r}), dtype: {dtype} (setting {settings.dtype!r})",
        f"embedder:  {settings.embedder}  <- {models.model_source('embedder', settings.embedder)}",
        f"generator: {settings.generator}  <- {models.model_source('generator', settings.generator)}",
        f"chunk sizes counted with: {settings.chunk_tokenizer if settings.chunk_unit == 'token' else 'characters'}",
        f"chunkers: {', '.join(available())}",
        f"data dir: {settings.data_dir}",
    ]
    rows: list[dict[str, Any]] = models.loaded()
    if rows:
        lines.append("loaded this session:")
        lines += [f"  {r['kind']:<10} {r['name']:<28} {r['device']:<6} {r['dtype']:<9} {r['load_s']} s" for r in rows]
    else:
        lines.append("loaded this session: nothing yet (models load on first use)")
    return "\n".join(lines)


def usage(shell: Any) -> str:
    """Every nbrag magic with its docstring, the cell form where there is one."""
    parts = ["nbrag magics (add ? for full help, e.g. %%chunk?):"]
    seen = set()
    for kind in ("cell", "line"):
        prefix = "%%" if kind == "cell" else "%"
        for name, method in sorted(shell.magics_manager.magics[kind].items()):
            owner = getattr(method, "__self__", None)
            if not type(owner).__module__.startswith("nbrag.magics") or name in seen:
                continue
            seen.add(name)
            doc = (method.__doc__ or "").strip()
            parts.append(f"\n{prefix}{name}\n{doc}")
    return "\n".join(parts)


def _version(version: Any, missing: type[Exception]) -> str:
    try:
        return version("nbrag")
    except missing:  # run from a source folder that was never installed
        return "(not installed)"
