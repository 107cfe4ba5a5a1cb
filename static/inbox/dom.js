// Building the page from data without ever parsing it as markup: API data is only ever text.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") element.className = value;
    else if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(key, "");
    else element.setAttribute(key, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
}

const full = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dateOnly = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const today = date.toDateString() === new Date().toDateString();
  return h("time", { datetime: iso, title: full.format(date) }, today ? timeOnly.format(date) : dateOnly.format(date));
}

export function fullDate(iso) {
  return iso ? h("time", { datetime: iso }, full.format(new Date(iso))) : "";
}

// An html body, already sanitised by the service, is shown through a second allow-list here:
// it is parsed inert (DOMParser runs nothing) and only formatting and safe links are rebuilt.
const KEEP = new Set(["P", "BR", "STRONG", "B", "EM", "I", "U", "UL", "OL", "LI", "BLOCKQUOTE", "CODE", "PRE"]);
const AS_STRONG = new Set(["H1", "H2", "H3", "H4", "H5", "H6"]);

function rebuild(node) {
  if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.textContent);
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const children = [...node.childNodes].map(rebuild).filter(Boolean);
  if (KEEP.has(node.tagName)) return h(node.tagName.toLowerCase(), {}, children);
  if (AS_STRONG.has(node.tagName)) return h("p", {}, h("strong", {}, children));
  if (node.tagName === "A") {
    const href = node.getAttribute("href") || "";
    if (/^(https?:|mailto:)/i.test(href)) {
      return h("a", { href, rel: "noopener noreferrer nofollow", target: "_blank" }, children);
    }
  }
  const fragment = document.createDocumentFragment();
  fragment.append(...children);
  return fragment;
}

export function messageBody(message) {
  const container = h("div", { class: "body" });
  if (message.body_format === "html") {
    const parsed = new DOMParser().parseFromString(message.body, "text/html");
    for (const node of parsed.body.childNodes) {
      const built = rebuild(node);
      if (built) container.append(built);
    }
  } else {
    container.classList.add("plain");
    container.textContent = message.body;
  }
  return container;
}

export function bytes(size) {
  if (size < 1000) return `${size} B`;
  if (size < 1000000) return `${Math.round(size / 1000)} kB`;
  return `${(size / 1000000).toFixed(1)} MB`;
}
