// Halong console: pure helpers (no DOM, no network), shared by app.js and tested with node
// (tests/unit/collector_web/util_test.js).
'use strict';
(function (root) {
  const SEVERITY_NAMES = { 1: 'critical', 2: 'high', 3: 'medium', 4: 'low' };
  const STATUSES = ['new', 'acknowledged', 'investigating', 'resolved', 'false_positive'];
  // Every filter GET /api/v1/alerts accepts (docs/api.md), in the order they are shown.
  const ALERT_FILTERS = ['from', 'to', 'agent', 'agency', 'sid', 'engine', 'severity', 'category',
    'src_ip', 'dest_ip', 'port', 'status', 'assignee', 'incident', 'q'];
  const INCIDENT_FILTERS = ['status', 'agent', 'agency', 'sid', 'limit'];
  const RANGES = { '15m': 900, '1h': 3600, '24h': 86400, '7d': 7 * 86400, '30d': 30 * 86400 };

  function severityName(n) {
    const k = Number(n);
    return SEVERITY_NAMES[k] || ('sev ' + String(n));
  }
  // CSS class suffix for a severity: 1..4, else "other".
  function severityClass(n) {
    const k = Number(n);
    return k >= 1 && k <= 4 ? String(k) : 'other';
  }
  function statusLabel(s) { return String(s || '').replace(/_/g, ' '); }

  // A query string from an object: keys in `keys` order (or the object's), empty values left out.
  function buildQuery(params, keys) {
    const q = new URLSearchParams();
    for (const k of keys || Object.keys(params)) {
      const v = params[k];
      if (v === undefined || v === null) continue;
      const s = String(v).trim();
      if (s !== '') q.append(k, s);
    }
    return q.toString();
  }

  // A "YYYY-MM-DDTHH:MM[:SS]" value of <input type=datetime-local> (browser local time) to
  // RFC 3339 UTC; '' when empty or invalid.
  function localInputToIso(v) {
    if (!v) return '';
    const d = new Date(v);
    return isNaN(d.getTime()) ? '' : d.toISOString();
  }
  function pad(n, w) { return String(n).padStart(w || 2, '0'); }
  function isoToLocalInput(iso) {
    const d = new Date(iso);
    if (isNaN(d.getTime())) return '';
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  // The UI filter form (range, from/to as datetime-local, the rest as the API names them) to
  // the API's query parameters. A range ("24h") means from = now - range.
  function apiAlertFilters(ui, nowMs) {
    const out = {};
    for (const k of ALERT_FILTERS) {
      const v = ui[k];
      if (v !== undefined && v !== null && String(v).trim() !== '') out[k] = String(v).trim();
    }
    delete out.from;
    delete out.to;
    if (ui.range && RANGES[ui.range]) {
      out.from = new Date(nowMs - RANGES[ui.range] * 1000).toISOString();
    } else if (ui.range === 'custom') {
      const f = localInputToIso(ui.from), t = localInputToIso(ui.to);
      if (f) out.from = f;
      if (t) out.to = t;
    }
    return out;
  }

  // The live stream takes the same filters as /alerts but no time range (new alerts only).
  function streamFilters(apiFilters) {
    const out = Object.assign({}, apiFilters);
    delete out.from;
    delete out.to;
    delete out.cursor;
    delete out.limit;
    return out;
  }

  // Would this alert (API JSON) be listed under these API filters? Used to place live alerts
  // and to drop rows that a triage change moved out of the filter. Mirrors the server's
  // matching for the fields the page can see; the server remains the authority.
  function alertMatches(a, f) {
    const al = a.alert || {};
    const ag = a.agent || {};
    const tr = a.triage || {};
    if (f.agent && ag.id !== f.agent) return false;
    if (f.agency && ag.agency !== f.agency) return false;
    if (f.sid && String(al.signature_id) !== String(f.sid)) return false;
    if (f.engine && al.engine !== f.engine) return false;
    if (f.severity) {
      const names = { critical: 1, high: 2, medium: 3, low: 4 };
      const min = names[f.severity] || Number(f.severity);
      if (!(Number(al.severity) <= min)) return false;
    }
    if (f.category && al.category !== f.category) return false;
    if (f.port && String(a.src_port) !== String(f.port) && String(a.dest_port) !== String(f.port)) return false;
    if (f.status && (tr.status || 'new') !== f.status) return false;
    if (f.assignee) {
      const want = f.assignee === '-' ? '' : f.assignee;
      if ((tr.assignee || '') !== want) return false;
    }
    if (f.incident && String(tr.incident) !== String(f.incident)) return false;
    if (f.q && String(al.signature || '').toLowerCase().indexOf(String(f.q).toLowerCase()) < 0) return false;
    return true;  // src_ip/dest_ip CIDRs and time are left to the server
  }

  // A Date from the API's time forms: RFC 3339 (also "+0700" offsets and µs fractions, which
  // not every browser's Date parser takes) or a number of µs since the epoch.
  function parseTime(t) {
    if (typeof t === 'number') return new Date(Math.floor(t / 1000));
    const s = String(t || '').trim()
      .replace(/(\.\d{3})\d+/, '$1')
      .replace(/([+-]\d\d)(\d\d)$/, '$1:$2');
    return new Date(s);
  }
  // "2026-11-23 12:00:01" in the browser's time zone (or UTC), from RFC 3339 or µs.
  function formatTime(t, utc) {
    const d = parseTime(t);
    if (isNaN(d.getTime())) return String(t === undefined || t === null ? '' : t);
    if (utc) {
      return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
        pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds());
    }
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function relativeTime(t, nowMs) {
    const d = parseTime(t);
    if (isNaN(d.getTime())) return '';
    let s = Math.round((nowMs - d.getTime()) / 1000);
    if (s < -60) return 'in the future (clock skew?)';
    if (s < 5) return 'just now';
    if (s < 60) return s + 's ago';
    if (s < 3600) return Math.floor(s / 60) + 'm ago';
    if (s < 86400) return Math.floor(s / 3600) + 'h ago';
    return Math.floor(s / 86400) + 'd ago';
  }
  function formatCount(n) {
    if (n === undefined || n === null || n === '') return '';
    const x = Number(n);
    if (!isFinite(x)) return String(n);
    return x.toLocaleString('en-US');
  }
  function endpoint(ip, port) {
    if (!ip) return '';
    const p = port !== undefined && port !== null && port !== 0 ? String(port) : '';
    if (!p) return ip;
    return ip.indexOf(':') >= 0 ? '[' + ip + ']:' + p : ip + ':' + p;
  }

  // "#alerts?sid=1&agent=a" <-> {view:'alerts', params:{sid:'1',agent:'a'}}
  function parseHash(hash) {
    const h = String(hash || '').replace(/^#/, '');
    const i = h.indexOf('?');
    const view = (i < 0 ? h : h.slice(0, i)) || 'alerts';
    const params = {};
    if (i >= 0) new URLSearchParams(h.slice(i + 1)).forEach((v, k) => { params[k] = v; });
    return { view: view, params: params };
  }
  function formatHash(view, params) {
    const q = buildQuery(params || {});
    return '#' + view + (q ? '?' + q : '');
  }

  // Histogram bucket (seconds) for a filter: about 30-100 bars over the range shown.
  function bucketFor(apiFilters, nowMs) {
    const from = apiFilters.from ? parseTime(apiFilters.from).getTime() : NaN;
    const to = apiFilters.to ? parseTime(apiFilters.to).getTime() : nowMs;
    const span = isNaN(from) ? 30 * 86400 : Math.max(60, (to - from) / 1000);
    for (const b of [60, 300, 900, 3600, 3 * 3600, 6 * 3600]) if (span / b <= 100) return b;
    return 86400;
  }

  const api = {
    SEVERITY_NAMES, STATUSES, ALERT_FILTERS, INCIDENT_FILTERS, RANGES,
    severityName, severityClass, statusLabel, buildQuery, parseTime, localInputToIso, isoToLocalInput,
    apiAlertFilters, streamFilters, alertMatches, formatTime, relativeTime, formatCount, endpoint,
    parseHash, formatHash, bucketFor,
  };
  root.HalongUtil = api;
  if (typeof module === 'object' && module.exports) module.exports = api;
})(typeof window !== 'undefined' ? window : globalThis);
