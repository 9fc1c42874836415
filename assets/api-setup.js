// "Use the API": copyable setup for Claude Code, Codex, curl and the OpenAI Python SDK with this
// server's real base URL (`public_url` from /api/status), and "Test this key": one small chat call
// with the key to a free or the cheapest model it may use, showing the answer and its cost (read
// back from the request log by the call's X-Request-Id).

import { h } from './dom.js';
import { icon } from './icons.js';
import { t } from './i18n.js';
import { api, qs } from './api.js';
import { copyButton, withBusy, describeError, alertBox } from './ui.js';
import { field } from './forms.js';
import { session } from './session.js';
import { formatMoney, formatMs } from './format.js';

/** Shown in place of a secret the page does not know. */
export const KEY_PLACEHOLDER = 'sk-YOUR-KEY';

/** The server's public base, without a trailing slash (the page's own origin when unset). */
export function publicUrl() {
  const configured = session.status && session.status.public_url;
  return String(configured || window.location.origin).replace(/\/+$/, '');
}

/** The setup text for each tool, with `key` and `model` filled in. */
export function snippets(key, model) {
  const base = publicUrl();
  const m = model || 'MODEL';
  return {
    claude: [`export ANTHROPIC_BASE_URL=${base}`, `export ANTHROPIC_AUTH_TOKEN=${key}`, 'claude'].join('\n'),
    codex: [
      '# ~/.codex/config.toml',
      `model = "${m}"`,
      'model_provider = "code-router"',
      '',
      '[model_providers.code-router]',
      'name = "Code Router"',
      `base_url = "${base}/v1"`,
      'wire_api = "responses"',
      'env_key = "CODE_ROUTER_API_KEY"',
      '',
      '# then, in your shell:',
      `export CODE_ROUTER_API_KEY=${key}`,
      'codex',
    ].join('\n'),
    curl: [
      `curl ${base}/v1/chat/completions \\`,
      `  -H "Authorization: Bearer ${key}" \\`,
      '  -H "Content-Type: application/json" \\',
      `  -d '{"model": "${m}", "messages": [{"role": "user", "content": "Hello"}]}'`,
    ].join('\n'),
    python: [
      'from openai import OpenAI',
      '',
      `client = OpenAI(base_url="${base}/v1", api_key="${key}")`,
      'reply = client.chat.completions.create(',
      `    model="${m}",`,
      '    messages=[{"role": "user", "content": "Hello"}],',
      ')',
      'print(reply.choices[0].message.content)',
    ].join('\n'),
  };
}

const TOOLS = [
  ['claude', 'setup.tool.claude'],
  ['codex', 'setup.tool.codex'],
  ['curl', 'setup.tool.curl'],
  ['python', 'setup.tool.python'],
];

/** The key's display hint as the server makes it: "sk-" + first 4 + "…" + last 4. */
function hintOf(secret) {
  const body = secret.startsWith('sk-') ? secret.slice(3) : secret;
  return `sk-${body.slice(0, 4)}…${body.slice(-4)}`;
}

/** The model to test `secret` with: its key's `test_model`, else a free one /v1/models lists. */
async function modelFor(secret, signal) {
  try {
    const keys = (await api.get('/api/keys', { signal })).data || [];
    const mine = keys.find((k) => k.key_hint === hintOf(secret));
    if (mine) return mine.test_model || null;
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
  }
  const res = await fetch('/v1/models', { headers: { Authorization: `Bearer ${secret}` }, signal });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw Object.assign(new Error((body && body.error && body.error.message) || `HTTP ${res.status}`), { code: body && body.error && body.error.code, status: res.status });
  const ids = ((body && body.data) || []).map((m) => m.id);
  return ids.find((id) => id.endsWith(':free')) || ids[0] || null;
}

/** The log row of a request, once the server has written it (rows are written in batches). */
async function logRow(requestId, signal) {
  for (let i = 0; i < 20; i += 1) {
    const page = await api.get('/api/logs' + qs({ request_id: requestId }), { signal });
    if (page.data && page.data.length) return page.data[0];
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}

/**
 * One test call with `secret`: { ok, model, answer, cost, latency, requestId, error }.
 * `model` may be given (a key's test_model); else it is found for the key.
 */
export async function testKey(secret, model, signal) {
  const use = model || (await modelFor(secret, signal));
  if (!use) return { ok: false, error: t('setup.noModel') };
  const started = performance.now();
  const res = await fetch('/v1/chat/completions', {
    method: 'POST',
    headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: use, messages: [{ role: 'user', content: 'Say hello in five words.' }], max_tokens: 16, stream: false }),
    signal,
  });
  const latency = Math.round(performance.now() - started);
  const requestId = res.headers.get('x-request-id') || '';
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const e = (body && body.error) || {};
    return { ok: false, model: use, requestId, status: res.status, error: describeError({ code: e.code, status: res.status, message: e.message || `HTTP ${res.status}` }) };
  }
  const answer = String((body && body.choices && body.choices[0] && body.choices[0].message && body.choices[0].message.content) || '');
  const row = requestId ? await logRow(requestId, signal).catch(() => null) : null;
  return { ok: true, model: use, answer, cost: row ? row.cost : null, latency, requestId };
}

/** The outcome of a test as a block of text. */
function resultBlock(r) {
  if (!r.ok) return alertBox(r.error, 'error');
  return h(
    'div',
    { class: 'test-result', 'data-testid': 'key-test-result' },
    h('p', { class: 'test-answer' }, h('span', { class: 'muted' }, t('setup.answer')), ' ', r.answer || t('setup.emptyAnswer')),
    h(
      'p',
      { class: 'muted small' },
      t('setup.testFacts', { model: r.model, cost: r.cost === null ? '—' : formatMoney(r.cost), latency: formatMs(r.latency) }),
      r.requestId ? h('code', { class: 'ref' }, r.requestId) : null,
    ),
  );
}

/**
 * The card. opts: { secret (known right after creation), model (the key's test model),
 * signal, compact (no card frame, for a dialog) }. Without a secret the snippets hold a
 * placeholder and the test asks for the key to be pasted.
 */
export function apiSetup({ secret = '', model = null, signal, compact = false } = {}) {
  let tool = 'claude';
  const code = h('code');
  const pre = h('pre', { class: 'snippet', 'data-testid': 'setup-snippet' }, code);
  const copyBox = h('div', { class: 'snippet-copy' });
  const tabs = h('div', { class: 'segmented', role: 'tablist', 'aria-label': t('setup.tools') });
  const draw = () => {
    const text = snippets(secret || KEY_PLACEHOLDER, model)[tool];
    code.textContent = text;
    copyBox.replaceChildren(copyButton(text));
    tabs.replaceChildren(
      ...TOOLS.map(([id, label]) =>
        h('button', { type: 'button', class: 'seg-btn', role: 'tab', 'aria-selected': String(id === tool), 'aria-pressed': String(id === tool), onclick: () => { tool = id; draw(); } }, t(label)),
      ),
    );
  };
  draw();

  const result = h('div', { class: 'test-slot', 'aria-live': 'polite' });
  const testBtn = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'test-key' }, icon('check', { size: 16 }), h('span', null, t('setup.test')));
  let paste = null;
  if (!secret) paste = field({ label: t('setup.pasteLabel'), name: 'test_key', autocomplete: 'off', spellcheck: false, autocapitalize: 'none', placeholder: 'sk-…', hint: t('setup.pasteHint') });
  testBtn.addEventListener('click', () =>
    withBusy(testBtn, async () => {
      const key = secret || paste.value().trim();
      if (!key) {
        paste.setError(t('setup.pasteNeeded'));
        paste.input.focus();
        return;
      }
      result.replaceChildren();
      try {
        result.replaceChildren(resultBlock(await testKey(key, secret ? model : null, signal)));
      } catch (err) {
        if (err && err.name === 'AbortError') return;
        result.replaceChildren(alertBox(describeError(err), 'error'));
      }
      window.dispatchEvent(new CustomEvent('balance:changed'));
    }),
  );

  const body = [
    h('div', { class: 'copy-list' }, h('div', { class: 'copy-row' }, h('span', { class: 'copy-label' }, t('dash.baseUrl')), h('code', { class: 'copy-value' }, `${publicUrl()}/v1`), copyButton(`${publicUrl()}/v1`))),
    h('div', { class: 'setup-tabs' }, tabs),
    h('div', { class: 'snippet-box' }, pre, copyBox),
    h('p', { class: 'field-hint' }, t('setup.toolsHint')),
    h('div', { class: 'test-box' }, h('h3', { class: 'section-title' }, t('setup.testTitle')), h('p', { class: 'field-hint' }, secret ? t('setup.testText') : t('setup.testTextPaste')), paste ? paste.el : null, h('div', null, testBtn), result),
  ];
  if (compact) return h('div', { class: 'api-setup' }, body);
  return h(
    'section',
    { class: 'card api-setup', 'data-testid': 'use-the-api' },
    h('div', { class: 'card-head' }, icon('terminal'), h('h2', { class: 'card-title' }, t('dash.quickStartTitle'))),
    h('p', { class: 'card-text' }, t('dash.quickStartText')),
    body,
  );
}
