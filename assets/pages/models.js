// Models & Prices: the models the member's keys can call, each with the member's own prices (their
// group's multiplier applied) per 1M tokens of each kind and per request, long-context tiers
// beneath, in USD or quota; searchable.

import { h, append } from '../dom.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { field } from '../forms.js';
import { pageHeader, alertBox, loadingBlock, describeError } from '../ui.js';
import { dataTable, emptyState } from '../table.js';
import { formatMoney } from '../format.js';
import { formatDecimal } from '../money.js';
import { priceRows, priceColumns } from '../price-list.js';

export async function mount(root, ctx) {
  const box = h('section', { class: 'card card-flush' }, loadingBlock());
  const note = h('p', { class: 'muted small', 'data-testid': 'models-group' });
  const search = field({ label: t('prices.filter'), name: 'filter', type: 'search', placeholder: t('prices.filterPlaceholder'), spellcheck: false, autocapitalize: 'none' });
  append(root, [pageHeader(t('nav.models'), t('models.subtitle')), h('section', { class: 'card filters-card' }, h('div', { class: 'filters filters-single' }, search.el), note), box]);

  let body;
  try {
    body = await api.get('/api/models', { signal: ctx.signal });
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    box.replaceChildren(h('div', { class: 'card-pad' }, alertBox(describeError(err), 'error', { label: t('common.retry'), onClick: ctx.refresh })));
    return;
  }
  note.textContent = t('models.group', { group: body.group, multiplier: formatDecimal(body.multiplier, { minDecimals: 0 }) });
  const rows = priceRows(body.data || []);
  const columns = priceColumns((value) => h('span', { class: 'money' }, formatMoney(value)));
  const draw = () => {
    const f = search.value().trim().toLowerCase();
    const shown = f ? rows.filter((r) => r.model.toLowerCase().includes(f)) : rows;
    box.replaceChildren(shown.length ? dataTable(columns, shown, { className: 'table-prices' }).el : emptyState('tag', f ? t('prices.noMatch') : t('models.empty'), f ? null : t('models.emptyText')));
  };
  search.input.addEventListener('input', draw);
  draw();
}
