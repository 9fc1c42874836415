// Request logs view shared by Logs (own) and All Logs (admin): filters in the URL, cursor pages, CSV link.

import { h, append } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import { api, qs } from '../api.js';
import { field } from '../forms.js';
import { copyButton, pageHeader, alertSlot } from '../ui.js';
import { pagedTable, emptyState } from '../table.js';
import { formatMoney, formatTime, formatCount, formatMs } from '../format.js';

const FILTERS = ['from', 'to', 'model', 'key_id', 'status', 'request_id', 'user'];

function statusBadge(row) {
  const ok = row.status < 400;
  return h(
    'div',
    { class: 'status-cell' },
    h('span', { class: ok ? 'badge badge-success' : 'badge badge-danger' }, String(row.status)),
    row.stream ? h('span', { class: 'badge badge-muted' }, t('logs.stream')) : null,
    row.error ? h('p', { class: 'cell-error', title: row.error }, row.error) : null,
  );
}

function requestIdCell(row) {
  return h('div', { class: 'rid' }, h('code', { class: 'rid-value', title: row.request_id }, row.request_id), copyButton(row.request_id, t('common.copy')));
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

  const csv = admin
    ? null
    : h('a', { class: 'btn btn-secondary', href: '/api/logs.csv' + qs(filter), download: 'code-router-logs.csv', 'data-testid': 'csv-export' }, icon('logs', { size: 16 }), h('span', null, t('logs.exportCsv')));

  const hasFilter = Object.values(values).some(Boolean);
  const columns = [
    { label: t('logs.col.time'), cell: (r) => h('span', { class: 'stacked-time' }, h('span', null, formatTime(r.created_at).slice(0, 10)), ' ', h('span', { class: 'muted' }, formatTime(r.created_at).slice(11))) },
    admin ? { label: t('logs.col.user'), cell: (r) => (r.username ? h('a', { href: ctx.route.path + qs({ user: r.username }) }, r.username) : h('span', { class: 'muted' }, '—')) } : null,
    { label: t('logs.col.key'), cell: (r) => (r.key_name ? h('span', { class: 'nowrap' }, r.key_name) : h('span', { class: 'muted' }, '—')) },
    { label: t('logs.col.model'), cell: (r) => h('div', null, h('code', null, r.model || '—'), r.upstream ? h('div', { class: 'muted small' }, '→ ' + r.upstream) : null) },
    { label: t('logs.col.tokens'), cell: (r) => h('span', { class: 'nowrap', title: t('logs.tokensTitle') }, `${formatCount(r.input_tokens)} / ${formatCount(r.output_tokens)}`), class: 'num' },
    { label: t('logs.col.cost'), cell: (r) => h('span', { class: 'nowrap' }, formatMoney(r.cost)), class: 'num' },
    { label: t('logs.col.status'), cell: statusBadge },
    { label: t('logs.col.latency'), cell: (r) => h('span', { class: 'nowrap' }, formatMs(r.latency_ms)), class: 'num' },
    { label: t('logs.col.requestId'), cell: requestIdCell },
  ].filter(Boolean);

  const list = unknownUser
    ? { el: h('div', { class: 'card-pad' }, emptyState('users', t('logs.unknownUser', { user: values.user }), t('logs.unknownUserText'))) }
    : pagedTable({
        columns,
        className: 'table-logs',
        signal: ctx.signal,
        load: (cursor, signal) => api.get((admin ? '/api/admin/logs' : '/api/logs') + qs({ ...filter, cursor, limit: 50 }), { signal }),
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
    h('section', { class: 'card card-flush' }, list.el),
  ]);
}
