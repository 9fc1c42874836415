// Admin Upstreams page: each configured upstream's health, cool-down, traffic, latency and last error.

import { h, append } from '../../dom.js';
import { icon } from '../../icons.js';
import { t } from '../../i18n.js';
import { api } from '../../api.js';
import { pageHeader, alertBox, loadingBlock, describeError } from '../../ui.js';
import { dataTable, emptyState } from '../../table.js';
import { formatTime, formatCount, formatMs } from '../../format.js';
import { reloadButton } from './reload-button.js';

const REFRESH_MS = 15000;

function stateCell(u) {
  if (u.state === 'no_api_key') {
    return h('div', null, h('span', { class: 'badge badge-danger' }, t('upstreams.noKey')), h('div', { class: 'muted small' }, t('upstreams.noKeyHint')));
  }
  if (u.state === 'cooling_down') {
    return h('div', null, h('span', { class: 'badge badge-warning' }, t('upstreams.cooling')), u.cooldown_until ? h('div', { class: 'muted small' }, t('upstreams.until', { time: formatTime(u.cooldown_until) })) : null);
  }
  return h('span', { class: 'badge badge-success' }, t('upstreams.healthy'));
}

function errorCell(u) {
  if (!u.last_error) return h('span', { class: 'muted' }, t('upstreams.noErrors'));
  return h('div', null, h('p', { class: 'cell-error', title: u.last_error }, u.last_error), h('div', { class: 'muted small' }, formatTime(u.last_error_at)));
}

function trafficCell(u) {
  const rate = u.requests > 0 ? ` (${((u.errors * 100) / u.requests).toFixed(1)}%)` : '';
  return h(
    'div',
    { class: 'nowrap' },
    t('upstreams.requestsN', { n: formatCount(u.requests) }),
    h('div', { class: u.errors ? 'small amount-neg' : 'muted small' }, t('upstreams.errorsN', { n: formatCount(u.errors) }) + rate),
    u.consecutive_failures ? h('div', { class: 'small amount-neg' }, t('upstreams.failStreak', { n: u.consecutive_failures })) : null,
    h('div', { class: 'small' }, t('upstreams.latency', { p50: formatMs(u.p50_ms), p95: formatMs(u.p95_ms) })),
  );
}

export function mount(root, ctx) {
  const box = h('section', { class: 'card card-flush' }, loadingBlock());
  const updated = h('span', { class: 'muted small', 'aria-live': 'polite' });
  let timer = null;

  async function load() {
    clearTimeout(timer);
    let rows;
    try {
      rows = (await api.get('/api/admin/upstreams', { signal: ctx.signal })).data || [];
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      box.replaceChildren(h('div', { class: 'card-pad' }, alertBox(describeError(err), 'error', { label: t('common.retry'), onClick: load })));
      return;
    }
    updated.textContent = t('upstreams.updated', { time: formatTime(new Date().toISOString()) });
    if (rows.length === 0) box.replaceChildren(emptyState('server', t('upstreams.empty'), t('upstreams.emptyText')));
    else {
      box.replaceChildren(
        dataTable(
          [
            { label: t('upstreams.col.name'), cell: (u) => h('div', { class: 'upstream-name' }, h('strong', null, u.name), h('div', { class: 'muted small' }, u.kind), u.base_url ? h('code', { class: 'small break', title: u.base_url }, u.base_url) : null) },
            { label: t('upstreams.col.state'), cell: stateCell },
            { label: t('upstreams.col.models'), cell: (u) => h('span', { class: 'chips' }, (u.models || []).map((m) => h('code', { class: 'chip' }, m))) },
            { label: t('upstreams.col.priority'), cell: (u) => `${u.priority} / ${u.weight}`, class: 'num' },
            { label: t('upstreams.col.traffic'), cell: trafficCell },
            { label: t('upstreams.col.lastError'), cell: errorCell },
          ],
          rows,
        ).el,
      );
    }
    timer = setTimeout(() => !ctx.signal.aborted && load(), REFRESH_MS);
  }

  const refresh = h('button', { type: 'button', class: 'btn btn-secondary', onclick: load }, icon('refresh', { size: 16 }), h('span', null, t('common.refresh')));
  append(root, [pageHeader(t('nav.admin.upstreams'), t('upstreams.subtitle'), updated, refresh, reloadButton(load)), box, h('p', { class: 'muted small note' }, t('upstreams.note'))]);
  load();
  return () => clearTimeout(timer);
}
