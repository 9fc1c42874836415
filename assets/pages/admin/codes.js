// Admin Redemption Codes page: generate a batch (shown once, copyable) and list codes by status.

import { h, append } from '../../dom.js';
import { t } from '../../i18n.js';
import { api, qs } from '../../api.js';
import { field, validate } from '../../forms.js';
import { alertSlot, alertBox, copyButton, pageHeader, withBusy, describeError } from '../../ui.js';
import { pagedTable, emptyState } from '../../table.js';
import { formatMoney, formatTime, formatDate } from '../../format.js';
import { parseDecimal } from '../../money.js';

const STATUS_CLASS = { unused: 'badge-success', used: 'badge-muted', expired: 'badge-danger' };

function generateCard(onMade) {
  const alerts = alertSlot();
  const result = h('div', { class: 'codes-result' });
  const amount = field({ label: t('codes.amount'), name: 'amount', inputmode: 'decimal', required: true, placeholder: '10.00' });
  const count = field({ label: t('codes.count'), name: 'count', type: 'number', min: 1, max: 1000, step: 1, value: '1', required: true });
  const expires = field({ label: t('codes.expires'), name: 'expires_at', type: 'date', optionalText: t('common.optional') });
  const note = field({ label: t('codes.note'), name: 'note', maxlength: 200, optionalText: t('common.optional') });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, t('codes.generate'));
  const form = h('form', { class: 'form', novalidate: true }, h('div', { class: 'form-row' }, amount.el, count.el, expires.el), note.el, h('div', null, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alerts.clear();
    const a = amount.value().trim();
    const c = count.value().trim();
    const d = parseDecimal(a);
    const ok = validate([
      [amount, !a ? t('validation.required') : !d || d.units <= 0n ? t('validation.amount') : null],
      [count, /^\d+$/.test(c) && Number(c) >= 1 && Number(c) <= 1000 ? null : t('codes.countInvalid')],
    ]);
    if (!ok) return;
    const body = { amount: a, count: Number(c) };
    if (expires.value()) body.expires_at = expires.value();
    if (note.value().trim()) body.note = note.value().trim();
    await withBusy(submit, async () => {
      try {
        const res = await api.post('/api/admin/codes', body);
        const all = (res.codes || []).join('\n');
        result.replaceChildren(
          alertBox(t('codes.generated', { count: res.codes.length, amount: formatMoney(res.amount || a) }), 'success'),
          h('p', { class: 'field-hint' }, t('codes.onceWarning')),
          h('pre', { class: 'codes-list', 'data-testid': 'generated-codes' }, all),
          h('div', { class: 'card-actions' }, copyButton(all, t('codes.copyAll'))),
        );
        onMade();
      } catch (err) {
        const byCode = { invalid_amount: amount, invalid_count: count, invalid_expires_at: expires, invalid_note: note };
        const f = byCode[err && err.code];
        if (f) f.setError(describeError(err));
        else alerts.error(err);
      }
    });
  });
  return h('section', { class: 'card' }, h('h2', { class: 'card-title' }, t('codes.generateTitle')), h('p', { class: 'card-text' }, t('codes.generateText')), alerts.el, form, result);
}

export function mount(root, ctx) {
  const status = ctx.query.get('status') || '';
  const tabs = h(
    'div',
    { class: 'segmented', role: 'group', 'aria-label': t('codes.filter') },
    ['', 'unused', 'used', 'expired'].map((s) =>
      h('a', { class: 'seg-btn', href: ctx.route.path + qs({ status: s }), 'aria-pressed': String(s === status) }, s ? t('codes.status.' + s) : t('codes.status.all')),
    ),
  );
  let unavailable = false;
  const list = pagedTable({
    signal: ctx.signal,
    columns: [
      { label: t('codes.col.code'), cell: (c) => h('code', null, c.hint) },
      { label: t('codes.col.amount'), cell: (c) => formatMoney(c.amount), class: 'num' },
      { label: t('codes.col.status'), cell: (c) => h('span', { class: 'badge ' + (STATUS_CLASS[c.status] || '') }, t('codes.status.' + c.status)) },
      { label: t('codes.col.note'), cell: (c) => c.note || h('span', { class: 'muted' }, '—') },
      { label: t('codes.col.created'), cell: (c) => h('span', null, formatTime(c.created_at), h('div', { class: 'muted small' }, c.created_by)) },
      { label: t('codes.col.expires'), cell: (c) => (c.expires_at ? formatDate(c.expires_at) : h('span', { class: 'muted' }, t('keys.never'))) },
      { label: t('codes.col.usedBy'), cell: (c) => (c.used_at ? h('span', null, c.used_by_username || `#${c.used_by}`, h('div', { class: 'muted small' }, formatTime(c.used_at))) : h('span', { class: 'muted' }, '—')) },
    ],
    load: async (cursor, signal) => {
      try {
        return await api.get('/api/admin/codes' + qs({ status, cursor, limit: 50 }), { signal });
      } catch (err) {
        if (err && err.status === 404 && err.code === 'not_found') {
          unavailable = true;
          return { data: [] };
        }
        throw err;
      }
    },
    empty: () => (unavailable ? alertBox(t('codes.unavailable'), 'info') : emptyState('ticket', t('codes.empty'), t('codes.emptyText'))),
  });
  append(root, [
    pageHeader(t('nav.admin.codes'), t('codes.subtitle')),
    generateCard(() => list.reload()),
    h('section', { class: 'section' }, h('div', { class: 'section-bar' }, h('h2', { class: 'section-heading' }, t('codes.listTitle')), tabs), h('div', { class: 'card card-flush' }, list.el)),
  ]);
}
