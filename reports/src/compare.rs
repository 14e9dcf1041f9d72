//! Two runs of one scenario on one seed, compared: where their traces first differ, for the
//! comparison page ([`crate::html::compare_html`]).

use crate::html::Divergence;
use crate::narrate::Moment;
use std::io::BufRead;

/// The longest a differing line is shown.
const SHOWN: usize = 400;

fn shown(line: &str) -> String {
    match line.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{} ...", &line[..cut]),
        None => line.to_string(),
    }
}

/// The time of a trace line, read from its `t_us` field (0 when it has none).
fn t_us(line: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v["t_us"].as_u64())
        .unwrap_or(0)
}

/// Where two traces (read a line at a time) first differ, with the first narrated moment that
/// differs; none when they are the same.
pub fn divergence(
    a: impl BufRead,
    b: impl BufRead,
    moments_a: &[Moment],
    moments_b: &[Moment],
) -> std::io::Result<Option<Divergence>> {
    let mut a = a.lines();
    let mut b = b.lines();
    for line in 1.. {
        let (x, y) = (a.next().transpose()?, b.next().transpose()?);
        if x == y {
            if x.is_none() {
                return Ok(None);
            }
            continue;
        }
        let t = [&x, &y]
            .iter()
            .filter_map(|l| l.as_deref().map(t_us))
            .min()
            .unwrap_or(0);
        let first = moments_a
            .iter()
            .zip(moments_b)
            .position(|(m, n)| m.t_us != n.t_us || m.text != n.text)
            .unwrap_or(moments_a.len().min(moments_b.len()));
        let told = |ms: &[Moment]| ms.get(first).map(|m| (m.t_us, m.text.clone()));
        return Ok(Some(Divergence {
            line,
            t_us: t,
            a: x.as_deref().map(shown),
            b: y.as_deref().map(shown),
            moment_a: told(moments_a),
            moment_b: told(moments_b),
        }));
    }
    unreachable!("the loop returns")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::narrate::MomentKind;

    fn moment(t_us: u64, text: &str) -> Moment {
        Moment {
            t_us,
            kind: MomentKind::Leader,
            nodes: Vec::new(),
            partition: None,
            text: text.into(),
        }
    }

    #[test]
    fn the_first_differing_line_and_moment_are_found() {
        let a = "{\"t_us\":0}\n{\"t_us\":5,\"x\":1}\n{\"t_us\":9}\n";
        let b = "{\"t_us\":0}\n{\"t_us\":5,\"x\":2}\n";
        let ma = [moment(1, "same"), moment(5, "one")];
        let mb = [moment(1, "same"), moment(5, "two")];
        let d = divergence(a.as_bytes(), b.as_bytes(), &ma, &mb)
            .unwrap()
            .unwrap();
        assert_eq!(d.line, 2);
        assert_eq!(d.t_us, 5);
        assert_eq!(d.a.as_deref(), Some("{\"t_us\":5,\"x\":1}"));
        assert_eq!(d.moment_a, Some((5, "one".into())));
        assert_eq!(d.moment_b, Some((5, "two".into())));
        assert_eq!(
            divergence(a.as_bytes(), a.as_bytes(), &ma, &ma).unwrap(),
            None
        );
        // One trace ending first is a difference too.
        let short = "{\"t_us\":0}\n";
        let d = divergence(a.as_bytes(), short.as_bytes(), &ma, &ma)
            .unwrap()
            .unwrap();
        assert_eq!((d.line, d.b), (2, None));
    }
}
