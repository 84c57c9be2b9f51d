// RAG answers and agent traces. Python computed every run, card and note drawn here; this file
// only builds the DOM and sets all document and model text with textContent, so markup inside a
// passage or an answer shows as text and never runs.

function labelled(label, text, className) {
  const box = el("div", className);
  box.append(el("span", "", label), document.createTextNode(` ${text}`));
  return box;
}

// ------------------------------------------------------------------ the answer

function answerText(data) {
  const box = el("div", "nbrag-rag-answer");
  let group = null;
  let groupIndex = null;
  for (const run of data.runs) {
    let target = box;
    if (run.sentence !== null && run.sentence !== undefined) {
      if (group === null || groupIndex !== run.sentence) {
        const note = data.sentences[run.sentence];
        group = el("span", "nbrag-sentence");
        group.classList.toggle("nbrag-unsupported", !note.supported);
        group.classList.toggle("nbrag-uncited", note.uncited);
        group.dataset.sentence = String(run.sentence);
        group.dataset.score = note.score.toFixed(3);
        group.title = note.title;
        groupIndex = run.sentence;
        box.append(group);
      }
      target = group;
    } else {
      group = null;
      groupIndex = null;
    }
    if (!run.cite) {
      target.append(document.createTextNode(run.text));
      continue;
    }
    const cite = el("span", "nbrag-cite", run.text);
    cite.dataset.number = String(run.cite.number);
    cite.title = run.cite.title;
    if (run.cite.source === null || run.cite.source === undefined) {
      cite.classList.add("nbrag-broken");
    } else {
      cite.dataset.source = String(data.sources[run.cite.source].number);
      cite.tabIndex = 0;
      cite.setAttribute("role", "button");
    }
    target.append(cite);
  }
  return box;
}

function sourceCard(card) {
  const box = el("div", "nbrag-rag-source");
  box.dataset.number = String(card.number);
  box.title = card.title;
  const head = el("div", "nbrag-rag-source-head");
  head.append(el("span", "nbrag-rag-number", `[${card.number}]`),
    el("span", "nbrag-where", `${card.document} · chars ${card.start}–${card.end}`));
  for (const s of card.scores) {
    const chip = el("span", "nbrag-chip", `${s.name} ${s.value.toFixed(4)}${s.rank ? ` #${s.rank}` : ""}`);
    chip.dataset.name = s.name;
    head.append(chip);
  }
  head.append(el("span", "nbrag-chip", `${card.tokens} tokens`));
  if (card.status) head.append(el("span", "nbrag-rag-status", card.status));
  const text = el("div", "nbrag-rag-text");
  text.append(document.createTextNode(card.text.slice(0, card.inPrompt)));
  if (card.inPrompt < card.text.length) {
    const cut = el("span", "nbrag-rag-cut", card.text.slice(card.inPrompt));
    cut.title = "not in the prompt";
    text.append(cut);
  }
  box.append(head, text);
  return box;
}

function promptBox(data) {
  const box = el("details", "nbrag-rag-prompt");
  const size = data.prompt.length.toLocaleString();
  box.append(el("summary", "", `The prompt, exactly as the model saw it (${size} characters)`));
  for (const note of data.notes) box.append(el("div", "nbrag-rag-note", note));
  box.append(el("pre", "", data.prompt));
  return box;
}

function drawAnswer(model, root) {
  const data = model.get("data");
  const parts = [];
  if (data.question) parts.push(labelled("Question", data.question, "nbrag-rag-question"));
  if (data.heading) parts.push(el("div", "nbrag-rag-head nbrag-rag-answer-head", data.heading));
  parts.push(answerText(data), el("div", "nbrag-rag-legend", model.get("legend")));
  if (data.meta) parts.push(el("div", "nbrag-rag-meta", data.meta));
  for (const w of data.warnings) parts.push(el("div", "nbrag-rag-warning", w));
  if (data.sources.length) {
    const sources = el("div", "nbrag-rag-sources");
    sources.append(el("div", "nbrag-rag-head", `Sources (${data.sources.length})`));
    for (const card of data.sources) sources.append(sourceCard(card));
    parts.push(sources);
  }
  if (data.prompt) parts.push(promptBox(data));
  root.replaceChildren(...parts);
}

function showSelected(model, root, scroll) {
  const n = String(model.get("selected"));
  for (const card of root.querySelectorAll(".nbrag-rag-source")) {
    const on = card.dataset.number === n;
    card.classList.toggle("nbrag-selected", on);
    if (on && scroll) card.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }
  for (const cite of root.querySelectorAll(".nbrag-cite[data-source]")) {
    cite.classList.toggle("nbrag-selected", cite.dataset.source === n);
  }
}

function renderAnswer(model, root) {
  root.classList.add("nbrag-rag");
  const pick = (target) => {
    const cite = target.closest(".nbrag-cite[data-source]");
    if (cite) {
      const n = Number(cite.dataset.source);
      model.set("selected", model.get("selected") === n ? 0 : n); // a second click closes it
      model.save_changes();
      showSelected(model, root, true);
      return;
    }
    const card = target.closest(".nbrag-rag-source");
    if (card && !window.getSelection().toString()) {
      const n = Number(card.dataset.number);
      model.set("selected", model.get("selected") === n ? 0 : n);
      model.save_changes();
      showSelected(model, root, false);
    }
  };
  root.addEventListener("click", (event) => pick(event.target));
  root.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      if (event.target.closest(".nbrag-cite[data-source]")) {
        event.preventDefault();
        pick(event.target);
      }
    }
  });
  const redraw = () => {
    drawAnswer(model, root);
    showSelected(model, root, false);
  };
  redraw();
  model.on("change:data", redraw);
  model.on("change:legend", redraw);
  model.on("change:selected", () => showSelected(model, root, true));
}

// ------------------------------------------------------------------ the agent's trace

function stepRow(step) {
  const row = el("details", "nbrag-step");
  row.dataset.action = step.action;
  const summary = el("summary");
  const badge = el("span", "nbrag-badge", step.action);
  badge.dataset.action = step.action;
  badge.title = step.actionTitle;
  summary.append(el("span", "nbrag-step-number", String(step.number)), badge,
    el("span", "nbrag-step-thought", step.thought),
    el("span", "nbrag-step-cost",
      `${step.seconds.toFixed(2)} s · ${step.promptTokens}+${step.completionTokens} tokens`));
  const body = el("div", "nbrag-step-body");
  const args = el("div");
  args.append(el("b", "", "arguments"), document.createTextNode(" "), el("code", "", step.arguments));
  body.append(args);
  if (step.note) body.append(el("div", "nbrag-step-note", step.note));
  if (step.observation) {
    const obs = el("div");
    obs.append(el("b", "", "observation"), el("pre", "", step.observation));
    body.append(obs);
  }
  for (const hit of step.hits) {
    const box = el("div", "nbrag-step-hit");
    const where = `#${hit.rank} ${hit.document} · chars ${hit.start}–${hit.end} · ${hit.score.toFixed(4)}`;
    box.append(el("span", "nbrag-where", where),
      el("div", "nbrag-rag-text", hit.text));
    body.append(box);
  }
  if (step.raw) {
    const raw = el("div");
    raw.append(el("b", "", "model reply"), el("pre", "", step.raw));
    body.append(raw);
  }
  row.append(summary, body);
  return row;
}

function drawTrace(model, root) {
  const data = model.get("data");
  const parts = [labelled("Question", data.question, "nbrag-rag-question"), el("div", "nbrag-rag-meta", data.summary)];
  if (data.subQuestions.length) {
    const subs = el("div", "nbrag-trace-subs");
    const list = el("ol");
    data.subQuestions.forEach((q, i) => {
      const item = el("li", "", q);
      if (data.subAnswers[i]) item.append(el("span", "nbrag-trace-subanswer", ` → ${data.subAnswers[i]}`));
      list.append(item);
    });
    subs.append(el("div", "nbrag-rag-head", "Sub-questions"), list);
    parts.push(subs);
  }
  const steps = el("div", "nbrag-steps");
  for (const step of data.steps) steps.append(stepRow(step));
  parts.push(steps);
  const verified = el("div", "nbrag-trace-verified", `Verification: ${data.verified}`);
  verified.dataset.verified = data.verified;
  parts.push(verified);
  if (data.stopped) parts.push(el("div", "nbrag-trace-stopped", data.stopped));
  root.replaceChildren(...parts);
}

function renderTrace(model, root) {
  root.classList.add("nbrag-trace");
  root.addEventListener("click", (event) => {
    const hit = event.target.closest(".nbrag-step-hit");
    if (hit && !window.getSelection().toString()) hit.classList.toggle("nbrag-open");
  });
  drawTrace(model, root);
  model.on("change:data", () => drawTrace(model, root));
}

// ------------------------------------------------------------------ a reply as it is written

function renderStream(model, root) {
  root.classList.add("nbrag-stream");
  const text = el("span", "nbrag-stream-text");
  root.append(el("div", "nbrag-stream-title", model.get("title")), text, el("span", "nbrag-stream-cursor", "▍"));
  const draw = () => { text.textContent = model.get("text"); };
  draw();
  model.on("change:text", draw);
}

function render({ model, el: host }) {
  const root = el("div");
  host.append(root);
  const kind = model.get("kind");
  if (kind === "trace") renderTrace(model, root);
  else if (kind === "stream") renderStream(model, root);
  else renderAnswer(model, root);
  return () => host.replaceChildren();
}

export default { render };
