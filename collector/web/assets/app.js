// Halong console: the single-page app (views, triage, live stream). Plain DOM: every value
// from the API goes through textContent / createTextNode / setAttribute, never HTML parsing.
'use strict';
(function () {
  const U = window.HalongUtil;
  const { API, ApiError, session, api, streamUrl } = window.HalongApi;

  // ------------------------------------------------------------------ DOM helpers
  const $ = (id) => document.getElementById(id);
  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  // h('td', {class: 'x', title: data}, child...) — attribute names come from this code only.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (k === 'checked' || k === 'value' || k === 'disabled' || k === 'selected') el[k] = v;
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    return append(el, children);
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
  function show(el, on) { el.hidden = !on; }
  function readForm(form) {
    const out = {};
    for (const el of form.elements) {
      if (!el.name) continue;
      const v = String(el.value || '').trim();
      if (v !== '') out[el.name] = v;
    }
    return out;
  }
  function writeForm(form, values) {
    for (const el of form.elements) {
      if (!el.name) continue;
      el.value = values[el.name] !== undefined ? values[el.name] : (el.tagName === 'SELECT' && el.options.length ? el.options[0].value : '');
    }
  }
  function statusSelect(current, label) {
    const sel = h('select', { 'aria-label': label || 'Status' });
    for (const s of U.STATUSES) sel.appendChild(h('option', { value: s, selected: s === current }, U.statusLabel(s)));
    return sel;
  }
  function sevBadge(sev) {
    return h('span', { class: 'sev sev-' + U.severityClass(sev), title: 'severity ' + sev }, U.severityName(sev));
  }
  function statusBadge(st) {
    const s = st || 'new';
    return h('span', { class: 'status st-' + s }, U.statusLabel(s));
  }
  function timeCell(ts) {
    return h('td', { class: 'nowrap', title: String(ts || '') }, U.formatTime(ts));
  }

  // ------------------------------------------------------------------ state
  const state = {
    me: null,
    view: null,
    alertUi: {},          // the filter form as in the URL hash
    alertFilters: {},     // the API filters in effect
    alerts: new Map(),    // id -> alert JSON (shown rows)
    rows: new Map(),      // id -> <tr>
    nextCursor: null,
    selected: new Set(),
    detailId: null,
    alertSeq: 0,
    statsTotal: null,
    incidents: new Map(),
    incidentRows: new Map(),
    incidentDetailId: null,
    incidentSeq: 0,
    ws: null,
    live: false,
    liveRetry: 0,
    liveTimer: null,
    liveNew: 0,
    statsTimer: null,
    agentsTimer: null,
    auditBefore: null,
  };
  const canWrite = () => !!state.me && state.me.role !== 'auditor';
  const isAdmin = () => !!state.me && state.me.role === 'admin';
  const seesAudit = () => !!state.me && (state.me.role === 'admin' || state.me.role === 'auditor');

  // ------------------------------------------------------------------ messages
  let bannerTimer = null;
  function banner(text, kind) {
    const b = $('banner');
    $('banner-text').textContent = text;
    b.className = 'banner ' + (kind || 'error');
    b.hidden = false;
    clearTimeout(bannerTimer);
    if (kind === 'info') bannerTimer = setTimeout(() => { b.hidden = true; }, 6000);
  }
  function showError(e) {
    if (e instanceof ApiError) {
      if (e.status === 401) return;  // the login form says it
      banner(e.display(), 'error');
    } else {
      banner(String(e && e.message ? e.message : e), 'error');
    }
  }
  const info = (t) => banner(t, 'info');

  // ------------------------------------------------------------------ login / logout
  // Forget everything the previous user saw (a shared workstation must not show it to the next).
  function resetData() {
    state.alertUi = {};
    state.alertFilters = {};
    state.alerts.clear();
    state.rows.clear();
    state.selected.clear();
    state.nextCursor = null;
    state.detailId = null;
    state.statsTotal = null;
    state.alertsLoaded = false;
    state.incidents.clear();
    state.incidentRows.clear();
    state.incidentDetailId = null;
    state.incidentsLoaded = false;
    state.auditBefore = null;
    state.alertSeq++;
    state.incidentSeq++;
    for (const id of ['alert-rows', 'incident-rows', 'agent-rows', 'audit-rows', 'stats', 'alert-detail', 'incident-detail', 'report-body', 'report-chain', 'rules-rows']) clear($(id));
    for (const id of ['alert-detail', 'incident-detail']) show($(id), false);
    for (const el of document.querySelectorAll('.split')) el.classList.remove('with-detail');
    for (const id of ['alerts-count', 'incidents-count', 'agents-summary', 'audit-verdict', 'report-meta', 'rules-meta', 'rules-report']) $(id).textContent = '';
    writeForm($('alert-filters'), {});
    writeForm($('incident-filters'), {});
    writeForm($('audit-filters'), {});
    $('banner').hidden = true;
  }
  function showLogin(message) {
    stopLive();
    stopAgentsTimer();
    resetData();
    state.me = null;
    show($('app'), false);
    show($('login-view'), true);
    $('login-error').textContent = message || '';
    const f = $('login-form');
    f.elements.password.value = '';
    (f.elements.user.value ? f.elements.password : f.elements.user).focus();
  }
  async function onLogin(ev) {
    ev.preventDefault();
    const f = ev.target;
    const btn = f.querySelector('button[type=submit]');
    btn.disabled = true;
    $('login-error').textContent = '';
    try {
      const r = await api('POST', API.login, { body: { user: f.elements.user.value, password: f.elements.password.value } });
      session.save(r.csrf_token);
      f.elements.password.value = '';
      const me = await api('GET', API.whoami);
      enterApp(me);
    } catch (e) {
      $('login-error').textContent = e instanceof ApiError ? e.display() : String(e);
    } finally {
      btn.disabled = false;
    }
  }
  async function onLogout() {
    try { await api('POST', API.logout); } catch (e) { /* the session may be gone already */ }
    session.save(null);
    showLogin('Logged out.');
  }
  function enterApp(me) {
    state.me = me;
    const scope = me.agencies === 'all' || !me.agencies ? 'all agencies' : [].concat(me.agencies).join(', ');
    $('whoami').textContent = me.user + ' · ' + me.role + ' · ' + scope;
    document.body.classList.toggle('readonly', !canWrite());
    document.body.classList.toggle('no-admin', !isAdmin());
    document.body.classList.toggle('no-audit', !seesAudit());
    show($('login-view'), false);
    show($('app'), true);
    $('banner').hidden = true;
    state.view = null;
    route();
  }

  // ------------------------------------------------------------------ routing
  const VIEWS = ['alerts', 'incidents', 'agents', 'audit', 'report', 'rules'];
  const AUDIT_VIEWS = ['audit', 'report'];
  function route() {
    if (!state.me) return;
    const { view, params } = U.parseHash(location.hash);
    const allowed = (AUDIT_VIEWS.indexOf(view) < 0 || seesAudit()) && (view !== 'rules' || isAdmin());
    const v = VIEWS.indexOf(view) >= 0 && allowed ? view : 'alerts';
    const changed = v !== state.view;
    state.view = v;
    for (const name of VIEWS) show($('view-' + name), name === v);
    for (const a of $('nav').querySelectorAll('a')) a.classList.toggle('active', a.dataset.view === v);
    if (v !== 'agents') stopAgentsTimer();
    if (v === 'alerts') {
      const same = JSON.stringify(params) === JSON.stringify(state.alertUi);
      if (!same || changed || !state.alertsLoaded) applyAlertUi(params);
    } else if (v === 'incidents') {
      if (changed || !state.incidentsLoaded) loadIncidents();
      if (params.id && String(params.id) !== String(state.incidentDetailId)) openIncident(params.id);
    } else if (v === 'agents') {
      loadAgents();
      startAgentsTimer();
    } else if (v === 'audit') {
      if (changed) loadAudit(false);
    } else if (v === 'rules') {
      if (changed) loadRulesets();
    } else if (v === 'report') {
      const f = $('report-form');
      if (!f.elements.month.value) f.elements.month.value = new Date().toISOString().slice(0, 7);
    }
  }

  // ------------------------------------------------------------------ alerts: filters
  function applyAlertUi(ui) {
    state.alertUi = Object.assign({}, ui);
    const form = $('alert-filters');
    writeForm(form, ui);
    if (ui.from || ui.to) form.elements.range.value = ui.range || 'custom';
    form.classList.toggle('show-custom', form.elements.range.value === 'custom');
    state.alertFilters = U.apiAlertFilters(Object.assign({}, ui, { range: form.elements.range.value }), Date.now());
    reloadAlerts();
    if (state.live) connectLive();
  }
  function onAlertFilters(ev) {
    ev.preventDefault();
    const ui = readForm($('alert-filters'));
    if (ui.range !== 'custom') { delete ui.from; delete ui.to; }
    const hash = U.formatHash('alerts', ui);
    if (hash === location.hash || (hash === '#alerts' && location.hash === '')) applyAlertUi(ui);
    else location.hash = hash;
  }
  function setAlertFilter(key, value) {
    const ui = Object.assign({}, state.alertUi);
    if (value === null || value === undefined || value === '') delete ui[key];
    else ui[key] = String(value);
    location.hash = U.formatHash('alerts', ui);
  }

  // ------------------------------------------------------------------ alerts: list
  function reloadAlerts() {
    state.alertsLoaded = true;
    loadAlerts(false);
    loadStats();
  }
  async function loadAlerts(more) {
    const seq = ++state.alertSeq;
    const query = Object.assign({}, state.alertFilters, { limit: 100 });
    if (more && state.nextCursor) query.cursor = state.nextCursor;
    const btn = $('load-more');
    btn.disabled = true;
    $('alerts-count').textContent = 'loading…';
    try {
      const page = await api('GET', API.alerts, { query });
      if (seq !== state.alertSeq) return;
      if (!more) {
        state.alerts.clear();
        state.rows.clear();
        state.selected.clear();
        state.liveNew = 0;
        clear($('alert-rows'));  // an open detail pane stays: its row is marked again if listed
      }
      const frag = document.createDocumentFragment();
      for (const a of page.alerts || []) {
        if (state.alerts.has(a.id)) continue;
        state.alerts.set(a.id, a);
        const row = alertRow(a);
        state.rows.set(a.id, row);
        frag.appendChild(row);
      }
      $('alert-rows').appendChild(frag);
      state.nextCursor = page.next_cursor || null;
      show(btn, !!state.nextCursor);
    } catch (e) {
      if (seq === state.alertSeq) showError(e);
    } finally {
      btn.disabled = false;
      if (seq === state.alertSeq) updateAlertCount();
    }
  }
  function updateAlertCount() {
    const n = state.alerts.size;
    let t = n + ' shown';
    if (state.statsTotal !== null) t += ' of ' + U.formatCount(state.statsTotal);
    if (state.nextCursor) t += ' (more available)';
    if (state.liveNew) t += ' · ' + state.liveNew + ' new live';
    $('alerts-count').textContent = t;
    show($('alerts-empty'), n === 0);
    $('bulk-selected').textContent = state.selected.size + ' selected';
    const all = $('select-all');
    all.checked = n > 0 && state.selected.size === n;
    all.indeterminate = state.selected.size > 0 && state.selected.size < n;
  }
  function alertRow(a, fresh) {
    const al = a.alert || {}, ag = a.agent || {}, tr = a.triage || {};
    const cb = h('input', { type: 'checkbox', 'aria-label': 'Select alert ' + a.id, checked: state.selected.has(a.id) });
    cb.addEventListener('click', (ev) => {
      ev.stopPropagation();
      if (cb.checked) state.selected.add(a.id); else state.selected.delete(a.id);
      updateAlertCount();
    });
    const src = a.src_ip ? U.endpoint(a.src_ip, a.src_port) : (ag.hostname || '');
    const dst = a.dest_ip ? U.endpoint(a.dest_ip, a.dest_port) : (a.log && a.log.path ? a.log.path : '');
    const row = h('tr', {
      class: 'clickable' + (fresh ? ' fresh' : '') + (a.id === state.detailId ? ' current' : '') +
        (U.alertMatches(a, state.alertFilters) ? '' : ' moved'),
      dataset: { id: a.id },
    },
    h('td', { class: 'write cb' }, cb),
    timeCell(a.timestamp),
    h('td', null, sevBadge(al.severity)),
    h('td', { class: 'sig', title: al.signature || '' }, al.signature || '', ' ', h('span', { class: 'muted' }, al.signature_id !== undefined ? String(al.signature_id) : '')),
    h('td', { class: 'nowrap' }, ag.id || ''),
    h('td', { class: 'nowrap opt' }, ag.agency || ''),
    h('td', { class: 'mono' }, src),
    h('td', { class: 'mono ellipsis opt', title: dst }, dst),
    h('td', { class: 'opt' }, a.proto || a.source || ''),
    h('td', null, statusBadge(tr.status)),
    h('td', null, tr.assignee || ''),
    h('td', null, tr.incident ? h('a', { href: U.formatHash('incidents', { id: tr.incident }), onclick: (ev) => ev.stopPropagation() }, String(tr.incident)) : ''));
    row.addEventListener('click', () => openAlert(a.id));
    return row;
  }
  // Replace (or prepend) the row of an alert after a change or a live event.
  function putAlert(a, opts) {
    const o = opts || {};
    const old = state.rows.get(a.id);
    if (!old && !o.prepend) return;
    state.alerts.set(a.id, a);
    const row = alertRow(a, o.fresh);
    state.rows.set(a.id, row);
    if (old) old.replaceWith(row);
    else $('alert-rows').insertBefore(row, $('alert-rows').firstChild);
    if (a.id === state.detailId && o.refreshDetail) renderAlertDetail(a);
  }

  // ------------------------------------------------------------------ alerts: stats strip
  async function loadStats() {
    const seq = state.alertSeq;
    const base = Object.assign({}, state.alertFilters, { bucket: U.bucketFor(state.alertFilters, Date.now()) });
    const strip = $('stats');
    try {
      const [bySev, byStatus] = await Promise.all([
        api('GET', API.alertStats, { query: Object.assign({ field: 'severity' }, base) }),
        // the histogram comes from the first call: one bucket (a year) here keeps this answer small
        api('GET', API.alertStats, { query: Object.assign({}, base, { field: 'status', bucket: 31622400 }) }),
      ]);
      if (seq !== state.alertSeq) return;
      state.statsTotal = bySev.total;
      clear(strip);
      strip.appendChild(h('span', { class: 'stat total' }, h('b', null, U.formatCount(bySev.total)), ' alerts'));
      strip.appendChild(h('span', { class: 'stat-sep' }));
      const sev = (bySev.by || []).slice().sort((x, y) => Number(x.value) - Number(y.value));
      for (const b of sev) {
        const name = U.SEVERITY_NAMES[Number(b.value)];
        strip.appendChild(h('button', {
          type: 'button', class: 'stat sev-chip sev-' + U.severityClass(b.value),
          title: name ? 'Show ' + name + ' and more severe' : 'severity ' + b.value,
          onclick: () => setAlertFilter('severity', name || b.value),
        }, U.severityName(b.value), ' ', h('b', null, U.formatCount(b.count))));
      }
      strip.appendChild(h('span', { class: 'stat-sep' }));
      const order = new Map(U.STATUSES.map((s, i) => [s, i]));
      const st = (byStatus.by || []).slice().sort((x, y) => (order.get(x.value) ?? 99) - (order.get(y.value) ?? 99));
      for (const b of st) {
        strip.appendChild(h('button', {
          type: 'button', class: 'stat status-chip st-' + b.value, title: 'Show only ' + U.statusLabel(b.value),
          onclick: () => setAlertFilter('status', b.value),
        }, U.statusLabel(b.value), ' ', h('b', null, U.formatCount(b.count))));
      }
      strip.appendChild(histogram(bySev.histogram || [], bySev.bucket_seconds));
      updateAlertCount();
    } catch (e) {
      if (seq !== state.alertSeq) return;
      clear(strip).appendChild(h('span', { class: 'muted' }, 'stats unavailable: ' + (e instanceof ApiError ? e.display() : String(e))));
    }
  }
  // A small bar chart of the histogram (last 100 buckets), heights set through the CSSOM
  // (allowed by the CSP, unlike style attributes).
  function histogram(hist, bucketSeconds) {
    const bars = hist.slice(-100);
    const per = bucketSeconds >= 86400 ? 'day' : bucketSeconds >= 3600 ? (bucketSeconds / 3600) + ' h' : (bucketSeconds / 60) + ' min';
    const box = h('span', { class: 'histo', title: 'alerts per ' + per });
    const max = bars.reduce((m, b) => Math.max(m, b.count), 0);
    for (const b of bars) {
      const bar = h('span', { class: 'bar', title: U.formatTime(b.start) + ': ' + U.formatCount(b.count) });
      bar.style.height = (max ? Math.max(2, Math.round(22 * b.count / max)) : 0) + 'px';
      box.appendChild(bar);
    }
    return box;
  }
  function scheduleStats() {
    if (state.statsTimer) return;
    state.statsTimer = setTimeout(() => { state.statsTimer = null; loadStats(); }, 3000);
  }

  // ------------------------------------------------------------------ alerts: detail pane
  function closeAlertDetail() {
    const old = state.rows.get(state.detailId);
    if (old) old.classList.remove('current');
    state.detailId = null;
    show($('alert-detail'), false);
    document.querySelector('#view-alerts .split').classList.remove('with-detail');
  }
  async function openAlert(id) {
    const old = state.rows.get(state.detailId);
    if (old) old.classList.remove('current');
    state.detailId = id;
    const row = state.rows.get(id);
    if (row) row.classList.add('current');
    const pane = $('alert-detail');
    document.querySelector('#view-alerts .split').classList.add('with-detail');
    show(pane, true);
    if (state.alerts.has(id)) renderAlertDetail(state.alerts.get(id));
    else clear(pane).appendChild(h('p', { class: 'muted' }, 'Loading ' + id + '…'));
    try {
      const a = await api('GET', API.alert, { id });
      if (state.detailId !== id) return;
      putAlert(a);
      renderAlertDetail(a);
    } catch (e) {
      if (state.detailId === id) clear(pane).appendChild(h('p', { class: 'error' }, e instanceof ApiError ? e.display() : String(e)));
    }
  }
  function fact(label, ...value) {
    return [h('dt', null, label), h('dd', null, ...value)];
  }
  function filterLink(label, key, value) {
    return h('button', { type: 'button', class: 'link', title: 'Filter the queue by ' + key + ' = ' + value, onclick: () => setAlertFilter(key, value) }, label);
  }
  function renderAlertDetail(a) {
    const pane = clear($('alert-detail'));
    const al = a.alert || {}, ag = a.agent || {}, tr = a.triage || {};
    pane.appendChild(h('div', { class: 'detail-head' },
      sevBadge(al.severity), ' ',
      h('h2', null, al.signature || '(no signature)'),
      h('button', { type: 'button', class: 'close', title: 'Close (Esc)', onclick: closeAlertDetail }, '×')));
    const facts = h('dl', { class: 'facts' },
      fact('Alert', h('span', { class: 'mono' }, a.id || '')),
      fact('Time', U.formatTime(a.timestamp), ' ', h('span', { class: 'muted' }, String(a.timestamp || ''))),
      fact('Agent', ag.id || '', ag.hostname ? ' (' + ag.hostname + ')' : '', ' ', ag.id ? filterLink('filter', 'agent', ag.id) : null),
      fact('Agency', ag.agency || '', ' ', ag.agency ? filterLink('filter', 'agency', ag.agency) : null),
      fact('Rule', (al.engine || '') + ' sid ' + (al.signature_id !== undefined ? al.signature_id : '?') + (al.rev ? ' rev ' + al.rev : ''), ' ',
        al.signature_id !== undefined ? filterLink('filter', 'sid', al.signature_id) : null),
      fact('Category', al.category || ''),
      a.src_ip ? fact('Source', h('span', { class: 'mono' }, U.endpoint(a.src_ip, a.src_port)), ' ', filterLink('filter', 'src_ip', a.src_ip)) : null,
      a.dest_ip ? fact('Destination', h('span', { class: 'mono' }, U.endpoint(a.dest_ip, a.dest_port)), ' ', filterLink('filter', 'dest_ip', a.dest_ip)) : null,
      a.proto ? fact('Protocol', a.proto) : null,
      a.log && a.log.path ? fact('Log', h('span', { class: 'mono' }, a.log.path + (a.log.offset !== undefined ? ' @' + a.log.offset : ''))) : null,
      al.tags && al.tags.length ? fact('Tags', [].concat(al.tags).join(', ')) : null,
      fact('Status', statusBadge(tr.status), tr.assignee ? ' · assigned to ' + tr.assignee : ' · unassigned'),
      tr.updated_by ? fact('Changed', tr.updated_by + (tr.updated_us ? ' at ' + U.formatTime(tr.updated_us) : '')) : null,
      tr.incident ? fact('Incident', h('a', { href: U.formatHash('incidents', { id: tr.incident }) }, '#' + tr.incident), ' ', filterLink('all its alerts', 'incident', tr.incident)) : null);
    pane.appendChild(facts);
    if (a.log && a.log.line) pane.appendChild(h('pre', { class: 'logline' }, a.log.line));
    if (a.payload_printable) pane.appendChild(h('details', null, h('summary', null, 'Payload (printable)'), h('pre', { class: 'payload' }, a.payload_printable)));

    if (canWrite()) pane.appendChild(triageForm(tr, async (body) => {
      const updated = await api('PATCH', API.alert, { id: a.id, body });
      putAlert(updated);
      if (state.detailId === a.id) renderAlertDetail(updated);
      info('Alert ' + a.id + ' updated.');
    }, 'Save'));

    const comments = tr.comments || [];
    pane.appendChild(h('h3', null, 'Comments (' + comments.length + ')'));
    if (comments.length) {
      pane.appendChild(h('ol', { class: 'comments' }, comments.map((c) => h('li', null,
        h('div', { class: 'comment-meta' }, h('b', null, c.author || '?'), ' · ', U.formatTime(c.time || c.time_us)),
        h('div', { class: 'comment-text' }, c.text || '')))));
    } else {
      pane.appendChild(h('p', { class: 'muted' }, 'No comments.'));
    }
    const json = JSON.stringify(a, null, 2);
    pane.appendChild(h('details', { class: 'eve', open: true },
      h('summary', null, 'EVE JSON ', h('button', { type: 'button', class: 'link', onclick: (ev) => { ev.preventDefault(); copy(json); } }, 'copy')),
      h('pre', { class: 'json' }, json)));
  }
  async function copy(text) {
    try { await navigator.clipboard.writeText(text); info('Copied.'); } catch (e) { banner('Copy failed: ' + e.message, 'error'); }
  }
  // The status / assignee / comment form shared by alerts and incidents. `save(body)` does
  // the PATCH; its errors are shown under the form.
  function triageForm(tr, save, label, note) {
    const status = statusSelect(tr.status || 'new', 'New status');
    const assignee = h('input', { size: 12, value: tr.assignee || '', placeholder: 'unassigned', 'aria-label': 'Assignee' });
    const me = h('button', { type: 'button', title: 'Assign to me', onclick: () => { assignee.value = state.me.user; } }, 'me');
    const comment = h('textarea', { rows: 3, placeholder: 'Add a comment (optional)', 'aria-label': 'Comment', maxlength: 10000 });
    const err = h('p', { class: 'error', role: 'alert' });
    const btn = h('button', { type: 'submit', class: 'primary' }, label || 'Save');
    const form = h('form', { class: 'triage write' },
      h('h3', null, 'Triage'),
      h('div', { class: 'row' }, h('label', null, 'Status ', status), h('label', null, 'Assignee ', assignee), me),
      comment, note ? h('p', { class: 'muted small' }, note) : null,
      h('div', { class: 'row' }, btn), err);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = {};
      if (status.value !== (tr.status || 'new')) body.status = status.value;
      const as = assignee.value.trim();
      if (as !== (tr.assignee || '')) body.assignee = as === '' ? null : as;
      if (comment.value.trim() !== '') body.comment = comment.value.trim();
      if (!Object.keys(body).length) { err.textContent = 'Nothing to change: pick a status, an assignee or write a comment.'; return; }
      err.textContent = '';
      btn.disabled = true;
      try { await save(body); } catch (e) { err.textContent = e instanceof ApiError ? e.display() : String(e); } finally { btn.disabled = false; }
    });
    return form;
  }

  // ------------------------------------------------------------------ alerts: bulk
  function bulkBody() {
    const body = {};
    const st = $('bulk-status').value;
    const as = $('bulk-assignee').value.trim();
    if (st) body.status = st;
    if (as) body.assignee = as === '-' ? null : as;
    return body;
  }
  function bulkLabel(body) {
    const parts = [];
    if (body.status) parts.push('status ' + U.statusLabel(body.status));
    if ('assignee' in body) parts.push(body.assignee === null ? 'unassigned' : 'assignee ' + body.assignee);
    return parts.join(', ');
  }
  async function bulkSelected() {
    const body = bulkBody();
    if (!Object.keys(body).length) return banner('Choose a status or an assignee for the selected alerts.', 'error');
    const ids = [...state.selected];
    if (!ids.length) return banner('Select alerts first (the checkboxes on the left).', 'error');
    const btn = $('bulk-apply-selected');
    btn.disabled = true;
    let ok = 0, failed = 0, firstError = null;
    const queue = ids.slice();
    async function worker() {
      while (queue.length) {
        const id = queue.shift();
        try {
          putAlert(await api('PATCH', API.alert, { id, body }));
          ok++;
        } catch (e) {
          failed++;
          if (!firstError) firstError = e;
          if (e instanceof ApiError && (e.status === 401 || e.status === 403)) queue.length = 0;
        }
      }
    }
    await Promise.all([worker(), worker(), worker(), worker()]);
    btn.disabled = false;
    state.selected.clear();
    for (const row of state.rows.values()) { const c = row.querySelector('input[type=checkbox]'); if (c) c.checked = false; }
    updateAlertCount();
    if (state.detailId && ids.indexOf(state.detailId) >= 0) openAlert(state.detailId);
    if (failed) banner(ok + ' updated, ' + failed + ' failed — ' + (firstError instanceof ApiError ? firstError.display() : String(firstError)), 'error');
    else info(ok + ' alerts set to ' + bulkLabel(body) + '.');
    scheduleStats();
  }
  async function bulkFilter() {
    const body = bulkBody();
    if (!Object.keys(body).length) return banner('Choose a status or an assignee to apply.', 'error');
    const filters = Object.assign({}, state.alertFilters);
    const n = state.statsTotal !== null ? U.formatCount(state.statsTotal) : 'all';
    const what = Object.keys(filters).length ? 'the ' + n + ' alerts matching the current filter' : 'ALL ' + n + ' alerts (no filter)';
    if (!window.confirm('Set ' + bulkLabel(body) + ' on ' + what + '?\nEach change is recorded in the audit trail; at most 10,000 alerts.')) return;
    const btn = $('bulk-apply-filter');
    btn.disabled = true;
    try {
      const r = await api('POST', API.alertsBulk, { query: filters, body });
      info(r.updated + ' of ' + r.matched + ' matching alerts set to ' + bulkLabel(body) + '.');
      reloadAlerts();
    } catch (e) {
      showError(e);
    } finally {
      btn.disabled = false;
    }
  }

  // ------------------------------------------------------------------ live stream
  function liveState(text, kind) {
    const el = $('live-state');
    el.textContent = text;
    el.className = 'live-state ' + (kind || '');
    el.hidden = !text;
  }
  function stopLive() {
    state.live = false;
    $('live-toggle').checked = false;
    clearTimeout(state.liveTimer);
    if (state.ws) { const ws = state.ws; state.ws = null; ws.close(1000, 'live off'); }
    liveState('');
  }
  function connectLive() {
    clearTimeout(state.liveTimer);
    if (state.ws) { const old = state.ws; state.ws = null; old.close(1000, 'filter changed'); }
    let ws;
    try {
      ws = new WebSocket(streamUrl(U.streamFilters(state.alertFilters)));
    } catch (e) {
      liveState('live: ' + e.message, 'bad');
      return;
    }
    state.ws = ws;
    liveState('● live: connecting…', 'wait');
    ws.addEventListener('open', () => {
      if (state.ws !== ws) return;
      state.liveRetry = 0;
      liveState('● live', 'on');
    });
    ws.addEventListener('message', (ev) => {
      if (state.ws !== ws) return;
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      onLiveEvent(m);
    });
    ws.addEventListener('close', (ev) => {
      if (state.ws !== ws) return;
      state.ws = null;
      if (!state.live) return;
      const delay = Math.min(30000, 1000 * Math.pow(2, state.liveRetry++));
      const why = ev.code === 1008 ? 'too slow, dropped by the collector' : ev.reason || 'connection closed (' + ev.code + ')';
      liveState('● live: ' + why + '; retrying in ' + Math.round(delay / 1000) + ' s', 'bad');
      // A refused upgrade looks like a plain close: ask the API whether the session is still good.
      api('GET', API.whoami).catch(() => {});
      state.liveTimer = setTimeout(() => { if (state.live) connectLive(); }, delay);
    });
  }
  // For a collector that does not say whether an event is a new alert ("change":"new") or a
  // triage change ("change":"triage"): a never-triaged alert, or one newer than the newest
  // row, goes on top; a triage change of an older alert that is not loaded is left out.
  function isNewArrival(a) {
    const tr = a.triage || {};
    if (!tr.updated_us) return true;
    const first = $('alert-rows').firstElementChild;
    const top = first ? state.alerts.get(first.dataset.id) : null;
    return !top || U.parseTime(a.timestamp).getTime() >= U.parseTime(top.timestamp).getTime();
  }
  function onLiveEvent(m) {
    if (m.type === 'alert' && m.alert && m.alert.id) {
      const a = m.alert;
      if (state.rows.has(a.id)) {
        putAlert(a, { fresh: true, refreshDetail: true });
      } else if (U.alertMatches(a, state.alertFilters) && (m.change ? m.change === 'new' : isNewArrival(a))) {
        putAlert(a, { prepend: true, fresh: true });
        state.liveNew++;
        updateAlertCount();
      }
      scheduleStats();
    } else if (m.type === 'incident' && m.incident) {
      putIncident(m.incident, true);
    }
  }

  // ------------------------------------------------------------------ incidents
  async function loadIncidents() {
    state.incidentsLoaded = true;
    const seq = ++state.incidentSeq;
    const q = readForm($('incident-filters'));
    $('incidents-count').textContent = 'loading…';
    try {
      const r = await api('GET', API.incidents, { query: q });
      if (seq !== state.incidentSeq) return;
      state.incidents.clear();
      state.incidentRows.clear();
      const body = clear($('incident-rows'));
      for (const i of r.incidents || []) {
        state.incidents.set(String(i.id), i);
        const row = incidentRow(i);
        state.incidentRows.set(String(i.id), row);
        body.appendChild(row);
      }
      const n = (r.incidents || []).length;
      $('incidents-count').textContent = n + ' shown' + (n >= Number(q.limit || 50) ? ' (limit reached)' : '');
      show($('incidents-empty'), n === 0);
    } catch (e) {
      if (seq === state.incidentSeq) { $('incidents-count').textContent = ''; showError(e); }
    }
  }
  function incidentMatches(i) {
    const f = readForm($('incident-filters'));
    if (f.status && i.status !== f.status) return false;
    if (f.agent && i.agent !== f.agent) return false;
    if (f.agency && i.agency !== f.agency) return false;
    if (f.sid && String(i.sid) !== String(f.sid)) return false;
    return true;
  }
  function incidentRow(i, fresh) {
    const row = h('tr', { class: 'clickable' + (fresh ? ' fresh' : '') + (String(i.id) === String(state.incidentDetailId) ? ' current' : ''), dataset: { id: String(i.id) } },
      h('td', { class: 'num' }, String(i.id)),
      timeCell(i.last_seen),
      h('td', { class: 'nowrap opt', title: String(i.first_seen || '') }, U.formatTime(i.first_seen)),
      h('td', { class: 'num' }, U.formatCount(i.count)),
      h('td', { class: 'sig', title: i.signature || '' }, i.signature || '', ' ', h('span', { class: 'muted' }, String(i.sid || ''))),
      h('td', { class: 'nowrap' }, i.agent || ''),
      h('td', { class: 'nowrap opt' }, i.agency || ''),
      h('td', { class: 'mono' }, i.src_ip || ''),
      h('td', null, statusBadge(i.status)),
      h('td', null, i.assignee || ''));
    row.addEventListener('click', () => { location.hash = U.formatHash('incidents', { id: i.id }); });
    return row;
  }
  function putIncident(i, fresh) {
    const key = String(i.id);
    const old = state.incidentRows.get(key);
    if (!old && !(fresh && state.incidentsLoaded && incidentMatches(i))) {
      if (key === String(state.incidentDetailId)) renderIncidentDetail(i);
      return;
    }
    state.incidents.set(key, i);
    const row = incidentRow(i, fresh);
    state.incidentRows.set(key, row);
    if (old) {
      // a changed incident moves to the top (the list is last seen first)
      if (fresh) { old.remove(); $('incident-rows').insertBefore(row, $('incident-rows').firstChild); } else old.replaceWith(row);
    } else {
      $('incident-rows').insertBefore(row, $('incident-rows').firstChild);
      show($('incidents-empty'), false);
    }
    if (key === String(state.incidentDetailId)) renderIncidentDetail(i);
  }
  function closeIncidentDetail() {
    const old = state.incidentRows.get(String(state.incidentDetailId));
    if (old) old.classList.remove('current');
    state.incidentDetailId = null;
    show($('incident-detail'), false);
    document.querySelector('#view-incidents .split').classList.remove('with-detail');
    if (U.parseHash(location.hash).params.id) history.replaceState(null, '', '#incidents');
  }
  async function openIncident(id) {
    const old = state.incidentRows.get(String(state.incidentDetailId));
    if (old) old.classList.remove('current');
    state.incidentDetailId = String(id);
    const row = state.incidentRows.get(String(id));
    if (row) row.classList.add('current');
    const pane = $('incident-detail');
    document.querySelector('#view-incidents .split').classList.add('with-detail');
    show(pane, true);
    clear(pane).appendChild(h('p', { class: 'muted' }, 'Loading incident ' + id + '…'));
    try {
      const i = await api('GET', API.incident, { id });
      if (state.incidentDetailId !== String(id)) return;
      if (state.incidentRows.has(String(id))) putIncident(i, false);
      else renderIncidentDetail(i);
    } catch (e) {
      if (state.incidentDetailId === String(id)) clear(pane).appendChild(h('p', { class: 'error' }, e instanceof ApiError ? e.display() : String(e)));
    }
  }
  function renderIncidentDetail(i) {
    const pane = clear($('incident-detail'));
    pane.appendChild(h('div', { class: 'detail-head' },
      h('h2', null, 'Incident #' + i.id + ' — ' + (i.signature || '')),
      h('button', { type: 'button', class: 'close', title: 'Close (Esc)', onclick: closeIncidentDetail }, '×')));
    pane.appendChild(h('dl', { class: 'facts' },
      fact('Status', statusBadge(i.status), i.assignee ? ' · assigned to ' + i.assignee : ' · unassigned'),
      fact('Alerts', U.formatCount(i.count)),
      fact('First seen', U.formatTime(i.first_seen)),
      fact('Last seen', U.formatTime(i.last_seen), ' ', h('span', { class: 'muted' }, U.relativeTime(i.last_seen, Date.now()))),
      fact('Rule', 'sid ' + i.sid),
      fact('Agent', i.agent || ''),
      fact('Agency', i.agency || ''),
      fact('Source', h('span', { class: 'mono' }, i.src_ip || ''))));
    if (canWrite()) pane.appendChild(triageForm(i, async (body) => {
      const updated = await api('PATCH', API.incident, { id: i.id, body });
      putIncident(updated, false);
      renderIncidentDetail(updated);
      info('Incident #' + i.id + ' updated; its alerts follow.');
    }, 'Save incident', 'The status, assignee and comment are applied to every alert of the incident.'));
    pane.appendChild(h('h3', null, 'Alerts of this incident ',
      h('a', { href: U.formatHash('alerts', { incident: i.id }) }, 'open in the queue')));
    const table = h('table', { class: 'grid compact' }, h('thead', null, h('tr', null,
      h('th', null, 'Time'), h('th', null, 'Sev'), h('th', null, 'Destination'), h('th', null, 'Status'), h('th', null, 'Assignee'))));
    const tbody = h('tbody', null, h('tr', null, h('td', { colspan: 5, class: 'muted' }, 'loading…')));
    table.appendChild(tbody);
    pane.appendChild(table);
    api('GET', API.alerts, { query: { incident: i.id, limit: 20 } }).then((page) => {
      clear(tbody);
      for (const a of page.alerts || []) {
        const tr = a.triage || {};
        const r = h('tr', { class: 'clickable' },
          timeCell(a.timestamp), h('td', null, sevBadge((a.alert || {}).severity)),
          h('td', { class: 'mono' }, U.endpoint(a.dest_ip, a.dest_port)), h('td', null, statusBadge(tr.status)), h('td', null, tr.assignee || ''));
        r.addEventListener('click', () => { location.hash = U.formatHash('alerts', { incident: i.id }); setTimeout(() => openAlert(a.id), 0); });
        tbody.appendChild(r);
      }
      if (page.next_cursor) tbody.appendChild(h('tr', null, h('td', { colspan: 5, class: 'muted' }, 'more in the queue…')));
      if (!(page.alerts || []).length) tbody.appendChild(h('tr', null, h('td', { colspan: 5, class: 'muted' }, 'none stored (deleted by retention?)')));
    }).catch((e) => { clear(tbody).appendChild(h('tr', null, h('td', { colspan: 5, class: 'error' }, e instanceof ApiError ? e.display() : String(e)))); });
  }

  // ------------------------------------------------------------------ agents
  function startAgentsTimer() {
    stopAgentsTimer();
    state.agentsTimer = setInterval(() => { if (state.view === 'agents' && !document.hidden) loadAgents(); }, 15000);
  }
  function stopAgentsTimer() { if (state.agentsTimer) clearInterval(state.agentsTimer); state.agentsTimer = null; }
  async function loadAgents() {
    try {
      // The ruleset agents should run (null when rulesets are not configured or none pushed).
      const current = await api('GET', API.rulesets).then((x) => x.current || null, () => null);
      const r = await api('GET', API.agents);
      const agents = (r.agents || []).slice();
      const rank = { offline: 0, degraded: 1, online: 2 };
      agents.sort((a, b) => (rank[a.state] ?? -1) - (rank[b.state] ?? -1) || String(a.id).localeCompare(String(b.id)));
      const body = clear($('agent-rows'));
      const counts = { online: 0, degraded: 0, offline: 0 };
      const now = Date.now();
      for (const a of agents) {
        if (a.state in counts) counts[a.state]++;
        const s = a.stats || {};
        const packets = s.packets !== undefined ? U.formatCount(s.packets) + (s.packets_dropped ? ' (' + U.formatCount(s.packets_dropped) + ')' : '') : '';
        body.appendChild(h('tr', { class: a.revoked ? 'revoked' : '' },
          h('td', null, h('span', { class: 'state state-' + (a.state || 'unknown') }, a.state || '?'), a.revoked ? h('span', { class: 'muted' }, ' revoked') : null),
          h('td', { class: 'mono' }, a.id || '', a.enrolled === false ? h('span', { class: 'muted', title: 'connected with the shared token, not enrolled' }, ' (token)') : null),
          h('td', null, a.hostname || ''),
          h('td', null, a.agency || ''),
          h('td', null, s.version !== undefined ? String(s.version) : ''),
          h('td', { class: 'mono' + (current && a.ruleset_version && a.ruleset_version !== current ? ' warn' : ''),
            title: current ? (a.ruleset_version === current ? 'runs the current ruleset' : 'current ruleset: ' + current) : '' }, a.ruleset_version || ''),
          h('td', { class: 'num' + (Number(s.spool_depth) > 0 ? ' warn' : '') }, s.spool_depth !== undefined ? U.formatCount(s.spool_depth) : ''),
          h('td', { class: 'nowrap', title: a.last_seen || '' }, a.last_seen ? U.formatTime(a.last_seen) + ' ' : '', h('span', { class: 'muted' }, a.last_seen ? U.relativeTime(a.last_seen, now) : 'never')),
          h('td', { class: 'num' }, packets),
          h('td', { class: 'num' }, s.lines !== undefined ? U.formatCount(s.lines) : ''),
          h('td', { class: 'num' }, s.alerts !== undefined ? U.formatCount(s.alerts) : ''),
          h('td', { class: 'reasons' }, [].concat(a.reasons || []).join('; '))));
      }
      $('agents-summary').textContent = agents.length + ' agents: ' + counts.online + ' online · ' + counts.degraded + ' degraded · ' +
        counts.offline + ' offline' + (current ? ' · current ruleset ' + current : '') + ' · updated ' + U.formatTime(new Date().toISOString());
      show($('agents-empty'), agents.length === 0);
    } catch (e) {
      $('agents-summary').textContent = '';
      showError(e);
    }
  }

  // ------------------------------------------------------------------ audit
  function compactJson(v) {
    if (v === undefined || v === null) return '∅';
    const s = JSON.stringify(v);
    return s.length > 160 ? s.slice(0, 157) + '…' : s;
  }
  async function loadAudit(more) {
    const q = Object.assign(readForm($('audit-filters')), { limit: 100 });
    if (more && state.auditBefore !== null) q.before = state.auditBefore;
    try {
      const r = await api('GET', API.audit, { query: q });
      const body = $('audit-rows');
      if (!more) clear(body);
      const recs = r.records || [];
      for (const rec of recs) {
        body.appendChild(h('tr', null,
          h('td', { class: 'num' }, String(rec.seq)),
          timeCell(rec.time),
          h('td', null, rec.actor || ''),
          h('td', { class: 'mono' }, rec.action || ''),
          h('td', { class: 'mono' }, rec.target || ''),
          h('td', { class: 'mono small', title: JSON.stringify({ before: rec.before, after: rec.after }) }, compactJson(rec.before) + ' → ' + compactJson(rec.after))));
      }
      state.auditBefore = recs.length ? recs[recs.length - 1].seq : null;
      show($('audit-more'), recs.length === 100);
      show($('audit-empty'), !more && recs.length === 0);
    } catch (e) {
      showError(e);
    }
  }
  async function verifyAudit() {
    const out = $('audit-verdict');
    out.textContent = 'verifying…';
    out.className = 'muted';
    try {
      const v = await api('GET', API.auditVerify);
      if (v.ok) { out.textContent = 'chain intact: ' + U.formatCount(v.records) + ' records'; out.className = 'ok'; }
      else { out.textContent = 'BROKEN at record #' + v.broken_seq + ': ' + (v.reason || ''); out.className = 'error'; }
    } catch (e) {
      out.textContent = e instanceof ApiError ? e.display() : String(e);
      out.className = 'error';
    }
  }

  // ------------------------------------------------------------------ monthly report
  function seconds(v) {
    if (v === null || v === undefined) return '–';
    const s = Number(v);
    if (s < 120) return s.toFixed(0) + ' s';
    if (s < 7200) return (s / 60).toFixed(1) + ' min';
    if (s < 172800) return (s / 3600).toFixed(1) + ' h';
    return (s / 86400).toFixed(1) + ' d';
  }
  function countsLine(obj, label) {
    const parts = Object.keys(obj || {}).sort().map((k) => (label ? label(k) : k) + ' ' + U.formatCount(obj[k]));
    return parts.length ? parts.join(' · ') : '–';
  }
  async function loadReport() {
    const q = readForm($('report-form'));
    const body = clear($('report-body'));
    const chain = clear($('report-chain'));
    $('report-meta').textContent = 'making the report…';
    show($('report-empty'), false);
    try {
      const r = await api('GET', API.report, { query: q });
      $('report-meta').textContent = 'generated ' + U.formatTime(r.generated) + ' by ' + r.generated_by;
      const c = r.audit_chain || {};
      chain.appendChild(h('p', { class: c.ok ? 'ok' : 'error' },
        c.ok ? 'Audit chain verified intact: ' + U.formatCount(c.records) + ' records; head #' + c.head_seq + ' '
             : 'Audit chain BROKEN at record #' + c.broken_seq + ': ' + (c.reason || ''),
        c.ok ? h('code', { class: 'mono small' }, c.head_hash || '') : ''));
      const ags = r.agencies || [];
      show($('report-empty'), ags.length === 0);
      for (const a of ags) {
        const d = a.detected || {}, hd = a.handling || {};
        const ta = hd.time_to_first_action || {}, tc = hd.time_to_close || {};
        const states = {};
        for (const g of a.agents || []) states[g.state || 'unknown'] = (states[g.state || 'unknown'] || 0) + 1;
        body.appendChild(h('section', { class: 'report-agency' },
          h('h2', null, a.agency),
          h('table', { class: 'grid facts' }, h('tbody', null,
            h('tr', null, h('th', null, 'Monitored'), h('td', null, U.formatCount((a.agents || []).length) + ' agents: ' + countsLine(states))),
            h('tr', null, h('th', null, 'Detected'), h('td', null, U.formatCount(d.total) + ' alerts; by severity: ' + countsLine(d.by_severity, U.severityName))),
            h('tr', null, h('th', null, 'Engines'), h('td', null, countsLine(d.by_engine))),
            h('tr', null, h('th', null, 'Top rules'), h('td', { class: 'small' }, (d.top_signatures || []).map((t) => (t.signature || 'sid ' + t.sid) + ' (' + U.formatCount(t.count) + ')').join('; ') || '–')),
            h('tr', null, h('th', null, 'Status now'), h('td', null, countsLine(d.status_now, U.statusLabel))),
            h('tr', null, h('th', null, 'Acted on'), h('td', null, U.formatCount(hd.acted_on) + ' of ' + U.formatCount(hd.alerts) + '; time to first action: median ' + seconds(ta.median_s) + ', p90 ' + seconds(ta.p90_s) + ', max ' + seconds(ta.max_s))),
            h('tr', null, h('th', null, 'Closed'), h('td', null, U.formatCount(hd.closed) + '; time to close: median ' + seconds(tc.median_s) + ', p90 ' + seconds(tc.p90_s) + ', max ' + seconds(tc.max_s)))))));
      }
    } catch (e) {
      $('report-meta').textContent = '';
      showError(e);
    }
  }

  // ------------------------------------------------------------------ rules (admins)
  async function loadRulesets() {
    try {
      const r = await api('GET', API.rulesets);
      const body = clear($('rules-rows'));
      const versions = r.versions || [];
      for (const v of versions) {
        body.appendChild(h('tr', null,
          h('td', { class: 'mono' }, v.version),
          h('td', null, v.current ? 'yes (agents are given this one)' : ''),
          h('td', { class: 'mono small' }, (v.files || []).join(', '))));
      }
      show($('rules-empty'), versions.length === 0);
    } catch (e) {
      showError(e);
    }
  }
  async function pushRules(ev) {
    ev.preventDefault();
    const input = $('rules-form').elements.files;
    const out = $('rules-report');
    const meta = $('rules-meta');
    const files = [];
    for (const f of input.files) files.push({ name: f.name, content: await f.text() });
    if (!files.length) return;
    meta.textContent = 'validating ' + files.length + ' file(s)…';
    meta.className = 'muted';
    try {
      const r = await api('POST', API.rulesets, { body: { files } });
      meta.textContent = 'ruleset ' + r.version + ' stored and pushed: ' + U.formatCount(r.loaded) + ' rules loaded, ' +
        U.formatCount(r.skipped) + ' skipped. Each agent reports the version it runs on the Agents page.';
      meta.className = 'ok';
      out.textContent = r.report || '';
      loadRulesets();
    } catch (e) {
      meta.textContent = e instanceof ApiError ? e.display() : String(e);
      meta.className = 'error';
      out.textContent = (e instanceof ApiError && e.report) || '';
    }
    show(out, out.textContent !== '');
  }

  // ------------------------------------------------------------------ wiring
  function wire() {
    $('login-form').addEventListener('submit', onLogin);
    $('logout').addEventListener('click', onLogout);
    $('banner-close').addEventListener('click', () => { $('banner').hidden = true; });
    window.addEventListener('hashchange', route);

    const af = $('alert-filters');
    af.addEventListener('submit', onAlertFilters);
    af.elements.range.addEventListener('change', () => af.classList.toggle('show-custom', af.elements.range.value === 'custom'));
    $('filters-reset').addEventListener('click', () => { location.hash = '#alerts'; if (!Object.keys(state.alertUi).length) applyAlertUi({}); });
    $('alerts-refresh').addEventListener('click', () => applyAlertUi(state.alertUi));
    $('load-more').addEventListener('click', () => loadAlerts(true));
    $('select-all').addEventListener('change', (ev) => {
      const on = ev.target.checked;
      state.selected.clear();
      for (const [id, row] of state.rows) {
        if (on) state.selected.add(id);
        const c = row.querySelector('input[type=checkbox]');
        if (c) c.checked = on;
      }
      updateAlertCount();
    });
    $('bulk-apply-selected').addEventListener('click', bulkSelected);
    $('bulk-apply-filter').addEventListener('click', bulkFilter);
    $('live-toggle').addEventListener('change', (ev) => {
      if (ev.target.checked) { state.live = true; state.liveRetry = 0; state.liveNew = 0; connectLive(); } else stopLive();
    });

    $('incident-filters').addEventListener('submit', (ev) => { ev.preventDefault(); loadIncidents(); });
    $('incidents-reset').addEventListener('click', () => { writeForm($('incident-filters'), {}); loadIncidents(); });
    $('agents-refresh').addEventListener('click', loadAgents);
    $('audit-filters').addEventListener('submit', (ev) => { ev.preventDefault(); loadAudit(false); });
    $('audit-more').addEventListener('click', () => loadAudit(true));
    $('audit-verify').addEventListener('click', verifyAudit);
    $('report-form').addEventListener('submit', (ev) => { ev.preventDefault(); loadReport(); });
    $('rules-form').addEventListener('submit', pushRules);
    $('report-print').addEventListener('click', () => window.print());

    document.addEventListener('keydown', (ev) => {
      if (!state.me || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const t = ev.target && ev.target.tagName;
      if (ev.key === 'Escape') {
        if (state.view === 'alerts' && state.detailId) closeAlertDetail();
        else if (state.view === 'incidents' && state.incidentDetailId) closeIncidentDetail();
        return;
      }
      if (t === 'INPUT' || t === 'TEXTAREA' || t === 'SELECT') return;
      if (state.view === 'alerts' && (ev.key === 'j' || ev.key === 'k')) {
        // j / k: next / previous alert in the queue
        const rows = [...$('alert-rows').children];
        if (!rows.length) return;
        const i = rows.findIndex((r) => r.dataset.id === state.detailId);
        const next = i < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, i + (ev.key === 'j' ? 1 : -1)));
        openAlert(rows[next].dataset.id);
        if (rows[next].scrollIntoView) rows[next].scrollIntoView({ block: 'nearest' });
      }
    });
  }

  async function start() {
    // Anything the CSP blocks is a bug of this page: mark it where tests (and F12) can see it.
    document.addEventListener('securitypolicyviolation', (ev) => {
      document.documentElement.dataset.cspViolation = ev.violatedDirective + ' ' + (ev.blockedURI || 'inline');
    });
    wire();
    window.HalongApi.setUnauthorizedHandler(() => {
      session.save(null);
      showLogin('Your session has ended; sign in again.');
    });
    session.load();
    if (!session.csrf) return showLogin('');  // no CSRF token in this tab: a fresh login
    try {
      enterApp(await api('GET', API.whoami));
    } catch (e) {
      showLogin(e instanceof ApiError && e.status === 401 ? '' : (e instanceof ApiError ? e.display() : String(e)));
    }
  }

  document.addEventListener('DOMContentLoaded', start);
})();
