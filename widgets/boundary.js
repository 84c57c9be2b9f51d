// BoundaryView: draws the segments that Python computed, one page at a time.
// Document text is set with textContent only, so markup inside a document
// shows as text.

const PALETTE_SIZE = 10;
const color = (i) => `var(--nbrag-c${i % PALETTE_SIZE})`;

function describe(chunk) {
  const level = chunk.level ? ` · ${chunk.level}` : "";
  return `chunk ${chunk.index} · ${chunk.tokens} ${chunk.unit} · chars ${chunk.start}–${chunk.end}${level}`;
}

function pieceTitle(piece, chunks) {
  if (piece.chunks.length === 0) return `between chunks · chars ${piece.start}–${piece.end}`;
  const text = piece.chunks.map((i) => describe(chunks[i])).join("; ");
  return (piece.chunks.length > 1 ? "overlap: " : "") + text;
}

function pageOfChunk(pieces) {
  const pages = new Map();
  for (const piece of pieces) for (const i of piece.starts) pages.set(i, piece.page);
  return pages;
}

function drawText(model, body) {
  const chunks = model.get("chunks");
  const page = model.get("page");
  body.replaceChildren();
  for (const piece of model.get("segments")) {
    if (piece.page !== page) continue;
    for (const i of piece.starts) {
      const hit = chunks[i].hit ? ` ★${chunks[i].hit}` : "";
      const label = el("span", "nbrag-label", `${i}${hit}`);
      if (chunks[i].hit) label.classList.add("nbrag-hit");
      label.dataset.chunk = String(i);
      body.append(label);
    }
    const span = el("span", "nbrag-seg", piece.text);
    span.title = pieceTitle(piece, chunks);
    span.dataset.chunks = piece.chunks.join(" ");
    const ids = piece.chunks;
    if (piece.ref) span.classList.add("nbrag-ref");
    if (ids.length === 0) {
      span.classList.add("nbrag-gap");
    } else {
      span.style.setProperty("--a", color(ids[0]));
      if (ids.length > 1) {
        span.classList.add("nbrag-overlap");
        span.style.setProperty("--b", color(ids[ids.length - 1]));
      }
    }
    body.append(span);
  }
}

function highlight(body, className, chunk) {
  for (const span of body.querySelectorAll(".nbrag-seg")) {
    const mine = chunk !== null && span.dataset.chunks.split(" ").includes(String(chunk));
    span.classList.toggle(className, mine);
  }
}

function drawMeta(model, panel) {
  const i = model.get("selected");
  const chunk = model.get("chunks")[i];
  panel.replaceChildren();
  if (!chunk) {
    panel.append(el("div", "nbrag-hint", "Click a chunk to see its metadata."));
    return;
  }
  panel.append(el("div", "nbrag-meta-title", describe(chunk)));
  const table = el("table", "nbrag-meta-table");
  for (const [key, value] of Object.entries(chunk.meta)) {
    const row = el("tr");
    const shown = typeof value === "string" ? value : JSON.stringify(value);
    row.append(el("th", "", key), el("td", "", shown));
    table.append(row);
  }
  panel.append(table);
}

function drawOutline(model, box, select) {
  const chunks = model.get("chunks");
  const nodes = model.get("outline");
  box.replaceChildren();
  if (nodes.length === 0) return;
  box.append(el("div", "nbrag-outline-title", "Outline"));
  const add = (node, parent) => {
    const details = el("details");
    details.open = true;
    const count = node.chunks.length ? ` (${node.chunks.length})` : "";
    details.append(el("summary", "", node.label + count));
    // Chunks and sub-sections in document order.
    const items = [
      ...node.chunks.map((i) => ({ start: chunks[i].start, chunk: i })),
      ...node.children.map((child) => ({ start: child.start, child })),
    ].sort((a, b) => a.start - b.start);
    for (const item of items) {
      if (item.child) {
        add(item.child, details);
        continue;
      }
      const i = item.chunk;
      const button = el("button", "nbrag-outline-chunk", `chunk ${i} · ${chunks[i].tokens} ${chunks[i].unit}`);
      button.style.setProperty("--a", color(i));
      button.dataset.chunk = String(i);
      button.addEventListener("click", () => select(i));
      details.append(button);
    }
    parent.append(details);
  };
  for (const node of nodes) add(node, box);
}

function render({ model, el: host }) {
  const root = el("div", "nbrag-boundary");
  host.append(root);
  const title = el("div", "nbrag-title");
  const legend = el("div", "nbrag-legend");
  const warnings = el("div");
  const pager = el("div", "nbrag-pager");
  const prev = el("button", "nbrag-prev", "◀");
  const next = el("button", "nbrag-next", "▶");
  const where = el("span", "nbrag-where");
  pager.append(prev, where, next);
  const main = el("div", "nbrag-main");
  const body = el("div", "nbrag-text");
  const side = el("div", "nbrag-side");
  const meta = el("div", "nbrag-meta");
  const tree = el("div", "nbrag-outline");
  side.append(meta, tree);
  main.append(body, side);
  root.append(title, legend, warnings, pager, main);

  let pages = new Map();
  const turn = (page) => {
    model.set("page", Math.max(0, Math.min(model.get("pages") - 1, page)));
    model.save_changes();
  };
  const select = (i) => {
    if (pages.has(i) && pages.get(i) !== model.get("page")) turn(pages.get(i));
    model.set("selected", i);
    model.save_changes();
  };
  // Scroll the text box (not the page) to the selected chunk's label.
  const reveal = () =>
    requestAnimationFrame(() => {
      const label = body.querySelector(`.nbrag-label[data-chunk="${model.get("selected")}"]`);
      if (!label) return;
      const top = label.offsetTop; // .nbrag-text is positioned, so this is relative to it
      if (top < body.scrollTop || top > body.scrollTop + body.clientHeight - 20) body.scrollTop = top - 8;
    });
  prev.addEventListener("click", () => turn(model.get("page") - 1));
  next.addEventListener("click", () => turn(model.get("page") + 1));

  const showPage = () => {
    drawText(model, body);
    const n = model.get("pages");
    pager.hidden = n < 2;
    where.textContent = ` page ${model.get("page") + 1} of ${n} `;
    prev.disabled = model.get("page") === 0;
    next.disabled = model.get("page") >= n - 1;
    highlight(body, "nbrag-selected", model.get("selected") >= 0 ? model.get("selected") : null);
  };
  const showSelected = () => {
    drawMeta(model, meta);
    highlight(body, "nbrag-selected", model.get("selected") >= 0 ? model.get("selected") : null);
    reveal();
  };
  const redraw = () => {
    root.dataset.chunks = String(model.get("chunks").length);
    title.textContent = model.get("title");
    legend.textContent = model.get("legend");
    warnings.replaceChildren(...model.get("warnings").map((w) => el("div", "nbrag-warning", w)));
    pages = pageOfChunk(model.get("segments"));
    drawOutline(model, tree, select);
    showPage();
    showSelected();
  };

  // Hovering a piece outlines every piece of the same chunk; clicking selects the chunk.
  body.addEventListener("mouseover", (event) => {
    const target = event.target.closest(".nbrag-seg");
    const first = target && target.dataset.chunks ? target.dataset.chunks.split(" ")[0] : null;
    highlight(body, "nbrag-active", first);
  });
  body.addEventListener("mouseleave", () => highlight(body, "nbrag-active", null));
  body.addEventListener("click", (event) => {
    const target = event.target.closest(".nbrag-seg, .nbrag-label");
    if (!target) return;
    const ids = target.dataset.chunk ?? target.dataset.chunks;
    if (ids) select(Number(ids.split(" ")[0]));
  });

  // One redraw for a batch of changed traits (Python sends a new result as one message).
  let pending = false;
  const schedule = () => {
    if (pending) return;
    pending = true;
    queueMicrotask(() => {
      pending = false;
      redraw();
    });
  };
  redraw();
  for (const name of ["segments", "chunks", "outline", "warnings", "title", "legend"]) model.on(`change:${name}`, schedule);
  model.on("change:page", showPage);
  model.on("change:selected", showSelected);
  return () => host.replaceChildren();
}

export default { render };
