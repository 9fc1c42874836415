// What the node client tests share (as gateway.py does for the Python ones): the member run.sh
// created, signed in to the management API, fresh keys, logs and balance, and the fake's record.

export const BASE_URL = process.env.CR_BASE_URL;
export const FAKE = process.env.CR_FAKE;

export class Member {
  static async signIn() {
    const member = new Member();
    const r = await fetch(`${BASE_URL}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: process.env.CR_USERNAME, password: process.env.CR_PASSWORD }),
    });
    if (!r.ok) throw new Error(`sign-in: ${r.status}`);
    member.cookie = r.headers.get('set-cookie').split(';')[0];
    return member;
  }

  async call(method, path, body) {
    const r = await fetch(BASE_URL + path, {
      method,
      headers: { cookie: this.cookie, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.status === 204 ? null : r.json();
  }

  /** A new key: { id, key }; `settings` as /api/keys takes them (limit, models, ...). */
  async newKey(name, settings = {}) {
    const k = await this.call('POST', '/api/keys', { name: `${name}-${Date.now()}`, ...settings });
    return { id: k.id, key: k.key };
  }

  /** The balance as exact nano-dollars. */
  async balance() {
    return nano((await this.call('GET', '/api/me')).balance);
  }

  /** Every log row of a key, oldest first, once the server has written them. */
  async logsOfKey(keyId, atLeast) {
    for (let i = 0; i < 50; i++) {
      const rows = (await this.call('GET', `/api/logs?key_id=${keyId}&limit=500`)).data;
      if (rows.length >= atLeast) return rows.reverse();
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`fewer than ${atLeast} log rows for key ${keyId}`);
  }
}

/** A decimal-string amount as exact nano-dollars (never a float). */
export function nano(amount) {
  const [int, frac = ''] = String(amount).split('.');
  return BigInt(int + frac.padEnd(9, '0').slice(0, 9));
}

/** The requests the fake provider received at `path`, oldest first. */
export async function fakeRequests(path) {
  const all = await (await fetch(`${FAKE}/_requests`)).json();
  return all.filter((r) => r.path === path);
}
