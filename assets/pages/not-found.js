// Fallback page for unknown paths and for admin pages opened by non-admins.

import { h, append } from '../dom.js';
import { t } from '../i18n.js';

export function mount(root, ctx) {
  const forbidden = !!ctx.route.forbidden;
  const home = ctx.me ? '/console' : '/login';
  append(root, [
    h(
      'div',
      { class: 'empty-state empty-page' },
      h('p', { class: 'empty-code', 'aria-hidden': 'true' }, forbidden ? '403' : '404'),
      h('h1', { class: 'page-title', tabindex: '-1' }, forbidden ? t('notFound.forbiddenTitle') : t('notFound.title')),
      h('p', { class: 'empty-text' }, forbidden ? t('notFound.forbiddenText') : t('notFound.text')),
      h('a', { class: 'btn btn-primary', href: home }, ctx.me ? t('notFound.toDashboard') : t('notFound.toLogin')),
    ),
  ]);
}
