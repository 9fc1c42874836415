// Form building blocks: labelled fields with hint and per-field error wiring (aria-invalid/describedby).

import { h, uid } from './dom.js';

/**
 * A labelled input. Returns { el, input, setError(message|null), value() }.
 * opts: label, name, type, value, autocomplete, required, hint, minlength, maxlength,
 *       pattern, inputmode, placeholder, autocapitalize, spellcheck, min, max, step,
 *       multiline (→ <textarea rows=3>), options ([{ value, label }] → <select>).
 */
export function field(opts) {
  const id = uid(opts.name || 'field');
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const tag = opts.options ? 'select' : opts.multiline ? 'textarea' : 'input';
  const input = h(tag, {
    id,
    name: opts.name,
    type: tag === 'input' ? opts.type || 'text' : null,
    rows: tag === 'textarea' ? opts.rows || 3 : null,
    class: tag === 'textarea' ? 'input input-multiline' : 'input',
    min: opts.min,
    max: opts.max,
    step: opts.step,
    autocomplete: opts.autocomplete,
    required: opts.required,
    minlength: opts.minlength,
    maxlength: opts.maxlength,
    pattern: opts.pattern,
    inputmode: opts.inputmode,
    placeholder: opts.placeholder,
    autocapitalize: opts.autocapitalize,
    spellcheck: opts.spellcheck === undefined ? null : String(opts.spellcheck),
    'aria-describedby': opts.hint ? hintId : null,
  });
  if (opts.options) {
    for (const o of opts.options) input.appendChild(h('option', { value: o.value }, o.label));
  }
  if (opts.value !== undefined && opts.value !== null) input.value = String(opts.value);

  const hint = opts.hint ? h('p', { class: 'field-hint', id: hintId }, opts.hint) : null;
  const error = h('p', { class: 'field-error', id: errorId, hidden: true });

  const setError = (message) => {
    if (message) {
      error.textContent = message;
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', [opts.hint ? hintId : '', errorId].filter(Boolean).join(' '));
    } else {
      error.textContent = '';
      error.hidden = true;
      input.removeAttribute('aria-invalid');
      if (opts.hint) input.setAttribute('aria-describedby', hintId);
      else input.removeAttribute('aria-describedby');
    }
  };
  input.addEventListener('input', () => setError(null));
  input.addEventListener('change', () => setError(null));

  const el = h(
    'div',
    { class: 'field' },
    h('label', { for: id, class: 'field-label' }, opts.label, opts.optionalText ? h('span', { class: 'field-optional' }, opts.optionalText) : null),
    input,
    hint,
    error,
  );
  return { el, input, setError, value: () => input.value };
}

/**
 * Validate fields in order; each check is [fieldObject, messageOrNull].
 * Shows every message, focuses the first invalid field, and returns true when all pass.
 */
export function validate(checks) {
  let first = null;
  for (const [f, message] of checks) {
    f.setError(message || null);
    if (message && !first) first = f;
  }
  if (first) first.input.focus();
  return !first;
}

/** A labelled checkbox. Returns { el, input, checked() }. opts: label, name, checked, hint. */
export function checkField(opts) {
  const id = uid(opts.name || 'check');
  const input = h('input', { id, name: opts.name, type: 'checkbox', class: 'checkbox', checked: !!opts.checked });
  const el = h(
    'div',
    { class: 'field field-check' },
    h('label', { for: id, class: 'check-label' }, input, h('span', null, opts.label)),
    opts.hint ? h('p', { class: 'field-hint' }, opts.hint) : null,
  );
  return { el, input, checked: () => input.checked };
}

/** Split a textarea/list input on commas, spaces and newlines into trimmed, non-empty entries. */
export function splitList(text) {
  return String(text || '')
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}
