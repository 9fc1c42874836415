// Registration page: username, password, confirmation, referral code (?ref=), then automatic sign-in.

import { h, append } from '../dom.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { field, validate } from '../forms.js';
import { alertSlot, alertBox, withBusy, toast } from '../ui.js';
import { session } from '../session.js';
import { statusNotice } from './login.js';

const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/;
const PASSWORD_MIN = 8;
const PASSWORD_MAX = 128;

/** Client-side checks mirroring the server's rules; the server still decides. */
export function usernameProblem(name) {
  if (!name) return t('validation.required');
  return USERNAME_RE.test(name) ? null : t('validation.username');
}

export function passwordProblem(password) {
  const length = [...password].length;
  if (!password) return t('validation.required');
  return length < PASSWORD_MIN || length > PASSWORD_MAX ? t('validation.passwordLength', { min: PASSWORD_MIN, max: PASSWORD_MAX }) : null;
}

export function mount(root, ctx) {
  const status = ctx.status;
  const title = h('h1', { class: 'auth-title', tabindex: '-1' }, t('register.title'));
  const signInLine = h('p', { class: 'auth-switch' }, t('register.haveAccount'), ' ', h('a', { href: '/login' }, t('register.signIn')));

  if (status && status.allow_registration === false) {
    append(root, [title, alertBox(t('error.registration_disabled'), 'info'), signInLine]);
    return;
  }

  const alerts = alertSlot();
  const username = field({
    label: t('field.username'),
    name: 'username',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: false,
    required: true,
    maxlength: 32,
    hint: t('hint.username'),
  });
  const password = field({
    label: t('field.password'),
    name: 'password',
    type: 'password',
    autocomplete: 'new-password',
    required: true,
    maxlength: PASSWORD_MAX,
    hint: t('hint.password', { min: PASSWORD_MIN, max: PASSWORD_MAX }),
  });
  const confirm = field({
    label: t('field.confirmPassword'),
    name: 'confirm',
    type: 'password',
    autocomplete: 'new-password',
    required: true,
    maxlength: PASSWORD_MAX,
  });
  const referral = field({
    label: t('field.referralCode'),
    optionalText: t('common.optional'),
    name: 'referral_code',
    autocapitalize: 'none',
    spellcheck: false,
    maxlength: 64,
    value: (ctx.query.get('ref') || '').trim(),
    hint: t('hint.referralCode'),
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, t('register.submit'));
  const form = h('form', { class: 'form', novalidate: true }, username.el, password.el, confirm.el, referral.el, submit);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    alerts.clear();
    const user = username.value().trim();
    const pass = password.value();
    const code = referral.value().trim();
    const ok = validate([
      [username, usernameProblem(user)],
      [password, passwordProblem(pass)],
      [confirm, confirm.value() === pass ? null : t('validation.passwordMismatch')],
    ]);
    if (!ok) return;

    await withBusy(submit, async () => {
      const body = { username: user, password: pass };
      if (code) body.referral_code = code;
      try {
        await api.post('/api/auth/register', body);
      } catch (err) {
        alerts.error(err);
        return;
      }
      try {
        await session.login(user, pass);
      } catch {
        ctx.navigate('/login?registered=1', { replace: true });
        return;
      }
      toast(t('register.welcome', { name: user }), 'success');
      ctx.navigate('/console', { replace: true });
    });
  });

  append(root, [title, h('p', { class: 'auth-subtitle' }, t('register.subtitle')), statusNotice(), alerts.el, form, signInLine]);
}
