// Tests of the web page's pure helpers (collector/web/assets/util.js), run by node through
// node_check.sh (ctest). Exits non-zero on the first failed assertion.
'use strict';
const assert = require('assert');
const path = require('path');
const U = require(path.join(__dirname, '..', '..', '..', 'collector', 'web', 'assets', 'util.js'));

let n = 0;
function test(name, fn) {
  fn();
  n++;
  console.log('ok: ' + name);
}

test('buildQuery leaves out empty values, trims and percent-encodes', () => {
  const q = U.buildQuery({ sid: ' 2001219 ', agent: '', q: 'ET SCAN & co', assignee: null, port: 0 });
  const p = new URLSearchParams(q);
  assert.strictEqual(p.get('sid'), '2001219');
  assert.strictEqual(p.get('q'), 'ET SCAN & co');
  assert.strictEqual(p.get('port'), '0');
  assert.ok(!p.has('agent') && !p.has('assignee'));
  assert.ok(q.indexOf('&co') < 0, 'the & inside a value must be encoded: ' + q);
});

test('apiAlertFilters turns a range into from and keeps every API filter', () => {
  const now = Date.UTC(2026, 10, 23, 12, 0, 0);
  const ui = { range: '24h', from: '2020-01-01T00:00', to: '2020-01-02T00:00', agent: 'web-01', sid: '1', severity: 'high',
    src_ip: '10.0.1.0/24', status: 'new', assignee: '-', incident: '7', q: 'scan', engine: 'sigma', category: 'x',
    agency: 'so-tttt', dest_ip: '2001:db8::/32', port: '22', bogus: 'y' };
  const f = U.apiAlertFilters(ui, now);
  assert.strictEqual(f.from, new Date(now - 86400 * 1000).toISOString());
  assert.ok(!('to' in f), 'a relative range has no end');
  assert.ok(!('range' in f) && !('bogus' in f), 'only API parameters are sent');
  for (const k of U.ALERT_FILTERS) if (k !== 'from' && k !== 'to') assert.strictEqual(f[k], ui[k], k);
});

test('apiAlertFilters sends a custom range as RFC 3339 and nothing when no range is chosen', () => {
  const f = U.apiAlertFilters({ range: 'custom', from: '2026-11-01T08:00', to: '2026-11-02T08:00:30' }, 0);
  assert.strictEqual(f.from, new Date('2026-11-01T08:00').toISOString());
  assert.strictEqual(f.to, new Date('2026-11-02T08:00:30').toISOString());
  const g = U.apiAlertFilters({ range: '', from: '2026-11-01T08:00' }, 0);
  assert.deepStrictEqual(g, {});
});

test('streamFilters drops the time range and paging', () => {
  assert.deepStrictEqual(U.streamFilters({ from: 'a', to: 'b', cursor: 'c', limit: 5, sid: '1' }), { sid: '1' });
});

test('alertMatches follows the filter semantics of the API', () => {
  const a = { id: 'web-01:1', agent: { id: 'web-01', agency: 'so-tttt' }, src_port: 5555, dest_port: 22,
    alert: { signature_id: 2001219, signature: 'ET SCAN Potential SSH Scan', severity: 2, engine: 'suricata', category: 'Attempted Information Leak' },
    triage: { status: 'new', assignee: '', incident: 4 } };
  assert.ok(U.alertMatches(a, {}));
  assert.ok(U.alertMatches(a, { severity: 'high', port: '22', q: 'ssh scan', assignee: '-', incident: '4', sid: '2001219' }));
  assert.ok(U.alertMatches(a, { severity: 'low' }), 'severity is "at least this severe"');
  assert.ok(!U.alertMatches(a, { severity: 'critical' }));
  assert.ok(!U.alertMatches(a, { status: 'resolved' }));
  assert.ok(!U.alertMatches(a, { assignee: 'lan' }));
  assert.ok(!U.alertMatches(a, { agent: 'web-02' }));
  assert.ok(!U.alertMatches(a, { port: '80' }));
  assert.ok(!U.alertMatches(a, { q: 'sql' }));
});

test('severity names, endpoints and hashes', () => {
  assert.strictEqual(U.severityName(1), 'critical');
  assert.strictEqual(U.severityName('4'), 'low');
  assert.strictEqual(U.severityName(7), 'sev 7');
  assert.strictEqual(U.severityClass(9), 'other');
  assert.strictEqual(U.endpoint('10.0.0.1', 80), '10.0.0.1:80');
  assert.strictEqual(U.endpoint('2001:db8::1', 443), '[2001:db8::1]:443');
  assert.strictEqual(U.endpoint('10.0.0.1', 0), '10.0.0.1');
  const hsh = U.formatHash('alerts', { agent: 'a b', q: 'x&y=z' });
  assert.deepStrictEqual(U.parseHash(hsh), { view: 'alerts', params: { agent: 'a b', q: 'x&y=z' } });
  assert.deepStrictEqual(U.parseHash(''), { view: 'alerts', params: {} });
  assert.strictEqual(U.statusLabel('false_positive'), 'false positive');
});

test('times are formatted from RFC 3339 or microseconds', () => {
  assert.strictEqual(U.formatTime('2026-11-23T05:00:01.123456+07:00', true), '2026-11-22 22:00:01');
  assert.strictEqual(U.formatTime(Date.UTC(2026, 10, 23, 1, 2, 3) * 1000, true), '2026-11-23 01:02:03');
  assert.strictEqual(U.formatTime('2026-11-23T16:37:10.634393+0000', true), '2026-11-23 16:37:10');
  assert.strictEqual(U.parseTime('2026-11-23T16:37:10.634393+0700').toISOString(), '2026-11-23T09:37:10.634Z');
  assert.strictEqual(U.formatTime('not a time'), 'not a time');
  const now = Date.UTC(2026, 10, 23, 12, 0, 0);
  assert.strictEqual(U.relativeTime(new Date(now - 90 * 1000).toISOString(), now), '1m ago');
  assert.strictEqual(U.relativeTime(new Date(now - 3 * 86400 * 1000).toISOString(), now), '3d ago');
  assert.strictEqual(U.relativeTime(new Date(now + 20 * 1000).toISOString(), now), 'just now');
});

test('the histogram bucket follows the time range', () => {
  const now = Date.UTC(2026, 10, 23, 12, 0, 0);
  const f = (range) => U.bucketFor(U.apiAlertFilters({ range }, now), now);
  assert.strictEqual(f('15m'), 60);
  assert.strictEqual(f('1h'), 60);
  assert.strictEqual(f('24h'), 900);
  assert.strictEqual(f('7d'), 3 * 3600);
  assert.strictEqual(f('30d'), 86400);
  assert.strictEqual(f(''), 86400);
});

console.log(n + ' helper tests passed');
