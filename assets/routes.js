// The route table: every page of the console is one entry here plus one module under pages/.
//
// Entry fields:
//   path      exact path; ":name" segments capture params ("/console/keys/:id" → ctx.params.id)
//   page      () => import('./pages/x.js'); the module exports `mount(root, ctx)` (see app.js)
//   title     i18n key for the document title and the nav label
//   layout    'console' (sidebar shell, the default) or 'auth' (centered card, no session needed)
//   auth      true → needs a session; signed-out visitors go to /login?next=…
//   admin     true → needs role "admin" (implies auth); hidden from the nav for everyone else
//   guestOnly true → signed-in visitors are sent to /console (login, register)
//   nav       { icon, section } → shown in the sidebar; section is an id from NAV_SECTIONS
//   redirect  (ctx) => path; the entry renders nothing and replaces the URL
//
// Adding a page: create pages/keys.js exporting mount(), add the keys to i18n/en.js and
// i18n/zh-CN.js, then add its entry below (the sidebar picks it up in table order).

export const routes = [
  { path: '/', redirect: ({ me }) => (me ? '/console' : '/login') },
  {
    path: '/login',
    page: () => import('./pages/login.js'),
    title: 'login.title',
    layout: 'auth',
    guestOnly: true,
  },
  {
    path: '/register',
    page: () => import('./pages/register.js'),
    title: 'register.title',
    layout: 'auth',
    guestOnly: true,
  },
  {
    path: '/console',
    page: () => import('./pages/dashboard.js'),
    title: 'nav.dashboard',
    auth: true,
    nav: { icon: 'dashboard', section: 'main' },
  },
  { path: '/console/keys', page: () => import('./pages/keys.js'), title: 'nav.keys', auth: true, nav: { icon: 'key', section: 'main' } },
  { path: '/console/logs', page: () => import('./pages/logs.js'), title: 'nav.logs', auth: true, nav: { icon: 'logs', section: 'main' } },
  { path: '/console/models', page: () => import('./pages/models.js'), title: 'nav.models', auth: true, nav: { icon: 'tag', section: 'main' } },
  { path: '/console/topup', page: () => import('./pages/topup.js'), title: 'nav.topup', auth: true, nav: { icon: 'wallet', section: 'main' } },
  { path: '/console/account', page: () => import('./pages/account.js'), title: 'nav.account', auth: true, nav: { icon: 'user', section: 'main' } },
  { path: '/console/admin/overview', page: () => import('./pages/admin/overview.js'), title: 'nav.admin.overview', admin: true, nav: { icon: 'chart', section: 'admin' } },
  { path: '/console/admin/users', page: () => import('./pages/admin/users.js'), title: 'nav.admin.users', admin: true, nav: { icon: 'users', section: 'admin' } },
  { path: '/console/admin/codes', page: () => import('./pages/admin/codes.js'), title: 'nav.admin.codes', admin: true, nav: { icon: 'ticket', section: 'admin' } },
  { path: '/console/admin/orders', page: () => import('./pages/admin/orders.js'), title: 'nav.admin.orders', admin: true, nav: { icon: 'wallet', section: 'admin' } },
  { path: '/console/admin/upstreams', page: () => import('./pages/admin/upstreams.js'), title: 'nav.admin.upstreams', admin: true, nav: { icon: 'server', section: 'admin' } },
  { path: '/console/admin/prices', page: () => import('./pages/admin/prices.js'), title: 'nav.admin.prices', admin: true, nav: { icon: 'tag', section: 'admin' } },
  { path: '/console/admin/logs', page: () => import('./pages/admin/logs.js'), title: 'nav.admin.logs', admin: true, nav: { icon: 'logs', section: 'admin' } },
];

/** Sidebar sections in display order; label is an i18n key (null → no heading). */
export const NAV_SECTIONS = [
  { id: 'main', label: null },
  { id: 'admin', label: 'nav.section.admin' },
];

/** Rendered for unknown paths (inside the console layout under /console, else the auth layout). */
export const notFound = {
  path: '*',
  page: () => import('./pages/not-found.js'),
  title: 'notFound.title',
};

/** Paths the server answers with index.html; links to anything else load normally. */
export function isAppPath(pathname) {
  return (
    pathname === '/' ||
    pathname === '/login' ||
    pathname === '/register' ||
    pathname === '/console' ||
    pathname.startsWith('/console/')
  );
}
