// Halong console: the JSON API client. Every path the page calls is in API below (a unit
// test checks each against docs/api/openapi.yaml, with the methods used in api() calls).
'use strict';
(function (root) {
  const API = {
    login: '/api/v1/login',
    logout: '/api/v1/logout',
    whoami: '/api/v1/whoami',
    alerts: '/api/v1/alerts',
    alertStats: '/api/v1/alerts/stats',
    alertsBulk: '/api/v1/alerts/bulk',
    alert: '/api/v1/alerts/{id}',
    incidents: '/api/v1/incidents',
    incident: '/api/v1/incidents/{id}',
    stream: '/api/v1/stream',
    agents: '/api/v1/agents',
    rulesets: '/api/v1/rulesets',
    audit: '/api/v1/audit',
    auditVerify: '/api/v1/audit/verify',
    report: '/api/v1/reports/monthly',
  };
  const CSRF_KEY = 'halong.csrf';

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
    // "forbidden: role auditor cannot change anything (HTTP 403)"
    display() { return (this.code ? this.code + ': ' : '') + this.message + ' (HTTP ' + this.status + ')'; }
  }

  // The CSRF token the login gave; kept for this tab only (sessionStorage) so a reload keeps
  // working. The session cookie itself is HttpOnly: the page never sees it.
  const session = {
    csrf: null,
    load() {
      try { this.csrf = root.sessionStorage.getItem(CSRF_KEY); } catch (e) { this.csrf = null; }
      return this.csrf;
    },
    save(token) {
      this.csrf = token || null;
      try {
        if (token) root.sessionStorage.setItem(CSRF_KEY, token);
        else root.sessionStorage.removeItem(CSRF_KEY);
      } catch (e) { /* storage disabled: the token lives in memory only */ }
    },
  };

  let onUnauthorized = null;

  function withId(template, id) { return template.replace('{id}', encodeURIComponent(String(id))); }

  // One API call. `query` is an object of parameters; `body` is sent as JSON. State-changing
  // calls carry X-CSRF-Token. Resolves with the parsed JSON; rejects with ApiError whose
  // message is the API's own error message.
  async function api(method, template, opts) {
    const o = opts || {};
    let url = o.id !== undefined ? withId(template, o.id) : template;
    if (o.query) {
      const q = root.HalongUtil.buildQuery(o.query);
      if (q) url += '?' + q;
    }
    const headers = { 'Accept': 'application/json' };
    if (o.body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
    let res;
    try {
      res = await fetch(url, {
        method: method,
        headers: headers,
        body: o.body !== undefined ? JSON.stringify(o.body) : undefined,
        credentials: 'same-origin',
        cache: 'no-store',
        redirect: 'error',
      });
    } catch (e) {
      throw new ApiError(0, 'unavailable', 'cannot reach the collector: ' + e.message);
    }
    let data = null;
    const type = res.headers.get('Content-Type') || '';
    if (type.indexOf('application/json') === 0) {
      try { data = await res.json(); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const err = data && data.error ? data.error : {};
      const e = new ApiError(res.status, err.code || 'http_' + res.status, err.message || res.statusText || 'request failed');
      if (typeof err.report === 'string') e.report = err.report;  // a refused ruleset's per-rule report
      if (res.status === 401 && template !== API.login && onUnauthorized) onUnauthorized(e);
      throw e;
    }
    return data;
  }

  // ws:// or wss:// URL of the live stream for these filters (same origin, cookie auth).
  function streamUrl(filters) {
    const proto = root.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = root.HalongUtil.buildQuery(filters || {});
    return proto + '//' + root.location.host + API.stream + (q ? '?' + q : '');
  }

  root.HalongApi = {
    API, ApiError, session, api, withId, streamUrl,
    setUnauthorizedHandler(fn) { onUnauthorized = fn; },
  };
})(typeof window !== 'undefined' ? window : globalThis);
