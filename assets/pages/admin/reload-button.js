// The "Reload config" button of the Upstreams and Prices pages: POST /api/admin/reload, then refresh.

import { h } from '../../dom.js';
import { icon } from '../../icons.js';
import { t } from '../../i18n.js';
import { api } from '../../api.js';
import { withBusy, toast, toastError } from '../../ui.js';

/** A button that re-reads the config file on the server and then calls `after()`. */
export function reloadButton(after) {
  const btn = h('button', { type: 'button', class: 'btn btn-secondary', title: t('admin.reloadHint') }, icon('refresh', { size: 16 }), h('span', null, t('admin.reload')));
  btn.addEventListener('click', () =>
    withBusy(btn, async () => {
      try {
        const res = await api.post('/api/admin/reload', {});
        toast(t('admin.reloaded', { summary: res.summary || '' }), 'success');
        after();
      } catch (err) {
        // config_invalid carries the file's problem (key and line) in its message: show it as is.
        toastError(err);
      }
    }),
  );
  return btn;
}
