// Helpers every nbrag widget shares. At build time this file is put in front of each widget's own
// module (hatch_build.py), so that a widget is one self-contained ES module: anywidget loads it
// from the package, with no bundler, CDN or network.

// An element with an optional class and text. Text always goes in as textContent, never as HTML,
// so markup inside document text shows as text.
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

