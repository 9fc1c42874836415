// Shared UI feedback: toasts, inline alerts, spinners, busy buttons, error text, copy, language switch.

import { h } from './dom.js';
import { icon } from './icons.js';
import { t, has, lang, LANGUAGES, setLanguage } from './i18n.js';

const KIND_ICON = { error: 'alert', success: 'check', info: 'info', warning: 'alert' };

/** Human text for an error: a translated `error.<code>` when we have one, else the server's message. */
export function describeError(err) {
  if (!err) return t('error.unknown');
  const code = err.code ? String(err.code) : '';
  if (code && has('error.' + code)) return t('error.' + code, { status: err.status ?? '' });
  return err.message || t('error.unknown');
}

let toastRegion = null;
function region() {
  if (!toastRegion || !toastRegion.isConnected) {
    toastRegion = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.appendChild(toastRegion);
  }
  return toastRegion;
}

/** Show a transient message. kind: 'info' | 'success' | 'error' | 'warning'. Errors stay longer. */
export function toast(message, kind = 'info', timeout) {
  const ms = timeout ?? (kind === 'error' ? 8000 : 4000);
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': t('common.dismiss') }, icon('close', { size: 16 }));
  const el = h(
    'div',
    { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : null },
    icon(KIND_ICON[kind] || 'info'),
    h('span', { class: 'toast-text' }, message),
    close,
  );
  const remove = () => el.remove();
  close.addEventListener('click', remove);
  region().appendChild(el);
  if (ms > 0) setTimeout(remove, ms);
  return remove;
}

/** Toast an error (ApiError or any Error) with the best available text. */
export function toastError(err) {
  return toast(describeError(err), 'error');
}

/**
 * An inline alert block. kind: 'error' | 'success' | 'info' | 'warning'.
 * action: optional { label, onClick } rendered as a button (e.g. "Retry").
 */
export function alertBox(message, kind = 'error', action) {
  return h(
    'div',
    { class: `alert alert-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    icon(KIND_ICON[kind] || 'info'),
    h('div', { class: 'alert-text' }, message),
    action ? h('button', { type: 'button', class: 'btn btn-small btn-secondary', onclick: action.onClick }, action.label) : null,
  );
}

/** A slot that shows at most one alert: slot.show(msg, kind), slot.clear(). */
export function alertSlot() {
  const el = h('div', { class: 'alert-slot' });
  return {
    el,
    show(message, kind = 'error', action) {
      el.replaceChildren(alertBox(message, kind, action));
    },
    error(err, action) {
      el.replaceChildren(alertBox(describeError(err), 'error', action));
    },
    clear() {
      el.replaceChildren();
    },
  };
}

/** A spinner with an accessible label. */
export function spinner(label = t('common.loading')) {
  return h('span', { class: 'spinner', role: 'status' }, h('span', { class: 'visually-hidden' }, label));
}

/** A centered loading block for a page or section. */
export function loadingBlock(label = t('common.loading')) {
  return h('div', { class: 'loading-block' }, spinner(label), h('span', { 'aria-hidden': 'true' }, label));
}

/** Put a button (and its form) into a busy state while `work` runs; returns work's result. */
export async function withBusy(button, work) {
  const form = button.form;
  const label = button.textContent;
  const original = [...button.childNodes];
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  button.replaceChildren(spinner(), h('span', null, label));
  if (form) form.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.replaceChildren(...original);
    if (form) form.removeAttribute('aria-busy');
  }
}

/** Copy text to the clipboard (falls back to execCommand on plain-HTTP origins). */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* fall through to the legacy path */
  }
  const ta = h('textarea', { class: 'visually-hidden', readonly: true });
  ta.value = text;
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

/** A small "Copy" button that copies `text` and toasts the result. */
export function copyButton(text, label = t('common.copy')) {
  return h(
    'button',
    {
      type: 'button',
      class: 'btn btn-small btn-secondary',
      onclick: async () => {
        const ok = await copyText(text);
        toast(ok ? t('common.copied') : t('common.copyFailed'), ok ? 'success' : 'error', 2500);
      },
    },
    icon('copy', { size: 14 }),
    h('span', null, label),
  );
}

/** The language <select>, labelled for screen readers; changing it switches the whole UI. */
export function langSwitch() {
  const id = 'lang-' + Math.random().toString(36).slice(2, 8);
  const select = h(
    'select',
    { id, class: 'lang-select', onchange: (e) => setLanguage(e.target.value) },
    LANGUAGES.map((l) => h('option', { value: l.code, selected: l.code === lang() }, l.label)),
  );
  return h(
    'div',
    { class: 'lang-switch' },
    h('label', { for: id, class: 'lang-label', title: t('common.language') }, icon('globe', { size: 16 }), h('span', { class: 'visually-hidden' }, t('common.language'))),
    select,
  );
}

/** A page heading block: h1 (focus target after navigation), optional subtitle and action buttons. */
export function pageHeader(title, subtitle, ...actions) {
  return h(
    'div',
    { class: 'page-header' },
    h('div', { class: 'page-heading' }, h('h1', { class: 'page-title', tabindex: '-1' }, title), subtitle ? h('p', { class: 'page-subtitle' }, subtitle) : null),
    actions.length ? h('div', { class: 'page-actions' }, actions) : null,
  );
}
