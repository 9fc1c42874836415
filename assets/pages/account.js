// Account page: who you are, change password (other sessions end), sign out.

import { h, append } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { field, validate } from '../forms.js';
import { alertSlot, pageHeader, withBusy, toast, toastError, describeError } from '../ui.js';
import { session } from '../session.js';
import { passwordProblem } from './register.js';

function profileCard(me) {
  const row = (label, value) => h('div', { class: 'kv-row' }, h('dt', null, label), h('dd', null, value));
  return h(
    'section',
    { class: 'card' },
    h('div', { class: 'card-head' }, icon('user'), h('h2', { class: 'card-title' }, t('account.profile'))),
    h(
      'dl',
      { class: 'kv' },
      row(t('field.username'), me.username),
      row(t('dash.role'), h('span', { class: me.role === 'admin' ? 'badge badge-accent' : 'badge' }, me.role === 'admin' ? t('role.admin') : t('role.user'))),
      row(t('dash.group'), me.group || '—'),
      row(t('account.userId'), String(me.id)),
    ),
  );
}

function passwordCard() {
  const alerts = alertSlot();
  const current = field({ label: t('account.currentPassword'), name: 'current_password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 128 });
  const next = field({ label: t('account.newPassword'), name: 'new_password', type: 'password', autocomplete: 'new-password', required: true, maxlength: 128, hint: t('hint.password', { min: 8, max: 128 }) });
  const confirm = field({ label: t('field.confirmPassword'), name: 'confirm', type: 'password', autocomplete: 'new-password', required: true, maxlength: 128 });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, t('account.changePassword'));
  const form = h('form', { class: 'form', novalidate: true }, current.el, next.el, confirm.el, h('div', null, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alerts.clear();
    const cur = current.value();
    const pw = next.value();
    const ok = validate([
      [current, cur ? null : t('validation.required')],
      [next, passwordProblem(pw) || (pw === cur ? t('account.samePassword') : null)],
      [confirm, confirm.value() === pw ? null : t('validation.passwordMismatch')],
    ]);
    if (!ok) return;
    await withBusy(submit, async () => {
      try {
        await api.post('/api/auth/password', { current_password: cur, new_password: pw });
        form.reset();
        alerts.show(t('account.passwordChanged'), 'success');
      } catch (err) {
        if (err && err.code === 'invalid_credentials') {
          current.setError(t('account.wrongCurrent'));
          current.input.value = '';
          current.input.focus();
        } else if (err && err.code === 'invalid_password') {
          next.setError(describeError(err));
          next.input.focus();
        } else alerts.error(err);
      }
    });
  });
  return h(
    'section',
    { class: 'card' },
    h('div', { class: 'card-head' }, icon('key'), h('h2', { class: 'card-title' }, t('account.passwordTitle'))),
    h('p', { class: 'card-text' }, t('account.passwordText')),
    alerts.el,
    form,
  );
}

function signOutCard(ctx) {
  const btn = h('button', { type: 'button', class: 'btn btn-secondary' }, icon('logout', { size: 16 }), h('span', null, t('auth.signOut')));
  btn.addEventListener('click', () =>
    withBusy(btn, async () => {
      try {
        await session.logout();
        toast(t('account.signedOut'), 'success');
        ctx.navigate('/login');
      } catch (err) {
        toastError(err);
      }
    }),
  );
  return h(
    'section',
    { class: 'card' },
    h('div', { class: 'card-head' }, icon('logout'), h('h2', { class: 'card-title' }, t('auth.signOut'))),
    h('p', { class: 'card-text' }, t('account.signOutText')),
    btn,
  );
}

export async function mount(root, ctx) {
  const me = await session.loadMe({ maxAge: 3000 });
  if (!me) return;
  append(root, [pageHeader(t('nav.account'), t('account.subtitle')), h('div', { class: 'grid grid-two' }, h('div', { class: 'stack' }, profileCard(me), signOutCard(ctx)), passwordCard())]);
}
