// geostream's web UI: polls the API every 1.5 s and shows the fleet on a
// map, the global summary, the selected device and the time series.
// window.geostream exposes the page's state to tests (and the curious).

import { APIError, get, getKey, setKey } from './api.js';
import { FleetMap } from './map.js';
import { Charts, RANGES } from './charts.js';

const POLL_MS = 1500; // positions and summary
const CHART_MS = 5000; // series, device and track
const MAX_PAGES = 20; // of /positions: 200,000 devices

const $ = (id) => document.getElementById(id);

const state = {
  blocked: false, // waiting for a key: no polling
  selected: null,
  range: '1h',
  trackRoute: false, // the API has GET /devices/{id}/track (openapi.json)
  refreshes: 0, // completed polls, for tests
  chartAt: 0,
  timer: 0,
  summary: null,
  track: null,
};

const fleet = new FleetMap($('map'), (id) => select(id, false));
const charts = new Charts($('chart-count'), $('chart-pos'));

// ---- formatting: every number shown comes from one of these

const deg = (v) => (v == null ? '–' : v.toFixed(5) + '°');
const num = (v) => (v == null ? '–' : v.toLocaleString('en-US'));
const time = (s) => (s ? s.replace('T', ' ').slice(0, 19) + ' UTC' : '–');

function text(id, v, title) {
  const el = $(id);
  el.textContent = v;
  if (title !== undefined) el.title = title;
}

// ---- messages and the key prompt

function message(msg) {
  const el = $('message');
  el.textContent = msg || '';
  el.hidden = !msg;
}

function status(msg, bad) {
  const el = $('status');
  el.textContent = msg;
  el.classList.toggle('bad', !!bad);
}

function askKey(why) {
  state.blocked = true;
  clearTimeout(state.timer);
  $('key-error').textContent = why || '';
  status('waiting for an API key', true);
  const d = $('key-dialog');
  if (!d.open) d.showModal();
  $('key-input').focus();
}

$('key-form').addEventListener('submit', () => {
  setKey($('key-input').value.trim());
  $('key-input').value = '';
  state.blocked = false;
  $('key-forget').hidden = !getKey();
  poll();
});

$('key-forget').addEventListener('click', () => {
  setKey('');
  $('key-forget').hidden = true;
  askKey('');
});

/** Handles an error of any call; true when polling should go on. */
function failed(err, what) {
  if (!(err instanceof APIError)) throw err;
  if (err.status === 401) {
    setKey('');
    askKey(getKeyTried ? `The key was not accepted (401): ${err.message}` : '');
    return false;
  }
  if (err.status === 403 && /scope/.test(err.message)) {
    setKey('');
    askKey(`Refused (403): ${err.message}. Use a key with the scope read.`);
    return false;
  }
  if (err.status === 429) {
    status(`rate limited; retrying in ${err.retryAfter || 1} s`, true);
    return true;
  }
  if (err.status === 0 || err.status >= 500) {
    status(`API unavailable (${what}): ${err.message}; retrying`, true);
    return true;
  }
  message(`${what}: ${err.message}`);
  return true;
}
let getKeyTried = false;

// ---- polling

async function positions() {
  const rows = [];
  let cursor = '';
  for (let page = 0; page < MAX_PAGES; page++) {
    const p = await get('/positions' + (cursor ? '?cursor=' + encodeURIComponent(cursor) : ''));
    for (const r of p.positions) rows.push(r);
    if (!p.next_cursor) return { rows, complete: true };
    cursor = p.next_cursor;
  }
  return { rows, complete: false };
}

async function summary() {
  try {
    return await get('/retrieve');
  } catch (e) {
    if (e instanceof APIError && e.status === 400 && e.message === 'No data available for processing') return null;
    throw e;
  }
}

async function poll() {
  clearTimeout(state.timer);
  if (state.blocked) return;
  getKeyTried = !!getKey();
  let again = true;
  try {
    const [pos, sum] = await Promise.all([positions(), summary()]);
    fleet.setPositions(pos.rows, Date.now());
    showOverview(sum, pos);
    if (state.selected) fleet.follow(state.selected);
    if (Date.now() - state.chartAt >= CHART_MS) await slow();
    state.refreshes++;
    status('live · updated ' + new Date().toISOString().slice(11, 19) + ' UTC');
    if (getKey()) $('key-forget').hidden = false;
  } catch (e) {
    again = failed(e, 'refresh');
  }
  if (again) state.timer = setTimeout(poll, POLL_MS);
}

/** The slower refreshes: series, selected device, track. */
async function slow() {
  state.chartAt = Date.now();
  await Promise.all([series(), state.selected ? device(state.selected) : null]);
}

function showOverview(s, pos) {
  state.summary = s;
  fleet.setSummary(s);
  text('ov-devices', num(pos.rows.length) + (pos.complete ? '' : '+'));
  text('ov-count', s ? num(s.data_count) : '0');
  text('ov-avg-lat', deg(s && s.average_latitude));
  text('ov-avg-lon', deg(s && s.average_longitude));
  text('ov-cen-lat', deg(s && s.centroid && s.centroid.latitude));
  text('ov-cen-lon', deg(s && s.centroid && s.centroid.longitude));
  const b = s && s.bbox;
  text('ov-bbox-minlat', deg(b && b.min_latitude));
  text('ov-bbox-minlon', deg(b && b.min_longitude));
  text('ov-bbox-maxlat', deg(b && b.max_latitude));
  text('ov-bbox-maxlon', deg(b && b.max_longitude));
  text('ov-first', time(s && s.first_timestamp), (s && s.first_timestamp) || '');
  text('ov-last', time(s && s.last_timestamp), (s && s.last_timestamp) || '');
  if (!s) message('No data yet: upload points (POST /upload) or run the simulator.');
  else if ($('message').textContent.startsWith('No data yet')) message('');
}

// ---- charts

async function series() {
  const r = RANGES[state.range];
  let q = `/retrieve?window=${r.window}&interval=${r.interval}`;
  if (state.selected) q += '&device_id=' + encodeURIComponent(state.selected);
  try {
    const a = await get(q);
    charts.set(a);
    charts.query = q;
    $('chart-msg').hidden = true;
  } catch (e) {
    if (!(e instanceof APIError) || e.status !== 400) throw e;
    charts.clear();
    charts.query = q;
    // No data in range is a 400 too; anything else is the API's refusal, shown as is.
    $('chart-msg').textContent = e.message === 'No data available for processing' ? 'No points in this range.' : e.message;
    $('chart-msg').hidden = false;
  }
}

for (const b of document.querySelectorAll('.range button')) {
  b.addEventListener('click', () => {
    state.range = b.dataset.range;
    for (const o of document.querySelectorAll('.range button')) o.classList.toggle('on', o === b);
    $('chart-count-title').textContent = 'Points per ' + RANGES[state.range].unit;
    refreshSlow();
  });
}

function refreshSlow() {
  slow().catch((e) => failed(e, 'charts'));
}

// ---- the selected device

async function select(id, pan) {
  state.selected = id;
  state.track = null;
  fleet.setTrack([]);
  $('device').hidden = !id;
  $('chart-scope').textContent = id || 'all devices';
  if (id) {
    text('dev-id', id);
    fleet.select(id);
    if (pan) fleet.panTo(id);
  } else {
    fleet.select(null);
  }
  refreshSlow();
}

async function device(id) {
  let d;
  try {
    d = await get('/devices/' + encodeURIComponent(id));
  } catch (e) {
    if (e instanceof APIError && e.status === 404 && state.selected === id) {
      message(`No device ${id}: no point of it has been counted.`);
      select(null);
      return;
    }
    throw e;
  }
  if (state.selected !== id) return;
  const lp = d.last_position || {};
  text('dev-count', num(d.count));
  text('dev-last-seen', time(d.last_seen), d.last_seen || '');
  text('dev-lat', deg(lp.latitude));
  text('dev-lon', deg(lp.longitude));
  text('dev-avg-lat', deg(d.summary.average_latitude));
  text('dev-avg-lon', deg(d.summary.average_longitude));
  const speed = d.speed ?? lp.speed, alt = d.altitude ?? lp.altitude;
  extra('dev-speed', speed == null ? null : speed.toFixed(1) + ' m/s');
  extra('dev-alt', alt == null ? null : alt.toFixed(0) + ' m');
  if (state.trackRoute) await track(id);
  else text('dev-track', 'not available from this server');
}

function extra(id, v) {
  const dd = $(id);
  dd.textContent = v || '–';
  dd.hidden = v == null;
  dd.previousElementSibling.hidden = v == null;
}

/** Reads /devices/{id}/track: a LineString Feature, or a FeatureCollection of Points. */
async function track(id) {
  const g = await get('/devices/' + encodeURIComponent(id) + '/track?format=linestring');
  if (state.selected !== id) return;
  let coords = [];
  if (g && g.type === 'Feature' && g.geometry && g.geometry.type === 'LineString') coords = g.geometry.coordinates;
  else if (g && g.type === 'FeatureCollection') coords = g.features.filter((f) => f.geometry && f.geometry.type === 'Point').map((f) => f.geometry.coordinates);
  state.track = coords.map(([lon, lat]) => [lat, lon]);
  fleet.setTrack(state.track);
  text('dev-track', num(state.track.length) + ' points');
}

$('dev-close').addEventListener('click', () => select(null));

$('search').addEventListener('submit', (e) => {
  e.preventDefault();
  const id = $('search-id').value.trim();
  if (!id) return;
  message('');
  select(id, true);
});

// ---- start

async function start() {
  $('key-forget').hidden = !getKey();
  try {
    const doc = await (await fetch('/openapi.json')).json();
    state.trackRoute = !!(doc.paths && doc.paths['/devices/{id}/track']);
  } catch {
    state.trackRoute = false;
  }
  await fleet.loadBasemap('/ui/vendor/countries-110m.json');
  poll();
}

window.geostream = {
  state,
  markerCount: () => fleet.markers.size,
  markerLatLng: (id) => fleet.latLng(id),
  chartData: () => ({ query: charts.query || '', ...charts.data }),
  trackLatLngs: () => state.track,
  select: (id) => select(id, true),
  map: fleet.map,
  fleet,
};

start().catch((e) => {
  message('The page could not start: ' + e.message);
});
