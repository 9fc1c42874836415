// Small SVG charts drawn by hand (no library): vertical bars by day (one or more series, with a
// value axis), horizontal bars by name. Values may be integers or decimal strings; bar lengths are
// ratios computed with BigInt against a round axis maximum, so money values never pass through
// floats on their way to the screen.

import { h } from './dom.js';
import { parseDecimal, niceCeiling, halfOf } from './money.js';

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

/** value / max as a number in [0, 1], to 1/10000 (enough for pixels); the last value is the max. */
function ratios(values, max) {
  const units = scaled(max === undefined ? values : [...values, max]);
  const top = max === undefined ? units.reduce((m, u) => (u > m ? u : m), 0n) : units.pop();
  return units.map((u) => (top === 0n ? 0 : Number((u * 10000n) / top) / 10000));
}

/**
 * Vertical bars: barChart({ points: [{ label, values: [v, ...], title }], series: [{ name,
 * className }], format: (value) => text, ariaLabel }). A single series may pass `value` per point.
 * The value axis (0, half, a round maximum) and the day labels are HTML beside and under the SVG
 * (which stretches to its box), so text is never distorted. `title` is each day's tooltip.
 */
export function barChart({ points, series = [{ className: '' }], format = String, ariaLabel = '' }) {
  const W = 600;
  const H = 200;
  const n = Math.max(points.length, 1);
  const k = series.length;
  const slot = W / n;
  const groupW = Math.max(2, Math.min(28 * k, slot * 0.72));
  const barW = groupW / k;
  const valuesOf = (p) => (p.values ? p.values : [p.value]);
  const all = points.flatMap(valuesOf);
  const top = niceCeiling(all);
  const r = ratios(all, top);

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': ariaLabel, preserveAspectRatio: 'none' });
  for (const f of [0, 0.5, 1]) {
    const y = Math.min(H - 0.5, Math.max(0.5, H * (1 - f)));
    svg.appendChild(s('line', { x1: 0, x2: W, y1: y, y2: y, class: f === 0 ? 'chart-axis' : 'chart-grid', 'vector-effect': 'non-scaling-stroke' }));
  }
  points.forEach((p, i) => {
    const group = s('g', null, s('title', null, p.title || ''));
    valuesOf(p).forEach((_, j) => {
      const ratio = r[i * k + j];
      const x = slot * i + (slot - groupW) / 2 + j * barW;
      const bh = Math.max(ratio > 0 ? 2 : 0, H * ratio);
      group.appendChild(s('rect', { x: x.toFixed(1), y: (H - bh).toFixed(1), width: Math.max(1, barW - (k > 1 ? 1 : 0)).toFixed(1), height: bh.toFixed(1), class: ['chart-bar', series[j] && series[j].className].filter(Boolean).join(' ') }));
    });
    svg.appendChild(group);
  });
  // Label about seven days (four on a phone), counting back from the newest, always labelled.
  const every = Math.ceil(n / 7);
  const labels = h(
    'div',
    { class: 'chart-labels', 'aria-hidden': 'true' },
    points.map((p, i) => {
      const back = n - 1 - i;
      // Every other shown label steps aside on a phone, where seven would touch.
      const cls = back % every !== 0 ? 'chart-label chart-label-hidden' : (back / every) % 2 === 1 ? 'chart-label chart-label-alt' : 'chart-label';
      return h('span', { class: cls }, p.label);
    }),
  );
  labels.style.gridTemplateColumns = `repeat(${n}, minmax(0, 1fr))`; // CSSOM, allowed by the CSP
  const axis = h(
    'div',
    { class: 'chart-axis-labels', 'aria-hidden': 'true' },
    h('span', { class: 'axis-top' }, format(top)),
    h('span', { class: 'axis-mid' }, format(halfOf(top) ?? '0')),
    h('span', { class: 'axis-zero' }, format('0')),
  );
  const legend =
    k > 1
      ? h(
          'div',
          { class: 'chart-legend' },
          series.map((x) => h('span', { class: 'legend-item' }, h('span', { class: ['legend-swatch', x.className].filter(Boolean).join(' ') }), x.name)),
        )
      : null;
  return h('div', { class: 'chart-box' }, legend, h('div', { class: 'chart-plot' }, axis, h('div', { class: 'chart-area' }, svg, labels)));
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
      return h('li', { class: 'hbar-row' }, h('div', { class: 'hbar-head' }, h('span', { class: 'hbar-name', title: item.name }, item.name), h('span', { class: 'hbar-text' }, item.text)), svg);
    }),
  );
}
