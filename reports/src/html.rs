//! `report.html`: one self-contained file (inline SVG, CSS, data and script; nothing fetched)
//! that opens offline in any browser, from `file://` too.
//!
//! It is built around a time cursor. A bar at the top moves it: a slider, steps to the
//! previous or next moment the narration tells (the arrow keys; with Shift, every frame), and
//! play at a chosen speed. Below the verdict and the violations (grouped, each with its causal
//! chain), the cluster panel shows the run at the cursor: controllers (Raft role, epoch, leader,
//! vote, the active one), brokers (process, lifecycle, broker epoch, fenced or not), each
//! partition's leader, leader epoch, ISR, ELR and high watermark with every replica's log drawn
//! as runs coloured by leader epoch (truncations marked at the instant they happen), and the
//! clients (batches in flight, records acknowledged by acks level, last error, consumer
//! positions). The timeline, the narration, the violations and the event table all move the
//! cursor when clicked, and show where it is. The state comes from the trace's frames
//! ([`crate::cursor`]), which keep the page within a stated budget.
//!
//! The URL fragment picks the cursor's time and the table's filters
//! (`#t=22.2&node=broker-1&kind=fencing`). The script marks `<body data-rendered="yes">` when
//! done.

use crate::narrate::{Moment, MomentKind, causal_chain};
use crate::trace::{Trace, secs};
use sim_core::check::{INVARIANTS, InvariantKind};
use sim_core::scenario::Scenario;
use sim_core::world::RunSummary;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Escapes text for HTML or XML content and attribute values. Control characters XML 1.0
/// cannot carry are dropped (tabs and line breaks stay).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --fg: #202020; --muted: #5a5a5a; --line: #e3e3e3; --bg-soft: #f7f7f7; --accent: #1f5fbf; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1600px; padding: 0 20px 40px; color: var(--fg); }
h1 { margin: 14px 0 4px; font-size: 24px; }
h2 { border-bottom: 1px solid var(--line); padding-bottom: 4px; margin: 24px 0 10px; font-size: 19px; }
h3 { font-size: 15px; margin: 10px 0 6px; }
.desc { max-width: 1000px; line-height: 1.45; }
.meta { color: var(--muted); font-size: 14px; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
.verdict { padding: 8px 14px; border-radius: 6px; font-weight: 600; display: inline-block; }
.verdict.ok { background: #e3f4e1; color: #1b5e20; }
.verdict.fail { background: #fde2e1; color: #b71c1c; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #eee; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #fafafa; }
td.violated { color: #b71c1c; font-weight: 600; }
td.held { color: #1b5e20; }
[data-t] { cursor: pointer; }
.at { background: #fff3c4 !important; }
/* The cursor bar. */
#cursor { position: sticky; top: 0; z-index: 5; background: #fff; border-bottom: 1px solid var(--line); padding: 8px 0; display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
#cursor button { font-size: 14px; padding: 3px 9px; }
#cursor-slider { flex: 1 1 300px; min-width: 200px; }
#cursor-time { font-weight: 600; font-variant-numeric: tabular-nums; min-width: 7em; }
#cursor-frame, #cursor-budget { color: var(--muted); font-size: 12px; }
/* The cluster at the cursor. */
.cluster-grid { display: grid; grid-template-columns: minmax(0, 3fr) minmax(260px, 1fr); gap: 18px; }
@media (max-width: 980px) { .cluster-grid { grid-template-columns: minmax(0, 1fr); } }
.cards { display: flex; flex-wrap: wrap; gap: 8px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 6px 9px; font-size: 13px; min-width: 190px; background: #fff; }
.card b { font-size: 14px; }
.card.active { border-color: #2e7d32; box-shadow: inset 3px 0 0 #2e7d32; }
.card.down { background: #f3f3f3; color: #888; }
.card.paused { background: #eef2ff; }
.tag { display: inline-block; border-radius: 3px; padding: 0 5px; font-size: 12px; background: #eee; margin-left: 3px; }
.tag.bad { background: #fde2e1; color: #b71c1c; }
.tag.good { background: #e3f4e1; color: #1b5e20; }
.tag.warn { background: #fff1cc; color: #7a4d00; }
.partitions-now { max-height: 900px; overflow: auto; }
.part { border: 1px solid var(--line); border-radius: 6px; padding: 6px 9px; margin-bottom: 8px; }
.p-head { font-size: 13px; margin-bottom: 4px; }
.replica { display: grid; grid-template-columns: 250px minmax(0, 1fr); gap: 8px; align-items: center; font-size: 13px; margin: 2px 0; }
.log { position: relative; height: 18px; background: var(--bg-soft); border: 1px solid #ddd; border-radius: 2px; overflow: hidden; }
.run { position: absolute; top: 0; bottom: 0; color: #fff; font-size: 11px; line-height: 17px; padding-left: 3px; overflow: hidden; white-space: nowrap; border-right: 1px solid rgba(255,255,255,0.6); }
.cut { position: absolute; top: 0; bottom: 0; background: repeating-linear-gradient(45deg, #c00000 0 4px, #ffd6d6 4px 8px); }
.hw { position: absolute; top: -2px; bottom: -2px; width: 2px; background: #111; }
.legend-note { color: var(--muted); font-size: 12px; }
.now-list { font-size: 13px; padding-left: 18px; }
.now-list .when { font-family: ui-monospace, monospace; color: var(--muted); margin-right: 8px; }
.clients-now { overflow-x: auto; }
.clients-now table { width: 100%; margin-bottom: 8px; }
.now-list li.past { color: var(--muted); }
/* Sides: one run, or two compared (their clusters level: the violations go last). */
.side { display: flex; flex-direction: column; }
.sides.pair .violations { order: 10; }
#first-difference { table-layout: fixed; width: 100%; }
#first-difference code { white-space: pre-wrap; word-break: break-all; }
.sides.pair { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 22px; }
.sides.pair .cluster-grid { grid-template-columns: minmax(0, 1fr); }
.sides.pair .replica { grid-template-columns: 200px minmax(0, 1fr); }
.side-label { background: #eef3fb; padding: 6px 10px; border: none; border-radius: 4px; }
#comparison table th { white-space: nowrap; }
#outcomes tr.differs td { background: #fff3c4; font-weight: 600; }
/* Timeline, narration, events. */
.timeline { position: relative; border: 1px solid #eee; }
.timeline svg { display: block; width: 100%; height: auto; }
.timeline-cursor { position: absolute; top: 0; bottom: 0; width: 2px; background: rgba(31, 95, 191, 0.85); pointer-events: none; }
.narration { list-style: none; padding: 6px 10px; margin: 0; max-height: 480px; overflow: auto; background: #fafafa; border: 1px solid #eee; font-size: 13px; }
.narration li { padding: 1px 4px; white-space: pre-wrap; }
.narration li .when { font-family: ui-monospace, monospace; color: var(--muted); margin-right: 8px; }
.narration li.k-violation { color: #b71c1c; }
.narration li.k-note { font-style: italic; }
.narration li.k-fault { background: #fff6e5; }
pre.conclusion { white-space: pre-wrap; background: #fafafa; padding: 10px; border: 1px solid #eee; }
.filters { display: flex; gap: 12px; flex-wrap: wrap; align-items: center; margin-bottom: 8px; }
.filters label { font-size: 13px; }
#event-table-wrap { max-height: 560px; overflow: auto; border: 1px solid #eee; }
#event-table th { position: sticky; top: 0; }
tr.k-violation td { color: #b71c1c; }
tr.k-fault td { background: #fff6e5; }
tr.k-note td { font-style: italic; color: #444; }
details.violation-group { border-left: 4px solid #c00000; padding: 4px 12px; margin: 10px 0; background: #fff8f8; }
details.violation-group summary { cursor: pointer; font-size: 15px; }
article.violation p { margin: 6px 0; }
ol.chain { font-size: 13px; }
.count { color: var(--muted); font-size: 13px; }
"#;

const SCRIPT: &str = r#"
(function () {
  'use strict';
  var PALETTE = ['#4e79a7', '#e15759', '#59a14f', '#b07aa1', '#f28e2b', '#76b7b2', '#9c755f', '#d4a017'];
  var $ = function (id) { return document.getElementById(id); };
  var slider = $('cursor-slider');
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; });
  }
  function secs(us) { return (us / 1e6).toFixed(3) + ' s'; }
  function lastAtOrBefore(arr, key, x) {
    var lo = 0, hi = arr.length;
    while (lo < hi) { var m = (lo + hi) >> 1; if (key(arr[m]) <= x) lo = m + 1; else hi = m; }
    return lo - 1;
  }
  var ident = function (x) { return x; };
  function brokerName(id) { return 'broker-' + id; }
  function ids(list) { return '[' + (list || []).join(',') + ']'; }
  function processWords(p) { return (p || 'unstarted').replace(/_/g, ' '); }
  function up(p) { return p === 'running' || p === 'paused'; }

  function controllerCard(e, s) {
    if (!s) return '';
    var cls = 'card ctrl' + (s.active ? ' active' : '') + (up(s.process) ? '' : ' down') + (s.process === 'paused' ? ' paused' : '');
    return '<div class="' + cls + '" data-name="' + esc(e.name) + '"><b>' + esc(e.name) + '</b> ' +
      '<span class="c-role">' + esc(s.role || '-') + '</span> · epoch <span class="c-epoch">' + s.epoch + '</span>' +
      (s.active ? ' <span class="tag good c-active">active controller</span>' : '') +
      '<br>leader <span class="c-leader">' + esc(s.leader || 'none known') + '</span> · voted for <span class="c-vote">' + esc(s.voted_for || 'nobody') + '</span>' +
      (s.process !== 'running' ? ' <span class="tag bad c-process">' + esc(processWords(s.process)) + '</span>' : '') + '</div>';
  }
  function brokerCard(e, s) {
    if (!s) return '';
    var cls = 'card broker' + (up(s.process) ? '' : ' down') + (s.process === 'paused' ? ' paused' : '');
    var fenced = s.fenced === null || s.fenced === undefined ? 'not registered' : (s.fenced ? 'fenced' : 'unfenced');
    return '<div class="' + cls + '" data-name="' + esc(e.name) + '"><b>' + esc(e.name) + '</b> ' +
      '<span class="tag ' + (up(s.process) ? (s.process === 'paused' ? 'warn' : 'good') : 'bad') + ' b-process">' + esc(processWords(s.process)) + '</span>' +
      '<br>lifecycle <span class="b-lifecycle">' + esc((s.lifecycle || '-').replace(/_/g, ' ')) + '</span>' +
      ' · broker epoch <span class="b-epoch">' + (s.broker_epoch === null ? '-' : s.broker_epoch) + '</span>' +
      ' · <span class="b-fenced tag ' + (s.fenced ? 'bad' : (s.fenced === false ? 'good' : '')) + '">' + fenced + '</span></div>';
  }
  function brokerStates(byKind, stateAt, f) {
    var out = {};
    byKind('broker').forEach(function (e) { out[e.name] = stateAt(e, f); });
    return out;
  }
  function partitionBlock(e, s, brokers) {
    if (!s) return '';
    var max = 1;
    s.replicas.forEach(function (r) {
      max = Math.max(max, r.log_end_offset, r.truncated ? r.truncated[0] : 0);
    });
    max = Math.max(max, s.high_watermark);
    var pct = function (o) { return (100 * o / max).toFixed(3) + '%'; };
    var head = '<div class="p-head"><b>' + esc(e.name) + '</b> · leader <span class="p-leader">' +
      esc(s.leader === null ? 'none' : brokerName(s.leader)) + '</span> · leader epoch <span class="p-epoch">' + s.leader_epoch +
      '</span> · ISR <span class="p-isr">' + ids(s.isr) + '</span> · ELR <span class="p-elr">' + ids(s.elr) +
      '</span> · HW <span class="p-hw">' + s.high_watermark + '</span>' +
      (s.leader === null ? ' <span class="tag bad">offline</span>' : '') + '</div>';
    var rows = s.replicas.map(function (r) {
      var name = brokerName(r.broker);
      var b = brokers[name];
      var tags = [];
      if (s.isr.indexOf(r.broker) >= 0) tags.push('<span class="tag good">ISR</span>');
      else if (s.elr.indexOf(r.broker) >= 0) tags.push('<span class="tag warn">ELR</span>');
      else tags.push('<span class="tag">out of sync</span>');
      if (b && !up(b.process)) tags.push('<span class="tag bad">' + esc(processWords(b.process)) + '</span>');
      if (r.role === 'leader' && r.leader_epoch < s.leader_epoch) tags.push('<span class="tag bad">stale leader (epoch ' + r.leader_epoch + ')</span>');
      if (r.truncated) tags.push('<span class="tag bad r-truncated">truncated ' + r.truncated[0] + ' → ' + r.truncated[1] + '</span>');
      var runs = r.runs.map(function (run, i) {
        var end = i + 1 < r.runs.length ? r.runs[i + 1][0] : r.log_end_offset;
        return '<div class="run" style="left:' + pct(run[0]) + ';width:' + pct(end - run[0]) + ';background:' +
          PALETTE[run[1] % PALETTE.length] + '" title="offsets ' + run[0] + '-' + (end - 1) + ', leader epoch ' + run[1] + '">e' + run[1] + '</div>';
      }).join('');
      var cut = r.truncated ? '<div class="cut" style="left:' + pct(r.truncated[1]) + ';width:' + pct(r.truncated[0] - r.truncated[1]) + '" title="truncated"></div>' : '';
      var hw = '<div class="hw" style="left:calc(' + pct(s.high_watermark) + ' - 1px)" title="high watermark ' + s.high_watermark + '"></div>';
      return '<div class="replica" data-broker="' + r.broker + '"><div><span class="r-name">' + esc(name) + '</span> ' +
        '<span class="r-role">' + esc(r.role || '-') + '</span> · LEO <span class="r-leo">' + r.log_end_offset + '</span> ' + tags.join('') +
        '</div><div class="log">' + runs + cut + hw + '</div></div>';
    }).join('');
    return '<div class="part" data-name="' + esc(e.name) + '">' + head + rows + '</div>';
  }
  function clientsNow(byKind, stateAt, f) {
    var rows = byKind('producer').map(function (e) {
      var s = stateAt(e, f);
      if (!s) return '';
      var acked = Object.keys(s.acked).map(function (k) { return 'acks=' + k + ' ' + s.acked[k]; }).join(', ') || '0';
      return '<tr data-name="' + esc(e.name) + '"><td>' + esc(e.name) + (s.process !== 'running' ? ' <span class="tag bad">' + esc(processWords(s.process)) + '</span>' : '') +
        '</td><td class="pr-inflight">' + s.in_flight + '</td><td class="pr-acked">' + acked + '</td><td>' + s.failed + '</td><td>' +
        s.indeterminate + '</td><td>' + esc(s.last_error || '') + '</td></tr>';
    }).join('');
    var html = '<table class="producers-now"><thead><tr><th>producer</th><th>batches in flight</th><th>records acked</th><th>failed</th><th>indeterminate</th><th>last error</th></tr></thead><tbody>' + rows + '</tbody></table>';
    var cons = byKind('consumer').map(function (e) {
      var s = stateAt(e, f);
      if (!s) return '';
      var pos = Object.keys(s.positions).map(function (k) { return esc(k) + ' ' + s.positions[k]; }).join(', ');
      return '<tr data-name="' + esc(e.name) + '"><td>' + esc(e.name) + '</td><td class="co-pos">' + (pos || '-') + '</td><td>' + s.truncations_detected + '</td></tr>';
    }).join('');
    html += '<table class="consumers-now"><thead><tr><th>consumer</th><th>position</th><th>truncations detected</th></tr></thead><tbody>' + cons + '</tbody></table>';
    return html;
  }


  // One run's side of the page: its frames, and the panel, timeline and lists it fills.
  function makeSide(root) {
    var D = JSON.parse(root.querySelector('.cursor-data').textContent);
    var T = D.t, ENT = D.entities;
    var q = function (sel) { return root.querySelector(sel); };
    function stateAt(e, f) {
      var i = lastAtOrBefore(e.changes, function (c) { return c[0]; }, f);
      return i < 0 ? null : e.changes[i][1];
    }
    function byKind(kind) { return ENT.filter(function (e) { return e.kind === kind; }); }
    function frameAt(t) { return Math.max(0, lastAtOrBefore(T, ident, t)); }
    var moments = Array.prototype.slice.call(root.querySelectorAll('.narration li[data-t]'));
    var momentT = moments.map(function (li) { return +li.getAttribute('data-t'); });
    var box = q('.timeline-box');
    var tx0 = +box.getAttribute('data-x0'), tx1 = +box.getAttribute('data-x1');
    var tw = +box.getAttribute('data-width'), tend = +box.getAttribute('data-end-us');
    var marked = [];
    function nowList(f) {
      var t = T[f], prev = f > 0 ? T[f - 1] : -1;
      var last = lastAtOrBefore(momentT, ident, t);
      var items = [];
      for (var i = Math.max(0, last - 7); i <= last; i++) {
        var cls = momentT[i] > prev ? 'now' : 'past';
        items.push('<li class="' + cls + '" data-t="' + momentT[i] + '">' + moments[i].innerHTML + '</li>');
      }
      return items.join('') || '<li class="past">nothing yet</li>';
    }
    function mark(f) {
      marked.forEach(function (el) { el.classList.remove('at'); });
      marked = [];
      var t = T[f], prev = f > 0 ? T[f - 1] : -1;
      var i = lastAtOrBefore(momentT, ident, t);
      // Every moment of this frame's instant (or, between moments, the last one before it).
      var j = i;
      while (j > 0 && momentT[j - 1] > prev) j--;
      if (i >= 0) {
        for (var k = j; k <= i; k++) { moments[k].classList.add('at'); marked.push(moments[k]); }
        var li = moments[j], list = q('.narration');
        if (li.offsetTop < list.scrollTop || li.offsetTop > list.scrollTop + list.clientHeight - 20) {
          list.scrollTop = li.offsetTop - list.clientHeight / 2;
        }
      }
      root.querySelectorAll('.violations [data-t]').forEach(function (el) {
        var vt = +el.getAttribute('data-t');
        if (vt <= t && vt > prev) { el.classList.add('at'); marked.push(el); }
      });
    }
    function show(t) {
      var f = frameAt(t);
      root.setAttribute('data-frame', f);
      root.setAttribute('data-t-us', T[f]);
      q('.controllers-now').innerHTML = byKind('controller').map(function (e) { return controllerCard(e, stateAt(e, f)); }).join('');
      q('.brokers-now').innerHTML = byKind('broker').map(function (e) { return brokerCard(e, stateAt(e, f)); }).join('');
      var brokers = brokerStates(byKind, stateAt, f);
      q('.partitions-now').innerHTML = byKind('partition').map(function (e) { return partitionBlock(e, stateAt(e, f), brokers); }).join('');
      q('.clients-now').innerHTML = clientsNow(byKind, stateAt, f);
      q('.now-list').innerHTML = nowList(f);
      var x = tx0 + (Math.min(t, tend) / tend) * (tx1 - tx0);
      q('.timeline-cursor').style.left = (100 * x / tw) + '%';
      mark(f);
    }
    box.addEventListener('click', function (ev) {
      var r = box.getBoundingClientRect();
      var x = (ev.clientX - r.left) / r.width * tw;
      seek(Math.max(0, Math.min(1, (x - tx0) / (tx1 - tx0))) * tend);
    });
    return { T: T, step: D.step, show: show, box: box };
  }

  var sides = Array.prototype.map.call(document.querySelectorAll('.side'), makeSide);
  // The cursor moves over every side's frame times; each side shows its frame at that time.
  var times = {};
  sides.forEach(function (s) { s.T.forEach(function (t, i) { times[t] = (times[t] || 0) | s.step[i]; }); });
  var U = Object.keys(times).map(Number).sort(function (a, b) { return a - b; });
  var STEP = U.map(function (t) { return times[t]; });
  var N = U.length;
  var frame = 0, playing = false, playT = 0, lastTick = 0;
  function frameAt(t) { return Math.max(0, lastAtOrBefore(U, ident, t)); }
  function show(f) {
    frame = Math.max(0, Math.min(N - 1, f));
    var t = U[frame];
    slider.value = frame;
    var time = $('cursor-time');
    time.textContent = 't = ' + secs(t);
    time.setAttribute('data-t-us', t);
    time.setAttribute('data-frame', frame);
    $('cursor-frame').textContent = 'frame ' + (frame + 1) + ' of ' + N + (STEP[frame] ? '' : ' (sample)');
    sides.forEach(function (s) { s.show(t); });
  }
  function seek(t) { stop(); show(frameAt(t)); remember(); }
  function remember() {
    if (history.replaceState) {
      var rest = window.location.hash.replace(/^#/, '').split('&').filter(function (kv) { return kv && kv.indexOf('t=') !== 0; });
      rest.unshift('t=' + (U[frame] / 1e6).toFixed(6));
      history.replaceState(null, '', '#' + rest.join('&'));
    }
  }
  function step(dir, every) {
    stop();
    var f = frame + dir;
    while (!every && f > 0 && f < N - 1 && !STEP[f]) f += dir;
    show(f); remember();
  }
  function stop() {
    if (playing) { playing = false; $('cursor-play').textContent = '▶ play'; }
  }
  function tick(now) {
    if (!playing) return;
    var speed = +$('cursor-speed').value;
    playT += (now - lastTick) * 1000 * speed;
    lastTick = now;
    if (playT >= U[N - 1]) { show(N - 1); stop(); remember(); return; }
    var f = frameAt(playT);
    if (f !== frame) show(f);
    requestAnimationFrame(tick);
  }
  $('cursor-play').addEventListener('click', function () {
    if (playing) { stop(); remember(); return; }
    playing = true;
    this.textContent = '❚❚ pause';
    if (frame >= N - 1) show(0);
    playT = U[frame]; lastTick = performance.now();
    requestAnimationFrame(tick);
  });
  $('cursor-prev').addEventListener('click', function () { step(-1, false); });
  $('cursor-next').addEventListener('click', function () { step(1, false); });
  $('cursor-start').addEventListener('click', function () { stop(); show(0); remember(); });
  $('cursor-end').addEventListener('click', function () { stop(); show(N - 1); remember(); });
  slider.addEventListener('input', function () { stop(); show(+slider.value); });
  slider.addEventListener('change', remember);
  document.addEventListener('keydown', function (ev) {
    var tag = (ev.target && ev.target.tagName) || '';
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') return;
    if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight') {
      step(ev.key === 'ArrowLeft' ? -1 : 1, ev.shiftKey); ev.preventDefault();
    } else if (ev.key === 'Home') { stop(); show(0); remember(); ev.preventDefault(); }
    else if (ev.key === 'End') { stop(); show(N - 1); remember(); ev.preventDefault(); }
    else if (ev.key === ' ') { $('cursor-play').click(); ev.preventDefault(); }
  });
  document.addEventListener('click', function (ev) {
    if (sides.some(function (s) { return s.box.contains(ev.target); })) return;
    var el = ev.target.closest ? ev.target.closest('[data-t]') : null;
    if (el) seek(+el.getAttribute('data-t'));
  });

  // The event table's filters.
  var rows = Array.prototype.slice.call(document.querySelectorAll('#event-table tbody tr'));
  var node = $('f-node'), part = $('f-partition'), kind = $('f-kind'), text = $('f-text');
  var count = $('event-count');
  function fill(select, attr) {
    var seen = {};
    rows.forEach(function (r) {
      (r.getAttribute(attr) || '').split(' ').forEach(function (v) { if (v) seen[v] = true; });
    });
    Object.keys(seen).sort(function (a, b) { return a.localeCompare(b, 'en', { numeric: true }); })
      .forEach(function (v) {
        var o = document.createElement('option');
        o.value = v; o.textContent = v; select.appendChild(o);
      });
  }
  if (node) {
    fill(node, 'data-nodes');
    fill(part, 'data-partition');
    fill(kind, 'data-kind');
  }
  function apply() {
    var n = node.value, p = part.value, k = kind.value, q = text.value.toLowerCase();
    var shown = 0;
    rows.forEach(function (r) {
      var ok = (!n || (' ' + r.getAttribute('data-nodes') + ' ').indexOf(' ' + n + ' ') >= 0)
        && (!p || r.getAttribute('data-partition') === p)
        && (!k || r.getAttribute('data-kind') === k)
        && (!q || r.textContent.toLowerCase().indexOf(q) >= 0);
      r.style.display = ok ? '' : 'none';
      if (ok) shown++;
    });
    count.textContent = shown + ' of ' + rows.length + ' events';
    count.setAttribute('data-shown', String(shown));
  }
  var start = 0;
  window.location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
    var i = kv.indexOf('=');
    if (i < 0) return;
    var key = kv.slice(0, i), value = decodeURIComponent(kv.slice(i + 1));
    if (key === 't') { start = parseFloat(value) * 1e6 || 0; return; }
    var target = { node: node, partition: part, kind: kind, q: text }[key];
    if (target) target.value = value;
  });
  if (node) {
    [node, part, kind].forEach(function (s) { s.addEventListener('change', apply); });
    text.addEventListener('input', apply);
    apply();
  }
  slider.max = Math.max(0, N - 1);
  if (N > 0) show(start > 0 ? frameAt(start) : 0);
  document.body.setAttribute('data-rendered', 'yes');
})();
"#;

/// Everything the page shows.
#[derive(Debug)]
pub struct HtmlInput<'a> {
    pub summary: &'a RunSummary,
    pub scenario: &'a Scenario,
    pub trace: &'a Trace,
    pub moments: &'a [Moment],
    pub svg: &'a str,
    /// The timeline's width in pixels (where its time axis runs: [`crate::plot::time_axis`]).
    pub svg_width: u32,
    pub replay: &'a str,
}

/// The report page.
pub fn html(input: &HtmlInput<'_>) -> String {
    let s = input.summary;
    let mut out = String::with_capacity(page_capacity(input));
    page_start(&mut out, &format!("{} (seed {})", s.scenario, s.seed));
    write_header(&mut out, input);
    write_cursor_bar(&mut out, &[input.trace]);
    out.push_str("<main class=\"sides single\">\n");
    write_side(&mut out, input, "a", None);
    out.push_str("</main>\n");
    write_events(&mut out, input);
    write_clients_and_partitions(&mut out, input);
    page_end(&mut out);
    out
}

/// Where two runs of one scenario and seed first differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The first trace line that differs (1-based), and its time (the earlier of the two).
    pub line: usize,
    pub t_us: u64,
    /// That line in each run (none where a trace ended first).
    pub a: Option<String>,
    pub b: Option<String>,
    /// The first narrated moment that differs, in each run.
    pub moment_a: Option<(u64, String)>,
    pub moment_b: Option<(u64, String)>,
}

/// Two runs of one scenario on one seed, for the comparison page.
#[derive(Debug)]
pub struct Comparison<'a> {
    pub a: HtmlInput<'a>,
    pub b: HtmlInput<'a>,
    /// What each run is (`as written`, `without its variants`, `--set acks=1`).
    pub a_label: String,
    pub b_label: String,
    /// None when the two traces are the same.
    pub divergence: Option<Divergence>,
}

/// The comparison page: one cursor over both runs, their clusters side by side.
pub fn compare_html(c: &Comparison<'_>) -> String {
    let s = c.a.summary;
    let mut out = String::with_capacity(page_capacity(&c.a) + page_capacity(&c.b));
    page_start(
        &mut out,
        &format!(
            "{} (seed {}): {} and {}",
            s.scenario, s.seed, c.a_label, c.b_label
        ),
    );
    write_header(&mut out, &c.a);
    write_cursor_bar(&mut out, &[c.a.trace, c.b.trace]);
    write_comparison(&mut out, c);
    out.push_str("<main class=\"sides pair\">\n");
    write_side(&mut out, &c.a, "a", Some(&c.a_label));
    write_side(&mut out, &c.b, "b", Some(&c.b_label));
    out.push_str("</main>\n");
    page_end(&mut out);
    out
}

fn page_capacity(input: &HtmlInput<'_>) -> usize {
    64 * 1024 + input.svg.len() + input.moments.len() * 400 + input.trace.frames.json_len()
}

fn page_start(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>kafkasim: {}</title>\n<style>{STYLE}</style>\n</head>\n\
         <body data-rendered=\"no\">\n",
        escape(title)
    );
}

fn page_end(out: &mut String) {
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
}

/// One run's part of the page: its verdict, violations, cluster at the cursor, timeline and
/// narration, and its frames as JSON for the script.
fn write_side(out: &mut String, input: &HtmlInput<'_>, side: &str, label: Option<&str>) {
    let _ = writeln!(out, "<div class=\"side\" data-side=\"{side}\">");
    if let Some(label) = label {
        let _ = writeln!(out, "<h2 class=\"side-label\">{}</h2>", escape(label));
    }
    write_verdict(out, input);
    write_violations(out, input);
    write_cluster(out);
    write_timeline(out, input);
    write_narration(out, input);
    // The frames, as JSON no `<` can end early (`<` only occurs inside JSON strings).
    let _ = writeln!(
        out,
        "<script type=\"application/json\" class=\"cursor-data\">{}</script>\n</div>",
        input.trace.frames.to_json().replace('<', "\\u003c")
    );
}

/// Where the two runs first differ, and how their outcomes differ.
fn write_comparison(out: &mut String, c: &Comparison<'_>) {
    out.push_str("<section id=\"comparison\">\n<h2>Where they differ</h2>\n");
    match &c.divergence {
        None => out.push_str(
            "<p id=\"divergence\" data-t=\"0\">The two traces are the same: the change made no \
             difference on this seed.</p>\n",
        ),
        Some(d) => {
            let _ = writeln!(
                out,
                "<p id=\"divergence\" data-t=\"{}\" data-line=\"{}\">They run alike until \
                 <b>t={}</b>, where trace line {} first differs (click to go there).</p>",
                d.t_us,
                d.line,
                secs(d.t_us),
                d.line
            );
            let told = |m: &Option<(u64, String)>| {
                m.as_ref()
                    .map_or("(nothing more told)".to_string(), |(t, text)| {
                        format!("t={} {}", secs(*t), text)
                    })
            };
            let moment_t = [&d.moment_a, &d.moment_b]
                .iter()
                .filter_map(|m| m.as_ref().map(|(t, _)| *t))
                .min()
                .unwrap_or(d.t_us);
            let _ = writeln!(
                out,
                "<table id=\"first-difference\">\n<thead><tr><th></th><th>{}</th><th>{}</th></tr>\
                 </thead>\n<tbody>\n<tr data-t=\"{moment_t}\"><th>first moment told \
                 differently</th><td>{}</td><td>{}</td></tr>\n<tr data-t=\"{}\"><th>first trace \
                 line that differs</th><td><code>{}</code></td><td><code>{}</code></td></tr>\n\
                 </tbody>\n</table>",
                escape(&c.a_label),
                escape(&c.b_label),
                escape(&told(&d.moment_a)),
                escape(&told(&d.moment_b)),
                d.t_us,
                escape(d.a.as_deref().unwrap_or("(the trace ended)")),
                escape(d.b.as_deref().unwrap_or("(the trace ended)")),
            );
        }
    }
    write_outcomes(out, c);
    out.push_str("</section>\n");
}

/// The two runs' outcomes, a row each figure, the rows that differ marked.
fn write_outcomes(out: &mut String, c: &Comparison<'_>) {
    let figures = |s: &RunSummary| -> Vec<(&'static str, String)> {
        let k = &s.clients;
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for v in &s.violations {
            *counts.entry(v.invariant).or_default() += 1;
        }
        let violations: Vec<String> = counts.iter().map(|(i, n)| format!("{i} ×{n}")).collect();
        vec![
            (
                "expectations",
                if s.expectations_met { "met" } else { "not met" }.to_string(),
            ),
            ("batches acknowledged", k.sends_ok.to_string()),
            ("batches failed", k.sends_failed.to_string()),
            ("batches indeterminate", k.sends_indeterminate.to_string()),
            (
                "records acked, acks=all",
                k.records_acked_acks_all.to_string(),
            ),
            ("records acked, acks=1", k.records_acked_acks1.to_string()),
            ("records sent, acks=0", k.records_sent_acks0.to_string()),
            ("records read", k.records_read.to_string()),
            ("acked lost, acks=all", k.acked_writes_lost.to_string()),
            ("acked lost, acks=1", k.acks1_writes_lost.to_string()),
            ("lost, acks=0", k.acks0_writes_lost.to_string()),
            (
                "lost outside Kafka's promise",
                k.acked_writes_lost_outside_promise.to_string(),
            ),
            ("truncations detected", k.truncations_detected.to_string()),
            ("violations", s.violations.len().to_string()),
            (
                "invariants violated",
                if violations.is_empty() {
                    "none".to_string()
                } else {
                    violations.join(", ")
                },
            ),
        ]
    };
    let (a, b) = (figures(c.a.summary), figures(c.b.summary));
    let _ = writeln!(
        out,
        "<h3>Outcomes</h3>\n<table id=\"outcomes\">\n<thead><tr><th></th><th>{}</th><th>{}</th>\
         </tr></thead>\n<tbody>",
        escape(&c.a_label),
        escape(&c.b_label)
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        let _ = writeln!(
            out,
            "<tr{}><th>{name}</th><td>{}</td><td>{}</td></tr>",
            if x == y { "" } else { " class=\"differs\"" },
            escape(x),
            escape(y)
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The time cursor's controls, kept at the top of the window.
fn write_cursor_bar(out: &mut String, traces: &[&Trace]) {
    let frames: usize = traces.iter().map(|t| t.frames.frames.len()).sum();
    let every_step = traces.iter().all(|t| t.frames.every_step);
    let interval_us = traces
        .iter()
        .map(|t| t.frames.interval_us)
        .max()
        .unwrap_or(crate::cursor::FIRST_INTERVAL_US);
    let budget = format!(
        "{} frames: {}{} (budget {} frames, {} MiB of state, a run)",
        frames,
        if every_step {
            "every moment the narration tells"
        } else {
            "moments merged to fit"
        },
        if interval_us == crate::cursor::FIRST_INTERVAL_US {
            format!(", and every {} ms between", interval_us / 1000)
        } else {
            format!(
                ", sampled every {} ms between (a long run)",
                interval_us / 1000
            )
        },
        crate::cursor::FRAME_LIMIT,
        crate::cursor::BYTE_LIMIT >> 20
    );
    let _ = writeln!(
        out,
        "<nav id=\"cursor\" aria-label=\"time cursor\">\n\
         <button id=\"cursor-start\" title=\"first frame (Home)\">start</button>\n\
         <button id=\"cursor-prev\" title=\"previous moment (←; Shift+← every frame)\">◀ moment</button>\n\
         <button id=\"cursor-play\" title=\"play (space)\">▶ play</button>\n\
         <button id=\"cursor-next\" title=\"next moment (→; Shift+→ every frame)\">moment ▶</button>\n\
         <button id=\"cursor-end\" title=\"last frame (End)\">end</button>\n\
         <label>speed <select id=\"cursor-speed\"><option value=\"0.25\">¼×</option>\
         <option value=\"1\">1×</option><option value=\"2\" selected>2×</option>\
         <option value=\"5\">5×</option><option value=\"10\">10×</option>\
         <option value=\"30\">30×</option></select></label>\n\
         <input id=\"cursor-slider\" type=\"range\" min=\"0\" max=\"{}\" value=\"0\" \
         aria-label=\"simulated time\">\n\
         <span id=\"cursor-time\" data-t-us=\"0\">t = 0.000 s</span>\n\
         <span id=\"cursor-frame\"></span>\n\
         <span id=\"cursor-budget\">{}</span>\n</nav>",
        frames.saturating_sub(1),
        escape(&budget)
    );
}

/// The cluster at the cursor: filled by the page's script from the frames.
fn write_cluster(out: &mut String) {
    out.push_str(
        "<section class=\"cluster\">\n<h2>The cluster at the cursor</h2>\n<div class=\"cluster-grid\">\n\
         <div>\n<h3>Controllers</h3>\n<div class=\"cards controllers-now\"></div>\n\
         <h3>Brokers</h3>\n<div class=\"cards brokers-now\"></div>\n\
         <h3>Partitions</h3>\n<p class=\"legend-note\">Each replica's log, offsets left to \
         right: runs of records coloured by the leader epoch that wrote them (e0, e1, ...); the \
         black bar is the partition's high watermark; a red hatched stretch was truncated at \
         this instant. Roles are what each broker believes.</p>\n\
         <div class=\"partitions-now\"></div>\n</div>\n\
         <div>\n<h3>What just happened</h3>\n<ol class=\"now-list\"></ol>\n\
         <h3>Clients</h3>\n<div class=\"clients-now\"></div>\n</div>\n</div>\n</section>\n",
    );
}

/// The timeline image, scaled to the window, with the cursor drawn over it.
fn write_timeline(out: &mut String, input: &HtmlInput<'_>) {
    let (x0, x1) = crate::plot::time_axis(input.svg_width);
    let _ = writeln!(
        out,
        "<section class=\"timeline-section\">\n<h2>Timeline</h2>\n<p class=\"legend-note\">Click to move the \
         cursor there.</p>\n<div class=\"timeline timeline-box\" data-x0=\"{x0}\" \
         data-x1=\"{x1}\" data-width=\"{}\" data-end-us=\"{}\">\n{}\n\
         <div class=\"timeline-cursor\"></div>\n</div>\n</section>",
        input.svg_width,
        input.trace.end_us.max(1),
        input.svg.trim()
    );
}

/// The narration, a clickable line per moment, then what the checkers concluded.
fn write_narration(out: &mut String, input: &HtmlInput<'_>) {
    out.push_str(
        "<section class=\"narration-section\">\n<h2>Narration</h2>\n<ol class=\"narration\">\n",
    );
    for m in input.moments {
        let _ = writeln!(
            out,
            "<li class=\"k-{}\" data-t=\"{}\"><span class=\"when\">t={}</span>{}</li>",
            m.kind.name(),
            m.t_us,
            secs(m.t_us),
            escape(&m.text)
        );
    }
    let _ = writeln!(
        out,
        "<li class=\"k-end\" data-t=\"{}\"><span class=\"when\">t={}</span>the run ends{}</li>",
        input.trace.end_us,
        secs(input.trace.end_us),
        escape(
            &input
                .trace
                .end_reason
                .as_deref()
                .map(|r| format!(" ({})", r.replace('_', " ")))
                .unwrap_or_default()
        )
    );
    let _ = writeln!(
        out,
        "</ol>\n<pre class=\"conclusion\">{}</pre>\n</section>",
        escape(crate::narrate::conclusion(input.trace, input.moments).trim_end())
    );
}

/// The page's header: what ran, its seed, time, events, why it stopped, its hash and how to
/// replay it.
fn write_header(out: &mut String, input: &HtmlInput<'_>) {
    let s = input.summary;
    let heading = if input.scenario.title.is_empty() {
        &input.scenario.name
    } else {
        &input.scenario.title
    };
    let _ = write!(
        out,
        "<header>\n<h1>{}</h1>\n<p class=\"meta\">{} · seed {} · {} simulated · {} events · \
         stopped: {} · trace hash <code>{}</code></p>\n",
        escape(heading),
        escape(&s.scenario),
        s.seed,
        secs(s.sim_time_ms * 1000),
        s.events,
        escape(
            &serde_json::to_value(s.stop_reason)
                .ok()
                .and_then(|v| v.as_str().map(|r| r.replace('_', " ")))
                .unwrap_or_default()
        ),
        escape(&s.trace_hash)
    );
    if !input.scenario.description.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"desc\">{}</p>",
            escape(&input.scenario.description)
        );
    }
    let _ = writeln!(
        out,
        "<p class=\"meta\">Replay: <code>{}</code></p>\n</header>",
        escape(input.replay)
    );
}

/// The verdict first: expectations met or not and why, losses outside Kafka's promise, and
/// every invariant held or violated.
fn write_verdict(out: &mut String, input: &HtmlInput<'_>) {
    let s = input.summary;
    let (class, words) = if s.expectations_met {
        ("ok", "Expectations met".to_string())
    } else {
        let mut why = Vec::new();
        if !s.missing_violations.is_empty() {
            why.push(format!(
                "expected but not seen: {}",
                s.missing_violations.join(", ")
            ));
        }
        let expected = &input.scenario.expect.violate;
        let unexpected: Vec<&str> = s
            .violations
            .iter()
            .map(|v| v.invariant)
            .filter(|id| !expected.iter().any(|e| e == id))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !unexpected.is_empty() {
            why.push(format!("violated: {}", unexpected.join(", ")));
        }
        ("fail", format!("Expectations not met ({})", why.join("; ")))
    };
    let _ = writeln!(
        out,
        "<section class=\"verdict-section\">\n<h2>Verdict</h2>\n<p class=\"verdict {class}\" \
         data-verdict=\"{class}\">{}</p>",
        escape(&words)
    );
    if s.clients.acked_writes_lost_outside_promise > 0 {
        let _ = writeln!(
            out,
            "<p class=\"verdict fail losses-outside-promise\">{} acknowledged acks=all \
             record(s) lost outside Kafka's durability promise (not a violation)</p>\n<ul>",
            s.clients.acked_writes_lost_outside_promise
        );
        for l in &s.losses_outside_promise {
            let _ = writeln!(
                out,
                "<li>t={:.3}s {}</li>",
                l.time_ms / 1000.0,
                escape(&l.explanation)
            );
        }
        out.push_str("</ul>\n");
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &s.violations {
        *counts.entry(v.invariant).or_default() += 1;
    }
    let _ = writeln!(
        out,
        "<details class=\"invariants-details\">\n<summary>{} invariants: {} violated, {} held \
         (what each says)</summary>",
        INVARIANTS.len(),
        counts.len(),
        INVARIANTS.len() - counts.len()
    );
    out.push_str(
        "<table class=\"invariants\">\n<thead><tr><th>invariant</th><th>kind</th><th>verdict</th>\
         <th>what it says</th></tr></thead>\n<tbody>\n",
    );
    for i in INVARIANTS {
        let n = counts.get(i.id).copied().unwrap_or(0);
        let (class, verdict) = if n > 0 {
            ("violated", format!("violated ({n})"))
        } else {
            ("held", "held".to_string())
        };
        let kind = match i.kind {
            InvariantKind::Safety => "safety",
            InvariantKind::Liveness => "liveness",
        };
        let _ = writeln!(
            out,
            "<tr data-invariant=\"{}\"><td><code>{}</code></td><td>{kind}</td>\
             <td class=\"{class}\">{verdict}</td><td>{}</td></tr>",
            i.id,
            i.id,
            escape(i.summary)
        );
    }
    out.push_str("</tbody>\n</table>\n</details>\n</section>\n");
}

/// What the clients did, and every partition at the end.
fn write_clients_and_partitions(out: &mut String, input: &HtmlInput<'_>) {
    let s = input.summary;
    let c = &s.clients;
    let _ = writeln!(
        out,
        "<section id=\"clients\">\n<h2>Clients</h2>\n<table>\n<tbody>\n\
         <tr><th>batches sent</th><td>{}</td><th>acknowledged</th><td>{}</td><th>failed</th>\
         <td>{}</td><th>indeterminate</th><td>{}</td></tr>\n\
         <tr><th>records acked, acks=all</th><td>{}</td><th>acks=1</th><td>{}</td>\
         <th>sent acks=0</th><td>{}</td><th>records read</th><td>{}</td></tr>\n\
         <tr><th>lost, acks=all</th><td>{}</td><th>acks=1</th><td>{}</td><th>acks=0</th>\
         <td>{}</td><th>truncations detected</th><td>{}</td></tr>\n</tbody>\n</table>\n",
        c.sends_invoked,
        c.sends_ok,
        c.sends_failed,
        c.sends_indeterminate,
        c.records_acked_acks_all,
        c.records_acked_acks1,
        c.records_sent_acks0,
        c.records_read,
        c.acked_writes_lost,
        c.acks1_writes_lost,
        c.acks0_writes_lost,
        c.truncations_detected
    );
    out.push_str(
        "<h2>Partitions at the end</h2>\n<table id=\"partitions\">\n<thead><tr><th>partition</th>\
         <th>leader</th><th>leader epoch</th><th>ISR</th><th>ELR</th><th>HW</th>\
         <th>log end offsets</th><th>leader changes</th><th>ISR changes</th></tr></thead>\n<tbody>\n",
    );
    for p in &s.partitions {
        let leos: Vec<String> = p
            .log_end_offsets
            .iter()
            .map(|(b, o)| format!("{b} {o}"))
            .collect();
        let _ = writeln!(
            out,
            "<tr><td>{}-{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            escape(&p.topic),
            p.partition,
            escape(p.leader.as_deref().unwrap_or("none")),
            p.leader_epoch,
            escape(&p.isr.join(", ")),
            escape(&p.elr.join(", ")),
            p.high_watermark,
            escape(&leos.join(", ")),
            p.leader_changes,
            p.isr_changes
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// The filterable table of every moment.
fn write_events(out: &mut String, input: &HtmlInput<'_>) {
    out.push_str(
        "<section id=\"events\">\n<h2>Events</h2>\n<div class=\"filters\">\n\
         <label>node <select id=\"f-node\"><option value=\"\">all</option></select></label>\n\
         <label>partition <select id=\"f-partition\"><option value=\"\">all</option></select></label>\n\
         <label>kind <select id=\"f-kind\"><option value=\"\">all</option></select></label>\n\
         <label>text <input id=\"f-text\" type=\"search\" placeholder=\"contains\"></label>\n\
         <span class=\"count\" id=\"event-count\"></span>\n</div>\n\
         <div id=\"event-table-wrap\">\n<table id=\"event-table\">\n<thead><tr><th>time</th>\
         <th>kind</th><th>nodes</th><th>partition</th><th>what happened</th></tr></thead>\n<tbody>\n",
    );
    for m in input.moments {
        let nodes = m.nodes.join(" ");
        let partition = m.partition.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            "<tr class=\"k-{kind}\" data-kind=\"{kind}\" data-nodes=\"{}\" data-partition=\"{}\" \
             data-t=\"{}\"><td>{}</td><td>{kind}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&nodes),
            escape(partition),
            m.t_us,
            secs(m.t_us),
            escape(&m.nodes.join(", ")),
            escape(partition),
            escape(&m.text),
            kind = m.kind.name()
        );
    }
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

/// A causal chain's words with the numbers taken out: violations whose chains read the same
/// but for offsets, epochs and times are one group.
fn chain_shape(invariant: &str, chain: &[&Moment]) -> String {
    let mut shape = invariant.to_string();
    for m in chain {
        shape.push('\n');
        shape.extend(
            m.text
                .chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c }),
        );
    }
    shape
}

/// The violations, grouped by invariant and the shape of their causal chains: each group
/// shows its first violation with its chain, and when the others happened.
fn write_violations(out: &mut String, input: &HtmlInput<'_>) {
    out.push_str("<section class=\"violations\">\n<h2>Violations</h2>\n");
    let violations: Vec<&Moment> = input
        .moments
        .iter()
        .filter(|m| m.kind == MomentKind::Violation)
        .collect();
    if violations.is_empty() {
        out.push_str("<p class=\"no-violations\">None: every invariant held.</p>\n");
    }
    // (shape) -> (first violation's index, every member's index), in first-seen order.
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, (m, v)) in violations.iter().zip(&input.trace.violations).enumerate() {
        let shape = chain_shape(&v.invariant, &causal_chain(input.moments, m));
        match groups.iter_mut().find(|(s, _)| *s == shape) {
            Some((_, members)) => members.push(i),
            None => groups.push((shape, vec![i])),
        }
    }
    if groups.len() > 1 || violations.len() > 1 {
        let _ = writeln!(
            out,
            "<p class=\"count\">{} violation(s) in {} group(s): violations of one invariant whose \
             causal chains read the same but for numbers are one group.</p>",
            violations.len(),
            groups.len()
        );
    }
    for (g, (_, members)) in groups.iter().enumerate() {
        let first = members[0];
        let (m, v) = (violations[first], &input.trace.violations[first]);
        let _ = writeln!(
            out,
            "<details class=\"violation-group\" data-invariant=\"{}\"{}>\n<summary><code>{}</code> \
             ×{} · first at <span data-t=\"{}\">t={}</span></summary>\n\
             <article class=\"violation\" data-invariant=\"{}\">\n<p data-t=\"{}\">{}</p>",
            escape(&v.invariant),
            if g == 0 { " open" } else { "" },
            escape(&v.invariant),
            members.len(),
            v.t_us,
            secs(v.t_us),
            escape(&v.invariant),
            v.t_us,
            escape(&v.explanation)
        );
        let chain = causal_chain(input.moments, m);
        if !chain.is_empty() {
            out.push_str("<p>How it came about:</p>\n<ol class=\"chain\">\n");
            for c in chain {
                let _ = writeln!(
                    out,
                    "<li data-t=\"{}\">t={} {}</li>",
                    c.t_us,
                    secs(c.t_us),
                    escape(&c.text)
                );
            }
            out.push_str("</ol>\n");
        }
        if members.len() > 1 {
            out.push_str("<p class=\"count\">All of this group: ");
            for (k, &i) in members.iter().enumerate() {
                let t = input.trace.violations[i].t_us;
                let _ = write!(
                    out,
                    "{}<span class=\"mono\" data-t=\"{t}\">t={}</span>",
                    if k > 0 { ", " } else { "" },
                    secs(t)
                );
            }
            out.push_str("</p>\n");
        }
        out.push_str("</article>\n</details>\n");
    }
    out.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn text_is_escaped_for_content_and_attributes() {
        assert_eq!(
            escape("<b> & \"x\" 'y'\u{1}\n"),
            "&lt;b&gt; &amp; &quot;x&quot; &#39;y&#39;\n"
        );
    }
}
