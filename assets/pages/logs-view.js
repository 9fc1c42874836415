// Request logs view shared by Logs (own) and All Logs (admin): filters in the URL, the filter's
// totals, cursor pages, CSV export, and a row's details (the whole error, tokens and cost) in a
// dialog. Errors are worded from the row's error code in the reader's language.

import { h, append } from '../dom.js';
import { icon } from '../icons.js';
import { t, has } from '../i18n.js';
import { api, qs } from '../api.js';
import { field } from '../forms.js';
import { copyButton, pageHeader, alertSlot } from '../ui.js';
import { openDialog } from '../dialog.js';
import { pagedTable, emptyState } from '../table.js';
import { formatMoney, formatTime, formatCount, formatMs, formatPrice, money } from '../format.js';
import { sumDecimals, parseDecimal, formatUsd, formatDecimal } from '../money.js';

const FILTERS = ['from', 'to', 'model', 'key_id', 'status', 'request_id', 'user'];

/**
 * What went wrong with a request, in the reader's language: from its error code and parameters
 * when the console knows the code, else the server's own words (rows older than codes).
 */
export function logErrorText(row) {
  const code = row.error_code || '';
  if (code && has('logs.error.' + code)) {
    const p = { ...(row.error_params || {}) };
    if (p.amount !== undefined) p.amount = formatMoney(p.amount);
    return t('logs.error.' + code, { status: row.status, model: row.model, ...p });
  }
  return row.error || '';
}

function statusBadge(row, open) {
  const ok = row.status < 400;
  const text = logErrorText(row);
  return h(
    'div',
    { class: 'status-cell' },
    h('span', { class: ok ? 'badge badge-success' : 'badge badge-danger' }, String(row.status)),
    row.stream ? h('span', { class: 'badge badge-muted' }, t('logs.stream')) : null,
    text ? h('button', { type: 'button', class: ok ? 'cell-error cell-note' : 'cell-error', title: t('logs.details'), onclick: () => open(row) }, text) : null,
  );
}

function requestIdCell(row, open) {
  return h(
    'div',
    { class: 'rid' },
    h('code', { class: 'rid-value', title: row.request_id }, row.request_id),
    copyButton(row.request_id, t('common.copy')),
    h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'data-testid': 'log-details', onclick: () => open(row) }, t('logs.details')),
  );
}

const USAGE_SOURCE = { upstream: 'logs.usage.upstream', counted: 'logs.usage.counted' };

/**
 * Each kind of token with its price and what it came to (from the row's price sheet), so a
 * charge can be checked by hand: tokens × price / 1M = amount, then the flat price, the sum and
 * the group multiplier. A row billed at no price shows just its tokens.
 */
function costLines(row, item) {
  const prices = row.prices;
  const b = row.cost_breakdown;
  const line = (label, tokens, priceKey, amountKey) => {
    if (!tokens && priceKey !== 'input' && priceKey !== 'output') return null;
    if (!prices || !b) return item(label, formatCount(tokens));
    return item(label, t('logs.breakdown', { tokens: formatCount(tokens), price: formatPrice(prices[priceKey]), amount: formatUsd(b[amountKey], { minDecimals: 2, maxDecimals: 9 }) }));
  };
  const lines = [
    line(t('logs.inputTokens'), row.input_tokens, 'input', 'input'),
    line(t('logs.cacheRead'), row.cache_read_tokens, 'cache_read', 'cache_read'),
    line(t('logs.cacheWrite'), row.cache_write_tokens, 'cache_write', 'cache_write'),
    line(t('logs.cacheWrite1h'), row.cache_write_1h_tokens, 'cache_write_1h', 'cache_write_1h'),
    line(t('logs.outputTokens'), row.output_tokens, 'output', 'output'),
    row.reasoning_tokens ? item(t('logs.reasoning'), formatCount(row.reasoning_tokens)) : null,
  ];
  if (prices && b) {
    if (parseDecimal(prices.per_request)?.units > 0n) lines.push(item(t('logs.flat'), formatUsd(b.per_request, { minDecimals: 2, maxDecimals: 9 })));
    lines.push(item(t('logs.subtotal'), formatUsd(b.subtotal, { minDecimals: 2, maxDecimals: 9 })));
    lines.push(item(t('logs.multiplier'), `× ${formatDecimal(b.multiplier, { minDecimals: 0 })}`));
  }
  return lines;
}

/** A row in full: when, who, what was asked, what it cost and why, and the whole error. */
function openDetails(row, admin) {
  const item = (label, value) => h('div', { class: 'kv-row' }, h('dt', null, label), h('dd', null, value));
  const uncollected = row.uncollected && parseDecimal(row.uncollected)?.units > 0n;
  const text = logErrorText(row);
  openDialog({
    title: t('logs.detailsTitle'),
    wide: true,
    body: [
      h(
        'dl',
        { class: 'kv', 'data-testid': 'log-detail' },
        item(t('logs.col.time'), formatTime(row.created_at)),
        item(t('logs.col.requestId'), h('span', { class: 'rid' }, h('code', { class: 'break' }, row.request_id), copyButton(row.request_id))),
        admin ? item(t('logs.col.user'), row.username || '—') : null,
        item(t('logs.col.key'), row.key_name || '—'),
        item(t('logs.endpoint'), h('code', null, row.endpoint || '—')),
        item(t('logs.col.model'), h('code', null, row.model || '—')),
        item(t('logs.upstream'), row.upstream || '—'),
        item(t('logs.col.status'), `${row.status}${row.stream ? ` · ${t('logs.stream')}` : ''}`),
        item(t('logs.col.latency'), formatMs(row.latency_ms)),
        item(t('logs.clientIp'), h('code', null, row.client_ip || '—')),
      ),
      h('h3', { class: 'section-title detail-heading' }, t('logs.costTitle')),
      h(
        'dl',
        { class: 'kv', 'data-testid': 'log-cost' },
        ...costLines(row, item),
        item(t('logs.usageSource'), USAGE_SOURCE[row.usage_source] ? t(USAGE_SOURCE[row.usage_source]) : t('logs.usage.none')),
        item(t('logs.charged'), money(row.cost)),
        uncollected ? item(t('logs.uncollected'), money(row.uncollected, { className: 'amount-neg' })) : null,
        uncollected ? item(t('logs.fullCost'), money(sumDecimals([row.cost, row.uncollected]))) : null,
      ),
      text || row.error
        ? h(
            'div',
            { class: 'detail-error' },
            h('h3', { class: 'section-title detail-heading' }, t('logs.errorTitle')),
            text ? h('p', { class: row.status >= 400 ? 'amount-neg' : '' }, text) : null,
            row.error && row.error !== text ? h('pre', { class: 'error-detail', 'data-testid': 'log-error-detail' }, row.error) : null,
          )
        : null,
    ],
  });
}

/** The filter's totals, from the first page's `summary`. */
function summaryBar(summary) {
  if (!summary) return null;
  const item = (label, value, testid) => h('div', { class: 'mini-stat' }, h('span', { class: 'mini-label' }, label), h('span', { class: 'mini-value', 'data-testid': testid }, value));
  const short = parseDecimal(summary.uncollected)?.units > 0n;
  return h(
    'div',
    { class: 'usage-totals logs-summary', 'data-testid': 'logs-summary' },
    item(t('logs.sum.requests'), formatCount(summary.requests), 'sum-requests'),
    item(t('logs.sum.errors'), formatCount(summary.errors), 'sum-errors'),
    item(t('logs.sum.tokens'), `${formatCount(summary.input_tokens)} / ${formatCount(summary.output_tokens)}`, 'sum-tokens'),
    item(t('logs.sum.cost'), money(summary.cost), 'sum-cost'),
    short ? item(t('logs.sum.uncollected'), money(summary.uncollected), 'sum-uncollected') : null,
  );
}

/** Resolve the admin "user" filter (an id or an exact username) to a user id; null when unknown. */
async function resolveUser(text, signal) {
  if (/^\d+$/.test(text)) return Number(text);
  const found = await api.get('/api/admin/users' + qs({ q: text, limit: 50 }), { signal });
  const exact = (found.data || []).find((u) => u.username.toLowerCase() === text.toLowerCase());
  return exact ? exact.id : null;
}

/**
 * Mount the logs view. opts: { admin: boolean, title, subtitle }.
 * Members filter by key (a select of their keys); admins filter by user and see usernames.
 */
export async function mountLogs(root, ctx, { admin }) {
  const q = ctx.query;
  const values = Object.fromEntries(FILTERS.map((k) => [k, (q.get(k) || '').trim()]));
  const alerts = alertSlot();

  const from = field({ label: t('logs.filter.from'), name: 'from', type: 'date', value: values.from });
  const to = field({ label: t('logs.filter.to'), name: 'to', type: 'date', value: values.to });
  const model = field({ label: t('logs.filter.model'), name: 'model', value: values.model, spellcheck: false, autocapitalize: 'none' });
  const status = field({
    label: t('logs.filter.status'),
    name: 'status',
    value: values.status,
    options: [
      { value: '', label: t('logs.status.all') },
      { value: 'success', label: t('logs.status.success') },
      { value: 'error', label: t('logs.status.error') },
      ...['400', '401', '402', '403', '404', '429', '502', '503', '504'].map((c) => ({ value: c, label: c })),
    ],
  });
  if (values.status && ![...status.input.options].some((o) => o.value === values.status)) {
    status.input.appendChild(h('option', { value: values.status }, values.status));
    status.input.value = values.status;
  }
  const requestId = field({ label: t('logs.filter.requestId'), name: 'request_id', value: values.request_id, spellcheck: false, autocapitalize: 'none' });

  let keyOrUser;
  if (admin) {
    keyOrUser = field({ label: t('logs.filter.user'), name: 'user', value: values.user, placeholder: t('logs.hint.user'), spellcheck: false, autocapitalize: 'none' });
  } else {
    keyOrUser = field({ label: t('logs.filter.key'), name: 'key_id', options: [{ value: '', label: t('logs.allKeys') }] });
    try {
      const keys = (await api.get('/api/keys', { signal: ctx.signal })).data || [];
      for (const k of keys) keyOrUser.input.appendChild(h('option', { value: String(k.id) }, k.name));
    } catch {
      /* the filter still works without key names; the list below shows any real error */
    }
    if (values.key_id) {
      if (![...keyOrUser.input.options].some((o) => o.value === values.key_id)) {
        keyOrUser.input.appendChild(h('option', { value: values.key_id }, `#${values.key_id}`));
      }
      keyOrUser.input.value = values.key_id;
    }
  }

  const apply = h('button', { type: 'submit', class: 'btn btn-primary' }, t('logs.apply'));
  const reset = h('a', { class: 'btn btn-secondary', href: ctx.route.path }, t('logs.reset'));
  const form = h(
    'form',
    { class: 'filters', novalidate: true, 'aria-label': t('logs.filters') },
    from.el,
    to.el,
    model.el,
    keyOrUser.el,
    status.el,
    requestId.el,
    h('div', { class: 'filter-actions' }, apply, reset),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = {
      from: from.value(),
      to: to.value(),
      model: model.value().trim(),
      status: status.value(),
      request_id: requestId.value().trim(),
    };
    if (admin) next.user = keyOrUser.value().trim();
    else next.key_id = keyOrUser.value();
    ctx.navigate(ctx.route.path + qs(next), { replace: true });
  });

  // The API's filter: the URL's values, with the admin's user resolved to an id.
  const filter = { from: values.from, to: values.to, model: values.model, status: values.status, request_id: values.request_id };
  if (!admin) filter.key_id = values.key_id;
  let unknownUser = false;
  if (admin && values.user) {
    try {
      const id = await resolveUser(values.user, ctx.signal);
      if (id === null) unknownUser = true;
      else filter.user_id = id;
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      alerts.error(err);
    }
  }

  const csv = unknownUser
    ? null
    : h('a', { class: 'btn btn-secondary', href: (admin ? '/api/admin/logs.csv' : '/api/logs.csv') + qs(filter), download: 'code-router-logs.csv', 'data-testid': 'csv-export' }, icon('logs', { size: 16 }), h('span', null, t('logs.exportCsv')));
  const open = (row) => openDetails(row, admin);
  const summaryBox = h('div', { class: 'summary-slot' });

  const hasFilter = Object.values(values).some(Boolean);
  const columns = [
    { label: t('logs.col.time'), cell: (r) => h('span', { class: 'stacked-time' }, h('span', null, formatTime(r.created_at).slice(0, 10)), ' ', h('span', { class: 'muted' }, formatTime(r.created_at).slice(11))) },
    admin ? { label: t('logs.col.user'), cell: (r) => (r.username ? h('a', { href: ctx.route.path + qs({ user: r.username }) }, r.username) : h('span', { class: 'muted' }, '—')) } : null,
    { label: t('logs.col.key'), cell: (r) => (r.key_name ? h('span', { class: 'nowrap' }, r.key_name) : h('span', { class: 'muted' }, '—')) },
    { label: t('logs.col.model'), cell: (r) => h('div', null, h('code', null, r.model || '—'), r.upstream ? h('div', { class: 'muted small' }, '→ ' + r.upstream) : null) },
    {
      label: t('logs.col.tokens'),
      cell: (r) =>
        h(
          'div',
          null,
          h('span', { class: 'nowrap', title: t('logs.tokensTitle') }, `${formatCount(r.input_tokens)} / ${formatCount(r.output_tokens)}`),
          r.cache_read_tokens || r.cache_write_tokens || r.cache_write_1h_tokens
            ? h('div', { class: 'muted small nowrap', 'data-testid': 'log-cache' }, t('logs.cacheLine', { read: formatCount(r.cache_read_tokens), written: formatCount(r.cache_write_tokens + r.cache_write_1h_tokens) }))
            : null,
        ),
      class: 'num',
    },
    { label: t('logs.col.cost'), cell: (r) => money(r.cost), class: 'num' },
    { label: t('logs.col.status'), cell: (r) => statusBadge(r, open) },
    { label: t('logs.col.latency'), cell: (r) => h('span', { class: 'nowrap' }, formatMs(r.latency_ms)), class: 'num' },
    { label: t('logs.col.requestId'), cell: (r) => requestIdCell(r, open) },
  ].filter(Boolean);

  const list = unknownUser
    ? { el: h('div', { class: 'card-pad' }, emptyState('users', t('logs.unknownUser', { user: values.user }), t('logs.unknownUserText'))) }
    : pagedTable({
        columns,
        className: 'table-logs',
        signal: ctx.signal,
        load: async (cursor, signal) => {
          const page = await api.get((admin ? '/api/admin/logs' : '/api/logs') + qs({ ...filter, cursor, limit: 50 }), { signal });
          if (!cursor) summaryBox.replaceChildren(summaryBar(page.summary) || '');
          return page;
        },
        empty: () =>
          hasFilter
            ? emptyState('logs', t('logs.emptyFilteredTitle'), t('logs.emptyFilteredText'))
            : emptyState('logs', t('logs.emptyTitle'), admin ? t('logs.emptyAdminText') : t('logs.emptyText')),
      });

  const refresh = h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => list.reload && list.reload() }, icon('refresh', { size: 16 }), h('span', null, t('common.refresh')));
  append(root, [
    pageHeader(admin ? t('nav.admin.logs') : t('nav.logs'), admin ? t('logs.adminSubtitle') : t('logs.subtitle'), refresh, csv),
    h('section', { class: 'card filters-card' }, form),
    alerts.el,
    summaryBox,
    h('section', { class: 'card card-flush' }, list.el),
  ]);
}
