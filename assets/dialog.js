// Modal dialogs on the native <dialog> element: a generic shell and a confirmation prompt.

import { h } from './dom.js';
import { icon } from './icons.js';
import { t } from './i18n.js';

/**
 * Open a modal: openDialog({ title, body: [nodes], footer: [nodes], wide }).
 * Returns { el, body, close(value) , closed: Promise<value> }. Esc and the × button close it with null.
 * The dialog removes itself from the document when closed.
 */
export function openDialog({ title, body = [], footer = [], wide = false }) {
  let resolve;
  const closed = new Promise((r) => {
    resolve = r;
  });
  let result = null;
  const titleId = 'dlg-' + Math.random().toString(36).slice(2, 8);
  const closeBtn = h('button', { type: 'button', class: 'btn btn-icon btn-ghost dialog-close', 'aria-label': t('common.close') }, icon('close', { size: 18 }));
  const bodyEl = h('div', { class: 'dialog-body' }, body);
  const el = h(
    'dialog',
    { class: wide ? 'dialog dialog-wide' : 'dialog', 'aria-labelledby': titleId },
    h('div', { class: 'dialog-head' }, h('h2', { id: titleId, class: 'dialog-title' }, title), closeBtn),
    bodyEl,
    footer.length ? h('div', { class: 'dialog-foot' }, footer) : null,
  );
  const close = (value = null) => {
    result = value;
    if (el.open) el.close();
  };
  closeBtn.addEventListener('click', () => close(null));
  el.addEventListener('close', () => {
    el.remove();
    resolve(result);
  });
  document.body.appendChild(el);
  el.showModal();
  return { el, body: bodyEl, close, closed };
}

/** Ask a yes/no question. Resolves true only when the confirm button is pressed. */
export function confirmDialog({ title, message, confirmLabel, danger = false }) {
  const cancel = h('button', { type: 'button', class: 'btn btn-secondary' }, t('common.cancel'));
  const ok = h('button', { type: 'button', class: danger ? 'btn btn-danger' : 'btn btn-primary' }, confirmLabel || t('common.confirm'));
  const dlg = openDialog({ title, body: [h('p', { class: 'dialog-text' }, message)], footer: [cancel, ok] });
  cancel.addEventListener('click', () => dlg.close(false));
  ok.addEventListener('click', () => dlg.close(true));
  cancel.focus();
  return dlg.closed.then((v) => v === true);
}
