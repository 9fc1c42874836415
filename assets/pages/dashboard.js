// Dashboard: balance and reward balance, account facts, "Use the API" (setup snippets and a key
// test), the referral code when referrals are on, and usage by day (with a value axis), by model
// and by key.

import { h, append } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import { formatBalance, sumDecimals } from '../money.js';
import { api, qs } from '../api.js';
import { copyButton, pageHeader, withBusy, toastError, loadingBlock, alertBox, describeError } from '../ui.js';
import { barChart, hbarList } from '../chart.js';
import { apiSetup } from '../api-setup.js';
import { emptyState } from '../table.js';
import { formatMoney, formatCount } from '../format.js';
import { session, moneySettings } from '../session.js';

function moneyCard({ label, amount, hint, iconName }) {
  const value = formatBalance(amount ?? '0', moneySettings());
  return h(
    'section',
    { class: 'card stat-card' },
    h('div', { class: 'stat-head' }, h('span', { class: 'stat-icon' }, icon(iconName)), h('h2', { class: 'stat-label' }, label)),
    h(
      'p',
      { class: 'stat-value' },
      h('span', { class: 'money' }, value.text),
      value.unit === 'quota' ? h('span', { class: 'stat-unit' }, t('money.quotaUnit')) : null,
    ),
    value.secondary ? h('p', { class: 'stat-secondary' }, t('money.equivalent', { amount: value.secondary })) : null,
    hint ? h('p', { class: 'stat-hint' }, hint) : null,
  );
}

function accountCard(me) {
  const row = (label, value) => h('div', { class: 'kv-row' }, h('dt', null, label), h('dd', null, value));
  const role = me.role === 'admin' ? t('role.admin') : t('role.user');
  return h(
    'section',
    { class: 'card stat-card' },
    h('div', { class: 'stat-head' }, h('span', { class: 'stat-icon' }, icon('user')), h('h2', { class: 'stat-label' }, t('dash.account'))),
    h(
      'dl',
      { class: 'kv' },
      row(t('field.username'), me.username || '—'),
      row(t('dash.role'), h('span', { class: me.role === 'admin' ? 'badge badge-accent' : 'badge' }, role)),
      row(t('dash.group'), me.group || '—'),
    ),
  );
}

function copyRow(label, value) {
  return h(
    'div',
    { class: 'copy-row' },
    h('span', { class: 'copy-label' }, label),
    h('code', { class: 'copy-value' }, value),
    copyButton(value),
  );
}

function referralCard(me) {
  const code = me.referral_code || '';
  const link = `${window.location.origin}/register?ref=${encodeURIComponent(code)}`;
  return h(
    'section',
    { class: 'card' },
    h('div', { class: 'card-head' }, icon('gift'), h('h2', { class: 'card-title' }, t('dash.referralTitle'))),
    h('p', { class: 'card-text' }, t('dash.referralText')),
    code
      ? h('div', { class: 'copy-list' }, copyRow(t('dash.referralCode'), code), copyRow(t('dash.referralLink'), link))
      : h('p', { class: 'muted' }, t('dash.referralNone')),
  );
}

/** The last `days` UTC dates, oldest first, as "YYYY-MM-DD" (the server groups usage by UTC day). */
function lastDays(days) {
  const out = [];
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  for (let i = days - 1; i >= 0; i -= 1) out.push(new Date(today - i * 86_400_000).toISOString().slice(0, 10));
  return out;
}

/** "2026-04-09" → "4/9" (en) or "4月9日" (zh): short, and never cut. */
function dayLabel(date) {
  const [, mm, dd] = date.split('-').map(Number);
  return t('dash.dayLabel', { m: mm, d: dd });
}

/** A brand-new account (under a day old) is welcomed, not welcomed back. */
function isNew(me) {
  const at = me && me.created_at ? Date.parse(me.created_at) : NaN;
  return Number.isFinite(at) && Date.now() - at < 86_400_000;
}

const METRICS = {
  cost: { label: 'dash.metric.cost', value: (d) => d.cost, text: (v) => formatMoney(v) },
  requests: { label: 'dash.metric.requests', value: (d) => d.requests, text: (v) => formatCount(v) },
  tokens: { label: 'dash.metric.tokens', value: (d) => allTokens(d), text: (v) => formatCount(v) },
};

/** Every token of a bucket: fresh input, cache reads and writes, and output. */
function allTokens(d) {
  return d.input_tokens + (d.cache_read_tokens || 0) + (d.cache_write_tokens || 0) + d.output_tokens;
}

function totals(rows) {
  let requests = 0;
  let tokens = 0;
  for (const r of rows) {
    requests += r.requests;
    tokens += allTokens(r);
  }
  return { requests, tokens, cost: sumDecimals(rows.map((r) => r.cost)) };
}

function usageCard(signal) {
  const body = h('div', { class: 'usage-body' }, loadingBlock());
  let days = 14;
  let metric = 'cost';
  let data = null;

  const seg = (options, current, onPick, label) =>
    h(
      'div',
      { class: 'segmented', role: 'group', 'aria-label': label },
      options.map(([value, text]) =>
        h('button', { type: 'button', class: 'seg-btn', 'aria-pressed': String(value === current), onclick: () => onPick(value) }, text),
      ),
    );
  const controls = h('div', { class: 'usage-controls' });

  function draw() {
    controls.replaceChildren(
      seg([[7, t('dash.days', { n: 7 })], [14, t('dash.days', { n: 14 })], [30, t('dash.days', { n: 30 })]], days, (v) => { days = v; load(); }, t('dash.period')),
      seg(Object.entries(METRICS).map(([k, m]) => [k, t(m.label)]), metric, (v) => { metric = v; draw(); }, t('dash.metric')),
    );
    if (!data) return;
    const byDay = new Map((data.by_day || []).map((d) => [d.date, d]));
    const zero = { requests: 0, input_tokens: 0, output_tokens: 0, cost: '0' };
    const m = METRICS[metric];
    const points = lastDays(days).map((date) => {
      const d = byDay.get(date) || zero;
      const v = m.value(d);
      return { label: dayLabel(date), value: v, title: `${date}: ${m.text(v)}` };
    });
    const sum = totals(data.by_day || []);
    const models = data.by_model || [];
    const keys = data.by_key || [];
    if (sum.requests === 0) {
      body.replaceChildren(emptyState('chart', t('dash.usageEmptyTitle'), t('dash.usageEmptyText')));
      return;
    }
    body.replaceChildren(
      h(
        'div',
        { class: 'usage-totals' },
        stat(t('dash.metric.cost'), formatMoney(sum.cost)),
        stat(t('dash.metric.requests'), formatCount(sum.requests)),
        stat(t('dash.metric.tokens'), formatCount(sum.tokens)),
      ),
      h('div', { class: 'usage-chart' }, h('h3', { class: 'section-title' }, t('dash.byDay', { metric: t(m.label) })), barChart({ points, format: m.text, ariaLabel: t('dash.byDay', { metric: t(m.label) }) })),
      h(
        'div',
        { class: 'usage-grid' },
        h(
          'div',
          { class: 'usage-models', 'data-testid': 'usage-by-model' },
          h('h3', { class: 'section-title' }, t('dash.byModel')),
          models.length
            ? hbarList(models.map((x) => ({ name: x.model, value: x.cost, text: `${formatMoney(x.cost)} · ${t('dash.requestsN', { n: formatCount(x.requests) })}` })))
            : h('p', { class: 'muted' }, t('dash.noModels')),
        ),
        h(
          'div',
          { class: 'usage-keys', 'data-testid': 'usage-by-key' },
          h('h3', { class: 'section-title' }, t('dash.byKey')),
          keys.length
            ? hbarList(keys.map((x) => ({ name: x.deleted ? t('dash.deletedKey', { name: x.name }) : x.name, value: x.cost, text: `${formatMoney(x.cost)} · ${t('dash.requestsN', { n: formatCount(x.requests) })}` })))
            : h('p', { class: 'muted' }, t('dash.noKeys')),
        ),
      ),
    );
  }

  async function load() {
    body.replaceChildren(loadingBlock());
    draw();
    try {
      data = await api.get('/api/usage' + qs({ days }), { signal });
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      data = null;
      body.replaceChildren(alertBox(describeError(err), 'error', { label: t('common.retry'), onClick: load }));
      return;
    }
    draw();
  }
  load();

  return h(
    'section',
    { class: 'card card-wide usage-card' },
    h('div', { class: 'card-head card-head-split' }, h('div', { class: 'card-head' }, icon('chart'), h('h2', { class: 'card-title' }, t('dash.usageTitle'))), controls),
    body,
  );
}

function stat(label, value) {
  return h('div', { class: 'mini-stat' }, h('span', { class: 'mini-label' }, label), h('span', { class: 'mini-value' }, value));
}

export async function mount(root, ctx) {
  // Balances change with every request: re-read /api/me unless bootstrap just did.
  const me = await session.loadMe({ maxAge: 3000 });
  if (!me) {
    ctx.navigate('/login?next=' + encodeURIComponent('/console'), { replace: true });
    return;
  }

  const refresh = h('button', { type: 'button', class: 'btn btn-secondary' }, icon('refresh', { size: 16 }), h('span', null, t('common.refresh')));
  refresh.addEventListener('click', () =>
    withBusy(refresh, async () => {
      try {
        await session.loadMe();
        ctx.refresh();
      } catch (err) {
        toastError(err);
      }
    }),
  );

  const referralsOn = !(ctx.status && ctx.status.referral_enabled === false);
  append(root, [
    pageHeader(t('nav.dashboard'), isNew(me) ? t('dash.welcomeNew', { name: me.username }) : t('dash.welcome', { name: me.username }), refresh),
    h(
      'div',
      { class: 'grid grid-stats' },
      moneyCard({ label: t('dash.balance'), amount: me.balance, iconName: 'wallet' }),
      moneyCard({ label: t('dash.rewardBalance'), amount: me.reward_balance, iconName: 'gift', hint: t('dash.rewardHint') }),
      accountCard(me),
    ),
    h('div', { class: referralsOn ? 'grid grid-dash' : 'grid' }, apiSetup({ signal: ctx.signal }), referralsOn ? referralCard(me) : null),
    usageCard(ctx.signal),
  ]);
}
