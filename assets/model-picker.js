// The key form's allowed models, picked from the models this server serves (GET /api/models?all=1)
// rather than typed: a searchable list of checkboxes, none checked meaning every model. A model the
// key names that is not served any more stays listed (and checked) so an edit never drops it
// silently. It answers like a form field: { el, input, value(), setError() }.

import { h, uid } from './dom.js';
import { t } from './i18n.js';
import { api } from './api.js';

export function modelPicker({ label, hint, selected = [] }) {
  const id = uid('models');
  const chosen = new Set(selected);
  const search = h('input', { id, class: 'input', type: 'search', placeholder: t('keys.models.search'), spellcheck: 'false', autocapitalize: 'none', 'aria-describedby': `${id}-hint` });
  const list = h('div', { class: 'model-picker-list', role: 'group', 'aria-labelledby': `${id}-label`, 'data-testid': 'model-picker' }, h('p', { class: 'muted small' }, t('common.loading')));
  const summary = h('p', { class: 'field-hint', id: `${id}-hint` });
  const error = h('p', { class: 'field-error', hidden: true });
  let names = [...selected];

  const describe = () => {
    summary.textContent = chosen.size === 0 ? t('keys.models.all') : t('keys.models.some', { n: chosen.size });
    if (hint) summary.textContent += ' ' + hint;
  };
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = names.filter((n) => !q || n.toLowerCase().includes(q));
    list.replaceChildren(
      ...(shown.length
        ? shown.map((name) => {
            const box = h('input', { type: 'checkbox', value: name, checked: chosen.has(name) });
            box.addEventListener('change', () => {
              if (box.checked) chosen.add(name);
              else chosen.delete(name);
              describe();
            });
            return h('label', { class: 'check model-option' }, box, h('code', null, name));
          })
        : [h('p', { class: 'muted small' }, t('keys.models.none'))]),
    );
  };
  search.addEventListener('input', draw);
  api
    .get('/api/models?all=true')
    .then((body) => {
      const served = (body.data || []).map((m) => m.model);
      names = [...new Set([...served, ...selected])].sort();
      draw();
    })
    .catch(() => {
      names = [...selected];
      draw();
    });
  describe();

  const el = h('div', { class: 'field' }, h('label', { class: 'label', id: `${id}-label`, for: id }, label, ' ', h('span', { class: 'optional' }, t('common.optional'))), search, list, summary, error);
  return {
    el,
    input: search,
    value: () => [...chosen].sort(),
    setError(message) {
      error.textContent = message || '';
      error.hidden = !message;
    },
  };
}
