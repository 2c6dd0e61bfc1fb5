// The map: an embedded world outline (Natural Earth, via world-atlas),
// optional OpenStreetMap tiles, the devices' last positions as canvas
// circle markers, the global average, centroid and bounding box, and the
// selected device's track.

const L = window.L;

const FRESH_MS = 5 * 60 * 1000; // seen within 5 minutes: drawn as active

// Fill only, no stroke: a canvas redraw of 10,000 markers costs half as much.
const deviceStyle = { radius: 4, stroke: false, fillColor: '#2563eb', fillOpacity: 0.8 };
const staleStyle = { fillColor: '#94a3b8' };
const freshStyle = { fillColor: deviceStyle.fillColor };

/**
 * Makes each ring of a (Multi)Polygon continuous in longitude: world-atlas
 * keeps spherical coordinates, so a country across the antimeridian (Russia,
 * Fiji) would be drawn as a band around the world. A point more than 180°
 * from the previous one is moved by 360°.
 */
function unwrap(g) {
  if (!g) return;
  const polys = g.type === 'Polygon' ? [g.coordinates] : g.type === 'MultiPolygon' ? g.coordinates : [];
  for (const poly of polys) {
    for (const ring of poly) {
      for (let i = 1; i < ring.length; i++) {
        const d = ring[i][0] - ring[i - 1][0];
        if (d > 180) ring[i][0] -= 360;
        else if (d < -180) ring[i][0] += 360;
      }
    }
  }
}

export class FleetMap {
  /** @param {HTMLElement} el  @param {(id: string) => void} onSelect */
  constructor(el, onSelect) {
    this.map = L.map(el, { preferCanvas: true, minZoom: 1, worldCopyJump: false, zoomSnap: 0.5 });
    this.map.setView([25, 10], 2);
    this.map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    this.map.createPane('land').classList.add('land-pane');
    this.renderer = L.canvas({ padding: 0.3, tolerance: 4 });
    this.devices = L.featureGroup().addTo(this.map);
    this.markers = new Map(); // id → circle marker, with .t (last seen, ms)
    this.tip = L.tooltip({ direction: 'top', offset: [0, -4] });
    this.devices.on('mouseover', (e) => this.hover(e.layer));
    this.devices.on('mouseout', () => this.map.closeTooltip(this.tip));
    this.devices.on('click', (e) => onSelect(e.layer.deviceId));

    this.tiles = L.tileLayer('https://tile.openstreetmap.org/{z}/{x}/{y}.png', {
      maxZoom: 19,
      attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    });
    this.layers = L.control.layers(null, { 'OpenStreetMap tiles (online)': this.tiles }, { collapsed: true }).addTo(this.map);
    L.control.scale({ imperial: false }).addTo(this.map);
    this.legend().addTo(this.map);

    const mark = (cls, title) => {
      const shape = document.createElement('div'); // styled by CSS: Leaflet owns the icon's own transform
      shape.className = cls;
      return L.marker([0, 0], {
        icon: L.divIcon({ className: 'gs-mark', html: shape, iconSize: [16, 16] }), interactive: false, keyboard: false, title,
      });
    };
    this.avg = mark('gs-avg', 'arithmetic average');
    this.centroid = mark('gs-centroid', 'spherical centroid');
    this.bbox = L.rectangle([[0, 0], [0, 0]], { color: '#d97706', weight: 1.5, dashArray: '6 4', fill: false, interactive: false });
    this.ring = L.circleMarker([0, 0], { renderer: this.renderer, radius: 9, weight: 3, color: '#f97316', fill: false, interactive: false });
    this.track = L.polyline([], { renderer: this.renderer, color: '#f97316', weight: 2.5, opacity: 0.9, interactive: false });
    this.fitted = false;
  }

  /** Draws the embedded world outline (TopoJSON, converted in the page). */
  async loadBasemap(url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error('basemap: HTTP ' + r.status);
    const topo = await r.json();
    const land = window.topojson.feature(topo, topo.objects.countries);
    for (const f of land.features) unwrap(f.geometry);
    L.geoJSON(land, {
      pane: 'land', interactive: false, renderer: L.canvas({ pane: 'land', padding: 0.3 }),
      style: { color: '#94a3b8', weight: 0.6, fillColor: '#f8fafc', fillOpacity: 1 },
      attribution: 'World outline: <a href="https://www.naturalearthdata.com/">Natural Earth</a>',
    }).addTo(this.map);
  }

  legend() {
    const c = L.control({ position: 'bottomleft' });
    c.onAdd = () => {
      const div = L.DomUtil.create('div', 'legend');
      for (const [cls, text] of [['key-device', 'device (last position)'], ['key-stale', 'not seen for 5 min'],
        ['key-avg', 'average'], ['key-centroid', 'centroid'], ['key-bbox', 'bounding box'], ['key-track', 'selected device, track']]) {
        const row = L.DomUtil.create('div', '', div);
        L.DomUtil.create('span', 'key ' + cls, row);
        row.append(text);
      }
      return div;
    };
    return c;
  }

  hover(m) {
    const el = document.createElement('div');
    const b = document.createElement('b');
    b.textContent = m.deviceId;
    const ll = m.getLatLng();
    el.append(b, document.createElement('br'), `${ll.lat.toFixed(5)}°, ${ll.lng.toFixed(5)}°`,
      document.createElement('br'), 'seen ' + new Date(m.t).toISOString().replace('T', ' ').slice(0, 19) + ' UTC');
    this.tip.setLatLng(ll).setContent(el);
    this.map.openTooltip(this.tip);
  }

  /** Sets the devices' positions: [[id, lat, lon, t_ms], ...] (all of them). */
  setPositions(rows, now) {
    const seen = new Set();
    for (const [id, lat, lon, t] of rows) {
      seen.add(id);
      let m = this.markers.get(id);
      const fresh = now - t < FRESH_MS;
      if (!m) {
        m = L.circleMarker([lat, lon], { ...deviceStyle, ...(fresh ? freshStyle : staleStyle), renderer: this.renderer });
        m.deviceId = id;
        m.fresh = fresh;
        this.markers.set(id, m);
        this.devices.addLayer(m);
      } else {
        const ll = m.getLatLng();
        if (ll.lat !== lat || ll.lng !== lon) m.setLatLng([lat, lon]);
        if (m.fresh !== fresh) {
          m.fresh = fresh;
          m.setStyle(fresh ? freshStyle : staleStyle);
        }
      }
      m.t = t;
    }
    for (const [id, m] of this.markers) {
      if (!seen.has(id)) {
        this.devices.removeLayer(m);
        this.markers.delete(id);
      }
    }
  }

  /** Marks the global summary (/retrieve), or hides the marks for null. */
  setSummary(s) {
    const show = (layer, on) => (on ? layer.addTo(this.map) : layer.remove());
    show(this.avg, !!s);
    show(this.bbox, !!s);
    show(this.centroid, !!(s && s.centroid));
    if (!s) return;
    this.avg.setLatLng([s.average_latitude, s.average_longitude]);
    if (s.centroid) this.centroid.setLatLng([s.centroid.latitude, s.centroid.longitude]);
    const b = s.bbox;
    this.bbox.setBounds([[b.min_latitude, b.min_longitude], [b.max_latitude, b.max_longitude]]);
    if (!this.fitted) {
      this.fitted = true;
      this.map.fitBounds(this.bbox.getBounds(), { padding: [30, 30], maxZoom: 8 });
    }
  }

  /** Rings the selected device (null: none). */
  select(id) {
    const m = id && this.markers.get(id);
    if (!m) {
      this.ring.remove();
      return false;
    }
    this.ring.setLatLng(m.getLatLng()).addTo(this.map);
    return true;
  }

  follow(id) {
    const m = this.markers.get(id);
    if (m && this.map.hasLayer(this.ring)) this.ring.setLatLng(m.getLatLng());
  }

  /** Draws a track ([[lat, lon], ...]); empty hides it. */
  setTrack(latlngs) {
    this.track.setLatLngs(latlngs);
    if (latlngs.length) this.track.addTo(this.map);
    else this.track.remove();
  }

  panTo(id) {
    const m = this.markers.get(id);
    if (m) this.map.setView(m.getLatLng(), Math.max(this.map.getZoom(), 6));
  }

  latLng(id) {
    const m = this.markers.get(id);
    if (!m) return null;
    const ll = m.getLatLng();
    return [ll.lat, ll.lng];
  }
}
