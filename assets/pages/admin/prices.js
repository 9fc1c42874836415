// Admin Prices page: the configured model prices (per 1M tokens or per request) and group multipliers.

import { h, append } from '../../dom.js';
import { t } from '../../i18n.js';
import { api } from '../../api.js';
import { field } from '../../forms.js';
import { pageHeader, alertBox, loadingBlock, describeError } from '../../ui.js';
import { dataTable, emptyState } from '../../table.js';
import { formatPrice } from '../../format.js';
import { formatDecimal } from '../../money.js';
import { reloadButton } from './reload-button.js';

function priceCell(value, free) {
  if (free) return h('span', { class: 'muted' }, '—');
  return value === null || value === undefined ? h('span', { class: 'muted' }, '—') : formatPrice(value);
}

export async function mount(root, ctx) {
  const box = h('section', { class: 'card card-flush' }, loadingBlock());
  const groupsBox = h('div');
  const search = field({ label: t('prices.filter'), name: 'filter', type: 'search', placeholder: t('prices.filterPlaceholder'), spellcheck: false, autocapitalize: 'none' });
  append(root, [pageHeader(t('nav.admin.prices'), t('prices.subtitle'), reloadButton(() => ctx.refresh())), h('section', { class: 'card filters-card' }, h('div', { class: 'filters filters-single' }, search.el)), box, groupsBox]);

  let body;
  try {
    body = await api.get('/api/admin/prices', { signal: ctx.signal });
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    box.replaceChildren(h('div', { class: 'card-pad' }, alertBox(describeError(err), 'error', { label: t('common.retry'), onClick: ctx.refresh })));
    return;
  }
  const rows = body.data || [];
  const columns = [
    { label: t('prices.col.model'), cell: (p) => h('div', null, h('code', null, p.model), p.free ? h('span', { class: 'badge badge-success badge-inline' }, t('prices.free')) : null) },
    { label: t('prices.col.input'), cell: (p) => priceCell(p.input, p.free), class: 'num' },
    { label: t('prices.col.output'), cell: (p) => priceCell(p.output, p.free), class: 'num' },
    { label: t('prices.col.perRequest'), cell: (p) => priceCell(p.per_request, p.free), class: 'num' },
    { label: t('prices.col.servedBy'), cell: (p) => ((p.served_by || []).length ? h('span', { class: 'chips' }, p.served_by.map((s) => h('span', { class: 'chip' }, s))) : h('span', { class: 'badge badge-warning' }, t('prices.noUpstream'))) },
  ];
  const draw = () => {
    const f = search.value().trim().toLowerCase();
    const shown = f ? rows.filter((p) => p.model.toLowerCase().includes(f)) : rows;
    box.replaceChildren(shown.length ? dataTable(columns, shown).el : emptyState('tag', f ? t('prices.noMatch') : t('prices.empty'), f ? null : t('prices.emptyText')));
  };
  search.input.addEventListener('input', draw);
  draw();

  const groups = Object.entries(body.groups || {});
  groupsBox.replaceChildren(
    h(
      'section',
      { class: 'section' },
      h('h2', { class: 'section-heading' }, t('prices.groupsTitle')),
      h('p', { class: 'muted small' }, t('prices.groupsText')),
      h('div', { class: 'card card-flush' }, groups.length ? dataTable([{ label: t('prices.col.group'), cell: ([g]) => h('code', null, g) }, { label: t('prices.col.rate'), cell: ([, r]) => `× ${formatDecimal(r, { minDecimals: 0 })}`, class: 'num' }], groups).el : emptyState('users', t('prices.noGroups'), null)),
    ),
  );
}
