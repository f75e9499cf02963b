// One way to make elements: el("li", {className: "doc"}, "text", child, ...). Text goes in
// as text nodes, never as HTML, so nothing the server or a file says can inject markup.

export function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}
