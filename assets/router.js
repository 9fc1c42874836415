// History API routing: path matching, navigate(), link interception and popstate handling.

import { routes, notFound, isAppPath } from './routes.js';

let listener = null;

function compile(path) {
  const names = [];
  const source = path
    .split('/')
    .map((seg) => {
      if (seg.startsWith(':')) {
        names.push(seg.slice(1));
        return '([^/]+)';
      }
      return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { re: new RegExp(`^${source}/?$`), names };
}

const compiled = routes.map((route) => ({ route, ...compile(route.path) }));

/** Find the route for a pathname: { route, params }; unknown paths get the notFound entry. */
export function matchRoute(pathname) {
  for (const { route, re, names } of compiled) {
    const m = re.exec(pathname);
    if (m) {
      const params = {};
      names.forEach((n, i) => {
        params[n] = decodeURIComponent(m[i + 1]);
      });
      return { route, params };
    }
  }
  const inConsole = pathname.startsWith('/console');
  return {
    route: { ...notFound, layout: inConsole ? 'console' : 'auth', auth: inConsole },
    params: {},
  };
}

/** The current location as { pathname, search, query (URLSearchParams), full }. */
export function currentLocation() {
  const { pathname, search } = window.location;
  return { pathname, search, query: new URLSearchParams(search), full: pathname + search };
}

/** Only same-app console paths are accepted as a post-login "next" (no open redirects). */
export function safeNext(next) {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//')) return null;
  const path = next.split(/[?#]/)[0];
  if (path !== '/console' && !path.startsWith('/console/')) return null;
  return next;
}

/** Go to a path inside the app (pushState, or replaceState with { replace: true }). */
export function navigate(to, { replace = false } = {}) {
  const url = new URL(to, window.location.origin);
  if (url.origin !== window.location.origin || !isAppPath(url.pathname)) {
    window.location.assign(url.href);
    return;
  }
  const target = url.pathname + url.search + url.hash;
  const here = window.location.pathname + window.location.search + window.location.hash;
  if (replace) window.history.replaceState(null, '', target);
  else if (target !== here) window.history.pushState(null, '', target);
  if (listener) listener(currentLocation());
}

function onClick(event) {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target instanceof Element ? event.target.closest('a[href]') : null;
  if (!a || a.hasAttribute('download') || a.hasAttribute('data-external')) return;
  if (a.target && a.target !== '_self') return;
  const url = new URL(a.href, window.location.href);
  if (url.origin !== window.location.origin || !isAppPath(url.pathname)) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
}

/** Start routing: `onRoute(location)` runs now and on every navigation. */
export function startRouter(onRoute) {
  listener = onRoute;
  document.addEventListener('click', onClick);
  window.addEventListener('popstate', () => listener && listener(currentLocation()));
  onRoute(currentLocation());
}
