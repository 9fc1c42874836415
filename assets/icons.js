// Inline stroke icons built with createElementNS (no icon font, no network): icon('key').

const NS = 'http://www.w3.org/2000/svg'; // XML namespace identifier, never fetched

const R = (x, y, width, height, rx = 2) => ['rect', { x, y, width, height, rx }];
const C = (cx, cy, r) => ['circle', { cx, cy, r }];
const P = (d) => ['path', { d }];

const ICONS = {
  dashboard: [R(3, 3, 7, 9, 1), R(14, 3, 7, 5, 1), R(14, 12, 7, 9, 1), R(3, 16, 7, 5, 1)],
  key: [C(7.5, 15.5, 5.5), P('M21 2l-9.6 9.6'), P('M15.5 7.5l3 3L22 7l-3-3')],
  logs: [P('M8 6h13M8 12h13M8 18h13M3 6h.01M3 12h.01M3 18h.01')],
  wallet: [P('M20 12V8H6a2 2 0 0 1 0-4h12v4'), P('M4 6v12a2 2 0 0 0 2 2h14v-4'), P('M18 12a2 2 0 0 0 0 4h4v-4z')],
  user: [P('M20 21v-2a4 4 0 0 0-4-4H8a4 4 0 0 0-4 4v2'), C(12, 7, 4)],
  users: [
    P('M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2'),
    C(9, 7, 4),
    P('M23 21v-2a4 4 0 0 0-3-3.87'),
    P('M16 3.13a4 4 0 0 1 0 7.75'),
  ],
  ticket: [
    P('M3 7a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2v3a2 2 0 0 0 0 4v3a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-3a2 2 0 0 0 0-4z'),
    P('M13 5v2M13 11v2M13 17v2'),
  ],
  server: [R(2, 2, 20, 8), R(2, 14, 20, 8), P('M6 6h.01M6 18h.01')],
  tag: [P('M20.59 13.41l-7.17 7.17a2 2 0 0 1-2.83 0L2 12V2h10l8.59 8.59a2 2 0 0 1 0 2.82z'), P('M7 7h.01')],
  menu: [P('M3 6h18M3 12h18M3 18h18')],
  close: [P('M18 6L6 18M6 6l12 12')],
  logout: [P('M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4'), P('M16 17l5-5-5-5'), P('M21 12H9')],
  copy: [R(9, 9, 13, 13), P('M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1')],
  chart: [P('M3 3v18h18'), P('M18 17V9'), P('M13 17V5'), P('M8 17v-3')],
  globe: [
    C(12, 12, 10),
    P('M2 12h20'),
    P('M12 2a15.3 15.3 0 0 1 4 10 15.3 15.3 0 0 1-4 10 15.3 15.3 0 0 1-4-10 15.3 15.3 0 0 1 4-10z'),
  ],
  alert: [C(12, 12, 10), P('M12 8v4M12 16h.01')],
  info: [C(12, 12, 10), P('M12 16v-4M12 8h.01')],
  check: [P('M20 6L9 17l-5-5')],
  gift: [
    P('M20 12v10H4V12'),
    R(2, 7, 20, 5, 0),
    P('M12 22V7'),
    P('M12 7H7.5a2.5 2.5 0 0 1 0-5C11 2 12 7 12 7z'),
    P('M12 7h4.5a2.5 2.5 0 0 0 0-5C13 2 12 7 12 7z'),
  ],
  refresh: [P('M23 4v6h-6'), P('M20.49 15a9 9 0 1 1-2.12-9.36L23 10')],
  terminal: [P('M4 17l6-6-6-6'), P('M12 19h8')],
};

/** An aria-hidden SVG icon; unknown names render an empty box of the same size. */
export function icon(name, { size = 18, className = 'icon' } = {}) {
  const svg = document.createElementNS(NS, 'svg');
  const attrs = {
    viewBox: '0 0 24 24',
    width: size,
    height: size,
    fill: 'none',
    stroke: 'currentColor',
    'stroke-width': 2,
    'stroke-linecap': 'round',
    'stroke-linejoin': 'round',
    'aria-hidden': 'true',
    focusable: 'false',
    class: className,
  };
  for (const [k, v] of Object.entries(attrs)) svg.setAttribute(k, String(v));
  for (const [tag, a] of ICONS[name] || []) {
    const child = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(a)) child.setAttribute(k, String(v));
    svg.appendChild(child);
  }
  return svg;
}
