/**
 * The cluster view's script (GET /ui/cluster.js): polls GET /v1/console/cluster and
 * /v1/console/timeline every POLL_MS while the view is shown and draws them (tables, bars,
 * SVG charts built through the DOM). Browser code, kept as a string: no backquotes in it.
 */
export const CONSOLE_CLUSTER_SCRIPT = String.raw`'use strict';
(function () {
  var C = window.Cairn, $ = C.$, el = C.el;
  var POLL_MS = 2000;
  var timer = null, inflight = false, last = null;

  function td(text, cls) { return el('td', { text: text, className: cls }); }
  function stateCell(state) { return el('td', {}, [el('span', { className: 'state state-' + state, text: state })]); }

  function drawSummary(r) {
    var s = r.status;
    C.setHealth(s.health);
    $('sum-health').textContent = s.health;
    $('sum-health').className = 'big state-' + (s.health === 'healthy' ? 'alive' : s.health === 'degraded' ? 'draining' : 'dead');
    var why = [];
    if (s.chunks.lost) why.push(s.chunks.lost + ' chunks lost');
    if (s.chunks.underReplicated) why.push(s.chunks.underReplicated + ' under-replicated');
    var dead = s.chunkServers.filter(function (c) { return c.state === 'dead'; }).map(function (c) { return c.id; });
    if (dead.length) why.push('dead: ' + dead.join(', '));
    var unreach = s.meta.filter(function (m) { return m.role === 'unreachable'; }).map(function (m) { return m.id; });
    if (unreach.length) why.push('unreachable: ' + unreach.join(', '));
    $('sum-reasons').textContent = why.join('; ');
    $('sum-leader').textContent = s.leader ? 'leader ' + s.leader : 'no leader';
    $('sum-raft').textContent = s.raft ? 'term ' + s.raft.term + ', commit ' + C.num(s.raft.commit) + ', ' + s.meta.length + ' members' : '';
    $('sum-chunks').textContent = C.num(s.chunks.total);
    $('sum-under').textContent = C.num(s.chunks.underReplicated);
    $('sum-lost').textContent = C.num(s.chunks.lost);
    var t = s.totals;
    $('sum-bytes').textContent = t ? C.bytes(t.bytes) : '–';
    $('sum-files').textContent = t ? C.num(t.files) + ' files, ' + C.num(t.dirs) + ' folders; ' + C.bytes(t.rawBytes) + ' raw; ' + C.bytes(t.free) + ' free of ' + C.bytes(t.capacity) : '';
  }

  function drawMeta(r) {
    C.replace($('meta-rows'), r.status.meta.map(function (m) {
      var d = r.members[m.id] || {};
      return el('tr', { dataset: { id: m.id } }, [
        el('th', { scope: 'row', text: m.id }), td(m.addr || '–', 'hide-narrow'), stateCell(m.role),
        td(C.num(d.term), 'num'), td(C.num(d.commit), 'num'), td(C.num(d.applied), 'num hide-narrow'), td(C.num(d.lag), 'num hide-narrow')
      ]);
    }));
  }

  function drawChunkServers(r) {
    var s = r.status, ring = {};
    (r.ring ? r.ring.servers : []).forEach(function (x) { ring[x.id] = x; });
    C.replace($('chunk-rows'), s.chunkServers.map(function (c) {
      var d = (s.chunkServerDetail || {})[c.id] || {};
      var f = c.capacity > 0 ? c.used / c.capacity : 0;
      var used = el('div', { className: 'used' }, [
        C.meter(f, f > 0.9 ? 'full' : '', c.id + ' uses ' + C.pct(f) + ' of its capacity'),
        el('span', { className: 'muted', text: C.bytes(c.used) + ' of ' + C.bytes(c.capacity) + ' (' + C.pct(f) + ')' })
      ]);
      var hb = d.heartbeatAgeMs === null || d.heartbeatAgeMs === undefined ? '–' : d.heartbeatAgeMs < 10000 ? d.heartbeatAgeMs + ' ms' : Math.round(d.heartbeatAgeMs / 1000) + ' s';
      return el('tr', { className: c.state, dataset: { id: c.id, state: c.state } }, [
        el('th', { scope: 'row', text: c.id }), td(ring[c.id] ? ring[c.id].zone : '–'), stateCell(c.state),
        el('td', {}, [used]), td(C.num(c.chunks), 'num replicas'), td(hb, 'num hide-narrow')
      ]);
    }));
  }

  function drawRing(r) {
    $('ring-version').textContent = r.ring ? '(version ' + r.ring.version + ', ' + r.ring.replicas + ' replicas per chunk)' : '';
    C.replace($('ring-shares'), (r.ring ? r.ring.servers : []).map(function (x) {
      return el('div', { className: 'share', role: 'listitem', dataset: { id: x.id } }, [
        el('span', { text: x.id }),
        el('div', { className: 'bars' }, [
          C.meter(x.expectedShare, 'light', x.id + ' expected share ' + C.pct(x.expectedShare)),
          C.meter(x.actualShare, '', x.id + ' actual share ' + C.pct(x.actualShare))
        ]),
        el('span', { className: 'muted', text: C.pct(x.expectedShare) + ' / ' + C.pct(x.actualShare) })
      ]);
    }));
  }

  function drawRepair(r) {
    var s = r.status, rp = s.repair || {}, rs = r.repair || {};
    var total = s.chunks.total || 0, bad = (s.chunks.underReplicated || 0) + (s.chunks.lost || 0);
    var p = $('repair-progress');
    p.value = total > 0 ? (total - bad) / total : 1;
    var parts = [];
    parts.push(C.num(total - bad) + ' of ' + C.num(total) + ' chunks fully replicated');
    if (s.chunks.underReplicated) parts.push(C.num(s.chunks.underReplicated) + ' under-replicated');
    if (s.chunks.lost) parts.push(C.num(s.chunks.lost) + ' lost');
    parts.push(C.num(rp.copiesQueued) + ' copies queued, ' + C.num(rp.copiesInFlight) + ' in flight, ' + C.num(rs.copiesConfirmed) + ' done (' + C.bytes(rs.copyBytes) + ')');
    parts.push('rate ' + C.rate(rp.copyBytesPerSec));
    parts.push(bad === 0 ? 'nothing to repair' : 'ETA ' + (rp.etaSeconds === 0 ? 'now' : C.duration(rp.etaSeconds)));
    if (rs.reportsPending && rs.reportsPending.length) parts.push('waiting for chunk reports from ' + rs.reportsPending.join(', ') + ' (counts provisional)');
    $('repair-text').textContent = parts.join(' · ');
    $('repair-text').dataset.done = String(rs.copiesConfirmed || 0);

    var sc = r.scrub, sp = $('scrub-progress');
    if (!sc) { sp.value = 0; $('scrub-text').textContent = 'No scrub round yet (cairn scrub starts one).'; return; }
    sp.value = sc.expected > 0 ? Math.min(1, sc.checked / sc.expected) : sc.state === 'running' ? 0 : 1;
    var st = 'Round ' + sc.round + ' ' + sc.state + ': ' + C.num(sc.checked) + ' of ' + C.num(sc.expected) + ' replicas checked, ' +
      C.num(sc.corrupt) + ' corrupt, ' + C.num(sc.missing) + ' missing, ' + C.num(sc.repaired) + ' repaired';
    if (sc.state === 'running') st += ' · rate ' + (sc.checkedPerSec === null ? 'measuring' : sc.checkedPerSec.toFixed(1) + ' replicas/s') + ' · ETA ' + C.duration(sc.etaSeconds);
    if (sc.error) st += ' · ' + sc.error;
    $('scrub-text').textContent = st;
  }

  var SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  /** A line over the last hour (x: age 60 min … now), y from 0 to the max. */
  function chart(id, tl, pick, fmt, label) {
    var W = 300, H = 110, L = 4, B = 14, top = 12;
    var pts = tl.samples.map(function (s) { return { age: (tl.nowMs - s.atMs) / 1000, v: pick(s) }; }).filter(function (p) { return p.v !== null && p.age <= 3600; });
    var max = pts.reduce(function (m, p) { return Math.max(m, p.v); }, 0);
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, preserveAspectRatio: 'none', role: 'img' });
    var now = pts.length ? pts[pts.length - 1].v : null;
    root.setAttribute('aria-label', label + ' over the last hour: now ' + (now === null ? 'unknown' : fmt(now)) + ', peak ' + fmt(max));
    root.appendChild(svg('line', { x1: L, y1: H - B, x2: W, y2: H - B, class: 'axis' }));
    var x = function (age) { return L + (W - L) * (1 - age / 3600); };
    var y = function (v) { return H - B - (max > 0 ? (v / max) * (H - B - top) : 0); };
    if (pts.length > 1) {
      var d = pts.map(function (p, i) { return (i ? 'L' : 'M') + x(p.age).toFixed(1) + ' ' + y(p.v).toFixed(1); }).join(' ');
      root.appendChild(svg('path', { d: d + ' L' + x(pts[pts.length - 1].age).toFixed(1) + ' ' + (H - B) + ' L' + x(pts[0].age).toFixed(1) + ' ' + (H - B) + ' Z', class: 'area' }));
      root.appendChild(svg('path', { d: d, class: 'line' }));
    }
    var t1 = svg('text', { x: L, y: H - 2 }); t1.textContent = '-60 min'; root.appendChild(t1);
    var t2 = svg('text', { x: W - 24, y: H - 2 }); t2.textContent = 'now'; root.appendChild(t2);
    var t3 = svg('text', { x: L, y: 10 }); t3.textContent = 'peak ' + fmt(max); root.appendChild(t3);
    C.replace($(id), [root]);
    $(id + '-now').textContent = now === null ? '' : '(now ' + fmt(now) + ')';
  }

  function drawTimeline(tl) {
    chart('chart-throughput', tl, function (s) { return s.bytesInPerSec === null ? null : s.bytesInPerSec + (s.bytesOutPerSec || 0); }, C.rate, 'Throughput');
    chart('chart-repair', tl, function (s) { return s.repairBytesPerSec; }, C.rate, 'Repair rate');
    chart('chart-under', tl, function (s) { return s.underReplicated; }, C.num, 'Under-replicated chunks');
  }

  function refresh() {
    if (inflight) return Promise.resolve();
    inflight = true;
    return Promise.all([C.json('GET', '/v1/console/cluster'), C.json('GET', '/v1/console/timeline')]).then(function (both) {
      last = both[0];
      drawSummary(last); drawMeta(last); drawChunkServers(last); drawRing(last); drawRepair(last); drawTimeline(both[1]);
      $('cluster-error').textContent = '';
      $('cluster-updated').textContent = 'Updated ' + new Date().toLocaleTimeString('en-GB');
      $('cluster-view').dataset.updates = String(Number($('cluster-view').dataset.updates || 0) + 1);
    }, function (err) {
      if (err.status === 401) return;
      $('cluster-error').textContent = C.describe(err);
      if (err.code === 'Unavailable') C.setHealth('unavailable');
    }).then(function () { inflight = false; });
  }

  C.views.cluster = {
    show: function () {
      if (timer === null) timer = window.setInterval(refresh, POLL_MS);
      refresh();
    },
    stop: function () { if (timer !== null) { window.clearInterval(timer); timer = null; } },
    last: function () { return last; }
  };
  document.addEventListener('DOMContentLoaded', function () {
    $('cluster-refresh').addEventListener('click', refresh);
  });
})();
`;
