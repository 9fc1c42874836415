// Admin Upstreams page: each configured upstream's health, cool-down, traffic, latency and last
// error, and a test that sends one small request per model to it and shows each answer or error.

import { h, append } from '../../dom.js';
import { icon } from '../../icons.js';
import { t } from '../../i18n.js';
import { api } from '../../api.js';
import { pageHeader, alertBox, loadingBlock, describeError, withBusy } from '../../ui.js';
import { dataTable, emptyState } from '../../table.js';
import { openDialog } from '../../dialog.js';
import { rowActions } from '../../row-actions.js';
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

/** Runs the upstream's test and shows one line per model: status, latency, answer or error. */
async function runTest(u, button, after) {
  await withBusy(button, async () => {
    let report;
    try {
      report = await api.post(`/api/admin/upstreams/${encodeURIComponent(u.name)}/test`, {});
    } catch (err) {
      openDialog({ title: t('upstreams.testTitle', { name: u.name }), body: [alertBox(describeError(err), 'error')] });
      return;
    }
    const results = report.results || [];
    openDialog({
      title: t('upstreams.testTitle', { name: u.name }),
      wide: true,
      body: [
        h('p', { class: 'dialog-text' }, t('upstreams.testText', { n: results.length })),
        results.length
          ? h(
              'div',
              { 'data-testid': 'upstream-test' },
              dataTable(
                [
                  { label: t('upstreams.col.model'), cell: (r) => h('div', null, h('code', null, r.model), r.upstream_model !== r.model ? h('div', { class: 'muted small' }, '→ ' + r.upstream_model) : null) },
                  { label: t('upstreams.col.result'), cell: (r) => h('span', { class: r.ok ? 'badge badge-success' : 'badge badge-danger' }, r.ok ? t('upstreams.testOk') : r.status ? String(r.status) : t('upstreams.testFailed')) },
                  { label: t('upstreams.col.latency'), cell: (r) => h('span', { class: 'nowrap' }, formatMs(r.latency_ms)), class: 'num' },
                  { label: t('upstreams.col.answer'), cell: (r) => (r.ok ? h('span', null, r.answer || t('setup.emptyAnswer')) : h('span', { class: 'amount-neg break' }, r.error || '')) },
                ],
                results,
              ).el,
            )
          : h('p', { class: 'muted' }, t('upstreams.testNoModels')),
      ],
    });
    after();
  });
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
            { label: t('common.actions'), hideLabel: true, class: 'actions', cell: (u) => rowActions([{ label: t('upstreams.test'), onClick: (button) => runTest(u, button, load) }]) },
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
