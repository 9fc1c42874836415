// A table row's actions: all inline on wide screens; on a phone the first stays a button and the
// rest move into a "More" menu, so a row's actions never stack into a column of buttons.

import { h } from './dom.js';
import { t } from './i18n.js';

/**
 * rowActions([{ label, onClick(button), danger, href, disabled }]) → the actions element.
 * Each action is rendered twice (inline, and in the phone menu); CSS shows one of the two, so
 * only one is ever visible or in the accessibility tree. onClick gets the element clicked.
 */
export function rowActions(items) {
  const list = items.filter(Boolean);
  const make = (item, inMenu) => {
    const cls = inMenu ? 'menu-item' + (item.danger ? ' menu-item-danger' : '') : 'btn btn-small ' + (item.danger ? 'btn-danger-ghost' : item.ghost ? 'btn-ghost' : 'btn-secondary');
    if (item.href) return h('a', { class: cls, href: item.href, role: inMenu ? 'menuitem' : null }, item.label);
    const el = h('button', { type: 'button', class: cls, disabled: item.disabled, role: inMenu ? 'menuitem' : null }, item.label);
    el.addEventListener('click', (e) => {
      if (inMenu) el.closest('details')?.removeAttribute('open');
      item.onClick(e.currentTarget);
    });
    return el;
  };
  const inline = list.map((item, i) => {
    const el = make(item, false);
    if (i > 0) el.classList.add('ra-extra');
    return el;
  });
  const more =
    list.length > 1
      ? h(
          'details',
          { class: 'ra-more' },
          h('summary', { class: 'btn btn-small btn-secondary', 'aria-label': t('common.moreActions') }, t('common.more')),
          h('div', { class: 'menu', role: 'menu' }, list.slice(1).map((item) => make(item, true))),
        )
      : null;
  return h('div', { class: 'row-actions' }, inline, more);
}
