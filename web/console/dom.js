// Small DOM helpers: elements built from data (never innerHTML, so table
// names, keys and errors are shown as text), toasts and the confirm dialog.

// h('a', {href: '#/', class: 'x', testid: 'y', onclick: f}, 'text', child, [more])
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'testid') el.dataset.testid = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  appendAll(el, children);
  return el;
}

export function appendAll(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// Updates only what changed, so a refresh does not disturb selection or hover.
export function setText(el, text) {
  const value = String(text);
  if (el.textContent !== value) el.textContent = value;
}

export function setAttr(el, name, value) {
  if (value === null || value === undefined || value === false) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== String(value)) {
    el.setAttribute(name, String(value));
  }
}

export function setClass(el, className) {
  if (el.className !== className) el.className = className;
}

const kToastMs = {info: 4000, success: 4000, error: 9000};

// A message at the bottom right; errors stay longer and can be closed.
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const close = () => item.remove();
  const item = h('div', {class: `toast toast-${kind}`, testid: 'toast', dataset: {kind},
                         role: kind === 'error' ? 'alert' : 'status'},
                 h('span', {class: 'toast-text'}, message),
                 h('button', {type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: close}, '×'));
  box.append(item);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(close, kToastMs[kind] ?? kToastMs.info);
}

// Asks before doing something that cannot be undone. Resolves true on confirm.
// The dialog is modal, Escape cancels, and Cancel has the focus at first.
export function confirmAction({title, body, confirmLabel, cancelLabel = 'Cancel', danger = true}) {
  const dialog = document.getElementById('confirm');
  setText(document.getElementById('confirm-title'), title);
  setText(document.getElementById('confirm-body'), body);
  setText(document.getElementById('confirm-cancel'), cancelLabel);
  const ok = document.getElementById('confirm-ok');
  setText(ok, confirmLabel);
  ok.className = danger ? 'btn btn-danger' : 'btn btn-primary';
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), {once: true});
  });
}

// Copies text to the clipboard; falls back to a hidden textarea where the
// Clipboard API is not available.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h('textarea', {class: 'offscreen', readonly: true});
    area.value = text;
    document.body.append(area);
    area.select();
    const done = document.execCommand('copy');
    area.remove();
    return done;
  }
}
