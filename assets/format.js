// Display formatting for pages: times, dates, counts, and money per the server's display setting.

import { h } from './dom.js';
import { lang, t } from './i18n.js';
import { formatBalance, formatUsd, usdToQuota, formatQuota, parseDecimal, decimalsNeeded } from './money.js';
import { moneySettings } from './session.js';

/** "2026-11-24 09:15:02" in the viewer's time zone, from an RFC 3339 string ('' → "—"). */
export function formatTime(rfc3339) {
  if (!rfc3339) return '—';
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return String(rfc3339);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "2026-11-24" in the viewer's time zone ('' → "—"). */
export function formatDate(rfc3339) {
  return rfc3339 ? formatTime(rfc3339).slice(0, 10) : '—';
}

/** The local calendar date of a Date as "YYYY-MM-DD" (for <input type=date> values). */
export function isoDay(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** True when an RFC 3339 time is in the past. */
export function isPast(rfc3339) {
  if (!rfc3339) return false;
  const ms = new Date(rfc3339).getTime();
  return !Number.isNaN(ms) && ms <= Date.now();
}

/** Integer counts with the language's grouping: 1234567 → "1,234,567". */
export function formatCount(n) {
  if (n === null || n === undefined || n === '') return '—';
  return new Intl.NumberFormat(lang()).format(Number(n));
}

/** Milliseconds as "850 ms" or "2.4 s". */
export function formatMs(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

/**
 * A money amount (decimal string, USD) as one display string per the server setting:
 * "$0.00015" in USD mode, "75 quota" in quota mode.
 */
export function formatMoney(amount) {
  if (amount === null || amount === undefined) return '—';
  const settings = moneySettings();
  if (settings.display === 'quota') {
    const q = usdToQuota(amount, settings.quota_per_usd);
    if (q !== null) return `${formatQuota(q)} ${t('money.quotaUnit')}`;
  }
  return formatUsd(amount);
}

/** Same as formatMoney, but a signed amount always shows its sign ("+$1.00", "-$0.05"). */
export function formatSignedMoney(amount) {
  const d = parseDecimal(amount);
  const text = formatMoney(amount);
  return d && d.units > 0n ? '+' + text : text;
}

/**
 * A money amount with exactly `decimals` fraction digits (USD mode), so a column of amounts reads
 * as one format; quota is whole units either way. `signed` shows "+" on credits.
 */
export function formatMoneyAt(amount, decimals, { signed = false } = {}) {
  if (amount === null || amount === undefined) return '—';
  const settings = moneySettings();
  const d = parseDecimal(amount);
  let text;
  if (settings.display === 'quota') text = formatMoney(amount);
  else text = formatUsd(amount, { minDecimals: decimals, maxDecimals: decimals });
  return signed && d && d.units > 0n ? '+' + text : text;
}

/** The fraction digits a column of USD amounts needs so none is rounded: from 2 up to 9. */
export function columnDecimals(amounts) {
  return Math.min(9, Math.max(2, ...amounts.map((a) => decimalsNeeded(a))));
}

/**
 * A money amount as an element that never breaks inside the number (a phone's narrow cell wraps
 * around it, not through it). opts: { signed, decimals, className }.
 */
export function money(amount, { signed = false, decimals = null, className = '' } = {}) {
  const text = decimals === null ? (signed ? formatSignedMoney(amount) : formatMoney(amount)) : formatMoneyAt(amount, decimals, { signed });
  return h('span', { class: ['money', className].filter(Boolean).join(' ') }, text);
}

/** A price per 1M tokens (decimal string or null) as "$0.15" ('—' when null). */
export function formatPrice(value) {
  if (value === null || value === undefined || value === '') return '—';
  return formatUsd(value, { minDecimals: 2, maxDecimals: 6 });
}

export { formatBalance };
