// plot.mjs - per-tensor quality as an SVG bar chart (our own drawing, no library).
// points: [{name, value}] in model order; value in dB (SQNR). Returns an <svg> element.
const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}

// A "nice" axis step for a range (1, 2 or 5 times a power of ten).
function niceStep(range, ticks) {
  const raw = range / ticks, p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
}

export function qualityPlot(points, { unit = 'dB', label = 'SQNR' } = {}) {
  const W = 960, H = 300, L = 56, R = 12, T = 16, B = 28;
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${label} per tensor` });
  const finite = points.filter((p) => Number.isFinite(p.value));
  if (finite.length === 0) {
    svg.append(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no quantized tensors'));
    return svg;
  }
  const max = Math.max(...finite.map((p) => p.value)), min = Math.min(0, ...finite.map((p) => p.value));
  const step = niceStep(max - min || 1, 5);
  const top = Math.ceil(max / step) * step, bottom = Math.floor(min / step) * step;
  const y = (v) => T + (H - T - B) * (1 - (v - bottom) / (top - bottom || 1));
  for (let v = bottom; v <= top + 1e-9; v += step) {
    svg.append(el('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#d0d7de' }));
    svg.append(el('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#59636e' }, `${+v.toFixed(2)}`));
  }
  svg.append(el('text', { x: 12, y: T + (H - T - B) / 2, 'font-size': 11, fill: '#59636e',
    transform: `rotate(-90 12 ${T + (H - T - B) / 2})`, 'text-anchor': 'middle' }, `${label} (${unit})`));
  const bw = (W - L - R) / points.length;
  points.forEach((p, i) => {
    if (!Number.isFinite(p.value)) return;
    const x = L + i * bw, y0 = y(Math.max(0, bottom)), y1 = y(p.value);
    const r = el('rect', { x: x + bw * 0.1, width: Math.max(bw * 0.8, 0.5), y: Math.min(y0, y1),
      height: Math.max(Math.abs(y0 - y1), 0.5), fill: '#0b5cad' });
    r.append(el('title', {}, `${p.name}: ${p.value.toFixed(2)} ${unit}`));
    svg.append(r);
  });
  svg.append(el('text', { x: (L + W - R) / 2, y: H - 8, 'text-anchor': 'middle', 'font-size': 11, fill: '#59636e' },
    `${finite.length} quantized tensors, in model order (hover a bar for its name)`));
  return svg;
}
