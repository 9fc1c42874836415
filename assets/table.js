// Data tables and cursor paging: responsive tables (cards on phones), empty states, "Load more".

import { h } from './dom.js';
import { icon } from './icons.js';
import { t } from './i18n.js';
import { alertSlot, loadingBlock, withBusy } from './ui.js';

/** An empty-state block: emptyState('logs', title, text, action?). */
export function emptyState(iconName, title, text, action) {
  return h(
    'div',
    { class: 'empty-state' },
    h('span', { class: 'empty-icon' }, icon(iconName, { size: 28 })),
    h('p', { class: 'empty-title' }, title),
    text ? h('p', { class: 'empty-text' }, text) : null,
    action || null,
  );
}

/**
 * A table. columns: [{ label, cell: (row) => node|string, class?, hideLabel? }].
 * Each <td> carries data-label so phones can show rows as labelled cards (see pages.css).
 * Returns { el, tbody, append(rows) }.
 */
export function dataTable(columns, rows = [], { className = '' } = {}) {
  const tbody = h('tbody');
  const appendRows = (list) => {
    for (const row of list) {
      tbody.appendChild(
        h(
          'tr',
          null,
          columns.map((c) => h('td', { class: c.class || null, 'data-label': c.hideLabel ? null : c.label }, c.cell(row))),
        ),
      );
    }
  };
  appendRows(rows);
  const table = h(
    'table',
    { class: ['table', className].filter(Boolean).join(' ') },
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.class || null }, c.label)))),
    tbody,
  );
  return { el: h('div', { class: 'table-wrap' }, table), tbody, append: appendRows };
}

/**
 * A list loaded page by page with a cursor: pagedTable({ columns, load(cursor, signal) → {data, next_cursor},
 * empty: () => node, signal }). Returns { el, reload() }; reload() starts over from the first page.
 * With `columnsFor(rows)` instead of `columns`, the columns depend on every row loaded so far (a
 * money column's decimals, say) and the table is redrawn whole as pages arrive.
 */
export function pagedTable({ columns, columnsFor, load, empty, signal, className }) {
  const el = h('div', { class: 'paged' });
  const alerts = alertSlot();
  let generation = 0;

  async function reload() {
    const gen = ++generation;
    el.replaceChildren(loadingBlock());
    let page;
    try {
      page = await load('', signal);
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      if (gen !== generation) return;
      alerts.error(err, { label: t('common.retry'), onClick: reload });
      el.replaceChildren(alerts.el);
      return;
    }
    if (gen !== generation) return;
    const rows = (page && page.data) || [];
    if (rows.length === 0) {
      el.replaceChildren(empty());
      return;
    }
    const all = [...rows];
    let table = dataTable(columnsFor ? columnsFor(all) : columns, rows, { className });
    const more = h('button', { type: 'button', class: 'btn btn-secondary' }, t('common.loadMore'));
    const moreRow = h('div', { class: 'load-more' }, more);
    let cursor = page.next_cursor;
    moreRow.hidden = !cursor;
    more.addEventListener('click', () =>
      withBusy(more, async () => {
        alerts.clear();
        try {
          const next = await load(cursor, signal);
          if (gen !== generation) return;
          all.push(...(next.data || []));
          if (columnsFor) {
            const redrawn = dataTable(columnsFor(all), all, { className });
            table.el.replaceWith(redrawn.el);
            table = redrawn;
          } else table.append(next.data || []);
          cursor = next.next_cursor;
          moreRow.hidden = !cursor;
        } catch (err) {
          if (err && err.name === 'AbortError') return;
          alerts.error(err);
        }
      }),
    );
    el.replaceChildren(table.el, alerts.el, moreRow);
  }

  reload();
  return { el, reload };
}
