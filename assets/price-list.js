// Price lists shared by Admin > Prices and the member's Models & Prices page: one row per model,
// and one beneath it for each long-context tier, with every kind of token price.

import { h } from './dom.js';
import { t } from './i18n.js';

/** Rows for a table: each model, then its tiers (rows with `tier` set). */
export function priceRows(models) {
  const rows = [];
  for (const m of models) {
    rows.push({ model: m.model, free: m.free, prices: m.prices, tier: null, extra: m });
    for (const tier of m.tiers || []) rows.push({ model: m.model, free: false, prices: tier, tier: tier.above_input_tokens, extra: m });
  }
  return rows;
}

function cell(row, key, format) {
  if (row.free || !row.prices) return h('span', { class: 'muted' }, '—');
  const value = row.prices[key];
  if (key === 'per_request' && (value === '0' || value === undefined)) return h('span', { class: 'muted' }, '—');
  return format(value);
}

/** Columns: model (or the tier's threshold), then each price; `format` renders one price. */
export function priceColumns(format) {
  const price = (key, label) => ({ label, cell: (r) => cell(r, key, format), class: 'num' });
  return [
    {
      label: t('prices.col.model'),
      cell: (r) =>
        r.tier === null
          ? h('div', null, h('code', null, r.model), r.free ? h('span', { class: 'badge badge-success badge-inline' }, t('prices.free')) : null)
          : h('span', { class: 'muted small tier-label' }, t('prices.tier', { tokens: Number(r.tier).toLocaleString() })),
    },
    price('input', t('prices.col.input')),
    price('cache_read', t('prices.col.cacheRead')),
    price('cache_write', t('prices.col.cacheWrite')),
    price('cache_write_1h', t('prices.col.cacheWrite1h')),
    price('output', t('prices.col.output')),
    price('per_request', t('prices.col.perRequest')),
  ];
}
