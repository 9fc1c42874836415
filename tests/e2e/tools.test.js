// The console's tools for members and the operator, end to end in headless Chromium, on accounts
// of their own: setup snippets and key tests, the low-balance banner, billing history by type and
// by day, quota mode in every amount input, referrals switched off, and the operator's overview,
// orders, codes (void, download), new accounts, log export and upstream tests — each in English
// and Chinese at 1366px and 390px, with screenshots.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launch, newPage, signIn, shot, chat, unique, ADMIN, BASE_URL, PHONE, DESKTOP } from './helpers.js';

const member = { username: unique('tina'), password: 'tinas password 1' };
let browser;
let memberPage;
let adminPage;
let secret = '';

/** "12.500000" → "$12.50": a USD decimal string as the console shows it (2 to 6 places), exactly. */
function usd(amount) {
  const [int, frac = ''] = String(amount).replace(/^-/, '').split('.');
  let f = frac.replace(/0+$/, '');
  if (f.length < 2) f = f.padEnd(2, '0');
  if (f.length > 6) f = f.slice(0, 6);
  return `${String(amount).startsWith('-') ? '-' : ''}$${int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${f}`;
}

/** A decimal-string amount as exact nano-dollars, for comparing money without floats. */
function nano(amount) {
  const [int, frac = ''] = String(amount).split('.');
  return BigInt(int + frac.padEnd(9, '0').slice(0, 9));
}

/** Waits until the request's log row is written (rows are written in batches). */
async function logged(page, requestId) {
  for (let i = 0; i < 50; i += 1) {
    const found = await (await page.request.get(`${BASE_URL}/api/logs?request_id=${requestId}`)).json();
    if (found.data.length === 1) return found.data[0];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`log row ${requestId} was never written`);
}

/** Shows the page in each language and at both widths, with a screenshot of each. */
async function everyView(page, url, name, check = async () => {}) {
  for (const lang of ['en', 'zh-CN']) {
    await page.evaluate((l) => localStorage.setItem('code-router.lang', l), lang);
    for (const [label, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      await page.setViewportSize(viewport);
      // A URL with a #fragment would only scroll the page it is on: load it afresh.
      await page.goto('about:blank');
      await page.goto(url);
      await page.locator('h1').first().waitFor();
      await check(lang, label);
      await shot(page, `${name}-${lang === 'en' ? '' : 'zh-'}${label}`);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(wide <= 0, `${url} (${lang}, ${label}) scrolls sideways by ${wide}px`);
    }
  }
  await page.evaluate(() => localStorage.setItem('code-router.lang', 'en'));
  await page.setViewportSize(DESKTOP);
}

before(async () => {
  assert.ok(ADMIN.password, 'E2E_ADMIN_PASSWORD must be set (run the tests with tests/e2e/run.sh)');
  browser = await launch();
  adminPage = await newPage(browser);
  await signIn(adminPage, ADMIN.username, ADMIN.password);
  memberPage = await newPage(browser);
  const made = await memberPage.request.post(`${BASE_URL}/api/auth/register`, { data: member });
  assert.equal(made.status(), 201);
  const id = (await made.json()).id;
  await signIn(memberPage, member.username, member.password);
  const funded = await adminPage.request.post(`${BASE_URL}/api/admin/users/${id}/adjust`, { data: { amount: '1', reason: 'e2e tools credit' } });
  assert.equal(funded.status(), 200);
  const key = await memberPage.request.post(`${BASE_URL}/api/keys`, { data: { name: 'tools key' } });
  assert.equal(key.status(), 201);
  secret = (await key.json()).key;
  for (let i = 0; i < 2; i += 1) {
    const r = await chat(secret);
    assert.equal(r.status, 200);
    await logged(memberPage, r.requestId);
  }
});

after(async () => {
  if (browser) await browser.close();
});

test('the dashboard sets up each tool with the real base URL and tests a pasted key', async () => {
  const page = memberPage;
  await page.goto('/console');
  const card = page.getByTestId('use-the-api');
  const snippet = card.getByTestId('setup-snippet');
  assert.equal(await snippet.innerText(), `export ANTHROPIC_BASE_URL=${BASE_URL}\nexport ANTHROPIC_AUTH_TOKEN=sk-YOUR-KEY\nclaude`);
  await card.getByRole('tab', { name: 'Codex' }).click();
  assert.match(await snippet.innerText(), /model_provider = "code-router"\n\n\[model_providers\.code-router\]\nname = "Code Router"/);
  assert.match(await snippet.innerText(), new RegExp(`base_url = "${BASE_URL}/v1"\nwire_api = "responses"\nenv_key = "CODE_ROUTER_API_KEY"`));
  await card.getByRole('tab', { name: 'curl' }).click();
  assert.match(await snippet.innerText(), new RegExp(`^curl ${BASE_URL}/v1/chat/completions`));
  await card.getByRole('tab', { name: 'Python (OpenAI SDK)' }).click();
  assert.match(await snippet.innerText(), new RegExp(`OpenAI\\(base_url="${BASE_URL}/v1", api_key="sk-YOUR-KEY"\\)`));
  // The secret is not known here: the test asks for it, then makes one call with it.
  await card.getByTestId('test-key').click();
  await card.getByText('Paste the key to test.').waitFor();
  await card.getByLabel('API key').fill(secret);
  await card.getByTestId('test-key').click();
  const result = card.getByTestId('key-test-result');
  await result.waitFor();
  assert.match(await result.innerText(), /Answer: \S/);
  assert.match(await result.innerText(), /Model demo:free · cost \$0\.00/, 'the free model the key may use');
  await everyView(page, '/console', 'dashboard-setup', async (lang) => {
    await page.getByTestId('use-the-api').getByTestId('test-key').getByText(lang === 'en' ? 'Test this key' : '测试此密钥').waitFor();
  });
});

test('a low balance shows a banner on every page until the warning is changed', async () => {
  const page = memberPage;
  await page.goto('/console/topup#low-balance');
  const card = page.getByTestId('low-balance');
  await card.getByText('Now: a day of your recent spend', { exact: false }).waitFor();
  await card.getByLabel('Warn below (USD)').fill('100');
  await card.getByRole('button', { name: 'Save' }).click();
  const banner = page.getByTestId('low-balance-banner');
  await banner.getByText('Your balance is low', { exact: false }).waitFor();
  assert.match(await banner.innerText(), /below your warning level of \$100\.00/);
  await card.getByText('Now: below $100.00.').waitFor();
  await everyView(page, '/console/keys', 'banner', async (lang) => {
    await page.getByTestId('low-balance-banner').getByText(lang === 'en' ? 'Your balance is low' : '余额不足', { exact: false }).waitFor();
  });
  const saved = await (await page.request.get(`${BASE_URL}/api/balance-alert`)).json();
  assert.equal(saved.threshold, '100.000000');
  assert.equal(saved.low, true);
  await page.goto('/console/topup');
  await page.getByTestId('low-balance').getByRole('button', { name: 'Use a day of recent spend' }).click();
  await page.getByTestId('low-balance').getByText('Now: a day of your recent spend', { exact: false }).waitFor();
  await page.waitForFunction(() => !document.querySelector('[data-testid="low-balance-banner"]').textContent);
  const back = await (await page.request.get(`${BASE_URL}/api/balance-alert`)).json();
  assert.equal(back.source, 'recent_spend');
});

test('billing history keeps top-ups apart from charges, which are summed per day', async () => {
  const page = memberPage;
  await page.goto('/console/topup');
  const list = page.getByTestId('ledger-list');
  const credit = list.locator('tbody tr', { hasText: 'e2e tools credit' });
  await credit.getByText('Adjustment by admin: e2e tools credit').waitFor();
  assert.equal(await list.getByText('Charge', { exact: true }).count(), 0, 'no request charge among the top-ups');
  // One column, one format: every amount has as many decimals as the others.
  const amounts = await list.locator('td[data-label="Amount"]').allInnerTexts();
  assert.ok(amounts.length > 0);
  assert.equal(new Set(amounts.map((a) => (a.split('.')[1] || '').length)).size, 1, amounts.join(' '));
  const days = page.getByTestId('charges-by-day');
  const today = days.locator('details.day').first();
  await today.getByText('2 requests').waitFor();
  assert.match(await today.locator('summary').innerText(), /-\$0\.012/);
  await today.locator('summary').click();
  await today.locator('tbody tr').nth(1).waitFor();
  assert.equal(await today.locator('tbody tr').count(), 2);
  assert.match(await today.locator('tbody tr').first().innerText(), /Request req_\w+ with key tools key/);
  assert.match(await today.locator('tbody tr').first().innerText(), /-\$0\.006/);
  await shot(page, 'topup-history-desktop');
  await page.getByRole('group', { name: 'Show' }).getByRole('link', { name: 'Adjustments' }).click();
  await page.waitForURL(/history=adjust/);
  await page.getByTestId('ledger-list').locator('tbody tr').first().waitFor();
  assert.equal(await page.getByTestId('charges-by-day').count(), 0, 'only the chosen type');
  await everyView(page, '/console/topup?history=charges#billing', 'topup-charges', async (lang) => {
    await page.getByTestId('charges-by-day').getByText(lang === 'en' ? '2 requests' : '2 个请求').waitFor();
  });
  await everyView(page, '/console/topup?history=adjust#billing', 'topup-adjustments', async (lang) => {
    await page.getByTestId('ledger-list').getByText(lang === 'en' ? 'Adjustment by admin: e2e tools credit' : 'admin 调整：e2e tools credit').waitFor();
  });
});

/** A page whose /api/status says display = "quota" (500,000 quota per USD). */
async function quotaPage(user) {
  const page = await newPage(browser);
  await page.route('**/api/status', async (route) => {
    const real = await (await route.fetch()).json();
    await route.fulfill({ json: { ...real, display: 'quota', quota_per_usd: 500000 } });
  });
  await signIn(page, user.username, user.password);
  return page;
}

test('in quota mode every amount input takes and shows quota', async () => {
  const page = await quotaPage(member);
  await page.goto('/console/keys');
  await page.getByTestId('create-key').click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Name').fill('quota key');
  await dialog.getByLabel('Spending limit (quota)').fill('2500000');
  await dialog.getByText('≈ $5.00').waitFor();
  await shot(page, 'keys-create-quota-desktop', { fullPage: false });
  await dialog.getByRole('button', { name: 'Create key' }).click();
  await page.getByTestId('key-secret').waitFor();
  await page.getByTestId('copy-secret').click();
  await page.getByRole('button', { name: 'I have copied it' }).click();
  const keys = await (await page.request.get(`${BASE_URL}/api/keys`)).json();
  assert.equal(keys.data.find((k) => k.name === 'quota key').limit, '5.000000', '2,500,000 quota is exactly $5');
  await page.locator('tbody tr', { hasText: 'quota key' }).getByText('2,500,000 quota').waitFor();
  await page.goto('/console/topup');
  await page.getByLabel('Warn below (quota)').waitFor();
  if (await page.getByText('Online payment').count()) await page.getByLabel('Custom amount (quota)').waitFor();
  await shot(page, 'topup-quota-desktop');
  await page.context().close();

  const admin = await quotaPage(ADMIN);
  await admin.goto('/console/admin/users?q=' + encodeURIComponent(member.username));
  const row = admin.locator('tbody tr', { hasText: member.username });
  const before = await (await memberPage.request.get(`${BASE_URL}/api/me`)).json();
  await row.getByRole('button', { name: 'Adjust balance' }).click();
  const adjust = admin.getByRole('dialog');
  await adjust.getByLabel('Amount (quota)').fill('500000');
  await adjust.getByLabel('Reason').fill('quota credit');
  await adjust.getByRole('button', { name: 'Adjust balance' }).click();
  await adjust.waitFor({ state: 'detached' });
  const after = await (await memberPage.request.get(`${BASE_URL}/api/me`)).json();
  assert.equal(nano(after.balance) - nano(before.balance), nano('1'), '500,000 quota is exactly $1');
  await admin.goto('/console/admin/codes');
  await admin.getByLabel('Amount per code (quota)').waitFor();
  await shot(admin, 'admin-codes-quota-desktop');
  await admin.context().close();
});

test('with referrals off there is no invitation to hand out', async () => {
  const fresh = { username: unique('rita'), password: 'ritas password 1' };
  const page = await newPage(browser);
  assert.equal((await page.request.post(`${BASE_URL}/api/auth/register`, { data: fresh })).status(), 201);
  await page.route('**/api/status', async (route) => route.fulfill({ json: { ...(await (await route.fetch()).json()), referral_enabled: false } }));
  await page.route('**/api/referral', async (route) => route.fulfill({ json: { ...(await (await route.fetch()).json()), enabled: false } }));
  await signIn(page, fresh.username, fresh.password);
  await page.getByTestId('use-the-api').waitFor();
  assert.equal(await page.getByText('Invite friends').count(), 0, 'no invite card on the dashboard');
  await page.goto('/console/topup');
  await page.getByTestId('low-balance').waitFor();
  await page.waitForLoadState('networkidle');
  assert.equal(await page.getByRole('heading', { name: 'Invite friends' }).count(), 0, 'nor on Top Up');
  await shot(page, 'topup-referrals-off-desktop');
  await page.context().close();
});

test('the operator’s overview shows money in and out, members, models and upstreams', async () => {
  const page = adminPage;
  const api = await (await page.request.get(`${BASE_URL}/api/admin/overview?days=14`)).json();
  await page.goto('/console/admin/overview');
  assert.equal(await page.getByTestId('ov-revenue').innerText(), usd(api.totals.revenue));
  assert.equal(await page.getByTestId('ov-spend').innerText(), usd(api.totals.spend));
  assert.equal(await page.getByTestId('ov-active').innerText(), String(api.totals.active_members));
  assert.ok(api.top_members.some((m) => m.username === member.username), 'the member who spent is listed');
  await page.locator('tbody tr', { hasText: member.username }).first().waitFor();
  await page.locator('tbody tr', { hasText: 'e2e-model' }).first().waitFor();
  await page.getByTestId('upstream-health').getByText(/\d+ healthy, \d+ cooling down\./).waitFor();
  assert.equal(await page.locator('.chart-legend').innerText(), 'Revenue\nSpend');
  await everyView(page, '/console/admin/overview', 'admin-overview-tools', async (lang) => {
    await page.getByRole('heading', { level: 1, name: lang === 'en' ? 'Overview' : '概览' }).waitFor();
  });
});

test('the operator sees orders, voids a code, downloads a batch and creates an account', async (t) => {
  const page = adminPage;
  const methods = await (await memberPage.request.get(`${BASE_URL}/api/topup/methods`)).json();
  if (methods.data.some((m) => m.method === 'epay')) {
    const order = await memberPage.request.post(`${BASE_URL}/api/topup/checkout`, { data: { method: 'epay', amount: '10', type: 'alipay' } });
    assert.equal(order.status(), 201, await order.text());
    const { order_id: orderId } = await order.json();
    await page.goto('/console/admin/orders');
    const row = page.getByTestId('orders').locator('tbody tr', { hasText: orderId });
    await row.getByText(member.username).waitFor();
    await row.getByText('Pending').waitFor();
    await everyView(page, '/console/admin/orders', 'admin-orders-tools', async (lang) => {
      await page.getByRole('heading', { level: 1, name: lang === 'en' ? 'Orders' : '订单' }).waitFor();
    });
  } else t.diagnostic('EPay is not enabled in this run: no order to list');

  // A batch of two: downloaded as a file; one redeemed, the other voided.
  await page.goto('/console/admin/codes');
  await page.getByLabel('Amount per code (USD)').fill('1');
  await page.getByLabel('How many').fill('2');
  await page.getByLabel('Note').fill('e2e void batch');
  await page.getByRole('button', { name: 'Generate' }).click();
  const codes = (await page.getByTestId('generated-codes').innerText()).trim().split('\n');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-codes').click()]);
  assert.match(download.suggestedFilename(), /^redemption-codes-.*\.txt$/);
  assert.equal((await readFile(await download.path(), 'utf8')).trim(), codes.join('\n'), 'the file holds exactly the batch');
  assert.equal((await memberPage.request.post(`${BASE_URL}/api/topup/redeem`, { data: { code: codes[0] } })).status(), 200);
  await page.goto('/console/admin/codes?status=unused');
  const unused = page.locator('tbody tr', { hasText: codes[1].slice(0, 6) });
  await unused.getByRole('button', { name: 'Void' }).click();
  const confirm = page.getByRole('dialog', { name: 'Void this code?' });
  await shot(page, 'admin-codes-void-desktop', { fullPage: false });
  await confirm.getByRole('button', { name: 'Void' }).click();
  await page.getByText(`Code ${codes[1].slice(0, 6)}… voided.`).waitFor();
  await page.goto('/console/admin/codes?status=voided');
  await page.locator('tbody tr', { hasText: codes[1].slice(0, 6) }).getByText('Voided', { exact: true }).waitFor();
  const refused = await memberPage.request.post(`${BASE_URL}/api/topup/redeem`, { data: { code: codes[1] } });
  assert.equal(refused.status(), 400);
  assert.equal((await refused.json()).error.code, 'code_voided');
  await memberPage.goto('/console/topup');
  await memberPage.getByLabel('Code', { exact: true }).fill(codes[1]);
  await memberPage.getByRole('button', { name: 'Redeem' }).click();
  await memberPage.getByText('This code was withdrawn by the operator.').waitFor();

  // A new account through the form, which can sign in at once.
  const made = { username: unique('newbie'), password: 'newbies password 1' };
  await page.goto('/console/admin/users');
  await page.getByTestId('create-user').click();
  const dialog = page.getByRole('dialog', { name: 'Create an account' });
  await dialog.getByLabel('Username').fill(made.username);
  await dialog.getByLabel('Password').fill(made.password);
  await dialog.getByLabel('Group').fill('vip');
  await shot(page, 'admin-users-create-desktop', { fullPage: false });
  await dialog.getByRole('button', { name: 'Create user' }).click();
  await page.getByText(`Account “${made.username}” created.`).waitFor();
  await page.goto('/console/admin/users?q=' + encodeURIComponent(made.username));
  await page.locator('tbody tr', { hasText: made.username }).getByTestId('user-group').getByText('× 0.8').waitFor();
  const other = await newPage(browser);
  assert.equal((await other.request.post(`${BASE_URL}/api/auth/login`, { data: made })).status(), 200);
  await other.context().close();
  await everyView(page, '/console/admin/users', 'admin-users-tools', async () => {
    await page.locator('tbody tr').first().waitFor();
  });
});

test('the operator exports every account’s logs and tests each upstream for real', async () => {
  const page = adminPage;
  await page.goto('/console/admin/logs?user=' + encodeURIComponent(member.username));
  await page.getByTestId('logs-summary').waitFor();
  assert.equal(await page.getByTestId('sum-requests').innerText(), '3', 'two priced calls and the key test');
  const href = await page.getByTestId('csv-export').getAttribute('href');
  assert.match(href, /^\/api\/admin\/logs\.csv\?user_id=\d+/);
  const csv = await (await page.request.get(BASE_URL + href)).text();
  const [head, ...rows] = csv.trim().split('\n');
  assert.match(head, /^time,request_id,user,key,model,/);
  assert.equal(rows.length, 3);
  assert.ok(rows.every((r) => r.includes(`,${member.username},`)));

  await page.goto('/console/admin/upstreams');
  await page.locator('tbody tr', { hasText: 'fake' }).getByRole('button', { name: 'Test' }).click();
  const report = page.getByRole('dialog', { name: 'Test of “fake”' });
  const line = report.getByTestId('upstream-test').locator('tbody tr', { hasText: 'e2e-model' });
  await line.getByText('OK', { exact: true }).waitFor();
  await line.getByText('Hello from e2e.').waitFor();
  assert.match(await line.innerText(), /\d+ ms|\d\.\d+ s/);
  await shot(page, 'admin-upstreams-test-desktop', { fullPage: false });
  await page.keyboard.press('Escape');
  await page.setViewportSize(PHONE);
  await page.locator('tbody tr', { hasText: 'demo' }).getByRole('button', { name: 'Test' }).click();
  await page.getByRole('dialog', { name: 'Test of “demo”' }).getByText('OK', { exact: true }).waitFor();
  await shot(page, 'admin-upstreams-test-phone', { fullPage: false });
  await page.keyboard.press('Escape');
  await page.setViewportSize(DESKTOP);
  for (const p of [memberPage, adminPage]) assert.deepEqual(p.problems.filter((x) => !/status of 40[0-9]/.test(x)), [], 'no script errors or CSP violations');
});
