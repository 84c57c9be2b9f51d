"""IPython magics: parse arguments, call the engine, return its result.

``%load_ext nbrag`` registers one ``Magics`` class per area, over a shared base
(:mod:`nbrag.magics.base`):

========================  ==========================================================
``%nbrag``                :class:`~nbrag.magics.settings.NbragMagics`: info, settings as traitlets
``%%chunk``               :class:`~nbrag.magics.chunking.ChunkMagics`
``%nbrag index``,         :class:`~nbrag.magics.retrieve.RetrieveMagics`
``%%retrieve``
``%%graphrag``            :class:`~nbrag.magics.graphrag.GraphragMagics`
``%%attention``,          :class:`~nbrag.magics.inspectors.InspectorMagics`
``%%kvcache``, ``%%moe``
``%%lora``                :class:`~nbrag.magics.lora.LoraMagics`
``%%ask``                 :class:`~nbrag.magics.ask.AskMagics`
========================  ==========================================================

Every field of ``nbrag.settings`` is a traitlet of ``NbragMagics``, so
``%config NbragMagics.chunk_size = 128`` changes the session default. The magics of one
notebook share a :class:`~nbrag.magics.base.Session` (the indexes built with ``%nbrag index``).

These modules import only IPython and traitlets; the engine's heavy libraries load when a
magic first needs them.
"""

from __future__ import annotations

from typing import Any

from nbrag.magics.ask import AskMagics
from nbrag.magics.base import AreaMagics, Session
from nbrag.magics.chunking import ChunkMagics
from nbrag.magics.graphrag import GraphragMagics
from nbrag.magics.inspectors import InspectorMagics
from nbrag.magics.lora import LoraMagics
from nbrag.magics.retrieve import RetrieveMagics
from nbrag.magics.settings import NbragMagics

AREAS: tuple[type[AreaMagics], ...] = (NbragMagics, ChunkMagics, RetrieveMagics, GraphragMagics, InspectorMagics,
                                       LoraMagics, AskMagics)

__all__ = ["AREAS", "AreaMagics", "AskMagics", "ChunkMagics", "GraphragMagics", "InspectorMagics", "LoraMagics",
           "NbragMagics", "RetrieveMagics", "Session", "load_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register every area's magics, sharing one :class:`Session`."""
    session = Session()
    for area in AREAS:
        ipython.register_magics(area(shell=ipython, session=session))
