// CompareView: one bar per chunker over the same text; each chunk is a box placed
// by its character offsets, so boundaries line up across chunkers.

function draw(model, root) {
  root.replaceChildren();
  const length = Math.max(model.get("length"), 1);
  for (const track of model.get("tracks")) {
    const row = el("div", "nbrag-track");
    row.dataset.chunks = String(track.chunks.length);
    const label = el("div", "nbrag-track-label", track.method);
    label.append(el("span", "", track.params));
    const bar = el("div", "nbrag-track-bar");
    track.chunks.forEach((chunk, i) => {
      const seg = el("span", `nbrag-track-seg nbrag-c${i % 2}`);
      seg.style.left = `${(100 * chunk.start) / length}%`;
      seg.style.width = `${(100 * (chunk.end - chunk.start)) / length}%`;
      seg.title = chunk.title;
      bar.append(seg);
    });
    row.append(label, bar);
    root.append(row);
  }
  const stats = model.get("stats");
  if (stats.length) {
    const table = el("table", "nbrag-stats");
    const keys = Object.keys(stats[0]);
    const head = el("tr");
    for (const key of keys) head.append(el("th", "", key));
    table.append(head);
    for (const row of stats) {
      const tr = el("tr");
      for (const key of keys) tr.append(el("td", "", String(row[key])));
      table.append(tr);
    }
    root.append(table);
  }
}

function render({ model, el: host }) {
  const root = el("div", "nbrag-compare");
  host.append(root);
  const redraw = () => draw(model, root);
  redraw();
  model.on("change:tracks", redraw);
  model.on("change:stats", redraw);
  return () => host.replaceChildren();
}

export default { render };
