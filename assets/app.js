// Console entry point: bootstrap (status, session, language), route guards, layouts and page mounting.
//
// Page modules export `mount(root, ctx)`, which renders into `root` (may be async) and may return a
// cleanup function that runs when the page is left. ctx = { route, params, query, status, me,
// navigate, signal, refresh }: `signal` aborts when the page is left, `refresh()` re-mounts the page.

import { h } from './dom.js';
import { t, initI18n, LANG_CHANGE_EVENT } from './i18n.js';
import { UNAUTHORIZED_EVENT } from './api.js';
import { session } from './session.js';
import { startRouter, navigate, matchRoute, currentLocation, safeNext } from './router.js';
import { createAuthLayout } from './layouts/auth.js';
import { createConsoleLayout } from './layouts/console.js';
import { loadingBlock, alertBox, describeError, toast } from './ui.js';

const app = document.getElementById('app');

let layout = null; // the mounted layout: { kind, root, outlet, update, destroy? }
let leave = null; // cleanup for the mounted page
let navToken = 0; // increments per navigation so late async results are dropped
let meError = null; // a non-401 failure of /api/me during bootstrap
let firstRender = true;

function useLayout(kind, pathname) {
  if (!layout || layout.kind !== kind || !app.contains(layout.root)) {
    if (layout && layout.destroy) layout.destroy();
    layout = kind === 'console' ? createConsoleLayout() : createAuthLayout();
    app.replaceChildren(layout.root);
  }
  layout.update(pathname);
  return layout.outlet;
}

function resetLayout() {
  if (layout && layout.destroy) layout.destroy();
  layout = null;
}

function runLeave() {
  if (leave) {
    try {
      leave();
    } catch {
      /* a failing cleanup must not block navigation */
    }
  }
  leave = null;
}

/** Full-screen failure (server unreachable before we know who is signed in), with a retry. */
function renderFatal(err) {
  const outlet = useLayout('auth', '');
  outlet.replaceChildren(
    h('h1', { class: 'auth-title', tabindex: '-1' }, t('error.fatalTitle')),
    alertBox(describeError(err), 'error', { label: t('common.retry'), onClick: () => bootstrap() }),
  );
}

async function handle(location) {
  const token = ++navToken;
  runLeave();
  const { route, params } = matchRoute(location.pathname);
  const me = session.me;

  if (route.redirect) return navigate(route.redirect({ me }), { replace: true });
  const needsAuth = route.auth || route.admin;
  if (needsAuth && !me) {
    if (meError) return renderFatal(meError);
    return navigate('/login?next=' + encodeURIComponent(location.full), { replace: true });
  }
  if (route.guestOnly && me) return navigate(safeNext(location.query.get('next')) || '/console', { replace: true });

  const kind = route.layout || 'console';
  const outlet = useLayout(kind, location.pathname);
  const forbidden = route.admin && !session.isAdmin;
  const target = forbidden ? { ...matchRoute('/console/404').route, forbidden: true } : route;

  document.title = `${t(target.title)} · ${(session.status && session.status.name) || t('app.name')}`;
  const pending = setTimeout(() => token === navToken && outlet.replaceChildren(loadingBlock()), 150);

  let mod;
  try {
    mod = await target.page();
  } catch (err) {
    clearTimeout(pending);
    if (token !== navToken) return;
    outlet.replaceChildren(alertBox(t('error.pageLoad'), 'error', { label: t('common.retry'), onClick: () => window.location.reload() }));
    return;
  }
  if (token !== navToken) return;

  const controller = new AbortController();
  const root = h('div', { class: `page page-${kind}` });
  const ctx = {
    route: target,
    params,
    query: location.query,
    status: session.status,
    me: session.me,
    navigate,
    signal: controller.signal,
    refresh: () => handle(currentLocation()),
  };
  try {
    const cleanup = await mod.mount(root, ctx);
    if (token !== navToken) {
      controller.abort();
      if (typeof cleanup === 'function') cleanup();
      return;
    }
    leave = () => {
      controller.abort();
      if (typeof cleanup === 'function') cleanup();
    };
  } catch (err) {
    if (token !== navToken) return;
    leave = () => controller.abort();
    root.replaceChildren(alertBox(describeError(err), 'error', { label: t('common.retry'), onClick: ctx.refresh }));
  }
  clearTimeout(pending);
  outlet.replaceChildren(root);
  if (!firstRender) (outlet.querySelector('h1') || outlet).focus({ preventScroll: false });
  firstRender = false;
  window.scrollTo(0, 0);
}

let started = false;

async function bootstrap() {
  app.replaceChildren(loadingBlock(t('common.loading')));
  await session.loadStatus();
  try {
    await session.loadMe();
    meError = null;
  } catch (err) {
    meError = err;
  }
  resetLayout();
  if (!started) {
    started = true;
    startRouter(handle);
  } else {
    handle(currentLocation());
  }
}

window.addEventListener(LANG_CHANGE_EVENT, () => {
  resetLayout();
  handle(currentLocation());
});

window.addEventListener(UNAUTHORIZED_EVENT, () => {
  const wasSignedIn = !!session.me;
  session.clear();
  resetLayout();
  const loc = currentLocation();
  const { route } = matchRoute(loc.pathname);
  if (route.auth || route.admin) {
    if (wasSignedIn) toast(t('auth.sessionExpired'), 'warning');
    navigate('/login?next=' + encodeURIComponent(loc.full), { replace: true });
  }
});

initI18n().then(bootstrap, bootstrap);
