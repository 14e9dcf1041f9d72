//! "Did you mean ...?" for misspelt keys and names.

/// Levenshtein distance between two short strings.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let length = word.chars().count();
    if length > 200 {
        return None; // no name is that long: not a typo of one
    }
    let limit = (length / 3).max(2);
    candidates
        .into_iter()
        // The distance is at least the difference in length: a long word costs nothing.
        .filter(|c| c.chars().count().abs_diff(length) <= limit)
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Rewrites serde's "unknown field `x`, expected one of `a`, `b`" (and "unknown variant") to
/// lead with a suggestion when one of the expected names is close.
pub(crate) fn improve_serde_message(message: &str) -> String {
    for what in ["unknown field", "unknown variant"] {
        let Some(rest) = message.strip_prefix(what) else {
            continue;
        };
        let names: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
        let Some((word, expected)) = names.split_first() else {
            continue;
        };
        return match closest(word, expected.iter().copied()) {
            Some(best) => format!("{what} \"{word}\" (did you mean \"{best}\"?)"),
            None if expected.is_empty() => format!("{what} \"{word}\""),
            None => format!(
                "{what} \"{word}\"; expected one of: {}",
                expected.join(", ")
            ),
        };
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_key() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            closest("replicaton_factor", ["name", "replication_factor"]),
            Some("replication_factor")
        );
        assert_eq!(closest("zzz", ["name", "replication_factor"]), None);
    }

    #[test]
    fn rewrites_serde_unknown_field_messages() {
        let m = improve_serde_message(
            "unknown field `partitons`, expected one of `name`, `partitions`",
        );
        assert_eq!(
            m,
            "unknown field \"partitons\" (did you mean \"partitions\"?)"
        );
        let m = improve_serde_message("unknown variant `zig`, expected `fixed` or `uniform`");
        assert_eq!(
            m,
            "unknown variant \"zig\"; expected one of: fixed, uniform"
        );
    }
}
