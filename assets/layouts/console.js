// Signed-in layout: sidebar nav built from the route table, header (user, language, sign-out), mobile drawer.

import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import { langSwitch, withBusy, toastError } from '../ui.js';
import { session } from '../session.js';
import { navigate } from '../router.js';
import { routes, NAV_SECTIONS } from '../routes.js';

/** Nav entries the current account may see, grouped by section (empty sections dropped). */
function navSections(isAdmin) {
  return NAV_SECTIONS.map((section) => ({
    ...section,
    items: routes.filter((r) => r.nav && r.nav.section === section.id && (!r.admin || isAdmin)),
  })).filter((s) => s.items.length > 0);
}

/** The nav path that owns `pathname`: exact match, else the longest "prefix/" match. */
function activePath(items, pathname) {
  let best = null;
  for (const r of items) {
    // The dashboard owns only its own path: other /console/... pages it does not list are not its.
    if (pathname === r.path || (r.path !== '/console' && pathname.startsWith(r.path + '/'))) {
      if (!best || r.path.length > best.length) best = r.path;
    }
  }
  return best;
}

/** Build the console layout. Returns { kind, root, outlet, update(pathname), destroy() }. */
export function createConsoleLayout() {
  const me = session.me || { username: '', role: 'user' };
  const status = session.status;
  const name = (status && status.name) || t('app.name');
  const sections = navSections(session.isAdmin);
  const allItems = sections.flatMap((s) => s.items);
  const links = new Map();

  const nav = h(
    'nav',
    { class: 'nav', 'aria-label': t('nav.label') },
    sections.map((s) =>
      h(
        'div',
        { class: 'nav-section' },
        s.label ? h('p', { class: 'nav-heading' }, t(s.label)) : null,
        h(
          'ul',
          { class: 'nav-list' },
          s.items.map((r) => {
            const a = h('a', { class: 'nav-link', href: r.path }, icon(r.nav.icon), h('span', null, t(r.title)));
            links.set(r.path, a);
            return h('li', null, a);
          }),
        ),
      ),
    ),
  );

  const brand = () =>
    h(
      'a',
      { class: 'brand', href: '/console' },
      h('img', { class: 'brand-logo', src: '/assets/favicon.svg', alt: '', width: 28, height: 28 }),
      h('span', { class: 'brand-name' }, name),
    );

  const sidebar = h(
    'aside',
    { id: 'sidebar', class: 'sidebar', 'aria-label': t('nav.sidebar') },
    h('div', { class: 'sidebar-brand' }, brand()),
    nav,
    status && status.version ? h('p', { class: 'sidebar-foot' }, t('app.version', { version: status.version })) : null,
  );
  const backdrop = h('div', { class: 'backdrop', hidden: true });

  const menuButton = h(
    'button',
    {
      type: 'button',
      class: 'btn btn-icon menu-button',
      'aria-controls': 'sidebar',
      'aria-expanded': 'false',
      'aria-label': t('nav.openMenu'),
    },
    icon('menu', { size: 20 }),
  );

  const setOpen = (open) => {
    sidebar.classList.toggle('open', open);
    backdrop.hidden = !open;
    menuButton.setAttribute('aria-expanded', String(open));
    menuButton.setAttribute('aria-label', open ? t('nav.closeMenu') : t('nav.openMenu'));
    menuButton.replaceChildren(icon(open ? 'close' : 'menu', { size: 20 }));
    if (open) (links.values().next().value || sidebar).focus();
  };
  menuButton.addEventListener('click', () => setOpen(!sidebar.classList.contains('open')));
  backdrop.addEventListener('click', () => setOpen(false));
  const onKey = (e) => {
    if (e.key === 'Escape' && sidebar.classList.contains('open')) {
      setOpen(false);
      menuButton.focus();
    }
  };
  document.addEventListener('keydown', onKey);

  const signOut = h(
    'button',
    { type: 'button', class: 'btn btn-ghost sign-out', title: t('auth.signOut') },
    icon('logout', { size: 18 }),
    h('span', { class: 'sign-out-text' }, t('auth.signOut')),
  );
  signOut.addEventListener('click', () =>
    withBusy(signOut, async () => {
      try {
        await session.logout();
        navigate('/login');
      } catch (err) {
        toastError(err);
      }
    }),
  );

  const userChip = h(
    'div',
    { class: 'user-chip', title: me.username },
    h('span', { class: 'avatar', 'aria-hidden': 'true' }, (me.username || '?').slice(0, 1).toUpperCase()),
    h('span', { class: 'user-name' }, me.username),
    me.role === 'admin' ? h('span', { class: 'badge badge-accent' }, t('role.admin')) : null,
  );

  const header = h(
    'header',
    { class: 'topbar' },
    menuButton,
    h('div', { class: 'topbar-brand' }, brand()),
    h('div', { class: 'topbar-spacer' }),
    langSwitch(),
    userChip,
    signOut,
  );

  const outlet = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  const root = h('div', { class: 'shell' }, sidebar, backdrop, h('div', { class: 'shell-main' }, header, outlet));

  return {
    kind: 'console',
    root,
    outlet,
    update(pathname) {
      const active = activePath(allItems, pathname);
      for (const [path, a] of links) {
        if (path === active) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
      }
      if (sidebar.classList.contains('open')) setOpen(false);
    },
    destroy() {
      document.removeEventListener('keydown', onKey);
    },
  };
}
