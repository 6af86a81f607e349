//! Byte scans of destinations on the per-SEND path, eight bytes at a time.
//!
//! Destinations are short (tens of bytes): `str::contains(char)`, `memchr` and
//! `memrchr` pay more in set-up and dispatch than in scanning there. These helpers
//! read a word at a time (no `unsafe`: a fixed-size copy the compiler turns into one
//! load) and test every byte of it at once.
//!
//! They look for ASCII bytes only, so they are exact on UTF-8 text: no byte of a
//! multi-byte character is below `0x80`.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The 8 bytes of `chunk` (exactly 8 long) as one word, the first byte lowest.
#[inline]
fn word(chunk: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(chunk);
    u64::from_le_bytes(bytes)
}

/// Whether some byte of `word` is `byte`. Exact: `(v - 0x01..) & !v & 0x80..` is non-zero
/// if and only if a byte of `v` is zero.
#[inline]
fn has_byte(word: u64, byte: u8) -> bool {
    let v = word ^ (LO * u64::from(byte));
    v.wrapping_sub(LO) & !v & HI != 0
}

/// `0x80` in each byte of `word` that is `byte`, `0` in the others. Exact (no borrow
/// crosses bytes): `(v & 0x7f) + 0x7f` sets the top bit of a byte when its low bits are
/// not all zero, `| v` when its top bit is set.
#[inline]
fn eq_mask(word: u64, byte: u8) -> u64 {
    let v = word ^ (LO * u64::from(byte));
    !(((v & !HI).wrapping_add(!HI)) | v | !HI)
}

/// Whether `haystack` contains `byte`.
// `remainder().contains` would call core's `memchr` for fewer than 8 bytes.
#[allow(clippy::manual_contains)]
#[inline]
pub(crate) fn contains_byte(haystack: &[u8], byte: u8) -> bool {
    let mut chunks = haystack.chunks_exact(8);
    for chunk in &mut chunks {
        if has_byte(word(chunk), byte) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| b == byte)
}

/// How many bytes of `haystack` are `a` or `b`.
#[inline]
pub(crate) fn count_either(haystack: &[u8], a: u8, b: u8) -> usize {
    let mut chunks = haystack.chunks_exact(8);
    let mut count = 0;
    for chunk in &mut chunks {
        let w = word(chunk);
        count += (eq_mask(w, a) | eq_mask(w, b)).count_ones() as usize;
    }
    count
        + chunks
            .remainder()
            .iter()
            .filter(|&&c| c == a || c == b)
            .count()
}

/// The start of the last occurrence of `needle` (non-empty) in `haystack`:
/// `str::rfind(needle)`, for short haystacks and needles. Only the positions of
/// `needle`'s first byte are compared further.
#[inline]
pub(crate) fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let second = needle.get(1).copied();
    let at = |i: usize| haystack[i..].starts_with(needle);
    let mut end = haystack.len();
    while end >= 8 {
        let start = end - 8;
        let w = word(&haystack[start..end]);
        let mut mask = eq_mask(w, first);
        if let Some(second) = second {
            // A candidate is followed by the needle's second byte (the last byte of the
            // word is followed by the next word: it stays a candidate). Only a filter:
            // every candidate left is compared in full.
            mask &= (eq_mask(w, second) >> 8) | (0x80 << 56);
        }
        while mask != 0 {
            // The highest marked byte: the last candidate of this word.
            let bit = 63 - mask.leading_zeros();
            let i = start + (bit / 8) as usize;
            if at(i) {
                return Some(i);
            }
            mask ^= 1 << bit;
        }
        end = start;
    }
    (0..end).rev().find(|&i| haystack[i] == first && at(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HAYSTACKS: &[&str] = &[
        "",
        "-",
        "*",
        "-user",
        "user-",
        "/topic/pair-17",
        "/topic/lg-20261202-a1b2-17",
        "/queue/a-user1",
        "/queue/a-user1-user2",
        "/q-us-user-x",
        "/q-use",
        "/a-b-c-userz/-user",
        "/topic/*",
        "/topic/**",
        "/topic/a*b",
        "/topic/a/b/c/d/e/f/g/h/i/j/k/l/m/*",
        "*/topic/a/b/c/d/e/f/g/h/i/j/k/l/m",
        "/topic/>",
        "/topic/#",
        "/topic/ünïcødé-user✓",
        "/topic/日本語-user日本",
        "0123456-user",
        "01234567-user",
        "012345678-user",
        "-user01234567",
        "-user0123456789abcdef",
        "xx-usexx-user-usexxxxxxxxxxxxxxxx",
        "--------user--------",
    ];

    #[test]
    fn contains_byte_agrees_with_contains() {
        for h in HAYSTACKS {
            for b in [b'*', b'-', b'/', b'.', b'>', b'#', b'\0', 0x80, 0xff, 0xe2] {
                assert_eq!(
                    contains_byte(h.as_bytes(), b),
                    h.as_bytes().contains(&b),
                    "{h:?} {b}"
                );
            }
        }
        // Every length and every position of the byte, around the word boundaries.
        for len in 0..40 {
            let clean = vec![b'a'; len];
            assert!(!contains_byte(&clean, b'*'));
            for at in 0..len {
                let mut h = clean.clone();
                h[at] = b'*';
                assert!(contains_byte(&h, b'*'), "{len} {at}");
                // Neighbouring byte values never count.
                h[at] = b'*' + 1;
                assert!(!contains_byte(&h, b'*'), "{len} {at}");
                h[at] = b'*' - 1;
                assert!(!contains_byte(&h, b'*'), "{len} {at}");
            }
        }
    }

    #[test]
    fn count_either_agrees_with_filter() {
        let count = |h: &[u8], a: u8, b: u8| h.iter().filter(|&&c| c == a || c == b).count();
        for h in HAYSTACKS {
            for (a, b) in [
                (b'/', b'.'),
                (b'-', b'-'),
                (b'*', b'>'),
                (0x80, 0xff),
                (0, 1),
            ] {
                assert_eq!(
                    count_either(h.as_bytes(), a, b),
                    count(h.as_bytes(), a, b),
                    "{h:?}"
                );
            }
        }
        for len in 0..40 {
            for every in 1..5 {
                let h: Vec<u8> = (0..len)
                    .map(|i| match i % (every + 2) {
                        0 => b'/',
                        1 if every > 2 => b'.',
                        2 => b'/' + 1,
                        3 => b'.' - 1,
                        _ => 0x80 | b'/',
                    })
                    .collect();
                assert_eq!(count_either(&h, b'/', b'.'), count(&h, b'/', b'.'), "{h:?}");
            }
        }
    }

    #[test]
    fn rfind_agrees_with_str_rfind() {
        for h in HAYSTACKS {
            for n in [
                "-user", "-", "*", "user", "-user.", "✓", "日本", "--", "-u", "xx",
            ] {
                assert_eq!(rfind(h.as_bytes(), n.as_bytes()), h.rfind(n), "{h:?} {n:?}");
            }
        }
        for len in 0..40 {
            for at in 0..=len {
                let mut h = "x".repeat(len);
                h.insert_str(at, "-user");
                assert_eq!(rfind(h.as_bytes(), b"-user"), h.rfind("-user"), "{h}");
                let cut = &h[..h.len() - 1];
                assert_eq!(rfind(cut.as_bytes(), b"-user"), cut.rfind("-user"), "{cut}");
            }
        }
        assert_eq!(rfind(b"abc", b""), None);
    }
}
