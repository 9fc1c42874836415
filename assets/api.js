// JSON fetch wrapper for the management API: parsed JSON out, ApiError (status, code, message) thrown.

/** An API failure. status is 0 for network errors; code is the server's error.code or a local one. */
export class ApiError extends Error {
  constructor(message, { status = 0, code = '', type = '' } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.type = type;
  }
}

/** Fired on window when a non-auth request answers 401 (the session expired or was revoked). */
export const UNAUTHORIZED_EVENT = 'api:unauthorized';

/**
 * request('/api/me') → parsed JSON (or null for 204 / empty bodies).
 * options: { method, body (serialised as JSON), signal, headers, quiet401 (no unauthorized event) }.
 */
export async function request(path, options = {}) {
  const { method = 'GET', body, signal, headers = {}, quiet401 = false } = options;
  const init = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json', ...headers },
    signal,
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }

  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError('Cannot reach the server. Check your connection and try again.', {
      status: 0,
      code: 'network_error',
    });
  }

  const text = await response.text().catch(() => '');
  // A body cut off because the page was left is no answer at all: say so, never "empty".
  if (signal && signal.aborted) throw new DOMException('The request was aborted.', 'AbortError');
  let data = null;
  let parsed = false;
  if (text.trim() !== '') {
    try {
      data = JSON.parse(text);
      parsed = true;
    } catch {
      parsed = false;
    }
  }

  if (response.ok) {
    if (text.trim() === '' || parsed) return data;
    throw new ApiError(`The server sent an unexpected response (HTTP ${response.status}).`, {
      status: response.status,
      code: 'bad_response',
    });
  }

  const err = toError(response.status, parsed ? data : null);
  if (response.status === 401 && !quiet401 && !path.startsWith('/api/auth/')) {
    window.dispatchEvent(new CustomEvent(UNAUTHORIZED_EVENT, { detail: { path } }));
  }
  throw err;
}

function toError(status, data) {
  const e = data && typeof data === 'object' ? data.error : null;
  if (e && typeof e === 'object') {
    return new ApiError(String(e.message || `Request failed (HTTP ${status}).`), {
      status,
      code: e.code ? String(e.code) : '',
      type: e.type ? String(e.type) : '',
    });
  }
  return new ApiError(`The server sent an unexpected response (HTTP ${status}).`, {
    status,
    code: 'bad_response',
  });
}

export const api = {
  get: (path, opts) => request(path, { ...opts, method: 'GET' }),
  post: (path, body, opts) => request(path, { ...opts, method: 'POST', body }),
  patch: (path, body, opts) => request(path, { ...opts, method: 'PATCH', body }),
  put: (path, body, opts) => request(path, { ...opts, method: 'PUT', body }),
  del: (path, opts) => request(path, { ...opts, method: 'DELETE' }),
};

/** Build a query string from an object, skipping empty values: qs({a:1,b:''}) → "?a=1". */
export function qs(params) {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') sp.set(k, String(v));
  }
  const s = sp.toString();
  return s ? '?' + s : '';
}
