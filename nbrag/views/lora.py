"""Views of LoRA training: live loss curves, one run, a comparison of variants, generations side by side.

* :class:`LossView`: a plotly ``FigureWidget`` with one training-loss curve per variant (its
  evaluation losses dashed, in the same colour) and a status line (step, steps per second,
  memory, the final losses). ``view.callback`` takes the training events of
  :func:`nbrag.lora.train` and :func:`nbrag.lora.compare` (``callbacks=[view.callback]``); show the
  view before training starts and it follows the run while the cell runs. It redraws at most
  :data:`REDRAWS_PER_SECOND` times a second (less often when long curves make a redraw slow: drawing
  takes under 1% of the time), and always on a ``done`` event; :meth:`LossView.flush` draws what is
  left (after an interrupted run, say);
* :class:`RunView` (what a ``LoraRun`` shows): the run's curves and its numbers: trainable
  parameters against the model's and the method's formula, memory, seconds per step, losses;
* :class:`LoraComparisonView` (what a ``LoraComparison`` shows): the comparison's table, the best
  value of each column marked, and one curve per variant;
* :class:`GenerationsView`: the rows of ``Adapters.side_by_side(...)``: per prompt, the base
  model's text and each adapter's.

Every string that reaches HTML is escaped, and plotly's names and hover texts too (plotly reads a
little HTML in them). Without a kernel (an exported notebook) each view shows its static drawing
(``to_html``): the tables and the curves as an SVG. The styles are ``widgets/tokens.css`` and
``widgets/lora.css``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets

from nbrag.errors import NbragError, NbragTypeError
from nbrag.views.shared import WithStaticHTML, e, plain, style

REDRAWS_PER_SECOND = 5.0
EVENT_KEYS = ("variant", "step", "steps")  # what an event must carry; the rest of the contract's keys may be missing
# One colour per variant, in the order of nbrag.lora.VARIANTS; other names take the next free colour.
VARIANT_ORDER = ("lora", "dora", "vera", "lora-plus", "lora-fa", "delta-lora")
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
FIGURE = {"template": "plotly_white", "height": 340, "width": 640, "margin": {"l": 60, "r": 20, "t": 40, "b": 45},
          "xaxis": {"title": {"text": "optimizer step"}, "rangemode": "tozero"},
          "yaxis": {"title": {"text": "loss"}}, "legend": {"orientation": "h", "y": -0.22},
          "title": {"text": "Training loss (dashed: evaluation loss)"}, "modebar": {"orientation": "v"}}
STYLES = ("tokens.css", "lora.css")


def _style() -> str:
    return style(*STYLES)


def mib(n: float | None) -> str:
    """Bytes as MiB: ``12.3 MiB``, ``0.0137 MiB`` (three significant digits under 1 MiB); ``—`` when unknown."""
    if n is None:
        return "—"
    value = n / 2 ** 20
    return f"{value:,.1f} MiB" if value >= 1 or value == 0 else f"{value:.3g} MiB"


def share(part: float, total: float) -> str:
    """``part`` as a percentage of ``total`` with three significant digits (``0.0912%``)."""
    if not total:
        return "—"
    value = 100 * part / total
    return f"{value:.3g}%" if value < 100 else f"{value:.0f}%"


def _loss(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def colour(variant: str, taken: Sequence[str] = ()) -> str:
    """The variant's colour: fixed for the known variants, the next one not ``taken`` for others."""
    if variant in VARIANT_ORDER:
        return COLOURS[VARIANT_ORDER.index(variant)]
    free = [c for c in COLOURS[len(VARIANT_ORDER):] if c not in taken] or list(COLOURS)
    return free[0]


# ---------------------------------------------------------------------- what a view keeps per variant

@dataclass
class Series:
    """One variant's points: training loss per step, evaluation loss per step, and its latest event."""

    variant: str
    colour: str
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_losses: list[float] = field(default_factory=list)
    last: dict[str, Any] = field(default_factory=dict)
    done: bool = False

    def add(self, event: Mapping[str, Any]) -> None:
        step = int(event["step"])
        loss, eval_loss = event.get("loss"), event.get("eval_loss")
        if loss is not None:
            _put(self.steps, self.losses, step, float(loss))
        if eval_loss is not None:
            _put(self.eval_steps, self.eval_losses, step, float(eval_loss))
        self.last = {**self.last, **{k: v for k, v in event.items() if v is not None}}
        self.done = bool(event.get("done"))


def _put(xs: list[int], ys: list[float], x: int, y: float) -> None:
    """Append a point; a second value for the last step replaces the first (an evaluation repeats the step)."""
    if xs and xs[-1] == x:
        ys[-1] = y
    else:
        xs.append(x)
        ys.append(y)


def check_event(event: Any) -> None:
    """An event as the training loop sends it: a mapping with at least ``variant``, ``step`` and ``steps``."""
    if not isinstance(event, Mapping):
        raise NbragTypeError(f"A training event is a dict (variant, step, steps, loss, eval_loss, ...), got "
                             f"{type(event).__name__}.")
    missing = [k for k in EVENT_KEYS if k not in event]
    if missing:
        keys = ", ".join(map(str, event)) or "no keys"
        raise NbragError(f"The training event lacks {', '.join(missing)}: it has {keys}; events carry variant, "
                         "step, steps, loss, eval_loss, seconds, steps_per_second, "
                         "memory_bytes and done.")


def status_line(s: Series) -> str:
    """One variant's status as HTML: where it is, how fast, how much memory, its losses (escaped)."""
    last = s.last
    swatch = f'<span class="nbrag-lora-swatch" style="background:{s.colour}"></span>'
    parts = [f"step {last.get('step', 0)}/{last.get('steps', '?')}"]
    if last.get("steps_per_second"):
        parts.append(f"{last['steps_per_second']:.2f} steps/s")
    if last.get("seconds") is not None:
        parts.append(f"{last['seconds']:.1f} s")
    if last.get("memory_bytes"):
        parts.append(f"memory {mib(last['memory_bytes'])}")
    losses = [f"train loss {s.losses[-1]:.4f}"] if s.losses else []
    if s.eval_losses:
        losses.append(f"eval loss {s.eval_losses[-1]:.4f} (step {s.eval_steps[-1]})")
    if s.done:
        head = f'<span class="nbrag-ok">✓</span> <b>{e(s.variant)}</b> done'
        losses = [f"last step's {x}" if x.startswith("train") else x for x in losses]
    else:
        head = f"<b>{e(s.variant)}</b>"
    return f"<div>{swatch}{head} · {' · '.join(parts + losses)}</div>"


def loss_svg(series: Iterable[Series], width: int = 560, height: int = 240) -> str:
    """The curves as an SVG (training loss solid, evaluation loss dashed, one colour per variant)."""
    series = [s for s in series if s.steps or s.eval_steps]
    if not series:
        return ""
    xs = [x for s in series for x in s.steps + s.eval_steps]
    ys = [y for s in series for y in s.losses + s.eval_losses if math.isfinite(y)]
    if not ys:
        return ""
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    pad_l, pad, top = 50, 16, 24

    def at(x: float, y: float) -> str:
        sx = pad_l + (x - x0) / ((x1 - x0) or 1) * (width - pad_l - pad)
        sy = top + (y1 - y) / ((y1 - y0) or 1) * (height - top - 2 * pad)
        return f"{sx:.1f},{sy:.1f}"

    out = [(f'<svg class="nbrag-lora-svg" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif">')]
    for s in series:
        for steps, losses, dash in ((s.steps, s.losses, ""), (s.eval_steps, s.eval_losses, ' stroke-dasharray="5,4"')):
            points = " ".join(at(x, y) for x, y in zip(steps, losses) if math.isfinite(y))
            if len(steps) == 1:
                out.append(f'<circle cx="{points.split(",")[0]}" cy="{points.split(",")[1]}" r="3" fill="{s.colour}"/>')
            elif points:
                out.append(f'<polyline points="{points}" fill="none" stroke="{s.colour}" stroke-width="2"{dash}/>')
    legend = " · ".join(f'<tspan fill="{s.colour}">■</tspan> {e(s.variant)}' for s in series)
    out.append(f'<text x="{pad_l}" y="15" font-size="11" fill="#24292f">loss {y0:.3f} – {y1:.3f} over steps {x0} – '
               f"{x1} (dashed: evaluation) · {legend}</text>")
    out.append(f'<line x1="{pad_l}" y1="{height - 2 * pad}" x2="{width - pad}" y2="{height - 2 * pad}" '
               'stroke="#8c959f"/>')
    out.append(f'<text x="{pad_l}" y="{height - 8}" font-size="10" fill="#57606a">step {x0}</text>'
               f'<text x="{width - pad}" y="{height - 8}" font-size="10" fill="#57606a" text-anchor="end">'
               f"step {x1}</text></svg>")
    return "".join(out)


# ---------------------------------------------------------------------- the live view

class LossView(WithStaticHTML, ipywidgets.VBox):
    """Live loss curves, one per variant, and a status line; ``view.callback`` takes the training events.

    ``view = LossView(); display(view); nbrag.lora.train(data, callbacks=[view.callback])``.
    """

    def __init__(self, *, title: str | None = None, redraws_per_second: float = REDRAWS_PER_SECOND,
                 clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        import plotly.graph_objects as go

        super().__init__(**kwargs)
        self.add_class("nbrag-lora-loss")
        layout = dict(FIGURE)
        if title is not None:
            layout["title"] = {"text": plain(title)}
        self.figure = go.FigureWidget(layout=layout)
        self.status = ipywidgets.HTML(self._status_html())
        self.children = [self.status, self.figure]
        self.series: dict[str, Series] = {}
        self.redraws = 0  # figure updates sent so far
        self.events = 0  # events received so far
        self._interval = 1.0 / redraws_per_second if redraws_per_second > 0 else 0.0
        self._wait = self._interval  # seconds between redraws: the interval, or more for long curves
        self._clock = clock
        self._drawn_at = -math.inf
        self._pending = False
        self._traces: dict[str, tuple[int, int]] = {}  # variant -> (train trace, eval trace)

    @classmethod
    def of(cls, runs: Mapping[str, Any] | Any, **options: Any) -> LossView:
        """A view of finished runs: ``{variant: run}`` (or one run), from their ``history`` and ``evals``."""
        view = cls(**options)
        items = runs.items() if isinstance(runs, Mapping) else [(runs.variant, runs)]
        for name, run in items:
            view.load(name, run)
        view.flush()
        return view

    def load(self, variant: str, run: Any) -> None:
        """Add a finished run's points (``run.history``, ``run.evals``) as the variant's curves."""
        history, evals = list(getattr(run, "history", []) or []), list(getattr(run, "evals", []) or [])
        steps = int(getattr(run, "options", {}).get("steps") or (history[-1]["step"] if history else 0))
        s = self._series_of(variant)
        for point in history:
            s.add({"variant": variant, "step": point["step"], "steps": steps, "loss": point.get("loss")})
        for point in evals:
            s.add({"variant": variant, "step": point["step"], "steps": steps, "eval_loss": point.get("loss")})
        last = history[-1] if history else {}
        s.last.update(step=last.get("step", 0), steps=steps, seconds=sum(p.get("step_seconds") or 0 for p in history))
        seconds_per_step = getattr(run, "seconds_per_step", None)
        if seconds_per_step:
            s.last["steps_per_second"] = 1.0 / seconds_per_step
        peak = (getattr(run, "memory", None) or {}).get("peak")
        if peak:
            s.last["memory_bytes"] = peak
        s.done = not getattr(run, "interrupted", False)
        self._pending = True

    # ------------------------------------------------------------------ events

    def callback(self, event: Mapping[str, Any]) -> None:
        """Take one training event (see :func:`nbrag.lora.train`); redraw if the last redraw is old enough."""
        check_event(event)
        self.events += 1
        self._series_of(str(event["variant"])).add(event)
        self._pending = True
        if self.figure.comm is None:  # closed: the points are kept, nothing is drawn
            return
        now = self._clock()
        if event.get("done") or now - self._drawn_at >= self._wait:
            self._draw(now)

    __call__ = callback

    def flush(self) -> None:
        """Draw what the throttle held back (the last events of a run stopped before ``done``)."""
        if self._pending and self.figure.comm is not None:
            self._draw(self._clock())

    def _series_of(self, variant: str) -> Series:
        if variant not in self.series:
            self.series[variant] = Series(variant, colour(variant, [s.colour for s in self.series.values()]))
        return self.series[variant]

    def _draw(self, now: float) -> None:
        started = self._clock()
        for name, s in self.series.items():
            if name not in self._traces:
                self._add_traces(s)
        import numpy as np

        with self.figure.batch_update():  # one message; int32/float64 arrays go to the page as binary buffers
            for name, s in self.series.items():
                train, evaluation = self._traces[name]
                self.figure.data[train].update(x=np.asarray(s.steps, np.int32), y=np.asarray(s.losses, np.float64))
                self.figure.data[evaluation].update(x=np.asarray(s.eval_steps, np.int32),
                                                    y=np.asarray(s.eval_losses, np.float64))
        self.status.value = self._status_html()
        self._drawn_at = now
        self._pending = False
        self.redraws += 1
        # Long curves cost more to send: keep drawing under 1% of the time, whatever the rate asked for.
        self._wait = max(self._interval, 100 * (self._clock() - started)) if self._interval else 0.0

    def _add_traces(self, s: Series) -> None:
        name = plain(s.variant)
        first = len(self.figure.data)
        self.figure.add_scatter(x=[], y=[], mode="lines", name=f"{name} train", legendgroup=name,
                                line={"color": s.colour, "width": 2},
                                hovertemplate=f"{name}<br>step %{{x}}: train loss %{{y:.4f}}<extra></extra>")
        self.figure.add_scatter(x=[], y=[], mode="lines+markers", name=f"{name} eval", legendgroup=name,
                                line={"color": s.colour, "width": 2, "dash": "dash"}, marker={"size": 6},
                                hovertemplate=f"{name}<br>step %{{x}}: eval loss %{{y:.4f}}<extra></extra>")
        self._traces[s.variant] = (first, first + 1)

    def _status_html(self) -> str:
        lines = "".join(status_line(s) for s in self.series.values()) if getattr(self, "series", None) else \
            '<div class="nbrag-muted">waiting for the first optimizer step…</div>'
        return f'{_style()}<div class="nbrag-inspector nbrag-lora"><div class="nbrag-lora-status">{lines}</div></div>'

    # ------------------------------------------------------------------ static

    def to_html(self) -> str:
        return self._status_html() + f'<div class="nbrag-inspector nbrag-lora">{loss_svg(self.series.values())}</div>'


# ---------------------------------------------------------------------- one run

def memory_cells(memory: Mapping[str, Any] | None) -> str:
    """The memory breakdown as ``name MiB`` pieces (weights, trainable, gradients, optimizer, activations, peak)."""
    if not memory:
        return "—"
    order = ["weights", "trainable", "gradients", "optimizer", "activations", "peak"]
    keys = [k for k in order if k in memory] + [k for k in memory if k not in order]
    return " · ".join(f"{e(k)} {mib(memory[k])}" for k in keys if memory[k] is not None)


def params_cell(count: int, total: int) -> str:
    return f"{count:,} / {total:,} ({share(count, total)})"


def formula_cell(counted: int | None, formula: int | None) -> str:
    if formula is None:
        return "—"
    if counted == formula:
        return f'{formula:,} <span class="nbrag-ok">✓</span>'
    return f'{formula:,} <span class="nbrag-bad">✗</span>'


def interrupted_note(run: Any, name: str = "run") -> str:
    """What to do with a run stopped early (escaped HTML), or ``""``."""
    if not getattr(run, "interrupted", False):
        return ""
    done = run.history[-1]["step"] if getattr(run, "history", None) else 0
    steps = (getattr(run, "options", None) or {}).get("steps")
    of = f" of {steps}" if steps else ""
    return (f'<div class="nbrag-banner">⏸ {e(run.variant)} was interrupted after step {done}{of}: the adapter and '
            f"the loss history are kept; continue it with {e(name)}.resume(steps) or %lora --resume NAME.</div>")


def random_banner(model: str) -> str:
    """The warning a tiny random-weight model's numbers carry, or ``""``."""
    if not str(model).startswith(("tiny:", "tiny-")):
        return ""
    return '<div class="nbrag-banner">⚠ random weights: the mechanism, not a trained model\'s numbers</div>'


HIDDEN_OPTIONS = {"model", "callbacks", "note"}


def run_html(run: Any) -> str:
    """A run's numbers as HTML (every string escaped)."""
    options = dict(getattr(run, "options", None) or {})
    shown = ", ".join(f"{e(k)}={e(v)}" for k, v in options.items() if v is not None and k not in HIDDEN_OPTIONS)
    targets = ", ".join(e(t) for t in getattr(run, "target_modules", []) or [])
    rows = [
        ("trainable parameters", params_cell(run.trainable_params, run.total_params)),
        ("from the method's formula", formula_cell(run.trainable_params, getattr(run, "formula_params", None))),
        ("formula", f'<span class="nbrag-formula">{e(getattr(run, "formula", "") or "—")}</span>'),
        ("memory", memory_cells(getattr(run, "memory", None))),
        ("seconds per step", f"{run.seconds_per_step:.3f}" if run.seconds_per_step else "—"),
        ("train loss (mean of the last 5 steps)", _loss(run.train_loss)),
        ("eval loss (last evaluation)", _loss(run.eval_loss)),
    ]
    body = "".join(f'<tr><th class="nbrag-left">{k}</th><td class="nbrag-left">{v}</td></tr>' for k, v in rows)
    model = str(options.get("model") or "")
    random = random_banner(model)
    note = f'<div class="nbrag-muted">{e(options["note"])}</div>' if options.get("note") else ""
    return (f'{_style()}<div class="nbrag-inspector nbrag-lora"><h4>{e(run.variant)}'
            f'{" · " + e(model) if model else ""}</h4>{random}'
            f'<div class="nbrag-muted">{shown}</div>{note}'
            f'<div class="nbrag-muted">target modules: {targets or "—"}</div>'
            f'<table class="nbrag-table">{body}</table>{interrupted_note(run)}</div>')


class RunView(WithStaticHTML, ipywidgets.VBox):
    """What a ``LoraRun`` shows: its loss curves and a table of its numbers."""

    def __init__(self, run: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run = run
        self.table = ipywidgets.HTML(run_html(run))
        self.curves = LossView.of({run.variant: run}, title=f"{run.variant}: loss (dashed: evaluation)")
        self.children = [self.table, self.curves]

    @classmethod
    def of(cls, run: Any) -> RunView:
        return cls(run)

    def to_html(self) -> str:
        return self.table.value + self.curves.to_html()


# ---------------------------------------------------------------------- a comparison

COLUMNS = (  # key, header, best (min or None), format
    ("variant", "variant", None),
    ("trainable_params", "trainable (share)", min),
    ("formula_params", "formula", None),
    ("peak_memory_bytes", "peak memory", min),
    ("seconds_per_step", "s/step", min),
    ("train_loss", "train loss", min),
    ("eval_loss", "eval loss", min),
)


def best_values(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per column that has a best (the smallest), its best value among the rows that have one."""
    out = {}
    for key, _, pick in COLUMNS:
        values = [r.get(key) for r in rows if isinstance(r.get(key), int | float) and math.isfinite(r.get(key))]
        if pick is not None and len(values) > 1:
            out[key] = pick(values)
    return out


def compare_html(rows: Sequence[Mapping[str, Any]], notes: Sequence[str] = (), model: str = "") -> str:
    """The comparison table: the smallest parameter count, memory, time and losses marked (escaped HTML)."""
    best = best_values(rows)
    head = "".join(f'<th{" class=nbrag-left" if k == "variant" else ""}>{h}</th>' for k, h, _ in COLUMNS)
    body = []
    for r in rows:
        cells = []
        for key, _, _ in COLUMNS:
            value = r.get(key)
            mark = ' class="nbrag-best"' if key in best and value == best[key] else ""
            if key == "variant":
                text, mark = f"<b>{e(value)}</b>", ' class="nbrag-left"'
            elif key == "trainable_params":
                text = "—" if value is None else f"{value:,} ({_share_value(r.get('share'))})"
            elif key == "formula_params":
                text = formula_cell(r.get("trainable_params"), value)
            elif key == "peak_memory_bytes":
                text = mib(value)
            elif key == "seconds_per_step":
                text = "—" if value is None else f"{value:.3f}"
            else:
                text = _loss(value)
            cells.append(f"<td{mark}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = "".join(f"<div>{e(n)}</div>" for n in notes)
    return (f'{_style()}<div class="nbrag-inspector nbrag-lora"><h4>LoRA variants compared'
            f'{" · " + e(model) if model else ""}</h4>{random_banner(model)}'
            '<div class="nbrag-muted">trainable parameters (share of the model) · the count from each method\'s '
            "formula (✓ when it equals the counted one) · peak memory · seconds per optimizer step · the last "
            "train and eval loss; green: the smallest of each column</div>"
            f'<table class="nbrag-table"><tr>{head}</tr>{"".join(body)}</table>'
            f'<div class="nbrag-muted">{note}</div></div>')


def _share_value(value: float | None) -> str:
    return "—" if value is None else share(value, 1.0)


class LoraComparisonView(WithStaticHTML, ipywidgets.VBox):
    """What a ``LoraComparison`` shows: its table and one loss curve per variant."""

    def __init__(self, comparison: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.comparison = comparison
        runs = comparison.runs
        notes = [interrupted_text(name, run) for name, run in runs.items() if getattr(run, "interrupted", False)]
        models = {str((getattr(run, "options", None) or {}).get("model") or "") for run in runs.values()}
        self.table = ipywidgets.HTML(compare_html(comparison.rows(), notes, models.pop() if len(models) == 1 else ""))
        self.curves = LossView.of(runs, title="Loss per variant (dashed: evaluation)")
        self.children = [self.table, self.curves]

    @classmethod
    def of(cls, comparison: Any) -> LoraComparisonView:
        return cls(comparison)

    def to_html(self) -> str:
        return self.table.value + self.curves.to_html()


def interrupted_text(name: str, run: Any) -> str:
    done = run.history[-1]["step"] if getattr(run, "history", None) else 0
    return f"{name} was interrupted after step {done}: its numbers cover those steps only."


# ---------------------------------------------------------------------- generations

def generations_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """Per prompt, the base model's text and each adapter's, side by side (every text escaped)."""
    if not rows:
        return f'{_style()}<div class="nbrag-inspector nbrag-lora nbrag-muted">No prompts.</div>'
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k != "prompt" and k not in columns]
    columns.sort(key=lambda k: k != "base")  # the base model first, then the adapters in their order
    head = '<th class="nbrag-left">prompt</th>' + "".join(f'<th class="nbrag-left">{e(c)}</th>' for c in columns)
    body = "".join("<tr>" + f'<td class="nbrag-left"><b>{e(r.get("prompt", ""))}</b></td>' +
                   "".join(f"<td>{e(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows)
    return (f'{_style()}<div class="nbrag-inspector nbrag-lora"><h4>Generations side by side</h4>'
            f'<div class="nbrag-scroll nbrag-generations-scroll"><table class="nbrag-table nbrag-generations">'
            f"<tr>{head}</tr>{body}</table></div></div>")


class GenerationsView(WithStaticHTML, ipywidgets.VBox):
    """The rows of ``Adapters.side_by_side(prompts)``: one row per prompt, the base model and each adapter."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(rows, Sequence) or not all(isinstance(r, Mapping) for r in rows):
            raise NbragTypeError("GenerationsView takes a list of dicts, one per prompt ({'prompt': ..., 'base': ..., "
                                 "adapter: ...}), as Adapters.side_by_side returns them.", option="rows")
        self.rows = [dict(r) for r in rows]
        self.table = ipywidgets.HTML(generations_html(self.rows))
        self.children = [self.table]

    @classmethod
    def of(cls, rows: Sequence[Mapping[str, Any]]) -> GenerationsView:
        return cls(rows)

    def to_html(self) -> str:
        return self.table.value
