// Amount inputs in the unit the server displays: USD, or quota when [billing] display = "quota".
// What is typed is converted exactly (quota_per_usd quota per USD, BigInt only) to the USD decimal
// string the API speaks; an amount of quota that is no whole number of nano-dollars is refused
// rather than rounded.

import { h } from './dom.js';
import { t } from './i18n.js';
import { field } from './forms.js';
import { moneySettings } from './session.js';
import { parseDecimal, usdToQuotaExact, quotaToUsdExact, formatUsd, formatQuota } from './money.js';

/** The field label with its unit: "Amount (USD)" or "Amount (quota)". */
export function unitLabel(label) {
  return moneySettings().display === 'quota' ? t('money.inQuota', { label }) : t('money.inUsd', { label });
}

/**
 * A labelled amount field. opts: label (without unit), name, value (USD decimal string, shown in
 * the display unit), required, hint, optionalText, placeholder (in USD; quota mode converts it),
 * negative (allow a minus sign), zero (allow zero).
 * Returns the field plus read() → { empty, usd, problem }: `usd` is the exact USD decimal string,
 * `problem` a message for the field (null when fine); and setUsd(usd) to show a new value.
 */
export function amountField(opts) {
  const settings = moneySettings();
  const quota = settings.display === 'quota';
  const shown = (usd) => (usd === null || usd === undefined || usd === '' ? '' : quota ? usdToQuotaExact(usd, settings.quota_per_usd) ?? '' : trimmed(usd));
  const hint = quota ? [opts.hint, t('money.quotaRate', { rate: formatQuota(BigInt(settings.quota_per_usd)) })].filter(Boolean).join(' ') : opts.hint;
  const f = field({
    label: unitLabel(opts.label),
    name: opts.name,
    inputmode: 'decimal',
    required: opts.required,
    optionalText: opts.optionalText,
    hint,
    placeholder: opts.placeholder ? shown(opts.placeholder) : undefined,
    value: shown(opts.value),
    autocomplete: 'off',
  });
  // In quota mode the USD worth of what is typed shows as it is typed.
  const preview = h('p', { class: 'field-hint amount-preview', 'aria-live': 'polite', hidden: true });
  if (quota) {
    f.input.after(preview);
    const update = () => {
      const usd = quotaToUsdExact(f.input.value.trim().replace(/,/g, ''), settings.quota_per_usd);
      preview.hidden = !usd;
      preview.textContent = usd ? t('money.equivalent', { amount: formatUsd(usd) }) : '';
    };
    f.input.addEventListener('input', update);
    update();
  }

  const read = () => {
    const text = f.input.value.trim().replace(/,/g, '');
    if (!text) return { empty: true, usd: null, problem: opts.required ? t('validation.required') : null };
    const d = parseDecimal(text);
    const example = quota ? t('validation.quotaExample') : t('validation.amount');
    if (!d || (!opts.negative && d.units < 0n)) return { empty: false, usd: null, problem: example };
    if (!opts.zero && d.units === 0n) return { empty: false, usd: null, problem: opts.negative ? t('users.amountInvalid') : example };
    const usd = quota ? quotaToUsdExact(text, settings.quota_per_usd) : d.scale <= 9 ? text : null;
    if (usd === null) return { empty: false, usd: null, problem: quota ? t('validation.quotaInexact') : t('validation.tooPrecise') };
    return { empty: false, usd, problem: null };
  };
  return { ...f, read, setUsd: (usd) => (f.input.value = shown(usd)) };
}

/** "12.500000" → "12.5" for an input's value (exact, no grouping). */
function trimmed(usd) {
  const text = String(usd);
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}
