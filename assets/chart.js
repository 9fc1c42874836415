// Small SVG charts drawn by hand (no library): vertical bars by day, horizontal bars by name.
// Values may be integers or decimal strings; bar lengths are ratios computed with BigInt, so money
// values never pass through floats on their way to the screen.

import { h } from './dom.js';
import { parseDecimal } from './money.js';

const NS = 'http://www.w3.org/2000/svg'; // XML namespace identifier, never fetched

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

/** Values as BigInts at one common scale, so they can be compared and divided exactly. */
function scaled(values) {
  const parsed = values.map((v) => parseDecimal(String(v ?? '0')) || { units: 0n, scale: 0 });
  const scale = Math.max(0, ...parsed.map((p) => p.scale));
  return parsed.map((p) => {
    const u = p.units * 10n ** BigInt(scale - p.scale);
    return u < 0n ? 0n : u;
  });
}

/** value / max as a number in [0, 1], to 1/10000 (enough for pixels). */
function ratios(values) {
  const units = scaled(values);
  const max = units.reduce((m, u) => (u > m ? u : m), 0n);
  return units.map((u) => (max === 0n ? 0 : Number((u * 10000n) / max) / 10000));
}

/**
 * Vertical bars: barChart({ points: [{ label, value, title }], ariaLabel }).
 * The bars are SVG (stretched to the box); the labels under them are HTML so text never distorts.
 * Every few labels are shown, so they never collide; `title` is each bar's tooltip.
 */
export function barChart({ points, ariaLabel = '' }) {
  const W = 600;
  const H = 200;
  const n = Math.max(points.length, 1);
  const slot = W / n;
  const barW = Math.max(2, Math.min(28, slot * 0.7));
  const r = ratios(points.map((p) => p.value));
  const every = Math.ceil(n / 7);

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': ariaLabel, preserveAspectRatio: 'none' });
  for (const f of [0, 0.5, 1]) {
    const y = Math.min(H - 0.5, Math.max(0.5, H * (1 - f)));
    svg.appendChild(s('line', { x1: 0, x2: W, y1: y, y2: y, class: f === 0 ? 'chart-axis' : 'chart-grid', 'vector-effect': 'non-scaling-stroke' }));
  }
  points.forEach((p, i) => {
    const x = slot * i + (slot - barW) / 2;
    const bh = Math.max(r[i] > 0 ? 2 : 0, (H - 4) * r[i]);
    svg.appendChild(s('rect', { x: x.toFixed(1), y: (H - bh).toFixed(1), width: barW.toFixed(1), height: bh.toFixed(1), class: 'chart-bar' }, s('title', null, p.title || '')));
  });
  // Label every `every`-th bar counting back from the newest, which is always labelled.
  const labels = h(
    'div',
    { class: 'chart-labels', 'aria-hidden': 'true' },
    points.map((p, i) => h('span', { class: (n - 1 - i) % every === 0 ? 'chart-label' : 'chart-label chart-label-hidden' }, p.label)),
  );
  labels.style.gridTemplateColumns = `repeat(${n}, minmax(0, 1fr))`; // CSSOM, allowed by the CSP
  return h('div', { class: 'chart-box' }, svg, labels);
}

/** Horizontal bars with text: hbarList([{ name, value, text }]) → a list whose bars compare `value`. */
export function hbarList(items) {
  const r = ratios(items.map((i) => i.value));
  return h(
    'ul',
    { class: 'hbars' },
    items.map((item, i) => {
      const svg = s('svg', { viewBox: '0 0 100 8', class: 'hbar', preserveAspectRatio: 'none', 'aria-hidden': 'true' },
        s('rect', { x: 0, y: 0, width: 100, height: 8, rx: 4, class: 'hbar-track' }),
        s('rect', { x: 0, y: 0, width: Math.max(r[i] > 0 ? 1 : 0, 100 * r[i]).toFixed(2), height: 8, rx: 4, class: 'hbar-fill' }),
      );
      return h('li', { class: 'hbar-row' }, h('div', { class: 'hbar-head' }, h('span', { class: 'hbar-name' }, item.name), h('span', { class: 'hbar-text' }, item.text)), svg);
    }),
  );
}
