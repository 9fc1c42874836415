// Translation: current language, t(key, params), language detection, persistence and switching.

import en from './i18n/en.js';

/** Languages offered in the switcher. `load` returns the dictionary module. */
export const LANGUAGES = [
  { code: 'en', label: 'English', load: async () => en },
  { code: 'zh-CN', label: '简体中文', load: async () => (await import('./i18n/zh-CN.js')).default },
];

const STORAGE_KEY = 'code-router.lang';
export const LANG_CHANGE_EVENT = 'i18n:change';

let current = 'en';
let dict = en;

/** The active language code ("en" or "zh-CN"). */
export function lang() {
  return current;
}

/**
 * Translate a key. Missing keys fall back to English, then to the key itself.
 * Params fill "{name}" placeholders: t('dash.welcome', { name: 'alice' }).
 */
export function t(key, params) {
  let s = dict[key];
  if (s === undefined) s = en[key];
  if (s === undefined) return key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, p) => (p in params ? String(params[p]) : m));
  return s;
}

/** True when the dictionary (or English) has this key — used to map server error codes. */
export function has(key) {
  return dict[key] !== undefined || en[key] !== undefined;
}

function readStored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function writeStored(code) {
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    /* storage may be unavailable (private mode); the choice then lasts for this page only */
  }
}

/** Pick a supported language from a tag like "zh", "zh-Hans-CN", "en-GB". */
export function matchLanguage(tag) {
  const t0 = String(tag || '').toLowerCase();
  if (!t0) return null;
  const exact = LANGUAGES.find((l) => l.code.toLowerCase() === t0);
  if (exact) return exact.code;
  if (t0.startsWith('zh')) return 'zh-CN';
  if (t0.startsWith('en')) return 'en';
  return null;
}

function detect() {
  const stored = matchLanguage(readStored());
  if (stored) return stored;
  const prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  for (const p of prefs) {
    const m = matchLanguage(p);
    if (m) return m;
  }
  return 'en';
}

async function activate(code) {
  const entry = LANGUAGES.find((l) => l.code === code) || LANGUAGES[0];
  try {
    dict = await entry.load();
    current = entry.code;
  } catch {
    dict = en;
    current = 'en';
  }
  document.documentElement.lang = current;
}

/** Load the detected (or stored) language. Call once before the first render. */
export async function initI18n() {
  await activate(detect());
}

/** Switch language, remember it, and notify listeners (the app re-renders on this event). */
export async function setLanguage(code) {
  if (code === current) return;
  await activate(code);
  writeStored(current);
  window.dispatchEvent(new CustomEvent(LANG_CHANGE_EVENT, { detail: { lang: current } }));
}
