// Admin Prices page: the configured model prices (every kind of token per 1M, per request, and
// long-context tiers) and group multipliers.

import { h, append } from '../../dom.js';
import { t } from '../../i18n.js';
import { api } from '../../api.js';
import { field } from '../../forms.js';
import { pageHeader, alertBox, loadingBlock, describeError } from '../../ui.js';
import { dataTable, emptyState } from '../../table.js';
import { formatPrice } from '../../format.js';
import { formatDecimal } from '../../money.js';
import { priceRows, priceColumns } from '../../price-list.js';
import { reloadButton } from './reload-button.js';

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
  const rows = priceRows(body.data || []);
  const columns = [
    ...priceColumns(formatPrice),
    {
      label: t('prices.col.servedBy'),
      cell: (r) => {
        if (r.tier !== null) return '';
        const by = r.extra.served_by || [];
        return by.length ? h('span', { class: 'chips' }, by.map((s) => h('span', { class: 'chip' }, s))) : h('span', { class: 'badge badge-warning' }, t('prices.noUpstream'));
      },
    },
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
      h('div', { class: 'card card-flush' }, dataTable([{ label: t('prices.col.group'), cell: ([g]) => h('code', null, g) }, { label: t('prices.col.rate'), cell: ([, r]) => `× ${formatDecimal(r, { minDecimals: 0 })}`, class: 'num' }], groups).el),
    ),
  );
}
