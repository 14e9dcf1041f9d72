//! Parsers for numeric flags that clap's defaults get wrong for kafkasim: 0 where it means
//! nothing (`--jobs 0`, `--runs 0`) is an error, not a silent 1, and a negative number gets a
//! plain message instead of clap's "to pass '-1' as a value, use '-- -1'" (the flags using
//! these accept a leading hyphen so the parser sees it).

use std::str::FromStr;

/// A whole number of at least 1.
fn positive<T: FromStr + PartialOrd + From<u8>>(text: &str) -> Result<T, String> {
    let expected = || format!("expected a positive whole number, got {text:?}");
    let value: T = text.trim().parse().map_err(|_| expected())?;
    if value < T::from(1) {
        return Err(expected());
    }
    Ok(value)
}

pub fn positive_usize(text: &str) -> Result<usize, String> {
    positive(text)
}

pub fn positive_u32(text: &str) -> Result<u32, String> {
    positive(text)
}

pub fn positive_u64(text: &str) -> Result<u64, String> {
    positive(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_negative_and_non_numbers_are_refused_plainly() {
        assert_eq!(positive_usize("4"), Ok(4));
        assert_eq!(positive_u64("18446744073709551615"), Ok(u64::MAX));
        for bad in ["0", "-1", "1.5", "", "many", "18446744073709551616"] {
            let err = positive_u64(bad).unwrap_err();
            assert!(
                err.starts_with("expected a positive whole number"),
                "{bad}: {err}"
            );
        }
    }
}
