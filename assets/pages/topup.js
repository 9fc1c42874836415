// Top Up page: online payment (methods, presets, custom amount in the display unit, checkout
// redirect and return notice), redemption code, the low-balance warning's threshold, referral code
// with invitees, commission and Transfer to Balance (the invitation only while referrals are on),
// payment orders (crypto ones pass through "confirming" or "partially paid") and billing history:
// top-ups, redemptions, rewards, commission, transfers and adjustments apart from request charges,
// which are summed per day and open to their requests.

import { h, append } from '../dom.js';
import { icon } from '../icons.js';
import { t, has } from '../i18n.js';
import { api, qs } from '../api.js';
import { field, validate } from '../forms.js';
import { alertSlot, alertBox, copyButton, pageHeader, withBusy, toast, loadingBlock, describeError } from '../ui.js';
import { pagedTable, emptyState, dataTable } from '../table.js';
import { formatMoney, formatTime, money, columnDecimals } from '../format.js';
import { parseDecimal, compareDecimal, multiplyDecimals, formatDecimal } from '../money.js';
import { amountField } from '../money-input.js';
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
    const custom = amountField({ label: t('topup.customAmount'), name: 'amount', placeholder: '10' });
    const typeField = field({ label: t('topup.payType'), name: 'type', options: [] });
    const summary = h('p', { class: 'pay-summary', 'aria-live': 'polite' });
    const cryptoHint = h('p', { class: 'field-hint' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, t('topup.payButton'));
    const form = h('form', { class: 'form', novalidate: true }, h('div', { class: 'field' }, h('span', { class: 'field-label' }, t('topup.method')), methodRow), h('div', { class: 'field' }, h('span', { class: 'field-label' }, t('topup.amount')), presetRow), custom.el, typeField.el, summary, cryptoHint, submit);

    const methodName = (m) => (has('topup.method.' + m.method) ? t('topup.method.' + m.method) : m.method);
    const typed = () => {
      const r = custom.read();
      return r.usd || (r.empty ? '' : custom.value().trim());
    };
    const updateSummary = () => {
      const a = amount || typed();
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
      const read = custom.read();
      if (!amount && read.problem && !read.empty) {
        validate([[custom, read.problem]]);
        return;
      }
      const a = amount || read.usd || '';
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
    const off = (info && info.enabled === false) || (ctx.status && ctx.status.referral_enabled === false);
    // With referrals off there is nothing to invite anyone to: the card stays only for what was
    // earned before (a reward balance to move, commission paid), and only when there is some.
    const earned = info && (parseDecimal(info.reward_balance)?.units > 0n || parseDecimal(info.commission_earned)?.units > 0n || info.invitees > 0);
    if (off && !earned) {
      section.hidden = true;
      return;
    }
    const parts = [];
    if (off) parts.push(h('p', { class: 'card-text' }, t('topup.referralOffText')));
    else {
      parts.push(h('p', { class: 'card-text' }, t('dash.referralText')));
      parts.push(code ? h('div', { class: 'copy-list' }, row(t('dash.referralCode'), code), row(t('dash.referralLink'), link(code))) : h('p', { class: 'muted' }, t('dash.referralNone')));
    }
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
          info.enabled && !off ? kv(t('topup.inviterReward'), formatMoney(info.inviter_reward)) : null,
          commissionOn || (info.commission_earned && parseDecimal(info.commission_earned)?.units > 0n) ? kv(t('topup.commissionEarned'), formatMoney(info.commission_earned), 'commission-earned') : null,
        ),
      );
      if (commissionOn && !off) {
        const terms = info.commission_topups > 0 ? t('topup.commissionTerms', { percent: info.commission_percent, count: String(info.commission_topups) }) : t('topup.commissionTermsAll', { percent: info.commission_percent });
        parts.push(h('p', { class: 'field-hint', 'data-testid': 'commission-terms' }, terms));
      }
      if (info.invited && info.invited.length) {
        const invitees = dataTable(
          [
            { label: t('topup.col.invitee'), cell: (i) => h('code', null, i.username) },
            { label: t('topup.col.registered'), cell: (i) => h('span', { class: 'nowrap' }, formatTime(i.registered_at)) },
            { label: t('topup.col.topups'), cell: (i) => String(i.topups), class: 'num' },
            { label: t('topup.col.commission'), cell: (i) => money(i.commission), class: 'num' },
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
      { label: t('topup.amount'), cell: (o) => money(o.amount), class: 'num' },
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

/** Billing history's type filter: each entry is the ledger kinds it shows. */
const HISTORY_TYPES = [
  ['all', 'topup,redeem,referral_reward,commission,transfer,adjust,refund'],
  ['topup', 'topup'],
  ['redeem', 'redeem'],
  ['reward', 'referral_reward'],
  ['commission', 'commission'],
  ['transfer', 'transfer'],
  ['adjust', 'adjust'],
  ['charges', null],
];

/** A ledger row's details in the reader's language, from its code and parameters. */
export function ledgerText(row) {
  const p = { ...(row.params || {}) };
  for (const k of ['cost', 'uncollected', 'topup']) if (p[k] !== undefined) p[k] = formatMoney(p[k]);
  if (p.provider) p.provider = has('topup.method.' + p.provider) ? t('topup.method.' + p.provider) : p.provider;
  const code = row.code || '';
  let text;
  if (code === 'topup') text = p.pay_amount ? t('ledger.code.topupPaid', p) : t('ledger.code.topup', p);
  else if (code === 'charge') text = t(p.key ? 'ledger.code.chargeKey' : 'ledger.code.charge', p) + (p.uncollected ? ' ' + t('ledger.code.chargeShort', p) : '');
  else if (code === 'commission' && p.percent) text = t('ledger.code.commission', p);
  else if (code === 'commission') text = t('ledger.code.commissionPlain', p);
  else if (code && has('ledger.code.' + code)) text = t('ledger.code.' + code, p);
  else text = row.reason || '';
  return text;
}

/** Ledger rows as a table whose money columns share one format (the decimals the column needs). */
function ledgerColumns(rows, { withKind = true } = {}) {
  const d = columnDecimals(rows.flatMap((r) => [r.amount, r.balance_after]));
  const kind = (k) => (has('ledger.kind.' + k) ? t('ledger.kind.' + k) : k);
  return [
    { label: t('ledger.col.time'), cell: (r) => h('span', { class: 'nowrap' }, formatTime(r.created_at)) },
    withKind ? { label: t('ledger.col.kind'), cell: (r) => h('span', { class: 'badge' }, kind(r.kind)) } : null,
    { label: t('ledger.col.reason'), cell: (r) => h('span', { class: 'ledger-text' }, ledgerText(r)) },
    { label: t('ledger.col.account'), cell: (r) => h('span', { class: 'nowrap' }, r.account === 'reward' ? t('ledger.account.reward') : t('ledger.account.balance')) },
    { label: t('ledger.col.amount'), cell: (r) => money(r.amount, { signed: true, decimals: d, className: parseDecimal(r.amount)?.units < 0n ? 'amount-neg' : 'amount-pos' }), class: 'num' },
    { label: t('ledger.col.after'), cell: (r) => money(r.balance_after, { decimals: d }), class: 'num' },
  ].filter(Boolean);
}

/** Request charges per day, each day opening to its requests (loaded when opened). */
function chargesByDay(ctx) {
  const el = h('div', { class: 'card card-flush charges', 'data-testid': 'charges-by-day' }, loadingBlock());
  let days = 30;
  const load = async () => {
    let res;
    try {
      res = await api.get('/api/ledger/charges' + qs({ days }), { signal: ctx.signal });
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      el.replaceChildren(h('div', { class: 'card-pad' }, alertBox(describeError(err), 'error', { label: t('common.retry'), onClick: load })));
      return;
    }
    const list = res.data || [];
    const older = days < 366 ? h('div', { class: 'load-more' }, h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => { days = Math.min(366, days * 3); load(); } }, t('ledger.olderCharges'))) : null;
    if (list.length === 0) {
      el.replaceChildren(emptyState('logs', t('ledger.noCharges', { days }), null), older || '');
      return;
    }
    const d = columnDecimals(list.map((x) => x.amount));
    el.replaceChildren(
      h(
        'ul',
        { class: 'day-list' },
        list.map((day) => {
          const body = h('div', { class: 'day-body' });
          const item = h(
            'details',
            { class: 'day', 'data-date': day.date },
            h(
              'summary',
              { class: 'day-summary' },
              h('span', { class: 'day-date' }, day.date),
              h('span', { class: 'day-count muted' }, t('ledger.requestsN', { n: String(day.requests) })),
              money('-' + String(day.amount).replace(/^-/, ''), { decimals: d, className: 'amount-neg day-amount' }),
            ),
            body,
          );
          let opened = false;
          item.addEventListener('toggle', () => {
            if (!item.open || opened) return;
            opened = true;
            const rows = pagedTable({
              signal: ctx.signal,
              className: 'table-compact',
              columnsFor: (all) => ledgerColumns(all, { withKind: false }),
              load: (cursor, signal) => api.get('/api/ledger' + qs({ kind: 'settle', from: day.date, to: day.date, cursor, limit: 50 }), { signal }),
              empty: () => emptyState('logs', t('ledger.emptyTitle'), null),
            });
            body.replaceChildren(rows.el);
          });
          return h('li', null, item);
        }),
      ),
      older || '',
    );
  };
  load();
  return { el, reload: load };
}

function ledgerSection(ctx) {
  const picked = ctx.query.get('history') || 'all';
  const type = HISTORY_TYPES.find(([id]) => id === picked) || HISTORY_TYPES[0];
  const tabs = h(
    'div',
    { class: 'segmented history-types', role: 'group', 'aria-label': t('ledger.typeFilter') },
    HISTORY_TYPES.map(([id]) => h('a', { class: 'seg-btn', href: ctx.route.path + qs({ history: id === 'all' ? '' : id }) + '#billing', 'aria-pressed': String(id === type[0]) }, t('ledger.type.' + id))),
  );
  const parts = [];
  let list = null;
  if (type[1]) {
    list = pagedTable({
      signal: ctx.signal,
      columnsFor: (rows) => ledgerColumns(rows),
      load: (cursor, signal) => api.get('/api/ledger' + qs({ kind: type[1], cursor, limit: 20 }), { signal }),
      empty: () => emptyState('logs', t('ledger.emptyTitle'), t('ledger.emptyText')),
    });
    parts.push(h('div', { class: 'card card-flush', 'data-testid': 'ledger-list' }, list.el));
  }
  let charges = null;
  if (type[0] === 'all' || type[0] === 'charges') {
    charges = chargesByDay(ctx);
    parts.push(h('h3', { class: 'section-heading section-sub' }, t('ledger.chargesTitle')), h('p', { class: 'muted small' }, t('ledger.chargesText')), charges.el);
  }
  const el = h('section', { class: 'section', id: 'billing' }, h('div', { class: 'section-bar' }, h('h2', { class: 'section-heading' }, t('ledger.title')), tabs), parts);
  return {
    el,
    reload: () => {
      if (list) list.reload();
      if (charges) charges.reload();
    },
  };
}

/** The low-balance warning: the threshold in use, set one, go back to the default, or turn it off. */
function lowBalanceCard(ctx) {
  const body = h('div', null, loadingBlock());
  const section = h('section', { class: 'card', id: 'low-balance', 'data-testid': 'low-balance' }, h('div', { class: 'card-head' }, icon('alert'), h('h2', { class: 'card-title' }, t('alert.title'))), h('p', { class: 'card-text' }, t('alert.text')), body);
  const draw = (a) => {
    const alerts = alertSlot();
    const now =
      a.source === 'custom'
        ? parseDecimal(a.threshold)?.units === 0n
          ? t('alert.nowOff')
          : t('alert.nowCustom', { threshold: formatMoney(a.threshold) })
        : t('alert.nowDefault', { threshold: formatMoney(a.recent_daily_spend) });
    const amount = amountField({ label: t('alert.amount'), name: 'threshold', zero: true, value: a.source === 'custom' && parseDecimal(a.threshold)?.units > 0n ? a.threshold : '' });
    const save = h('button', { type: 'submit', class: 'btn btn-primary' }, t('common.save'));
    const put = (threshold, button) =>
      withBusy(button, async () => {
        alerts.clear();
        try {
          const next = await api.put('/api/balance-alert', { threshold });
          toast(t('alert.saved'), 'success');
          window.dispatchEvent(new CustomEvent('balance:changed'));
          draw(next);
        } catch (err) {
          alerts.error(err);
        }
      });
    const reset = h('button', { type: 'button', class: 'btn btn-secondary' }, t('alert.useDefault'));
    reset.addEventListener('click', () => put(null, reset));
    const off = h('button', { type: 'button', class: 'btn btn-ghost' }, t('alert.turnOff'));
    off.addEventListener('click', () => put('0', off));
    const form = h('form', { class: 'form', novalidate: true }, amount.el, h('div', { class: 'card-actions' }, save, reset, off));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const r = amount.read();
      if (!validate([[amount, r.empty ? t('validation.required') : r.problem]])) return;
      put(r.usd, save);
    });
    body.replaceChildren(h('p', { class: 'alert-now', 'data-testid': 'alert-now' }, now, a.low ? h('span', { class: 'badge badge-warning badge-inline' }, t('alert.lowNow')) : null), alerts.el, form);
  };
  (async () => {
    try {
      draw(await api.get('/api/balance-alert', { signal: ctx.signal }));
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      body.replaceChildren(missing(err) ? h('p', { class: 'muted' }, t('alert.unavailable')) : alertBox(describeError(err), 'error'));
    }
  })();
  return section;
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
    window.dispatchEvent(new CustomEvent('balance:changed'));
  };
  append(root, [
    pageHeader(t('nav.topup'), t('topup.subtitle')),
    returnNotice(ctx, moved),
    bal.el,
    h('div', { class: 'grid grid-two' }, paymentCard(ctx), redeemCard(moved)),
    h('div', { class: 'grid grid-two' }, lowBalanceCard(ctx), referralCard(ctx, me, moved)),
    ordersSection(ctx),
    ledger.el,
  ]);
}
