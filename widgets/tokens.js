// TokenText: a text drawn token by token, from the pieces Python cut at the tokens' character
// offsets. Every piece of document text goes in with textContent or as a text node, never as
// HTML, so markup inside the text shows as text.
//
// mode "attention": hovering token i (or clicking it, which pins it: for touch screens) shades
//   every token j by weights[i][j] of the picked layer and head, scaled to the row's largest
//   weight (without the first token when skip_first: trained models park most attention there).
// mode "routing": each token has the colour and the hover text Python gave it (its experts);
//   tokens outside `marked` fade when `marked` is not empty.

// The weights arrive as bytes (float32, row-major): a DataView in anywidget, maybe an ArrayBuffer.
function floats(value) {
  if (!value) return new Float32Array(0);
  if (value instanceof ArrayBuffer) return new Float32Array(value.slice(0));
  if (ArrayBuffer.isView(value)) {
    const copy = value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength);
    return new Float32Array(copy);
  }
  return new Float32Array(0);
}

const SHADE = (a) => `rgba(253, 126, 20, ${(0.06 + 0.84 * a).toFixed(3)})`;

function render({ model, el: host }) {
  const root = el("div", "nbrag-tokens");
  const legend = el("div", "nbrag-tokens-legend");
  const body = el("div", "nbrag-tokens-body");
  const status = el("div", "nbrag-tokens-status");
  root.append(legend, body, status);
  host.append(root);

  let spans = [];
  let weights = new Float32Array(0);
  let hovered = -1;

  const labels = () => model.get("labels");
  const quote = (i) => `«${labels()[i]}»`;

  function draw() {
    body.replaceChildren();
    spans = new Array(labels().length).fill(null);
    for (const piece of model.get("pieces")) {
      if (piece.i < 0) {
        body.append(document.createTextNode(piece.s));
        continue;
      }
      const span = piece.s ? el("span", "nbrag-tok", piece.s) : el("span", "nbrag-tok nbrag-special", piece.chip);
      span.dataset.i = String(piece.i);
      spans[piece.i] = span;
      body.append(span);
    }
    drawLegend();
    paint();
  }

  function drawLegend() {
    legend.replaceChildren();
    const items = model.get("legend");
    legend.style.display = items.length ? "" : "none";
    for (const item of items) {
      const chip = el("span", "nbrag-tokens-key", item.label);
      chip.style.background = item.colour;
      if (item.title) chip.title = item.title;
      legend.append(chip);
    }
  }

  function paintRouting(focus) {
    const colours = model.get("colours");
    const titles = model.get("titles");
    const marked = new Set(model.get("marked"));
    spans.forEach((span, i) => {
      if (!span) return;
      span.style.background = colours[i] || "";
      span.title = titles[i] || "";
      span.classList.toggle("nbrag-faded", marked.size > 0 && !marked.has(i));
      span.classList.toggle("nbrag-query", i === focus);
    });
    status.textContent = focus >= 0 ? titles[focus] : model.get("hint");
  }

  function paintAttention(focus) {
    const n = model.get("n");
    const [start, end] = model.get("window");
    const windowed = model.get("windowed");
    if (weights.length !== n * n) weights = floats(model.get("weights"));
    let row = null;
    let scale = 1;
    if (focus >= 0 && focus < n && weights.length === n * n) {
      row = weights.subarray(focus * n, (focus + 1) * n);
      const from = model.get("skip_first") && focus > 0 ? 1 : 0;
      scale = 0;
      for (let j = from; j < n; j++) scale = Math.max(scale, row[j]);
      if (scale <= 0) for (let j = 0; j < n; j++) scale = Math.max(scale, row[j]);
      if (scale <= 0) scale = 1;
    }
    spans.forEach((span, j) => {
      if (!span) return;
      span.classList.toggle("nbrag-in-window", windowed && j >= start && j < end);
      span.classList.toggle("nbrag-query", j === focus);
      if (row) {
        const w = row[j];
        span.style.background = w > 0 ? SHADE(Math.min(1, w / scale)) : "";
        span.title = `${quote(focus)} → ${quote(j)}: ${w.toFixed(4)}`;
      } else {
        span.style.background = "";
        span.title = `token ${j} ${quote(j)}`;
      }
    });
    if (!row) {
      status.textContent = model.get("hint");
      return;
    }
    const top = [...row.keys()].filter((j) => row[j] > 0).sort((a, b) => row[b] - row[a]).slice(0, 5);
    const pinned = focus === model.get("selected") ? " (pinned: click it again to unpin)" : "";
    status.textContent = `token ${focus} ${quote(focus)}${pinned} attends most to: ` +
      top.map((j) => `${quote(j)} ${row[j].toFixed(3)}`).join(" · ");
  }

  function paint() {
    const focus = hovered >= 0 ? hovered : model.get("selected");
    root.dataset.mode = model.get("mode");
    root.dataset.focus = String(focus);
    if (model.get("mode") === "routing") paintRouting(focus);
    else paintAttention(focus);
  }

  const tokenOf = (event) => {
    const span = event.target.closest && event.target.closest(".nbrag-tok");
    return span && body.contains(span) ? Number(span.dataset.i) : -1;
  };
  body.addEventListener("mouseover", (event) => {
    const i = tokenOf(event);
    if (i >= 0 && i !== hovered) {
      hovered = i;
      paint();
    }
  });
  body.addEventListener("mouseleave", () => {
    hovered = -1;
    paint();
  });
  body.addEventListener("click", (event) => {
    const i = tokenOf(event);
    if (i < 0) return;
    model.set("selected", model.get("selected") === i ? -1 : i);
    model.save_changes();
    hovered = -1; // a tap also sends mouseover: the pinned token decides what is shaded
    paint();
  });

  const repaint = () => paint();
  const reweigh = () => {
    weights = floats(model.get("weights"));
    paint();
  };
  model.on("change:pieces", draw);
  model.on("change:legend", drawLegend);
  model.on("change:weights", reweigh);
  for (const name of ["n", "window", "windowed", "skip_first", "selected", "colours", "titles", "marked", "hint",
                      "mode"]) {
    model.on(`change:${name}`, repaint);
  }
  draw();
  return () => host.replaceChildren();
}

export default { render };
