// Exact money formatting: decimal strings in, display strings out, BigInt only (never JS floats).

const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?$/;

/**
 * Parse a decimal string ("12.500000", "-0.15", "3") into a scaled BigInt.
 * Returns { units: BigInt, scale: number } meaning units / 10^scale, or null when invalid.
 */
export function parseDecimal(value) {
  const text = String(value ?? '').trim();
  const m = DECIMAL_RE.exec(text);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const frac = m[3] ?? '';
  let units = BigInt((m[2] || '0') + frac);
  if (m[1] === '-') units = -units;
  return { units, scale: frac.length };
}

const TEN = 10n;
const pow10 = (n) => TEN ** BigInt(n);
const abs = (n) => (n < 0n ? -n : n);

/** Integer division rounding half away from zero. */
function divRound(num, den) {
  const q = num / den;
  const r = num % den;
  if (abs(r) * 2n >= abs(den)) return q + (num < 0n === den < 0n ? 1n : -1n);
  return q;
}

/** Group an unsigned digit string with thousands separators: "1234567" → "1,234,567". */
export function groupDigits(digits, sep = ',') {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, sep);
}

/**
 * Format a decimal string with between minDecimals and maxDecimals fraction digits
 * (extra digits are rounded half away from zero, trailing zeros trimmed down to minDecimals).
 * formatDecimal("12.500000") → "12.50"; formatDecimal("0.000150") → "0.00015".
 * Invalid input is returned unchanged so a bad value is visible rather than hidden.
 */
export function formatDecimal(value, { minDecimals = 2, maxDecimals = 6, group = true } = {}) {
  const d = parseDecimal(value);
  if (!d) return String(value ?? '');
  let units = d.units;
  let scale = d.scale;
  if (scale > maxDecimals) {
    units = divRound(units, pow10(scale - maxDecimals));
    scale = maxDecimals;
  } else if (scale < minDecimals) {
    units *= pow10(minDecimals - scale);
    scale = minDecimals;
  }
  const negative = units < 0n;
  let digits = abs(units).toString().padStart(scale + 1, '0');
  let intPart = digits.slice(0, digits.length - scale);
  let fracPart = digits.slice(digits.length - scale);
  while (fracPart.length > minDecimals && fracPart.endsWith('0')) fracPart = fracPart.slice(0, -1);
  if (group) intPart = groupDigits(intPart);
  const sign = negative ? '-' : '';
  return sign + intPart + (fracPart ? '.' + fracPart : '');
}

/** "$12.50", "-$0.15", "$0.00015". */
export function formatUsd(value, opts) {
  const text = formatDecimal(value, opts);
  if (!parseDecimal(value)) return text;
  return text.startsWith('-') ? '-$' + text.slice(1) : '$' + text;
}

/**
 * USD decimal string → quota as BigInt: usd × quotaPerUsd, truncated toward zero.
 * quotaPerUsd may be a number (integer from JSON) or a decimal string. Returns null when invalid.
 */
export function usdToQuota(usd, quotaPerUsd) {
  const a = parseDecimal(usd);
  const b = parseDecimal(typeof quotaPerUsd === 'number' ? numberToDecimalString(quotaPerUsd) : quotaPerUsd);
  if (!a || !b) return null;
  return (a.units * b.units) / pow10(a.scale + b.scale);
}

/** Quota (integer or integer string) → exact USD decimal string with up to 6 decimals (rounded). */
export function quotaToUsd(quota, quotaPerUsd, maxDecimals = 6) {
  const q = parseDecimal(String(quota));
  const b = parseDecimal(typeof quotaPerUsd === 'number' ? numberToDecimalString(quotaPerUsd) : quotaPerUsd);
  if (!q || !b || b.units === 0n) return null;
  // usd = q / b  →  units at maxDecimals = q.units * 10^(maxDecimals + b.scale) / (b.units * 10^q.scale)
  const units = divRound(q.units * pow10(maxDecimals + b.scale), b.units * pow10(q.scale));
  const negative = units < 0n;
  const digits = abs(units).toString().padStart(maxDecimals + 1, '0');
  const text = digits.slice(0, -maxDecimals) + '.' + digits.slice(-maxDecimals);
  return (negative ? '-' : '') + text;
}

/** Integers from JSON are safe to stringify; anything else is rejected rather than guessed. */
function numberToDecimalString(n) {
  return Number.isSafeInteger(n) ? String(n) : null;
}

/** Format a quota BigInt with grouping: 6250000n → "6,250,000". */
export function formatQuota(quota) {
  if (quota === null || quota === undefined) return '—';
  const negative = quota < 0n;
  return (negative ? '-' : '') + groupDigits(abs(quota).toString());
}

/**
 * Format a USD amount per the server's display settings ({display, quota_per_usd} from /api/status).
 * Returns { text, unit, secondary } where secondary is the other view (USD when showing quota).
 */
export function formatBalance(usd, status) {
  const usdText = formatUsd(usd);
  if (status && status.display === 'quota') {
    const quota = usdToQuota(usd, status.quota_per_usd ?? 500000);
    if (quota !== null) return { text: formatQuota(quota), unit: 'quota', secondary: usdText };
  }
  return { text: usdText, unit: 'usd', secondary: '' };
}

/** Compare two decimal strings: -1, 0, 1 (null when either is invalid). */
export function compareDecimal(a, b) {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  if (!x || !y) return null;
  const s = Math.max(x.scale, y.scale);
  const xu = x.units * pow10(s - x.scale);
  const yu = y.units * pow10(s - y.scale);
  return xu < yu ? -1 : xu > yu ? 1 : 0;
}

/** Units at a scale back to a plain decimal string: (12345n, 3) → "12.345". */
function unitsToString(units, scale) {
  const neg = units < 0n;
  const digits = abs(units).toString().padStart(scale + 1, '0');
  const text = scale ? digits.slice(0, -scale) + '.' + digits.slice(-scale) : digits;
  return (neg ? '-' : '') + text;
}

/** Exact sum of decimal strings (invalid entries are skipped): ["0.1", "0.25"] → "0.35". */
export function sumDecimals(values) {
  let units = 0n;
  let scale = 0;
  for (const v of values) {
    const d = parseDecimal(v);
    if (!d) continue;
    if (d.scale > scale) {
      units *= pow10(d.scale - scale);
      scale = d.scale;
    }
    units += d.units * pow10(scale - d.scale);
  }
  return unitsToString(units, scale);
}

/** Exact product of two decimal strings, rounded half away from zero to maxDecimals (null if invalid). */
export function multiplyDecimals(a, b, maxDecimals = 2) {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  if (!x || !y) return null;
  let units = x.units * y.units;
  let scale = x.scale + y.scale;
  if (scale > maxDecimals) {
    units = divRound(units, pow10(scale - maxDecimals));
    scale = maxDecimals;
  }
  return unitsToString(units, scale);
}

/** A quota-per-USD setting as a parsed decimal (a JSON integer or a decimal string). */
function rate(quotaPerUsd) {
  return parseDecimal(typeof quotaPerUsd === 'number' ? numberToDecimalString(quotaPerUsd) : quotaPerUsd);
}

/** Trailing fraction zeros off a plain decimal string: "12.500" → "12.5", "3.000" → "3". */
function trimZeros(text) {
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

/**
 * USD decimal string → the exact quota it is, as a plain decimal string (never rounded):
 * usdToQuotaExact("0.000003", 500000) → "1.5". Null when either is invalid.
 */
export function usdToQuotaExact(usd, quotaPerUsd) {
  const a = parseDecimal(usd);
  const b = rate(quotaPerUsd);
  if (!a || !b) return null;
  return trimZeros(unitsToString(a.units * b.units, a.scale + b.scale));
}

/**
 * Quota (a decimal string as typed) → the exact USD decimal string with at most `places` (9, the
 * server's unit) decimals, or null when it is invalid or no such string is exactly that much.
 */
export function quotaToUsdExact(quota, quotaPerUsd, places = 9) {
  const q = parseDecimal(quota);
  const b = rate(quotaPerUsd);
  if (!q || !b || b.units === 0n) return null;
  // usd = q / b, at `places` decimals: q.units × 10^(places + b.scale) / (b.units × 10^q.scale).
  const num = q.units * pow10(places + b.scale);
  const den = b.units * pow10(q.scale);
  if (num % den !== 0n) return null;
  return trimZeros(unitsToString(num / den, places));
}

/** The number of fraction digits a decimal string needs (trailing zeros aside). */
export function decimalsNeeded(value) {
  const d = parseDecimal(value);
  if (!d) return 0;
  let { units, scale } = d;
  while (scale > 0 && units % 10n === 0n) {
    units /= 10n;
    scale -= 1;
  }
  return scale;
}

/**
 * The round number an axis should end at: the smallest 1, 2 or 5 × 10^k at or above the largest
 * of `values` (decimal strings or integers), as a decimal string; "0" when all are zero.
 */
export function niceCeiling(values) {
  const parsed = values.map((v) => parseDecimal(String(v ?? '0')) || { units: 0n, scale: 0 });
  const scale = Math.max(0, ...parsed.map((p) => p.scale));
  const max = parsed.reduce((m, p) => {
    const u = p.units * pow10(scale - p.scale);
    return u > m ? u : m;
  }, 0n);
  if (max <= 0n) return '0';
  const base = pow10(max.toString().length - 1);
  const step = [1n, 2n, 5n, 10n].map((f) => f * base).find((n) => n >= max);
  return trimZeros(unitsToString(step, scale));
}

/** Half of a decimal string, exactly: "5" → "2.5", "0.1" → "0.05". */
export function halfOf(value) {
  const d = parseDecimal(value);
  if (!d) return null;
  return trimZeros(unitsToString(d.units * 5n, d.scale + 1));
}
