//! Comparing short byte strings without a call to `memcmp`.
//!
//! The hot path compares a few bytes at a time (a marker with the start
//! of a message, a literal of the prefix, a name with the one before);
//! `==` on slices calls the C library's `memcmp`, whose call and dispatch
//! cost more than the compare on strings this short. These compare eight
//! bytes per step, then byte by byte.

/// The 8 bytes at `b[i..]` as a word.
#[inline]
pub(crate) fn word(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

/// `a == b`.
#[inline]
pub(crate) fn eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && same_prefix(a, b)
}

/// `hay.starts_with(needle)`.
#[inline]
pub(crate) fn starts_with(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && same_prefix(hay, needle)
}

/// Whether `hay` starts with `needle`, given `hay` is at least as long.
#[inline]
fn same_prefix(hay: &[u8], needle: &[u8]) -> bool {
    let n = needle.len();
    if n < 8 {
        return hay[..n].iter().zip(needle).all(|(a, b)| a == b);
    }
    // Words from the start, and the last word (overlapping the one
    // before unless the length is a multiple of 8).
    let mut i = 0;
    while i + 8 < n {
        if word(hay, i) != word(needle, i) {
            return false;
        }
        i += 8;
    }
    word(hay, n - 8) == word(needle, n - 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agree_with_std() {
        let words: &[&[u8]] = &[
            b"",
            b"c",
            b"connection",
            b"connection received: ",
            b"connection authorized: user=",
            b"connection authorized: user=x",
            b"[unknown]",
            b"[unknown",
            b"0123456789abcdef",
            b"0123456789abcdeF",
        ];
        for &a in words {
            for &b in words {
                assert_eq!(eq(a, b), a == b, "{a:?} {b:?}");
                assert_eq!(starts_with(a, b), a.starts_with(b), "{a:?} {b:?}");
            }
        }
    }
}
