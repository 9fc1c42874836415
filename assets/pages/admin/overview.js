// Admin Overview page: a period's revenue (paid top-ups) against spend (request charges) per day,
// what could not be collected, active and new members, the top members and models, and every
// upstream's health at a glance.

import { h, append } from '../../dom.js';
import { icon } from '../../icons.js';
import { t } from '../../i18n.js';
import { api, qs } from '../../api.js';
import { pageHeader, alertBox, loadingBlock, describeError } from '../../ui.js';
import { dataTable, emptyState } from '../../table.js';
import { barChart } from '../../chart.js';
import { formatMoney, formatCount, formatMs, money } from '../../format.js';
import { parseDecimal } from '../../money.js';

const PERIODS = [7, 14, 30, 90];

/** The last `days` UTC dates, oldest first (the server groups by UTC day). */
function lastDays(days) {
  const now = new Date();
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const out = [];
  for (let i = days - 1; i >= 0; i -= 1) out.push(new Date(today - i * 86_400_000).toISOString().slice(0, 10));
  return out;
}

function statCard(label, value, sub, testid) {
  return h(
    'section',
    { class: 'card stat-card' },
    h('h2', { class: 'stat-label' }, label),
    h('p', { class: 'stat-value', 'data-testid': testid }, value),
    sub ? h('p', { class: 'stat-hint' }, sub) : null,
  );
}

function upstreamHealth(list) {
  if (!list) return alertBox(t('overview.upstreamsUnavailable'), 'info');
  if (list.length === 0) return emptyState('server', t('upstreams.empty'), null);
  const cooling = list.filter((u) => u.state === 'cooling_down').length;
  return h(
    'div',
    null,
    h('p', { class: 'card-text', 'data-testid': 'upstream-summary' }, t('overview.upstreamSummary', { healthy: list.length - cooling, cooling })),
    h(
      'ul',
      { class: 'health-list' },
      list.map((u) => {
        const rate = u.requests > 0 ? `${((u.errors * 100) / u.requests).toFixed(1)}%` : '—';
        return h(
          'li',
          { class: 'health-row' },
          h('span', { class: u.state === 'cooling_down' ? 'health-dot health-bad' : u.consecutive_failures ? 'health-dot health-warn' : 'health-dot health-ok', 'aria-hidden': 'true' }),
          h('strong', { class: 'health-name' }, u.name),
          h('span', { class: u.state === 'cooling_down' ? 'badge badge-warning' : 'badge badge-success' }, u.state === 'cooling_down' ? t('upstreams.cooling') : t('upstreams.healthy')),
          h('span', { class: 'muted small health-facts' }, t('overview.upstreamFacts', { requests: formatCount(u.requests), rate, p95: formatMs(u.p95_ms) })),
        );
      }),
    ),
    h('a', { class: 'btn btn-small btn-secondary', href: '/console/admin/upstreams' }, t('overview.toUpstreams')),
  );
}

export async function mount(root, ctx) {
  const days = PERIODS.includes(Number(ctx.query.get('days'))) ? Number(ctx.query.get('days')) : 14;
  const period = h(
    'div',
    { class: 'segmented', role: 'group', 'aria-label': t('dash.period') },
    PERIODS.map((n) => h('a', { class: 'seg-btn', href: ctx.route.path + qs({ days: n === 14 ? '' : n }), 'aria-pressed': String(n === days) }, t('dash.days', { n }))),
  );
  const body = h('div', null, loadingBlock());
  append(root, [pageHeader(t('nav.admin.overview'), t('overview.subtitle'), period), body]);

  let o;
  let ups = null;
  try {
    [o, ups] = await Promise.all([
      api.get('/api/admin/overview' + qs({ days }), { signal: ctx.signal }),
      api.get('/api/admin/upstreams', { signal: ctx.signal }).then((r) => r.data || [], () => null),
    ]);
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    body.replaceChildren(alertBox(describeError(err), 'error', { label: t('common.retry'), onClick: ctx.refresh }));
    return;
  }
  const tot = o.totals;
  const byDay = new Map((o.by_day || []).map((d) => [d.date, d]));
  const points = lastDays(days).map((date) => {
    const d = byDay.get(date) || { revenue: '0', spend: '0', requests: 0 };
    const [, m, dd] = date.split('-').map(Number);
    return { label: t('dash.dayLabel', { m, d: dd }), values: [d.revenue, d.spend], title: t('overview.dayTitle', { date, revenue: formatMoney(d.revenue), spend: formatMoney(d.spend), requests: formatCount(d.requests) }) };
  });
  const short = parseDecimal(tot.uncollected)?.units > 0n;

  body.replaceChildren(
    h(
      'div',
      { class: 'grid grid-stats' },
      statCard(t('overview.revenue'), money(tot.revenue), t('overview.redeemed', { amount: formatMoney(tot.redeemed) }), 'ov-revenue'),
      statCard(t('overview.spend'), money(tot.spend), t('overview.requests', { n: formatCount(tot.requests), errors: formatCount(tot.errors) }), 'ov-spend'),
      statCard(t('overview.uncollected'), money(tot.uncollected, { className: short ? 'amount-neg' : '' }), t('overview.uncollectedHint', { n: formatCount(tot.uncollected_requests) }), 'ov-uncollected'),
      statCard(t('overview.active'), formatCount(tot.active_members), t('overview.members', { total: formatCount(tot.members), fresh: formatCount(tot.new_members) }), 'ov-active'),
    ),
    h(
      'section',
      { class: 'card usage-card' },
      h('div', { class: 'card-head' }, icon('chart'), h('h2', { class: 'card-title' }, t('overview.chartTitle'))),
      h(
        'div',
        { class: 'usage-body' },
        barChart({
          points,
          series: [
            { name: t('overview.revenue'), className: 'series-a' },
            { name: t('overview.spend'), className: 'series-b' },
          ],
          format: formatMoney,
          ariaLabel: t('overview.chartTitle'),
        }),
      ),
    ),
    h(
      'div',
      { class: 'grid grid-two' },
      h(
        'section',
        { class: 'card card-flush' },
        h('div', { class: 'card-pad' }, h('h2', { class: 'card-title' }, t('overview.topMembers'))),
        o.top_members.length
          ? dataTable(
              [
                { label: t('users.col.username'), cell: (m) => h('a', { href: '/console/admin/users' + qs({ q: m.username }) }, m.username) },
                { label: t('overview.spend'), cell: (m) => money(m.spend), class: 'num' },
                { label: t('dash.metric.requests'), cell: (m) => formatCount(m.requests), class: 'num' },
              ],
              o.top_members,
            ).el
          : emptyState('users', t('overview.noSpend'), null),
      ),
      h(
        'section',
        { class: 'card card-flush' },
        h('div', { class: 'card-pad' }, h('h2', { class: 'card-title' }, t('overview.topModels'))),
        o.top_models.length
          ? dataTable(
              [
                { label: t('logs.col.model'), cell: (m) => h('code', null, m.model) },
                { label: t('logs.col.cost'), cell: (m) => money(m.cost), class: 'num' },
                { label: t('dash.metric.requests'), cell: (m) => formatCount(m.requests), class: 'num' },
                { label: t('overview.uncollected'), cell: (m) => money(m.uncollected), class: 'num' },
              ],
              o.top_models,
            ).el
          : emptyState('tag', t('overview.noRequests'), null),
      ),
    ),
    h('section', { class: 'card section', 'data-testid': 'upstream-health' }, h('div', { class: 'card-head' }, icon('server'), h('h2', { class: 'card-title' }, t('overview.health'))), upstreamHealth(ups)),
  );
}
