"""What the inspector views share: a text drawn token by token (:class:`TokenText`), the pieces it is
cut into, and the header pieces (notes, the random-weights banner, where a magic asked a view to open).

Python computes what is drawn: the pieces of text between token offsets, the colours and hover
texts. The JavaScript (``widgets/tokens.js``) only draws, and sets every piece of text as text;
the static drawing (``to_html``, which outputs without a kernel show) escapes every string.
"""

from __future__ import annotations

from typing import Any

import anywidget
import numpy as np
import traitlets

from nbrag.views.shared import WithStaticHTML, e, static, style

LIVE = {"style": {"description_width": "initial"}}  # widget pickers: their label at its full width
MODEBAR = {"orientation": "v"}  # down the right side: across the top it hides the title of a narrow figure


def selection(result: Any) -> dict[str, int]:
    """Where a result's view opens, as the magics keep it (``result.selection``: layer, head, expert)."""
    chosen = getattr(result, "selection", None)
    return {k: v for k, v in chosen.items() if isinstance(v, int)} if isinstance(chosen, dict) else {}


def header(title: str, model: str, line: str, notes: list[str], banner: str = "") -> str:
    """The title line (``title · model``), a muted line of facts (HTML, escaped by the caller), the banner and
    the notes, with the stylesheet the inspector views use."""
    return (f'{style("tokens.css")}<div class="nbrag-inspector"><h4>{e(title)} · {e(model)}</h4>'
            f'<div class="nbrag-muted">{line}</div>{notes_html(notes, banner)}</div>')


def notes_html(notes: list[str], banner: str = "") -> str:
    """The random-weights banner (when given) and the result's notes, escaped."""
    out = [f'<div class="nbrag-banner">⚠ {e(banner)}</div>'] if banner else []
    if notes:
        out.append('<ul class="nbrag-notes">' + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    return "".join(out)


def layer_ticks(layers: list[int]) -> dict[str, Any]:
    """One tick per layer number while they fit (plotly would put ticks between the rows of a short map)."""
    if len(layers) > 40:
        return {}
    return {"tickmode": "array", "tickvals": list(layers), "ticktext": [str(n) for n in layers]}


# ---------------------------------------------------------------------- tokens as pieces of the text

def token_labels(text: str, tokens: list[str], offsets: list[tuple[int, int]]) -> list[str]:
    """What to call each token: its text (newlines and tabs made visible, a lone space as ␣), or for a
    special token without a span (``[CLS]``) its name."""
    out = []
    for token, (start, end) in zip(tokens, offsets):
        piece = text[start:end] if end > start else ""
        shown = piece.strip().replace("\n", "↵").replace("\t", "⇥")
        if not shown:
            shown = ("↵" * piece.count("\n") or "␣") if piece else token
        out.append(shown)
    return out


def token_pieces(text: str, tokens: list[str], offsets: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """The text cut at the tokens' offsets, in order: ``{"i": token, "s": its text}``, ``{"i": -1, "s": ...}``
    for text between tokens, and ``{"i": token, "s": "", "chip": name}`` for a token without a span of its own
    (special tokens; a second token inside the same character). Joined, the ``s`` give back the text."""
    pieces: list[dict[str, Any]] = []
    at = 0
    for i, (token, (start, end)) in enumerate(zip(tokens, offsets)):
        start, end = max(start, at), min(end, len(text))
        if end > start:
            if start > at:
                pieces.append({"i": -1, "s": text[at:start]})
            pieces.append({"i": i, "s": text[start:end]})
            at = end
        else:
            pieces.append({"i": i, "s": "", "chip": token})
    if at < len(text):
        pieces.append({"i": -1, "s": text[at:]})
    return pieces


def static_tokens(pieces: list[dict[str, Any]], colours: list[str], titles: list[str]) -> str:
    """The token text as static HTML: each token a span with its colour and title, every string escaped."""
    out = ['<div class="nbrag-tokens"><div class="nbrag-tokens-body">']
    for piece in pieces:
        i = piece["i"]
        if i < 0:
            out.append(e(piece["s"]))
            continue
        special = " nbrag-special" if not piece["s"] else ""
        background = f' style="background:{colours[i]}"' if colours[i] else ""
        out.append(f'<span class="nbrag-tok{special}" data-i="{i}"{background} title="{e(titles[i])}">'
                   f'{e(piece["s"] or piece.get("chip", ""))}</span>')
    out.append("</div></div>")
    return "".join(out)


def shading(weights: np.ndarray, focus: int, labels: list[str], skip_first: bool = True) -> tuple[list[str], list[str]]:
    """Per token, the background and title that show what token ``focus`` attends to (as the widget draws it)."""
    n = len(labels)
    if not 0 <= focus < n or weights.shape != (n, n):
        return [""] * n, [f"token {j} «{labels[j]}»" for j in range(n)]
    row = weights[focus]
    scale = float(row[1:].max()) if skip_first and focus > 0 and n > 1 else 0.0
    scale = scale if scale > 0 else float(row.max()) or 1.0
    colours = [f"rgba(253, 126, 20, {0.06 + 0.84 * min(1.0, float(w) / scale):.3f})" if w > 0 else "" for w in row]
    titles = [f"«{labels[focus]}» → «{labels[j]}»: {float(row[j]):.4f}" for j in range(n)]
    return colours, titles


class TokenText(WithStaticHTML, anywidget.AnyWidget):
    """A text drawn token by token. ``mode="attention"``: hovering or clicking a token shades the tokens it
    attends to by ``weights`` (float32 bytes, ``n × n``, row-major). ``mode="routing"``: each token has the
    colour and hover text given in ``colours`` and ``titles``."""

    _esm = static("tokens.js")
    _css = static("tokens.css")

    mode = traitlets.Unicode("attention").tag(sync=True)
    pieces = traitlets.List(traitlets.Dict()).tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    hint = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Int(-1).tag(sync=True)  # the pinned token, -1 for none
    # attention
    n = traitlets.Int(0).tag(sync=True)
    weights = traitlets.Bytes(b"").tag(sync=True)
    skip_first = traitlets.Bool(True).tag(sync=True)
    window = traitlets.List(traitlets.Int(), [0, 0]).tag(sync=True)
    windowed = traitlets.Bool(False).tag(sync=True)
    # routing
    colours = traitlets.List(traitlets.Unicode()).tag(sync=True)
    titles = traitlets.List(traitlets.Unicode()).tag(sync=True)
    marked = traitlets.List(traitlets.Int()).tag(sync=True)
    legend = traitlets.List(traitlets.Dict()).tag(sync=True)

    def matrix(self) -> np.ndarray:
        """The weights the text shades by, as an ``n × n`` array."""
        return np.frombuffer(self.weights, dtype=np.float32).reshape(self.n, self.n) if self.n else \
            np.zeros((0, 0), np.float32)

    def to_html(self) -> str:
        if self.mode == "routing":
            colours, titles = list(self.colours), list(self.titles)
        else:  # shade by the pinned token's row, or the last token's
            colours, titles = shading(self.matrix(), self.selected if self.selected >= 0 else self.n - 1,
                                      self.labels, self.skip_first)
        legend = "".join(f'<span class="nbrag-tokens-key" style="background:{item["colour"]}">{e(item["label"])}'
                         "</span>" for item in self.legend)
        body = static_tokens(self.pieces, colours, titles)
        return style("tokens.css") + (f'<div class="nbrag-tokens"><div class="nbrag-tokens-legend">{legend}</div>'
                                      "</div>" if legend else "") + body
