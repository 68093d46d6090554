// A tiny element builder: h('button', {class: 'big', onclick}, 'text', child, ...).

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) { continue; }
    if (k.startsWith('on') && typeof v === 'function') { el.addEventListener(k.slice(2), v); }
    else if (k === 'dataset') { Object.assign(el.dataset, v); }
    else if (k in el && typeof v !== 'string') { el[k] = v; }
    else { el.setAttribute(k, v === true ? '' : v); }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) { continue; }
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A modal with buttons; resolves with the value of the button pressed. */
export function modal(message, buttons) {
  return new Promise((resolve) => {
    const box = h('div', { class: 'modal', role: 'dialog', 'aria-modal': 'true' },
      h('div', { class: 'modal-box' },
        h('p', { class: 'modal-text' }, message),
        h('div', { class: 'modal-buttons' }, buttons.map((b) => h('button', {
          class: b.primary ? 'btn primary' : 'btn', dataset: { value: String(b.value) },
          onclick: () => { box.remove(); resolve(b.value); },
        }, b.label)))));
    document.body.append(box);
  });
}

export function toast(text) {
  const el = h('div', { class: 'toast', role: 'status' }, text);
  document.body.append(el);
  setTimeout(() => el.remove(), 3000);
}
