// BoundaryView: draws the segments that Python computed. Document text is set
// with textContent only, so markup inside a document shows as text.

const PALETTE_SIZE = 10;
const color = (i) => `var(--nbrag-c${i % PALETTE_SIZE})`;

function draw(model, root) {
  const chunks = model.get("chunks");
  const pieces = model.get("segments");
  root.replaceChildren();
  root.dataset.chunks = String(chunks.length);

  const title = document.createElement("div");
  title.className = "nbrag-title";
  title.textContent = model.get("title");
  const legend = document.createElement("div");
  legend.className = "nbrag-legend";
  legend.textContent = model.get("legend");
  root.append(title, legend);

  for (const warning of model.get("warnings")) {
    const box = document.createElement("div");
    box.className = "nbrag-warning";
    box.textContent = warning;
    root.append(box);
  }

  const body = document.createElement("div");
  body.className = "nbrag-text";
  for (const piece of pieces) {
    for (const i of piece.starts) {
      const label = document.createElement("span");
      label.className = "nbrag-label";
      label.textContent = String(i);
      body.append(label);
    }
    const span = document.createElement("span");
    span.className = "nbrag-seg";
    span.textContent = piece.text;
    span.title = piece.title;
    span.dataset.chunks = piece.chunks.join(" ");
    const ids = piece.chunks;
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
  // Hovering a piece outlines every piece of the same chunk.
  body.addEventListener("mouseover", (event) => {
    const target = event.target.closest(".nbrag-seg");
    const first = target && target.dataset.chunks ? target.dataset.chunks.split(" ")[0] : null;
    for (const span of body.querySelectorAll(".nbrag-seg")) {
      const mine = first !== null && span.dataset.chunks.split(" ").includes(first);
      span.classList.toggle("nbrag-active", mine);
    }
  });
  body.addEventListener("mouseleave", () => {
    for (const span of body.querySelectorAll(".nbrag-active")) span.classList.remove("nbrag-active");
  });
  root.append(body);
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "nbrag-boundary";
  el.append(root);
  const redraw = () => draw(model, root);
  redraw();
  model.on("change:segments", redraw);
  model.on("change:warnings", redraw);
  model.on("change:title", redraw);
  return () => el.replaceChildren();
}

export default { render };
