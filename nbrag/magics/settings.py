"""``%nbrag`` and the session's settings as traitlets: ``%config NbragMagics.chunk_size = 128``.

Every field of ``nbrag.settings`` is a configurable traitlet of :class:`NbragMagics`; a value is
checked by the settings themselves, so a bad one is refused and changes nothing. ``%nbrag``
prints what runs where, ``%nbrag config`` the settings, ``%nbrag help`` every magic, and
``%nbrag index PATH`` builds an index (:meth:`nbrag.magics.retrieve.RetrieveMagics.build_index`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import traitlets
from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class

from nbrag.config import Settings, settings
from nbrag.magics import info
from nbrag.magics.base import AreaMagics

_TRAITS = {int: traitlets.Int, str: traitlets.Unicode, bool: traitlets.Bool, float: traitlets.Float}


def _settings_traits() -> dict[str, traitlets.TraitType]:
    """One configurable traitlet per settings field, with the field's help."""
    defaults = Settings()
    traits = {}
    for f in dataclasses.fields(Settings):
        value = getattr(defaults, f.name)
        traits[f.name] = _TRAITS[type(value)](value, help=f.metadata.get("help", "")).tag(config=True)
    return traits


@magics_class
class NbragMagics(AreaMagics):
    """``%nbrag``; the session's defaults are the traitlets below (``%nbrag config`` lists them)."""

    # A class body runs in a plain dict (also under PEP 667), so this defines one
    # traitlet per settings field, named and documented like the field.
    locals().update(_settings_traits())

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)  # applies %config / ipython_config values to settings
        for f in dataclasses.fields(Settings):  # show what the session really uses
            setattr(self, f.name, getattr(settings, f.name))

    @traitlets.validate(*(f.name for f in dataclasses.fields(Settings)))
    def _check_setting(self, proposal: dict[str, Any]) -> Any:
        name, value = proposal["trait"].name, proposal["value"]
        try:
            settings.update(**{name: value})
        except ValueError as error:
            raise traitlets.TraitError(str(error)) from None
        return value

    @line_magic
    def nbrag(self, line: str) -> None:
        """%nbrag [info|config|help]: models and devices in use, settings, the magics.
        %nbrag index PATH [--name NAME] [--chunker recursive] [--size N] [--memory] [--language auto]: build or
        update an index from a file or folder; %%retrieve searches it."""
        command, _, rest = line.strip().partition(" ")
        command = command or "info"
        if command == "index":
            return self.shell.magics_manager.registry["RetrieveMagics"].build_index(rest)
        commands = {"info": info.info, "config": info.config, "help": lambda: info.usage(self.shell)}
        if command not in commands:
            raise UsageError(f"Unknown %nbrag command {command!r}. Available: {', '.join([*commands, 'index'])}.")
        if rest.strip():
            raise UsageError(f"%nbrag {command} takes no arguments, got {rest.strip()!r}.")
        print(commands[command]())
        return None
