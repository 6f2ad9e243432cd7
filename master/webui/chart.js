// A line chart on a canvas: the share of CPUs and memory in use over the last minutes.

/** Draws `series` ([{label, color, points: [[t, value 0..1], ...]}]) over the last `span` ms. */
export function drawChart(canvas, series, span) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600, height = canvas.clientHeight || 180;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const g = canvas.getContext('2d');
  g.scale(ratio, ratio);
  const pad = { left: 40, right: 10, top: 10, bottom: 22 };
  const w = width - pad.left - pad.right, hgt = height - pad.top - pad.bottom;
  const now = Date.now(), from = now - span;
  g.clearRect(0, 0, width, height);
  g.font = '11px system-ui, sans-serif';
  g.strokeStyle = '#ddd';
  g.fillStyle = '#666';
  g.lineWidth = 1;
  for (const pct of [0, 25, 50, 75, 100]) {
    const y = pad.top + hgt - (pct / 100) * hgt;
    g.beginPath();
    g.moveTo(pad.left, y);
    g.lineTo(pad.left + w, y);
    g.stroke();
    g.fillText(`${pct}%`, 4, y + 4);
  }
  for (let m = 0; m * 60000 <= span; m++) {
    const x = pad.left + w - (m * 60000 / span) * w;
    g.fillText(m ? `-${m}m` : 'now', x - 10, height - 6);
  }
  for (const s of series) {
    g.strokeStyle = s.color;
    g.lineWidth = 2;
    g.beginPath();
    let first = true;
    for (const [t, v] of s.points) {
      if (t < from) continue;
      const x = pad.left + ((t - from) / span) * w;
      const y = pad.top + hgt - Math.max(0, Math.min(1, v)) * hgt;
      if (first) { g.moveTo(x, y); first = false; } else g.lineTo(x, y);
    }
    g.stroke();
  }
  let x = pad.left + 8;
  for (const s of series) {
    g.fillStyle = s.color;
    g.fillRect(x, pad.top + 2, 10, 10);
    g.fillStyle = '#333';
    g.fillText(s.label, x + 14, pad.top + 11);
    x += g.measureText(s.label).width + 34;
  }
}
