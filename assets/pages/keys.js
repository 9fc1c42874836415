// API Keys page: list, create (the secret shown once, with setup for the member's tools and a
// test call; closing asks first while it was not copied), edit, enable/disable and delete own keys.

import { h, append } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { field, validate, splitList } from '../forms.js';
import { alertSlot, copyText, pageHeader, withBusy, toast, toastError, loadingBlock, alertBox, describeError } from '../ui.js';
import { openDialog, confirmDialog } from '../dialog.js';
import { dataTable, emptyState } from '../table.js';
import { money, formatDate, formatTime, isPast } from '../format.js';
import { parseDecimal, compareDecimal } from '../money.js';
import { amountField } from '../money-input.js';
import { rowActions } from '../row-actions.js';
import { apiSetup } from '../api-setup.js';
import { modelPicker } from '../model-picker.js';

function statusBadge(key) {
  if (!key.enabled) return h('span', { class: 'badge badge-muted' }, t('keys.status.disabled'));
  if (isPast(key.expires_at)) return h('span', { class: 'badge badge-danger' }, t('keys.status.expired'));
  if (key.remaining !== null && parseDecimal(key.remaining)?.units === 0n) return h('span', { class: 'badge badge-warning' }, t('keys.status.exhausted'));
  return h('span', { class: 'badge badge-success' }, t('keys.status.active'));
}

function limitText(key) {
  if (key.limit === null) return h('span', null, money(key.used), ' / ', h('span', { class: 'muted' }, t('keys.unlimited')));
  return h('span', null, money(key.used), ' / ', money(key.limit));
}

function listText(items, emptyKey) {
  if (!items || items.length === 0) return h('span', { class: 'muted' }, t(emptyKey));
  return h('span', { class: 'chips' }, items.map((m) => h('code', { class: 'chip' }, m)));
}

/** The key form (create and edit). Returns { form, fields, read() → body or null when invalid }. */
function keyForm(key) {
  const name = field({ label: t('keys.field.name'), name: 'name', required: true, maxlength: 64, value: key ? key.name : '' });
  const limit = amountField({
    label: t('keys.field.limit'),
    name: 'limit',
    optionalText: t('common.optional'),
    hint: t('keys.hint.limit'),
    value: key && key.limit !== null ? key.limit : '',
    zero: true,
  });
  const expires = field({
    label: t('keys.field.expires'),
    name: 'expires_at',
    type: 'date',
    optionalText: t('common.optional'),
    hint: t('keys.hint.expires'),
    value: key && key.expires_at ? key.expires_at.slice(0, 10) : '',
  });
  const models = modelPicker({ label: t('keys.field.models'), selected: key ? key.models : [] });
  const ips = field({
    label: t('keys.field.ips'),
    name: 'ip_allowlist',
    multiline: true,
    optionalText: t('common.optional'),
    hint: t('keys.hint.ips'),
    spellcheck: false,
    value: key ? key.ip_allowlist.join('\n') : '',
  });
  const rpm = field({
    label: t('keys.field.rpm'),
    name: 'rpm',
    type: 'number',
    min: 1,
    step: 1,
    inputmode: 'numeric',
    optionalText: t('common.optional'),
    hint: t('keys.hint.rpm'),
    value: key && key.rpm !== null ? key.rpm : '',
  });

  const read = () => {
    const nameV = name.value().trim();
    const limitV = limit.read();
    const expV = expires.value().trim();
    const rpmV = rpm.value().trim();
    const ok = validate([
      [name, nameV ? null : t('validation.required')],
      [limit, limitV.problem],
      [rpm, !rpmV || /^[1-9]\d*$/.test(rpmV) ? null : t('validation.positiveInteger')],
    ]);
    if (!ok) return null;
    return {
      name: nameV,
      limit: limitV.usd,
      expires_at: expV || null,
      models: models.value(),
      ip_allowlist: splitList(ips.value()),
      rpm: rpmV ? Number(rpmV) : null,
    };
  };
  const fields = { name, limit, expires, models, ips, rpm };
  const form = h('form', { class: 'form', novalidate: true }, name.el, h('div', { class: 'form-row' }, limit.el, expires.el, rpm.el), models.el, ips.el);
  return { form, fields, read };
}

/** Put a server error next to the field it is about, else in the dialog's alert slot. */
function showError(err, fields, alerts) {
  const byCode = {
    invalid_name: fields.name,
    invalid_limit: fields.limit,
    invalid_expires_at: fields.expires,
    invalid_models: fields.models,
    invalid_ip_allowlist: fields.ips,
  };
  const f = byCode[err && err.code];
  if (f) {
    f.setError(describeError(err));
    f.input.focus();
  } else alerts.error(err);
}

/**
 * The new key's secret, this once, with the setup for the member's tools (the secret filled in)
 * and a test call. Closing it — the button, ×, or Esc — asks first while the secret was neither
 * copied with its button nor selected and copied by hand.
 */
function showSecret(created) {
  let copied = false;
  const done = h('button', { type: 'button', class: 'btn btn-primary' }, t('keys.secretDone'));
  const copy = h('button', { type: 'button', class: 'btn btn-small btn-secondary', 'data-testid': 'copy-secret' }, icon('copy', { size: 14 }), h('span', null, t('common.copy')));
  copy.addEventListener('click', async () => {
    const ok = await copyText(created.key);
    copied = copied || ok;
    toast(ok ? t('common.copied') : t('common.copyFailed'), ok ? 'success' : 'error', 2500);
  });
  const onCopy = () => {
    copied = true;
  };
  document.addEventListener('copy', onCopy);
  const dlg = openDialog({
    title: t('keys.secretTitle'),
    wide: true,
    body: [
      alertBox(t('keys.secretWarning'), 'warning'),
      h('div', { class: 'secret-box' }, h('code', { class: 'secret-value', 'data-testid': 'key-secret' }, created.key), copy),
      h('h3', { class: 'section-title setup-title' }, t('dash.quickStartTitle')),
      apiSetup({ secret: created.key, model: created.test_model, compact: true }),
    ],
    footer: [done],
  });
  // Copying a setup snippet copies the secret in it too.
  dlg.body.addEventListener('click', (e) => {
    if (e.target instanceof Element && e.target.closest('.snippet-copy')) copied = true;
  });
  let asking = false;
  const leave = async () => {
    if (copied) return dlg.close();
    if (asking) return;
    asking = true;
    const yes = await confirmDialog({ title: t('keys.notCopiedTitle'), message: t('keys.notCopiedText'), confirmLabel: t('keys.closeAnyway'), danger: true });
    asking = false;
    if (yes) dlg.close();
  };
  done.addEventListener('click', leave);
  // Esc and × ask too: the native dialog's cancel is held back until the member says so.
  dlg.el.addEventListener('cancel', (e) => {
    e.preventDefault();
    leave();
  });
  const close = dlg.el.querySelector('.dialog-close');
  if (close) {
    close.replaceWith(close.cloneNode(true));
    dlg.el.querySelector('.dialog-close').addEventListener('click', leave);
  }
  return dlg.closed.then((v) => {
    document.removeEventListener('copy', onCopy);
    return v;
  });
}

function openCreate(onDone) {
  const alerts = alertSlot();
  const { form, fields, read } = keyForm(null);
  const cancel = h('button', { type: 'button', class: 'btn btn-secondary' }, t('common.cancel'));
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, t('keys.create'));
  form.appendChild(h('div', { class: 'form-actions' }, cancel, submit));
  const dlg = openDialog({ title: t('keys.createTitle'), body: [alerts.el, form], wide: true });
  cancel.addEventListener('click', () => dlg.close());
  fields.name.input.focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alerts.clear();
    const v = read();
    if (!v) return;
    const body = { name: v.name };
    if (v.limit) body.limit = v.limit;
    if (v.expires_at) body.expires_at = v.expires_at;
    if (v.models.length) body.models = v.models;
    if (v.ip_allowlist.length) body.ip_allowlist = v.ip_allowlist;
    if (v.rpm !== null) body.rpm = v.rpm;
    await withBusy(submit, async () => {
      try {
        const created = await api.post('/api/keys', body);
        dlg.close();
        await showSecret(created);
        onDone();
      } catch (err) {
        showError(err, fields, alerts);
      }
    });
  });
}

function openEdit(key, onDone) {
  const alerts = alertSlot();
  const { form, fields, read } = keyForm(key);
  const cancel = h('button', { type: 'button', class: 'btn btn-secondary' }, t('common.cancel'));
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, t('common.save'));
  form.appendChild(h('div', { class: 'form-actions' }, cancel, submit));
  const dlg = openDialog({ title: t('keys.editTitle', { name: key.name }), body: [alerts.el, form], wide: true });
  cancel.addEventListener('click', () => dlg.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alerts.clear();
    const v = read();
    if (!v) return;
    // Send only what changed: re-sending an unchanged expiry that is already past would be refused.
    const body = {};
    if (v.name !== key.name) body.name = v.name;
    if ((v.limit === null) !== (key.limit === null) || (v.limit !== null && compareDecimal(v.limit, key.limit) !== 0)) body.limit = v.limit;
    const oldExp = key.expires_at ? key.expires_at.slice(0, 10) : null;
    if (v.expires_at !== oldExp) body.expires_at = v.expires_at;
    if (v.models.join('\n') !== [...key.models].sort().join('\n')) body.models = v.models;
    if (v.ip_allowlist.join('\n') !== key.ip_allowlist.join('\n')) body.ip_allowlist = v.ip_allowlist;
    if (v.rpm !== key.rpm) body.rpm = v.rpm;
    if (Object.keys(body).length === 0) {
      dlg.close();
      return;
    }
    await withBusy(submit, async () => {
      try {
        await api.patch(`/api/keys/${key.id}`, body);
        dlg.close();
        toast(t('keys.saved'), 'success');
        onDone();
      } catch (err) {
        showError(err, fields, alerts);
      }
    });
  });
}

export async function mount(root, ctx) {
  const listBox = h('div', { class: 'card card-flush' }, loadingBlock());
  const createBtn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'create-key' }, icon('key', { size: 16 }), h('span', null, t('keys.create')));

  async function load() {
    let keys;
    try {
      keys = (await api.get('/api/keys', { signal: ctx.signal })).data || [];
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      listBox.replaceChildren(alertBox(describeError(err), 'error', { label: t('common.retry'), onClick: load }));
      return;
    }
    if (keys.length === 0) {
      const first = h('button', { type: 'button', class: 'btn btn-primary', onclick: () => openCreate(load) }, t('keys.createFirst'));
      listBox.replaceChildren(emptyState('key', t('keys.emptyTitle'), t('keys.emptyText'), first));
      return;
    }
    const actions = (key) =>
      rowActions([
        { label: t('common.edit'), onClick: () => openEdit(key, load) },
        {
          label: key.enabled ? t('keys.disable') : t('keys.enable'),
          onClick: (button) =>
            withBusy(button, async () => {
              try {
                await api.patch(`/api/keys/${key.id}`, { enabled: !key.enabled });
                toast(key.enabled ? t('keys.disabled', { name: key.name }) : t('keys.enabled', { name: key.name }), 'success');
                load();
              } catch (err) {
                toastError(err);
              }
            }),
        },
        {
          label: t('common.delete'),
          danger: true,
          onClick: async () => {
            const yes = await confirmDialog({ title: t('keys.deleteTitle'), message: t('keys.deleteText', { name: key.name }), confirmLabel: t('common.delete'), danger: true });
            if (!yes) return;
            try {
              await api.del(`/api/keys/${key.id}`);
              toast(t('keys.deleted', { name: key.name }), 'success');
              load();
            } catch (err) {
              toastError(err);
            }
          },
        },
      ]);
    const table = dataTable(
      [
        { label: t('keys.col.name'), cell: (k) => h('div', null, h('strong', null, k.name), h('div', null, h('code', { class: 'muted small nowrap' }, k.key_hint))) },
        { label: t('keys.col.status'), cell: statusBadge },
        { label: t('keys.col.usedLimit'), cell: limitText, class: 'num' },
        { label: t('keys.col.expires'), cell: (k) => (k.expires_at ? h('span', { class: 'nowrap' }, formatDate(k.expires_at)) : h('span', { class: 'muted' }, t('keys.never'))) },
        { label: t('keys.col.models'), cell: (k) => listText(k.models, 'keys.allModels') },
        { label: t('keys.col.ips'), cell: (k) => listText(k.ip_allowlist, 'keys.anyIp') },
        { label: t('keys.col.rpm'), cell: (k) => (k.rpm === null ? h('span', { class: 'muted' }, '—') : String(k.rpm)), class: 'num' },
        { label: t('keys.col.lastUsed'), cell: (k) => (k.last_used_at ? formatTime(k.last_used_at) : h('span', { class: 'muted' }, t('keys.neverUsed'))) },
        { label: t('common.actions'), cell: actions, hideLabel: true, class: 'actions' },
      ],
      keys,
    );
    listBox.replaceChildren(table.el);
  }

  createBtn.addEventListener('click', () => openCreate(load));
  append(root, [pageHeader(t('nav.keys'), t('keys.subtitle'), createBtn), listBox]);
  await load();
}
