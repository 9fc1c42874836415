// Shared e2e helpers: the server under test (from run.sh's environment), Chromium, sign-in, screenshots.

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const BASE_URL = process.env.E2E_BASE_URL || 'http://127.0.0.1:3300';
export const ADMIN = { username: process.env.E2E_ADMIN_USERNAME || 'admin', password: process.env.E2E_ADMIN_PASSWORD || '' };
export const PRICED_MODEL = process.env.E2E_MODEL || 'e2e-model';
/** The merchant key of the EPay method run.sh configures, to sign the gateway's notify. */
export const EPAY_KEY = process.env.E2E_EPAY_KEY || 'e2e-epay-key';
/** The IPN secret of the NOWPayments method run.sh configures, to sign its notifications. */
export const NOWPAY_IPN = process.env.E2E_NOWPAY_IPN || 'e2e-nowpayments-ipn';
export const ARTIFACTS = path.join(here, 'artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

export const DESKTOP = { width: 1366, height: 860 };
export const PHONE = { width: 390, height: 844 };

/** Headless Debian Chromium with a fresh profile (Playwright's launch() always uses a new temp dir). */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/**
 * A new browser context and page. Collects console errors, failed requests and CSP violations in
 * page.problems so a test can assert that a page loaded cleanly.
 */
export async function newPage(browser, { viewport = DESKTOP, locale = 'en-US' } = {}) {
  const context = await browser.newContext({ viewport, locale, baseURL: BASE_URL });
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') page.problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => page.problems.push(`pageerror: ${err.message} at ${page.url()}: ${(err.stack || '').split('\n').slice(1, 3).join(' ').trim()}`));
  return page;
}

/** Sign in through the login form and wait for the dashboard. */
export async function signIn(page, username, password) {
  await page.goto('/login');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/console');
  await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
}

/** Screenshot into artifacts/NAME.png after the page has settled (full page unless told otherwise). */
export async function shot(page, name, { fullPage = true } = {}) {
  await page.waitForLoadState('networkidle').catch(() => {});
  await page.waitForFunction(() => !document.querySelector('.loading-block')).catch(() => {});
  // A full-page shot of a scrolled page would show the sticky bars in the middle of it.
  if (fullPage) await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage });
}

/** POST /v1/chat/completions with an API key, from the test (not the browser). */
export async function chat(key, model = PRICED_MODEL) {
  const res = await fetch(`${BASE_URL}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    // The fake upstream reports 1,000 prompt tokens: the prompt is long enough that the hold
    // (every byte a token) covers them, as a real prompt of that size would.
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi '.repeat(400) }], max_tokens: 600 }),
  });
  const body = await res.json().catch(() => null);
  return { status: res.status, requestId: res.headers.get('x-request-id'), body };
}

/** A unique-enough suffix so reruns against one data dir never collide. */
export function unique(prefix) {
  return `${prefix}${Date.now().toString(36).slice(-5)}`;
}
