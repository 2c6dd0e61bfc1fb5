// The charts: points per interval and average latitude/longitude over a
// range, from /retrieve?window=…&interval=… (uPlot).

const uPlot = window.uPlot;

/** The ranges of the picker: window and interval of /retrieve. */
export const RANGES = {
  '1h': { window: '1h', interval: '1m', unit: 'minute' },
  '24h': { window: '24h', interval: '1h', unit: 'hour' },
  '30d': { window: '30d', interval: '1d', unit: 'day' },
};

const axis = { stroke: '#475569', grid: { stroke: '#e2e8f0', width: 1 }, ticks: { stroke: '#cbd5e1', width: 1 } };

export class Charts {
  constructor(countEl, posEl) {
    this.countEl = countEl;
    this.posEl = posEl;
    this.data = { x: [], count: [], lat: [], lon: [] };
    const width = () => Math.max(200, countEl.clientWidth);
    this.count = new uPlot({
      width: width(), height: 140, legend: { show: false }, cursor: { y: false },
      scales: { x: { time: true } },
      axes: [axis, { ...axis, size: 50 }],
      series: [{}, {
        label: 'points', stroke: '#2563eb', fill: 'rgba(59,130,246,0.35)',
        paths: uPlot.paths.bars({ size: [0.8, 24] }), points: { show: false },
      }],
    }, [[], []], countEl);
    this.pos = new uPlot({
      width: width(), height: 160, cursor: { y: false },
      scales: { x: { time: true }, lat: {}, lon: {} },
      axes: [axis, { ...axis, scale: 'lat', size: 56, values: (u, v) => v.map((d) => d + '°') },
        { ...axis, scale: 'lon', side: 1, size: 56, grid: { show: false }, values: (u, v) => v.map((d) => d + '°') }],
      series: [{}, { label: 'avg latitude', scale: 'lat', stroke: '#059669', width: 2, spanGaps: false },
        { label: 'avg longitude', scale: 'lon', stroke: '#9333ea', width: 2, spanGaps: false }],
    }, [[], [], []], posEl);
    new ResizeObserver(() => {
      const w = width();
      this.count.setSize({ width: w, height: 140 });
      this.pos.setSize({ width: w, height: 160 });
    }).observe(countEl);
  }

  /** Shows a ranged /retrieve answer's series. */
  set(answer) {
    const x = [], count = [], lat = [], lon = [];
    for (const s of answer.series || []) {
      x.push(Date.parse(s.from) / 1000);
      count.push(s.data_count);
      lat.push(s.data_count ? s.average_latitude : null);
      lon.push(s.data_count ? s.average_longitude : null);
    }
    this.data = { x, count, lat, lon };
    this.count.setData([x, count]);
    this.pos.setData([x, lat, lon]);
  }

  clear() {
    this.set({ series: [] });
  }
}
