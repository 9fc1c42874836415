// Signed-out layout: brand bar with language switch and a centered card that hosts login/register.

import { h } from '../dom.js';
import { t } from '../i18n.js';
import { langSwitch } from '../ui.js';
import { session } from '../session.js';

/** Build the auth layout. Returns { kind, root, outlet, update() }; pages render into outlet. */
export function createAuthLayout() {
  const status = session.status;
  const name = (status && status.name) || t('app.name');
  const outlet = h('div', { class: 'auth-card' });
  const root = h(
    'div',
    { class: 'auth-shell' },
    h(
      'header',
      { class: 'auth-top' },
      h(
        'a',
        { class: 'brand', href: '/' },
        h('img', { class: 'brand-logo', src: '/assets/favicon.svg', alt: '', width: 28, height: 28 }),
        h('span', { class: 'brand-name' }, name),
      ),
      langSwitch(),
    ),
    h('main', { id: 'main', class: 'auth-main', tabindex: '-1' }, outlet),
    h(
      'footer',
      { class: 'auth-foot' },
      status && status.version ? t('app.footer', { name, version: status.version }) : name,
    ),
  );
  return { kind: 'auth', root, outlet, update() {} };
}
