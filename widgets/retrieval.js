// Retrieval hits: one column per ranked list. Python computed every number drawn here
// (marked spans, bar segments, rank changes); this file only builds the DOM, and sets
// document text with textContent only, so markup inside a passage shows as text.

function passage(hit) {
  const box = el("div", "nbrag-passage");
  let at = 0;
  for (const mark of hit.marks) {
    if (mark.start > at) box.append(document.createTextNode(hit.text.slice(at, mark.start)));
    const m = el("mark", "", hit.text.slice(mark.start, mark.end));
    m.title = mark.title;
    box.append(m);
    at = mark.end;
  }
  if (at < hit.text.length) box.append(document.createTextNode(hit.text.slice(at)));
  return box;
}

function bar(hit, zero) {
  const box = el("div", "nbrag-bar");
  const line = el("span", "nbrag-zero");
  line.style.left = `${zero}%`;
  box.append(line);
  for (const seg of hit.bar) {
    const part = el("span", `nbrag-part nbrag-part-${seg.name}`);
    part.style.left = `${seg.left}%`;
    part.style.width = `${seg.width}%`;
    part.title = `${seg.name} ${seg.value.toFixed(4)}`;
    part.dataset.name = seg.name;
    box.append(part);
  }
  return box;
}

function card(hit, zero, c, r) {
  const box = el("div", "nbrag-hit");
  box.dataset.id = hit.id;
  box.dataset.rank = String(hit.rank);
  box.dataset.column = String(c);
  box.dataset.row = String(r);
  box.title = hit.title;
  const head = el("div", "nbrag-hit-head");
  head.append(el("span", "nbrag-rank", `#${hit.rank}`));
  if (hit.move) {
    const move = el("span", "nbrag-move", hit.move);
    move.dataset.move = hit.move;
    head.append(move);
  }
  head.append(el("span", "nbrag-where", `${hit.document} · chars ${hit.start}–${hit.end}`));
  for (const r of hit.ranks) head.append(el("span", "nbrag-chip", `${r.name} #${r.rank || "–"}`));
  head.append(el("span", "nbrag-score", `${hit.scoreName} ${hit.score.toPrecision(4)}`));
  if (hit.rerank !== null && hit.rerank !== undefined) {
    head.append(el("span", "nbrag-chip nbrag-rerank", `rerank ${hit.rerank.toFixed(3)}`));
  }
  box.append(head, bar(hit, zero));
  if (hit.via) box.append(el("div", "nbrag-via", hit.via));
  box.append(passage(hit));
  return box;
}

function swatches(col) {
  const names = [...new Set(col.hits.flatMap((hit) => hit.bar.map((seg) => seg.name)))];
  const out = [];
  names.forEach((name, i) => {
    out.push(el("span", `nbrag-swatch nbrag-part-${name}`), document.createTextNode(i < names.length - 1 ? `${name} ` : `${name}: `));
  });
  return out;
}

function draw(model, root) {
  const query = el("div", "nbrag-query");
  query.append(el("span", "", "Query"), document.createTextNode(` ${model.get("query")}`));
  const parts = [query];
  if (model.get("hyde")) {
    const hyde = el("div", "nbrag-hyde");
    hyde.append(el("span", "", "HyDE searched with this imagined answer"), document.createTextNode(model.get("hyde")));
    parts.push(hyde);
  }
  parts.push(el("div", "nbrag-hint", model.get("hint")));
  const columns = el("div", "nbrag-columns");
  const cols = model.get("columns");
  columns.style.setProperty("--columns", String(cols.length));
  // Heads first, then bodies: the grid puts each in its row, so the first hits line up.
  for (const col of cols) {
    const head = el("div", "nbrag-col-head");
    const legend = el("div", "nbrag-col-legend");
    legend.append(...swatches(col), document.createTextNode(col.legend));
    head.append(el("div", "nbrag-col-title", col.title), legend);
    columns.append(head);
  }
  cols.forEach((col, c) => {
    const box = el("div", "nbrag-column");
    box.dataset.mode = col.mode;
    box.dataset.hits = String(col.hits.length);
    col.hits.forEach((hit, r) => box.append(card(hit, col.zero, c, r)));
    columns.append(box);
  });
  parts.push(columns);
  root.classList.toggle("nbrag-side-by-side", cols.length > 1);
  root.dataset.columns = String(cols.length);
  root.replaceChildren(...parts);
}

function showSelected(model, root) {
  const [c, r] = model.get("selected");
  for (const hit of root.querySelectorAll(".nbrag-hit")) {
    hit.classList.toggle("nbrag-selected", hit.dataset.column === String(c) && hit.dataset.row === String(r));
  }
}

// The document opens in a sibling widget below the hits; bring it into view once it is drawn.
function revealDocument(host) {
  const box = host.closest(".widget-vbox");
  let tries = 0;
  const look = () => {
    const doc = box && box.querySelector(".nbrag-boundary");
    if (doc && doc.offsetParent !== null && doc.querySelector(".nbrag-seg")) {
      doc.scrollIntoView({ block: "nearest", behavior: "smooth" });
    } else if (++tries < 120) {
      requestAnimationFrame(look);
    }
  };
  if (box) requestAnimationFrame(look);
}

function render({ model, el: host }) {
  const root = el("div", "nbrag-retrieval");
  host.append(root);
  root.addEventListener("click", (event) => {
    if (window.getSelection().toString()) return; // a drag that selected text, not a click on a hit
    const hit = event.target.closest(".nbrag-hit");
    if (!hit) return;
    const pick = [Number(hit.dataset.column), Number(hit.dataset.row)];
    const [c, r] = model.get("selected");
    const closing = c === pick[0] && r === pick[1]; // a second click closes the document
    model.set("selected", closing ? [] : pick);
    model.save_changes();
    if (!closing) revealDocument(host);
  });
  // One redraw for a batch of changed traits (a re-fused result arrives as one message).
  let pending = false;
  const redraw = () => {
    if (pending) return;
    pending = true;
    queueMicrotask(() => {
      pending = false;
      draw(model, root);
      showSelected(model, root);
    });
  };
  draw(model, root);
  showSelected(model, root);
  for (const name of ["columns", "query", "hint", "hyde"]) model.on(`change:${name}`, redraw);
  model.on("change:selected", () => showSelected(model, root));
  return () => host.replaceChildren();
}

export default { render };
