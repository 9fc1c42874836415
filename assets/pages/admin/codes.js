// Admin Redemption Codes page: generate a batch (amount in the display unit; shown once, copyable
// and downloadable as a file), list codes by status, and void an unused one.

import { h, append } from '../../dom.js';
import { t } from '../../i18n.js';
import { api, qs } from '../../api.js';
import { field, validate } from '../../forms.js';
import { alertSlot, alertBox, copyButton, pageHeader, withBusy, describeError, toast, toastError } from '../../ui.js';
import { confirmDialog } from '../../dialog.js';
import { pagedTable, emptyState } from '../../table.js';
import { formatMoney, formatTime, formatDate, money } from '../../format.js';
import { amountField } from '../../money-input.js';
import { rowActions } from '../../row-actions.js';
import { icon } from '../../icons.js';

const STATUS_CLASS = { unused: 'badge-success', used: 'badge-muted', expired: 'badge-danger', voided: 'badge-warning' };

/**
 * A link that saves `text` as a file: a Blob URL, so the codes never leave the browser.
 * Its URL is released when the browser leaves the console.
 */
function downloadLink(text, filename, label) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
  const a = h('a', { class: 'btn btn-small btn-secondary', href: url, download: filename, 'data-testid': 'download-codes' }, icon('logs', { size: 14 }), h('span', null, label));
  window.addEventListener('pagehide', () => URL.revokeObjectURL(url), { once: true });
  return a;
}

function generateCard(onMade) {
  const alerts = alertSlot();
  const result = h('div', { class: 'codes-result' });
  const amount = amountField({ label: t('codes.amount'), name: 'amount', required: true, placeholder: '10' });
  const count = field({ label: t('codes.count'), name: 'count', type: 'number', min: 1, max: 1000, step: 1, value: '1', required: true });
  const expires = field({ label: t('codes.expires'), name: 'expires_at', type: 'date', optionalText: t('common.optional') });
  const note = field({ label: t('codes.note'), name: 'note', maxlength: 200, optionalText: t('common.optional') });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, t('codes.generate'));
  const form = h('form', { class: 'form', novalidate: true }, h('div', { class: 'form-row' }, amount.el, count.el, expires.el), note.el, h('div', null, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alerts.clear();
    const a = amount.read();
    const c = count.value().trim();
    const ok = validate([
      [amount, a.problem],
      [count, /^\d+$/.test(c) && Number(c) >= 1 && Number(c) <= 1000 ? null : t('codes.countInvalid')],
    ]);
    if (!ok) return;
    const body = { amount: a.usd, count: Number(c) };
    if (expires.value()) body.expires_at = expires.value();
    if (note.value().trim()) body.note = note.value().trim();
    await withBusy(submit, async () => {
      try {
        const res = await api.post('/api/admin/codes', body);
        const all = (res.codes || []).join('\n');
        const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
        result.replaceChildren(
          alertBox(t('codes.generated', { count: res.codes.length, amount: formatMoney(res.amount || a.usd) }), 'success'),
          h('p', { class: 'field-hint' }, t('codes.onceWarning')),
          h('pre', { class: 'codes-list', 'data-testid': 'generated-codes' }, all),
          h('div', { class: 'card-actions' }, copyButton(all, t('codes.copyAll')), downloadLink(all + '\n', `redemption-codes-${stamp}.txt`, t('codes.download'))),
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
    ['', 'unused', 'used', 'expired', 'voided'].map((s) =>
      h('a', { class: 'seg-btn', href: ctx.route.path + qs({ status: s }), 'aria-pressed': String(s === status) }, s ? t('codes.status.' + s) : t('codes.status.all')),
    ),
  );
  let unavailable = false;
  const list = pagedTable({
    signal: ctx.signal,
    columns: [
      { label: t('codes.col.code'), cell: (c) => h('code', null, c.hint) },
      { label: t('codes.col.amount'), cell: (c) => money(c.amount), class: 'num' },
      { label: t('codes.col.status'), cell: (c) => h('span', { class: 'badge ' + (STATUS_CLASS[c.status] || '') }, t('codes.status.' + c.status)) },
      { label: t('codes.col.note'), cell: (c) => c.note || h('span', { class: 'muted' }, '—') },
      { label: t('codes.col.created'), cell: (c) => h('span', null, formatTime(c.created_at), h('div', { class: 'muted small' }, c.created_by)) },
      { label: t('codes.col.expires'), cell: (c) => (c.expires_at ? formatDate(c.expires_at) : h('span', { class: 'muted' }, t('keys.never'))) },
      { label: t('codes.col.usedBy'), cell: (c) => (c.used_at ? h('span', null, c.used_by_username || `#${c.used_by}`, h('div', { class: 'muted small' }, formatTime(c.used_at))) : c.voided_at ? h('span', { class: 'muted small' }, t('codes.voidedAt', { time: formatTime(c.voided_at) })) : h('span', { class: 'muted' }, '—')) },
      {
        label: t('common.actions'),
        hideLabel: true,
        class: 'actions',
        cell: (c) =>
          c.status === 'unused' || c.status === 'expired'
            ? rowActions([
                {
                  label: t('codes.void'),
                  danger: true,
                  onClick: async (button) => {
                    const yes = await confirmDialog({ title: t('codes.voidTitle'), message: t('codes.voidText', { code: c.hint, amount: formatMoney(c.amount) }), confirmLabel: t('codes.void'), danger: true });
                    if (!yes) return;
                    await withBusy(button, async () => {
                      try {
                        await api.post(`/api/admin/codes/${c.id}/void`, {});
                        toast(t('codes.voided', { code: c.hint }), 'success');
                        list.reload();
                      } catch (err) {
                        toastError(err);
                      }
                    });
                  },
                },
              ])
            : '',
      },
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
