// Admin Users page: search and create accounts, change role/group, enable/disable, adjust balance
// with a reason (in the display unit), reset a password (a new random one, shown to the admin
// once); each account's group with its price multiplier, invitees
// and the commission it earned on their top-ups.

import { h, append } from '../../dom.js';
import { t } from '../../i18n.js';
import { api, qs } from '../../api.js';
import { field, checkField, validate } from '../../forms.js';
import { alertSlot, alertBox, copyButton, pageHeader, withBusy, toast, toastError, describeError } from '../../ui.js';
import { openDialog, confirmDialog } from '../../dialog.js';
import { pagedTable, emptyState } from '../../table.js';
import { formatMoney, formatDate, money } from '../../format.js';
import { formatDecimal } from '../../money.js';
import { amountField } from '../../money-input.js';
import { rowActions } from '../../row-actions.js';
import { usernameProblem, passwordProblem } from '../register.js';
import { icon } from '../../icons.js';
import { session } from '../../session.js';

function roleBadge(u) {
  return h('span', { class: u.role === 'admin' ? 'badge badge-accent' : 'badge' }, u.role === 'admin' ? t('role.admin') : t('role.user'));
}

function stateBadge(u) {
  return u.disabled ? h('span', { class: 'badge badge-danger' }, t('users.disabled')) : h('span', { class: 'badge badge-success' }, t('users.active'));
}

function openEdit(user, onDone) {
  const alerts = alertSlot();
  const role = field({ label: t('users.role'), name: 'role', value: user.role, options: [{ value: 'user', label: t('role.user') }, { value: 'admin', label: t('role.admin') }] });
  const group = field({ label: t('users.group'), name: 'group', value: user.group, hint: t('users.groupHint'), spellcheck: false, autocapitalize: 'none', maxlength: 64 });
  const disabled = checkField({ label: t('users.disableLabel'), name: 'disabled', checked: user.disabled, hint: t('users.disableHint') });
  const self = session.me && session.me.id === user.id;
  if (self) {
    role.input.disabled = true;
    disabled.input.disabled = true;
  }
  const cancel = h('button', { type: 'button', class: 'btn btn-secondary' }, t('common.cancel'));
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, t('common.save'));
  const form = h('form', { class: 'form', novalidate: true }, self ? h('p', { class: 'field-hint' }, t('users.selfHint')) : null, role.el, group.el, disabled.el, h('div', { class: 'form-actions' }, cancel, submit));
  const dlg = openDialog({ title: t('users.editTitle', { name: user.username }), body: [alerts.el, form] });
  cancel.addEventListener('click', () => dlg.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alerts.clear();
    const g = group.value().trim();
    if (!validate([[group, g ? null : t('validation.required')]])) return;
    const body = {};
    if (!self && role.value() !== user.role) body.role = role.value();
    if (g !== user.group) body.group = g;
    if (!self && disabled.checked() !== user.disabled) body.disabled = disabled.checked();
    if (Object.keys(body).length === 0) return dlg.close();
    await withBusy(submit, async () => {
      try {
        await api.patch(`/api/admin/users/${user.id}`, body);
        dlg.close();
        toast(t('users.saved', { name: user.username }), 'success');
        onDone();
      } catch (err) {
        alerts.error(err);
      }
    });
  });
}

function openAdjust(user, onDone) {
  const alerts = alertSlot();
  const amount = amountField({ label: t('users.amount'), name: 'amount', required: true, hint: t('users.amountHint'), placeholder: '10', negative: true });
  const reason = field({ label: t('users.reason'), name: 'reason', required: true, maxlength: 200, hint: t('users.reasonHint') });
  const cancel = h('button', { type: 'button', class: 'btn btn-secondary' }, t('common.cancel'));
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, t('users.adjust'));
  const form = h(
    'form',
    { class: 'form', novalidate: true },
    h('p', { class: 'dialog-text' }, t('users.currentBalance', { amount: formatMoney(user.balance) })),
    amount.el,
    reason.el,
    h('div', { class: 'form-actions' }, cancel, submit),
  );
  const dlg = openDialog({ title: t('users.adjustTitle', { name: user.username }), body: [alerts.el, form] });
  cancel.addEventListener('click', () => dlg.close());
  amount.input.focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alerts.clear();
    const a = amount.read();
    const r = reason.value().trim();
    const ok = validate([
      [amount, a.problem],
      [reason, r ? null : t('validation.required')],
    ]);
    if (!ok) return;
    await withBusy(submit, async () => {
      try {
        const res = await api.post(`/api/admin/users/${user.id}/adjust`, { amount: a.usd, reason: r });
        dlg.close();
        toast(t('users.adjusted', { name: user.username, balance: formatMoney(res.balance) }), 'success');
        onDone();
      } catch (err) {
        if (err && (err.code === 'invalid_amount' || err.code === 'insufficient_balance')) amount.setError(describeError(err));
        else if (err && err.code === 'invalid_reason') reason.setError(describeError(err));
        else alerts.error(err);
      }
    });
  });
}

/** Shows a reset's new password once, with what to do with it. */
function showNewPassword(res) {
  const done = h('button', { type: 'button', class: 'btn btn-primary' }, t('users.resetDone'));
  const dlg = openDialog({
    title: t('users.resetShownTitle', { name: res.username }),
    body: [
      alertBox(t('users.resetShownWarning'), 'warning'),
      h('div', { class: 'secret-box' }, h('code', { class: 'secret-value', 'data-testid': 'new-password' }, res.password), copyButton(res.password)),
      h('p', { class: 'field-hint' }, t('users.resetShownHint', { name: res.username })),
    ],
    footer: [done],
  });
  done.addEventListener('click', () => dlg.close());
}

async function resetPassword(u, button) {
  const yes = await confirmDialog({ title: t('users.resetTitle'), message: t('users.resetText', { name: u.username }), confirmLabel: t('users.reset'), danger: true });
  if (!yes) return;
  await withBusy(button, async () => {
    try {
      showNewPassword(await api.post(`/api/admin/users/${u.id}/reset-password`));
    } catch (err) {
      toastError(err);
    }
  });
}

/** A new account: username, a first password to hand over, role and price group. */
function openCreate(onDone) {
  const alerts = alertSlot();
  const username = field({ label: t('field.username'), name: 'username', required: true, maxlength: 32, autocomplete: 'off', autocapitalize: 'none', spellcheck: false, hint: t('hint.username') });
  const password = field({ label: t('field.password'), name: 'password', type: 'password', required: true, maxlength: 128, autocomplete: 'new-password', hint: t('users.createPasswordHint') });
  const role = field({ label: t('users.role'), name: 'role', value: 'user', options: [{ value: 'user', label: t('role.user') }, { value: 'admin', label: t('role.admin') }] });
  const group = field({ label: t('users.group'), name: 'group', value: 'default', hint: t('users.groupHint'), spellcheck: false, autocapitalize: 'none', maxlength: 64 });
  const cancel = h('button', { type: 'button', class: 'btn btn-secondary' }, t('common.cancel'));
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, t('users.create'));
  const form = h('form', { class: 'form', novalidate: true }, username.el, password.el, h('div', { class: 'form-row' }, role.el, group.el), h('div', { class: 'form-actions' }, cancel, submit));
  const dlg = openDialog({ title: t('users.createTitle'), body: [alerts.el, form] });
  cancel.addEventListener('click', () => dlg.close());
  username.input.focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alerts.clear();
    const name = username.value().trim();
    const pw = password.value();
    const g = group.value().trim() || 'default';
    if (!validate([[username, usernameProblem(name)], [password, passwordProblem(pw)]])) return;
    await withBusy(submit, async () => {
      try {
        await api.post('/api/admin/users', { username: name, password: pw, role: role.value(), group: g });
        dlg.close();
        toast(t('users.created', { name }), 'success');
        onDone();
      } catch (err) {
        const byCode = { username_taken: username, invalid_username: username, invalid_password: password, unknown_group: group };
        const f = byCode[err && err.code];
        if (f) f.setError(describeError(err));
        else alerts.error(err);
      }
    });
  });
}

export function mount(root, ctx) {
  const q = (ctx.query.get('q') || '').trim();
  const search = field({ label: t('users.search'), name: 'q', type: 'search', value: q, placeholder: t('users.searchPlaceholder'), spellcheck: false, autocapitalize: 'none' });
  const go = h('button', { type: 'submit', class: 'btn btn-primary' }, t('users.searchButton'));
  const form = h('form', { class: 'filters filters-inline', role: 'search', novalidate: true }, search.el, h('div', { class: 'filter-actions' }, go));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.navigate(ctx.route.path + qs({ q: search.value().trim() }), { replace: true });
  });

  let list;
  const reload = () => list.reload();
  const actions = (u) => {
    const self = session.me && session.me.id === u.id;
    const toggle = async (button) => {
      if (!u.disabled) {
        const yes = await confirmDialog({ title: t('users.disableTitle'), message: t('users.disableText', { name: u.username }), confirmLabel: t('users.disable'), danger: true });
        if (!yes) return;
      }
      await withBusy(button, async () => {
        try {
          await api.patch(`/api/admin/users/${u.id}`, { disabled: !u.disabled });
          toast(u.disabled ? t('users.enabledDone', { name: u.username }) : t('users.disabledDone', { name: u.username }), 'success');
          reload();
        } catch (err) {
          toastError(err);
        }
      });
    };
    return rowActions([
      { label: t('users.adjust'), onClick: () => openAdjust(u, reload) },
      { label: t('common.edit'), onClick: () => openEdit(u, reload) },
      { label: u.disabled ? t('users.enable') : t('users.disable'), danger: !u.disabled, disabled: self, onClick: toggle },
      { label: t('users.reset'), disabled: self, onClick: (button) => resetPassword(u, button) },
      { label: t('users.logs'), ghost: true, href: '/console/admin/logs' + qs({ user: u.username }) },
    ]);
  };

  list = pagedTable({
    signal: ctx.signal,
    columns: [
      { label: t('users.col.id'), cell: (u) => String(u.id), class: 'num' },
      { label: t('users.col.username'), cell: (u) => h('strong', null, u.username) },
      { label: t('users.col.role'), cell: roleBadge },
      { label: t('users.col.group'), cell: (u) => h('span', { class: 'nowrap', 'data-testid': 'user-group' }, h('code', null, u.group), u.multiplier ? h('span', { class: 'muted small multiplier' }, ` × ${formatDecimal(u.multiplier, { minDecimals: 0 })}`) : null) },
      { label: t('users.col.status'), cell: stateBadge },
      { label: t('users.col.balance'), cell: (u) => money(u.balance), class: 'num' },
      { label: t('users.col.reward'), cell: (u) => money(u.reward_balance), class: 'num' },
      { label: t('users.col.invitees'), cell: (u) => h('span', { 'data-testid': 'user-invitees' }, String(u.invitees ?? 0)), class: 'num' },
      { label: t('users.col.commission'), cell: (u) => h('span', { class: 'money', 'data-testid': 'user-commission' }, formatMoney(u.commission_earned ?? '0')), class: 'num' },
      { label: t('users.col.created'), cell: (u) => h('span', { class: 'nowrap' }, formatDate(u.created_at)) },
      { label: t('common.actions'), cell: actions, hideLabel: true, class: 'actions' },
    ],
    load: (cursor, signal) => api.get('/api/admin/users' + qs({ q, cursor, limit: 50 }), { signal }),
    empty: () => emptyState('users', q ? t('users.noMatch', { q }) : t('users.empty'), null),
  });

  const create = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'create-user', onclick: () => openCreate(reload) }, icon('user', { size: 16 }), h('span', null, t('users.create')));
  append(root, [pageHeader(t('nav.admin.users'), t('users.subtitle'), create), h('section', { class: 'card filters-card' }, form), h('section', { class: 'card card-flush' }, list.el)]);
}
