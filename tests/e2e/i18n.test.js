// Static checks of the console's strings: both dictionaries have the same keys, and every literal
// t('key') in the console's code exists (a missing key would show up as the raw key on screen).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const assets = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../assets');

function jsFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'i18n' ? [] : jsFiles(full);
    return name.endsWith('.js') ? [full] : [];
  });
}

const load = async (name) => (await import(pathToFileURL(path.join(assets, 'i18n', name)).href)).default;

test('English and Simplified Chinese have the same keys', async () => {
  const en = await load('en.js');
  const zh = await load('zh-CN.js');
  assert.deepEqual(Object.keys(zh).filter((k) => !(k in en)), [], 'keys only in zh-CN.js');
  assert.deepEqual(Object.keys(en).filter((k) => !(k in zh)), [], 'keys only in en.js');
  for (const [k, v] of Object.entries(en)) {
    const params = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    assert.deepEqual(params(zh[k]), params(v), `placeholders of ${k} differ`);
  }
});

test('every literal t() key used by the console exists', async () => {
  const en = await load('en.js');
  const missing = [];
  for (const file of jsFiles(assets)) {
    const text = readFileSync(file, 'utf8');
    // t('a.b') with a complete key; prefixes built at run time ('ledger.kind.' + k) end in a dot.
    for (const m of text.matchAll(/\bt\('([a-zA-Z0-9_.]+)'/g)) {
      if (!m[1].endsWith('.') && !(m[1] in en)) missing.push(`${path.relative(assets, file)}: ${m[1]}`);
    }
  }
  assert.deepEqual(missing, []);
});
