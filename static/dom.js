// Building page elements from text, never from HTML strings.

// A new <tag> with an optional class and text content.
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
