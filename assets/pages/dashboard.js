// Dashboard: balance and reward balance, account facts, referral code, API base URL, usage area.

import { h, append } from '../dom.js';
import { icon } from '../icons.js';
import { t } from '../i18n.js';
import { formatBalance } from '../money.js';
import { copyButton, pageHeader, withBusy, toastError } from '../ui.js';
import { session, moneySettings } from '../session.js';

function moneyCard({ label, amount, hint, iconName }) {
  const value = formatBalance(amount ?? '0', moneySettings());
  return h(
    'section',
    { class: 'card stat-card' },
    h('div', { class: 'stat-head' }, h('span', { class: 'stat-icon' }, icon(iconName)), h('h2', { class: 'stat-label' }, label)),
    h(
      'p',
      { class: 'stat-value' },
      h('span', null, value.text),
      value.unit === 'quota' ? h('span', { class: 'stat-unit' }, t('money.quotaUnit')) : null,
    ),
    value.secondary ? h('p', { class: 'stat-secondary' }, t('money.equivalent', { amount: value.secondary })) : null,
    hint ? h('p', { class: 'stat-hint' }, hint) : null,
  );
}

function accountCard(me) {
  const row = (label, value) => h('div', { class: 'kv-row' }, h('dt', null, label), h('dd', null, value));
  const role = me.role === 'admin' ? t('role.admin') : t('role.user');
  return h(
    'section',
    { class: 'card stat-card' },
    h('div', { class: 'stat-head' }, h('span', { class: 'stat-icon' }, icon('user')), h('h2', { class: 'stat-label' }, t('dash.account'))),
    h(
      'dl',
      { class: 'kv' },
      row(t('field.username'), me.username || '—'),
      row(t('dash.role'), h('span', { class: me.role === 'admin' ? 'badge badge-accent' : 'badge' }, role)),
      row(t('dash.group'), me.group || '—'),
    ),
  );
}

function copyRow(label, value) {
  return h(
    'div',
    { class: 'copy-row' },
    h('span', { class: 'copy-label' }, label),
    h('code', { class: 'copy-value' }, value),
    copyButton(value),
  );
}

function referralCard(me) {
  const code = me.referral_code || '';
  const link = `${window.location.origin}/register?ref=${encodeURIComponent(code)}`;
  return h(
    'section',
    { class: 'card' },
    h('div', { class: 'card-head' }, icon('gift'), h('h2', { class: 'card-title' }, t('dash.referralTitle'))),
    h('p', { class: 'card-text' }, t('dash.referralText')),
    code
      ? h('div', { class: 'copy-list' }, copyRow(t('dash.referralCode'), code), copyRow(t('dash.referralLink'), link))
      : h('p', { class: 'muted' }, t('dash.referralNone')),
  );
}

function quickStartCard() {
  const base = `${window.location.origin}/v1`;
  return h(
    'section',
    { class: 'card' },
    h('div', { class: 'card-head' }, icon('terminal'), h('h2', { class: 'card-title' }, t('dash.quickStartTitle'))),
    h('p', { class: 'card-text' }, t('dash.quickStartText')),
    h('div', { class: 'copy-list' }, copyRow(t('dash.baseUrl'), base)),
  );
}

function usageCard() {
  return h(
    'section',
    { class: 'card card-wide' },
    h('div', { class: 'card-head' }, icon('chart'), h('h2', { class: 'card-title' }, t('dash.usageTitle'))),
    h(
      'div',
      { class: 'empty-state' },
      h('span', { class: 'empty-icon' }, icon('chart', { size: 28 })),
      h('p', { class: 'empty-title' }, t('dash.usageEmptyTitle')),
      h('p', { class: 'empty-text' }, t('dash.usageEmptyText')),
    ),
  );
}

export async function mount(root, ctx) {
  // Balances change with every request: re-read /api/me unless bootstrap just did.
  const me = await session.loadMe({ maxAge: 3000 });
  if (!me) {
    ctx.navigate('/login?next=' + encodeURIComponent('/console'), { replace: true });
    return;
  }

  const refresh = h('button', { type: 'button', class: 'btn btn-secondary' }, icon('refresh', { size: 16 }), h('span', null, t('common.refresh')));
  refresh.addEventListener('click', () =>
    withBusy(refresh, async () => {
      try {
        await session.loadMe();
        ctx.refresh();
      } catch (err) {
        toastError(err);
      }
    }),
  );

  append(root, [
    pageHeader(t('nav.dashboard'), t('dash.welcome', { name: me.username }), refresh),
    h(
      'div',
      { class: 'grid grid-stats' },
      moneyCard({ label: t('dash.balance'), amount: me.balance, iconName: 'wallet' }),
      moneyCard({ label: t('dash.rewardBalance'), amount: me.reward_balance, iconName: 'gift', hint: t('dash.rewardHint') }),
      accountCard(me),
    ),
    h('div', { class: 'grid grid-two' }, referralCard(me), quickStartCard()),
    usageCard(),
  ]);
}
