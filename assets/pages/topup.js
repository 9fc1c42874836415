// Top Up page: online payment (methods, presets, custom amount, checkout redirect and return notice),
// redemption code, referral code with invitees, commission and Transfer to Balance, payment orders
// (crypto ones pass through "confirming" or "partially paid") and billing history (ledger).

import { h, append } from '../dom.js';
import { icon } from '../icons.js';
import { t, has } from '../i18n.js';
import { api, qs } from '../api.js';
import { field, validate } from '../forms.js';
import { alertSlot, alertBox, copyButton, pageHeader, withBusy, toast, loadingBlock, describeError } from '../ui.js';
import { pagedTable, emptyState, dataTable } from '../table.js';
import { formatMoney, formatSignedMoney, formatTime } from '../format.js';
import { parseDecimal, compareDecimal, multiplyDecimals, formatDecimal } from '../money.js';
import { session } from '../session.js';

/** A route that is not on this server answers 404 with code "not_found" (feature not installed). */
const missing = (err) => err && err.status === 404 && err.code === 'not_found';

/** Methods whose price is paid in crypto at the provider. */
const CRYPTO = new Set(['btcpay', 'nowpayments']);

const STATUS_BADGE = { paid: 'badge-success', pending: 'badge-warning', processing: 'badge-accent', partially_paid: 'badge-danger', failed: 'badge-danger' };

function statusBadge(status) {
  return h('span', { class: 'badge ' + (STATUS_BADGE[status] || 'badge-muted') }, has('order.status.' + status) ? t('order.status.' + status) : status);
}

function card(iconName, title, ...children) {
  return h('section', { class: 'card' }, h('div', { class: 'card-head' }, icon(iconName), h('h2', { class: 'card-title' }, title)), ...children);
}

/** The two balances, updatable in place: { el, update(me) }. */
function balances(me) {
  const el = h('section', { class: 'card' });
  const item = (label, value, testid) => h('div', { class: 'mini-stat' }, h('span', { class: 'mini-label' }, label), h('span', { class: 'mini-value', 'data-testid': testid }, value));
  const update = (m) => el.replaceChildren(h('div', { class: 'usage-totals' }, item(t('dash.balance'), formatMoney(m.balance), 'balance'), item(t('dash.rewardBalance'), formatMoney(m.reward_balance), 'reward-balance')));
  update(me);
  return { el, update };
}

/** Notice after returning from a checkout (?paid=ORDER or ?cancelled=ORDER); polls a pending order. */
function returnNotice(ctx, onPaid) {
  const paid = ctx.query.get('paid');
  const cancelled = ctx.query.get('cancelled');
  const slot = alertSlot();
  if (cancelled) slot.show(t('topup.cancelled'), 'warning');
  if (!paid) return slot.el;
  slot.show(t('topup.checking'), 'info');
  let tries = 0;
  const check = async () => {
    tries += 1;
    let order = null;
    try {
      const page = await api.get('/api/topup/orders' + qs({ limit: 50 }), { signal: ctx.signal });
      order = (page.data || []).find((o) => o.order_id === paid) || null;
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      slot.error(err, { label: t('common.retry'), onClick: check });
      return;
    }
    if (order && order.status === 'paid') {
      slot.show(t('topup.paidDone', { amount: formatMoney(order.amount) }), 'success');
      onPaid();
    } else if (order && (order.status === 'failed' || order.status === 'expired')) {
      slot.show(t('topup.paidFailed', { status: t('order.status.' + order.status) }), 'error');
    } else if (order && order.status === 'partially_paid') {
      slot.show(t('topup.paidPartial'), 'warning', { label: t('common.refresh'), onClick: check });
    } else if (tries < 10) {
      const waiting = order && order.status === 'processing' ? t('topup.paidProcessing') : t('topup.paidPending');
      slot.show(waiting, 'info', { label: t('common.refresh'), onClick: check });
      setTimeout(() => !ctx.signal.aborted && check(), 3000);
    } else {
      slot.show(order ? t('topup.paidPending') : t('topup.orderUnknown'), 'warning', { label: t('common.refresh'), onClick: check });
    }
  };
  check();
  return slot.el;
}

/** Online payment card: loads /api/topup/methods and redirects to the provider's checkout. */
function paymentCard(ctx) {
  const body = h('div', null, loadingBlock());
  const section = card('wallet', t('topup.payTitle'), body);

  (async () => {
    let methods;
    try {
      methods = (await api.get('/api/topup/methods', { signal: ctx.signal })).data || [];
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      body.replaceChildren(missing(err) ? h('p', { class: 'muted' }, t('topup.payUnavailable')) : alertBox(describeError(err), 'error'));
      return;
    }
    if (methods.length === 0) {
      body.replaceChildren(h('p', { class: 'muted' }, t('topup.noMethods')));
      return;
    }
    let method = methods[0];
    let amount = '';
    const alerts = alertSlot();
    const methodRow = h('div', { class: 'choice-row', role: 'radiogroup', 'aria-label': t('topup.method') });
    const presetRow = h('div', { class: 'choice-row', role: 'group', 'aria-label': t('topup.presets') });
    const custom = field({ label: t('topup.customAmount'), name: 'amount', inputmode: 'decimal', placeholder: '0.00' });
    const typeField = field({ label: t('topup.payType'), name: 'type', options: [] });
    const summary = h('p', { class: 'pay-summary', 'aria-live': 'polite' });
    const cryptoHint = h('p', { class: 'field-hint' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, t('topup.payButton'));
    const form = h('form', { class: 'form', novalidate: true }, h('div', { class: 'field' }, h('span', { class: 'field-label' }, t('topup.method')), methodRow), h('div', { class: 'field' }, h('span', { class: 'field-label' }, t('topup.amount')), presetRow), custom.el, typeField.el, summary, cryptoHint, submit);

    const methodName = (m) => (has('topup.method.' + m.method) ? t('topup.method.' + m.method) : m.method);
    const updateSummary = () => {
      const a = amount || custom.value().trim();
      const d = parseDecimal(a);
      cryptoHint.hidden = true;
      if (!a || !d || d.units <= 0n) {
        summary.textContent = t('topup.limits', { min: formatMoney(method.min_amount), max: formatMoney(method.max_amount) });
        return;
      }
      const pay = `${formatDecimal(multiplyDecimals(a, method.rate || '1', 2))} ${String(method.currency || '').toUpperCase()}`;
      summary.textContent = t('topup.youPay', { pay, credit: formatMoney(a) });
      if (CRYPTO.has(method.method)) {
        cryptoHint.textContent = t('topup.cryptoHint', { pay });
        cryptoHint.hidden = false;
      }
    };
    const drawMethods = () => {
      methodRow.replaceChildren(
        ...methods.map((m) =>
          h('button', { type: 'button', class: 'choice', role: 'radio', 'aria-checked': String(m === method), onclick: () => { method = m; amount = ''; draw(); } }, methodName(m)),
        ),
      );
    };
    const draw = () => {
      drawMethods();
      presetRow.replaceChildren(
        ...(method.presets || []).map((p) =>
          h('button', { type: 'button', class: 'choice', 'aria-pressed': String(amount !== '' && compareDecimal(p, amount) === 0), onclick: () => { amount = p; custom.input.value = ''; draw(); } }, formatMoney(p)),
        ),
      );
      custom.el.hidden = method.custom_amount === false;
      typeField.el.hidden = !(method.types && method.types.length);
      typeField.input.replaceChildren(...(method.types || []).map((ty) => h('option', { value: ty }, has('topup.type.' + ty) ? t('topup.type.' + ty) : ty)));
      updateSummary();
    };
    custom.input.addEventListener('input', () => {
      amount = '';
      draw();
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      alerts.clear();
      const a = amount || custom.value().trim();
      const d = parseDecimal(a);
      const tooSmall = d && compareDecimal(a, method.min_amount) < 0;
      const tooLarge = d && method.max_amount && compareDecimal(a, method.max_amount) > 0;
      const problem = !a ? t('topup.pickAmount') : !d || d.units <= 0n ? t('validation.amount') : tooSmall ? t('topup.min', { min: formatMoney(method.min_amount) }) : tooLarge ? t('topup.max', { max: formatMoney(method.max_amount) }) : null;
      if (!validate([[custom, problem]])) return;
      const body = { method: method.method, amount: a };
      if (method.types && method.types.length) body.type = typeField.value();
      await withBusy(submit, async () => {
        try {
          const res = await api.post('/api/topup/checkout', body);
          toast(t('topup.redirecting'), 'info');
          window.location.assign(res.url);
        } catch (err) {
          alerts.error(err);
        }
      });
    });
    draw();
    body.replaceChildren(alerts.el, form);
  })();
  return section;
}

/** Redemption code card: shows the credited amount and the new balance on success. */
function redeemCard(onCredited) {
  const alerts = alertSlot();
  const code = field({ label: t('topup.code'), name: 'code', autocomplete: 'off', autocapitalize: 'characters', spellcheck: false, maxlength: 100, placeholder: 'XXXXXX-XXXXXX-XXXXXX-XXXXXX' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, t('topup.redeem'));
  const form = h('form', { class: 'form', novalidate: true }, code.el, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alerts.clear();
    const value = code.value().trim();
    if (!validate([[code, value ? null : t('validation.required')]])) return;
    await withBusy(submit, async () => {
      try {
        const res = await api.post('/api/topup/redeem', { code: value });
        code.input.value = '';
        alerts.show(t('topup.redeemed', { credited: formatMoney(res.credited), balance: formatMoney(res.balance) }), 'success');
        onCredited();
      } catch (err) {
        if (missing(err)) alerts.show(t('topup.redeemUnavailable'), 'info');
        else {
          code.setError(describeError(err));
          code.input.focus();
        }
      }
    });
  });
  return card('ticket', t('topup.redeemTitle'), h('p', { class: 'card-text' }, t('topup.redeemText')), alerts.el, form);
}

/** Referral card: code, register link, invitees, rewards and Transfer to Balance. */
function referralCard(ctx, me, onMoved) {
  const body = h('div', null, loadingBlock());
  const section = card('gift', t('dash.referralTitle'), body);
  const link = (code) => `${window.location.origin}/register?ref=${encodeURIComponent(code)}`;
  const row = (label, value) => h('div', { class: 'copy-row' }, h('span', { class: 'copy-label' }, label), h('code', { class: 'copy-value' }, value), copyButton(value));

  const load = async () => {
    let info = null;
    try {
      info = await api.get('/api/referral', { signal: ctx.signal });
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      if (!missing(err)) {
        body.replaceChildren(alertBox(describeError(err), 'error'));
        return;
      }
    }
    const code = (info && info.referral_code) || me.referral_code || '';
    const parts = [h('p', { class: 'card-text' }, t('dash.referralText'))];
    if (info && info.enabled === false) parts.push(alertBox(t('topup.referralOff'), 'info'));
    parts.push(code ? h('div', { class: 'copy-list' }, row(t('dash.referralCode'), code), row(t('dash.referralLink'), link(code))) : h('p', { class: 'muted' }, t('dash.referralNone')));
    if (info) {
      const commissionOn = Boolean(info.commission_percent) && info.commission_percent !== '0';
      const kv = (label, value, testid) => h('div', { class: 'kv-row' }, h('dt', null, label), h('dd', { 'data-testid': testid }, value));
      parts.push(
        h(
          'dl',
          { class: 'kv' },
          kv(t('topup.invitees'), String(info.invitees), 'invitees'),
          kv(t('topup.rewardsEarned'), formatMoney(info.rewards_earned)),
          info.rewards_pending && parseDecimal(info.rewards_pending)?.units > 0n ? kv(t('topup.rewardsPending'), formatMoney(info.rewards_pending)) : null,
          kv(t('dash.rewardBalance'), formatMoney(info.reward_balance), 'referral-reward-balance'),
          info.enabled ? kv(t('topup.inviterReward'), formatMoney(info.inviter_reward)) : null,
          commissionOn || (info.commission_earned && parseDecimal(info.commission_earned)?.units > 0n) ? kv(t('topup.commissionEarned'), formatMoney(info.commission_earned), 'commission-earned') : null,
        ),
      );
      if (commissionOn) {
        const terms = info.commission_topups > 0 ? t('topup.commissionTerms', { percent: info.commission_percent, count: String(info.commission_topups) }) : t('topup.commissionTermsAll', { percent: info.commission_percent });
        parts.push(h('p', { class: 'field-hint', 'data-testid': 'commission-terms' }, terms));
      }
      if (info.invited && info.invited.length) {
        const invitees = dataTable(
          [
            { label: t('topup.col.invitee'), cell: (i) => h('code', null, i.username) },
            { label: t('topup.col.registered'), cell: (i) => h('span', { class: 'nowrap' }, formatTime(i.registered_at)) },
            { label: t('topup.col.topups'), cell: (i) => String(i.topups), class: 'num' },
            { label: t('topup.col.commission'), cell: (i) => h('span', { class: 'nowrap' }, formatMoney(i.commission)), class: 'num' },
          ],
          info.invited,
        );
        invitees.el.dataset.testid = 'invitees-table';
        parts.push(h('div', { class: 'invitees' }, h('h3', { class: 'section-heading' }, t('topup.invitedTitle')), invitees.el));
      }
      const alerts = alertSlot();
      const transfer = h('button', { type: 'button', class: 'btn btn-primary', disabled: !(parseDecimal(info.reward_balance)?.units > 0n) }, t('topup.transfer'));
      transfer.addEventListener('click', () =>
        withBusy(transfer, async () => {
          alerts.clear();
          try {
            const res = await api.post('/api/referral/transfer', {});
            toast(t('topup.transferred', { amount: formatMoney(res.transferred) }), 'success');
            onMoved();
            load();
          } catch (err) {
            alerts.error(err);
          }
        }),
      );
      parts.push(alerts.el, h('div', { class: 'card-actions' }, transfer));
    }
    body.replaceChildren(...parts);
  };
  load();
  return section;
}

function ordersSection(ctx) {
  const box = h('div', { class: 'card card-flush' });
  const section = h('section', { class: 'section' }, h('h2', { class: 'section-heading' }, t('topup.ordersTitle')), box);
  const list = pagedTable({
    signal: ctx.signal,
    columns: [
      { label: t('topup.col.time'), cell: (o) => formatTime(o.created_at) },
      { label: t('topup.col.order'), cell: (o) => h('code', { class: 'small' }, o.order_id) },
      { label: t('topup.method'), cell: (o) => (has('topup.method.' + o.method) ? t('topup.method.' + o.method) : o.method) },
      { label: t('topup.amount'), cell: (o) => formatMoney(o.amount), class: 'num' },
      { label: t('topup.col.paid'), cell: (o) => `${formatDecimal(o.pay_amount)} ${String(o.currency || '').toUpperCase()}`, class: 'num' },
      { label: t('topup.col.status'), cell: (o) => statusBadge(o.status) },
    ],
    load: async (cursor, signal) => {
      try {
        return await api.get('/api/topup/orders' + qs({ cursor, limit: 10 }), { signal });
      } catch (err) {
        if (missing(err)) {
          section.hidden = true;
          return { data: [] };
        }
        throw err;
      }
    },
    empty: () => emptyState('wallet', t('topup.noOrders'), null),
  });
  box.appendChild(list.el);
  return section;
}

function ledgerSection(ctx) {
  const kind = (k) => (has('ledger.kind.' + k) ? t('ledger.kind.' + k) : k);
  const list = pagedTable({
    signal: ctx.signal,
    columns: [
      { label: t('ledger.col.time'), cell: (r) => h('span', { class: 'nowrap' }, formatTime(r.created_at)) },
      { label: t('ledger.col.kind'), cell: (r) => h('span', { class: 'badge' }, kind(r.kind)) },
      { label: t('ledger.col.account'), cell: (r) => h('span', { class: 'nowrap' }, r.account === 'reward' ? t('ledger.account.reward') : t('ledger.account.balance')) },
      { label: t('ledger.col.amount'), cell: (r) => h('span', { class: parseDecimal(r.amount)?.units < 0n ? 'amount-neg nowrap' : 'amount-pos nowrap' }, formatSignedMoney(r.amount)), class: 'num' },
      { label: t('ledger.col.after'), cell: (r) => h('span', { class: 'nowrap' }, formatMoney(r.balance_after)), class: 'num' },
      { label: t('ledger.col.reason'), cell: (r) => h('span', null, r.reason || '', r.ref_id && !/^\d+$/.test(r.ref_id) && !(r.reason || '').includes(r.ref_id) ? h('code', { class: 'muted small ref' }, r.ref_id) : null) },
    ],
    load: (cursor, signal) => api.get('/api/ledger' + qs({ cursor, limit: 20 }), { signal }),
    empty: () => emptyState('logs', t('ledger.emptyTitle'), t('ledger.emptyText')),
  });
  const el = h('section', { class: 'section' }, h('h2', { class: 'section-heading' }, t('ledger.title')), h('div', { class: 'card card-flush' }, list.el));
  return { el, reload: list.reload };
}

export async function mount(root, ctx) {
  const me = await session.loadMe({ maxAge: 3000 });
  if (!me) return;
  const bal = balances(me);
  const ledger = ledgerSection(ctx);
  // After money moves: re-read the account, update the figures in place (notices stay visible).
  const moved = async () => {
    try {
      bal.update(await session.loadMe());
    } catch {
      /* the figures stay as they were; the notice already told what happened */
    }
    ledger.reload();
  };
  append(root, [
    pageHeader(t('nav.topup'), t('topup.subtitle')),
    returnNotice(ctx, moved),
    bal.el,
    h('div', { class: 'grid grid-two' }, paymentCard(ctx), redeemCard(moved)),
    referralCard(ctx, me, moved),
    ordersSection(ctx),
    ledger.el,
  ]);
}
