//! `report.html`: one self-contained file (inline SVG, CSS and a little JavaScript; nothing
//! fetched) that opens offline in any browser. Verdicts first, then the timeline, the
//! narration, a filterable event table and each violation with its causal chain.
//!
//! The page's script fills the filters from the table, applies the filters in the URL
//! fragment (`#node=broker-1&kind=fencing`), and marks `<body data-rendered="yes">` when done.

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
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1460px; padding: 16px 24px; color: #202020; }
h1 { margin: 0 0 4px; font-size: 24px; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 28px; }
.desc { max-width: 980px; line-height: 1.45; }
.meta { color: #555; font-size: 14px; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
.verdict { padding: 10px 14px; border-radius: 6px; font-weight: 600; display: inline-block; }
.verdict.ok { background: #e3f4e1; color: #1b5e20; }
.verdict.fail { background: #fde2e1; color: #b71c1c; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #eee; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #fafafa; position: sticky; top: 0; }
td.violated { color: #b71c1c; font-weight: 600; }
td.held { color: #1b5e20; }
.timeline { overflow-x: auto; border: 1px solid #eee; }
.timeline svg { display: block; }
pre.narration { white-space: pre-wrap; background: #fafafa; padding: 10px; border: 1px solid #eee; max-height: 560px; overflow: auto; }
.filters { display: flex; gap: 12px; flex-wrap: wrap; align-items: center; margin-bottom: 8px; }
.filters label { font-size: 13px; }
#event-table-wrap { max-height: 620px; overflow: auto; border: 1px solid #eee; }
tr.k-violation td { color: #b71c1c; }
tr.k-fault td { background: #fff6e5; }
tr.k-note td { font-style: italic; color: #444; }
article.violation { border-left: 4px solid #c00000; padding: 4px 12px; margin: 12px 0; background: #fff8f8; }
article.violation h3 { margin: 4px 0; font-size: 16px; }
ol.chain { font-size: 13px; }
.count { color: #555; font-size: 13px; }
"#;

const SCRIPT: &str = r#"
(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll('#event-table tbody tr'));
  var node = document.getElementById('f-node');
  var part = document.getElementById('f-partition');
  var kind = document.getElementById('f-kind');
  var text = document.getElementById('f-text');
  var count = document.getElementById('event-count');
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
  fill(node, 'data-nodes');
  fill(part, 'data-partition');
  fill(kind, 'data-kind');
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
  var hash = window.location.hash.replace(/^#/, '');
  hash.split('&').forEach(function (kv) {
    var i = kv.indexOf('=');
    if (i < 0) return;
    var key = kv.slice(0, i), value = decodeURIComponent(kv.slice(i + 1));
    var target = { node: node, partition: part, kind: kind, q: text }[key];
    if (target) target.value = value;
  });
  [node, part, kind].forEach(function (s) { s.addEventListener('change', apply); });
  text.addEventListener('input', apply);
  apply();
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
    pub narration: &'a str,
    pub svg: &'a str,
    pub replay: &'a str,
}

/// The report page.
pub fn html(input: &HtmlInput<'_>) -> String {
    let s = input.summary;
    let mut out = String::with_capacity(64 * 1024 + input.svg.len() + input.narration.len() * 2);
    let title = format!("{} (seed {})", s.scenario, s.seed);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>kafkasim: {}</title>\n<style>{STYLE}</style>\n</head>\n\
         <body data-rendered=\"no\">\n",
        escape(&title)
    );
    write_header(&mut out, input);
    write_verdict(&mut out, input);
    write_clients_and_partitions(&mut out, input);
    // The timeline (SVG inline; plotters writes no XML prolog).
    let _ = writeln!(
        out,
        "<section id=\"timeline\">\n<h2>Timeline</h2>\n<div class=\"timeline\">\n{}\n</div>\n</section>",
        input.svg.trim()
    );

    // Narration.
    let _ = writeln!(
        out,
        "<section id=\"narration-section\">\n<h2>Narration</h2>\n<pre class=\"narration\" id=\"narration\">{}</pre>\n</section>",
        escape(input.narration.trim_end())
    );

    write_events(&mut out, input);
    write_violations(&mut out, input);
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    out
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
        "<section id=\"verdict\">\n<h2>Verdict</h2>\n<p class=\"verdict {class}\" \
         id=\"verdict-line\">{}</p>",
        escape(&words)
    );
    if s.clients.acked_writes_lost_outside_promise > 0 {
        let _ = writeln!(
            out,
            "<p class=\"verdict fail\" id=\"losses-outside-promise\">{} acknowledged acks=all \
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
    out.push_str(
        "<table id=\"invariants\">\n<thead><tr><th>invariant</th><th>kind</th><th>verdict</th>\
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
    out.push_str("</tbody>\n</table>\n</section>\n");
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
            "<tr class=\"k-{kind}\" data-kind=\"{kind}\" data-nodes=\"{}\" data-partition=\"{}\">\
             <td>{}</td><td>{kind}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&nodes),
            escape(partition),
            secs(m.t_us),
            escape(&m.nodes.join(", ")),
            escape(partition),
            escape(&m.text),
            kind = m.kind.name()
        );
    }
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

/// Each violation with the causal chain that led to it.
fn write_violations(out: &mut String, input: &HtmlInput<'_>) {
    out.push_str("<section id=\"violations\">\n<h2>Violations</h2>\n");
    let violations: Vec<&Moment> = input
        .moments
        .iter()
        .filter(|m| m.kind == MomentKind::Violation)
        .collect();
    if violations.is_empty() {
        out.push_str("<p id=\"no-violations\">None: every invariant held.</p>\n");
    }
    for (m, v) in violations.iter().zip(&input.trace.violations) {
        let _ = writeln!(
            out,
            "<article class=\"violation\" data-invariant=\"{}\">\n<h3><code>{}</code> at t={}</h3>\n<p>{}</p>",
            escape(&v.invariant),
            escape(&v.invariant),
            secs(v.t_us),
            escape(&v.explanation)
        );
        let chain = causal_chain(input.moments, m);
        if !chain.is_empty() {
            out.push_str("<p>How it came about:</p>\n<ol class=\"chain\">\n");
            for c in chain {
                let _ = writeln!(out, "<li>t={} {}</li>", secs(c.t_us), escape(&c.text));
            }
            out.push_str("</ol>\n");
        }
        out.push_str("</article>\n");
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
