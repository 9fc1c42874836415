// Signed-in layout: sidebar nav built from the route table, header (user, language, sign-out), mobile
// drawer, and the low-balance banner shown on every page while the balance is below the threshold.

import { h } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import { langSwitch, withBusy, toastError } from '../ui.js';
import { api } from '../api.js';
import { formatMoney } from '../format.js';
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
  const banner = lowBalanceBanner();
  const root = h('div', { class: 'shell' }, sidebar, backdrop, h('div', { class: 'shell-main' }, header, banner.el, outlet));

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
      banner.check();
    },
    destroy() {
      document.removeEventListener('keydown', onKey);
      banner.destroy();
    },
  };
}

/** Re-read the warning at most this often while moving between pages (money moves re-read at once). */
const ALERT_MAX_AGE_MS = 20000;

/**
 * The banner: GET /api/balance-alert on the first page, then on navigation when older than
 * ALERT_MAX_AGE_MS and at once on a "balance:changed" event (a top-up, a redemption, a test call).
 */
function lowBalanceBanner() {
  const el = h('div', { class: 'banner-slot', 'data-testid': 'low-balance-banner', role: 'status' });
  let checkedAt = 0;
  let pending = null;
  const show = (alert) => {
    if (!alert || !alert.low) {
      el.replaceChildren();
      return;
    }
    const text = t('banner.lowBalance', { balance: formatMoney(alert.balance), threshold: formatMoney(alert.threshold) });
    el.replaceChildren(
      h(
        'div',
        { class: 'banner banner-warning' },
        icon('alert'),
        h('span', { class: 'banner-text' }, text),
        h('span', { class: 'banner-actions' }, h('a', { class: 'btn btn-small btn-primary', href: '/console/topup' }, t('banner.topUp')), h('a', { class: 'btn btn-small btn-ghost', href: '/console/topup#low-balance' }, t('banner.change'))),
      ),
    );
  };
  const load = () => {
    if (pending) return pending;
    checkedAt = Date.now();
    pending = api
      .get('/api/balance-alert', { quiet401: true })
      .then(show, () => {})
      .finally(() => {
        pending = null;
      });
    return pending;
  };
  const onChange = () => load();
  window.addEventListener('balance:changed', onChange);
  return {
    el,
    check: () => (Date.now() - checkedAt > ALERT_MAX_AGE_MS ? load() : null),
    destroy: () => window.removeEventListener('balance:changed', onChange),
  };
}
