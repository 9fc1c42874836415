// Sign-in page: username/password form, server-status notice, error display, link to registration,
// and whom to ask when signing in fails (the operator).

import { h, append } from '../dom.js';
import { t } from '../i18n.js';
import { field, validate } from '../forms.js';
import { alertSlot, alertBox, withBusy, describeError } from '../ui.js';
import { session } from '../session.js';
import { safeNext } from '../router.js';

/** Visible notice when /api/status could not be loaded (the form still works if the API comes back). */
export function statusNotice() {
  const err = session.statusError;
  if (!err) return null;
  return alertBox(t('error.statusUnavailable', { message: describeError(err) }), 'warning', {
    label: t('common.retry'),
    onClick: () => window.location.reload(),
  });
}

export function mount(root, ctx) {
  const status = ctx.status;
  const name = (status && status.name) || t('app.name');
  const alerts = alertSlot();
  if (ctx.query.get('registered') === '1') alerts.show(t('register.doneSignIn'), 'success');

  const username = field({
    label: t('field.username'),
    name: 'username',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: false,
    required: true,
    maxlength: 32,
  });
  const password = field({
    label: t('field.password'),
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    maxlength: 128,
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, t('login.submit'));
  const form = h('form', { class: 'form', novalidate: true }, username.el, password.el, submit);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    alerts.clear();
    const user = username.value().trim();
    const pass = password.value();
    const ok = validate([
      [username, user ? null : t('validation.required')],
      [password, pass ? null : t('validation.required')],
    ]);
    if (!ok) return;
    await withBusy(submit, async () => {
      try {
        await session.login(user, pass);
        ctx.navigate(safeNext(ctx.query.get('next')) || '/console', { replace: true });
      } catch (err) {
        alerts.error(err);
        if (err && err.code === 'invalid_credentials') {
          password.input.value = '';
          password.input.focus();
        }
      }
    });
  });

  const canRegister = !!(status && status.allow_registration);
  append(root, [
    h('h1', { class: 'auth-title', tabindex: '-1' }, t('login.title')),
    h('p', { class: 'auth-subtitle' }, t('login.subtitle', { name })),
    statusNotice(),
    alerts.el,
    form,
    h('p', { class: 'auth-help' }, t('login.help'), ' ', h('code', null, 'code-router user set-password')),
    canRegister
      ? h('p', { class: 'auth-switch' }, t('login.noAccount'), ' ', h('a', { href: '/register' }, t('login.createAccount')))
      : null,
  ]);
}
