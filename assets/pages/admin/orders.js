// Admin Orders page: every account's payment orders, newest first, by state; each with what the
// balance gets, what the provider must report as paid, and why it failed when it did.

import { h, append } from '../../dom.js';
import { t, has } from '../../i18n.js';
import { api, qs } from '../../api.js';
import { pageHeader } from '../../ui.js';
import { pagedTable, emptyState } from '../../table.js';
import { formatTime, money } from '../../format.js';
import { formatDecimal } from '../../money.js';

const STATUSES = ['', 'pending', 'processing', 'partially_paid', 'paid', 'failed', 'expired'];
const STATUS_BADGE = { paid: 'badge-success', pending: 'badge-warning', processing: 'badge-accent', partially_paid: 'badge-danger', failed: 'badge-danger' };

export function mount(root, ctx) {
  const status = STATUSES.includes(ctx.query.get('status') || '') ? ctx.query.get('status') || '' : '';
  const userId = /^\d+$/.test(ctx.query.get('user_id') || '') ? ctx.query.get('user_id') : '';
  const tabs = h(
    'div',
    { class: 'segmented', role: 'group', 'aria-label': t('orders.filter') },
    STATUSES.map((s) => h('a', { class: 'seg-btn', href: ctx.route.path + qs({ status: s, user_id: userId }), 'aria-pressed': String(s === status) }, s ? t('order.status.' + s) : t('codes.status.all'))),
  );
  const method = (o) => (has('topup.method.' + o.method) ? t('topup.method.' + o.method) : o.method) + (o.type ? ` · ${has('topup.type.' + o.type) ? t('topup.type.' + o.type) : o.type}` : '');
  const list = pagedTable({
    signal: ctx.signal,
    columns: [
      { label: t('topup.col.time'), cell: (o) => h('span', { class: 'stacked-time' }, h('span', null, formatTime(o.created_at).slice(0, 10)), ' ', h('span', { class: 'muted' }, formatTime(o.created_at).slice(11))) },
      { label: t('logs.col.user'), cell: (o) => h('a', { href: ctx.route.path + qs({ status, user_id: o.user_id }) }, o.username || `#${o.user_id}`) },
      { label: t('topup.col.order'), cell: (o) => h('code', { class: 'small break' }, o.order_id) },
      { label: t('topup.method'), cell: method },
      { label: t('topup.amount'), cell: (o) => money(o.amount), class: 'num' },
      { label: t('topup.col.paid'), cell: (o) => h('span', { class: 'money' }, `${formatDecimal(o.pay_amount)} ${String(o.currency || '').toUpperCase()}`), class: 'num' },
      { label: t('topup.col.status'), cell: (o) => h('span', { class: 'badge ' + (STATUS_BADGE[o.status] || 'badge-muted') }, has('order.status.' + o.status) ? t('order.status.' + o.status) : o.status) },
      { label: t('orders.col.paidAt'), cell: (o) => (o.paid_at ? h('span', { class: 'nowrap' }, formatTime(o.paid_at)) : h('span', { class: 'muted' }, '—')) },
      { label: t('orders.col.note'), cell: (o) => (o.note ? h('span', { class: 'small break' }, o.note) : h('span', { class: 'muted' }, '—')) },
    ],
    load: (cursor, signal) => api.get('/api/admin/orders' + qs({ status, user_id: userId, cursor, limit: 50 }), { signal }),
    empty: () => emptyState('wallet', t('orders.empty'), status || userId ? t('orders.emptyFiltered') : t('orders.emptyText')),
  });
  append(root, [
    pageHeader(t('nav.admin.orders'), t('orders.subtitle'), userId ? h('a', { class: 'btn btn-secondary', href: ctx.route.path + qs({ status }) }, t('orders.allUsers')) : null),
    h('section', { class: 'section' }, h('div', { class: 'section-bar' }, h('h2', { class: 'section-heading' }, userId ? t('orders.ofUser', { id: userId }) : t('orders.listTitle')), tabs), h('div', { class: 'card card-flush', 'data-testid': 'orders' }, list.el)),
  ]);
}
