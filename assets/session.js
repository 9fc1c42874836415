// Client-side session state: server status (/api/status) and the signed-in account (/api/me).

import { api } from './api.js';

export const SESSION_CHANGE_EVENT = 'session:change';

let status = null; // /api/status body, or null when it could not be loaded
let statusError = null; // the ApiError from the last failed /api/status fetch
let me = null; // /api/me body, or null when signed out
let meKnown = false; // whether /api/me has answered at least once (200 or 401)
let meLoadedAt = 0;

function changed() {
  window.dispatchEvent(new CustomEvent(SESSION_CHANGE_EVENT, { detail: { me } }));
}

export const session = {
  get status() {
    return status;
  },
  get statusError() {
    return statusError;
  },
  get me() {
    return me;
  },
  get known() {
    return meKnown;
  },
  get isAdmin() {
    return !!me && me.role === 'admin';
  },

  /** Fetch /api/status. Never throws: on failure `status` stays null and `statusError` is set. */
  async loadStatus() {
    try {
      status = await api.get('/api/status');
      statusError = null;
    } catch (err) {
      status = null;
      statusError = err;
    }
    return status;
  },

  /**
   * Fetch /api/me (reuses the cached answer when younger than maxAge ms).
   * Resolves to the account, or null on 401; other failures throw (caller shows them).
   */
  async loadMe({ maxAge = 0 } = {}) {
    if (meKnown && maxAge > 0 && Date.now() - meLoadedAt < maxAge) return me;
    try {
      me = await api.get('/api/me', { quiet401: true });
    } catch (err) {
      if (err && err.status === 401) me = null;
      else throw err;
    }
    meKnown = true;
    meLoadedAt = Date.now();
    changed();
    return me;
  },

  /** Forget the account locally (after logout or an expired session). */
  clear() {
    me = null;
    meKnown = true;
    meLoadedAt = Date.now();
    changed();
  },

  /** Sign in, then load the full account. Throws the login ApiError on failure. */
  async login(username, password) {
    await api.post('/api/auth/login', { username, password });
    return session.loadMe();
  },

  /** Sign out on the server, then locally. */
  async logout() {
    await api.post('/api/auth/logout');
    session.clear();
  },
};

/** Display settings for money.js, with the product defaults when /api/status is unavailable. */
export function moneySettings() {
  return {
    display: status && status.display === 'quota' ? 'quota' : 'usd',
    quota_per_usd: (status && status.quota_per_usd) || 500000,
  };
}
