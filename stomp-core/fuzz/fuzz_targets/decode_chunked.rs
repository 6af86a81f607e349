//! Feeds the input in chunks whose sizes the input chooses, and checks that the result is
//! what decoding the whole input at once gives.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use stomp_core::codec::{DecodeError, Decoded, Decoder, Limits};
use stomp_core::Version;

fn decoder(selector: u8) -> Decoder {
    let limits = if selector & 4 == 0 {
        Limits::default()
    } else {
        Limits::default()
            .with_max_frame_size(256)
            .with_max_headers(4)
            .with_max_header_line(32)
            .with_max_body(64)
    };
    let mut decoder = Decoder::new(limits);
    decoder.set_version(Version::ALL[usize::from(selector % 3)]);
    decoder
}

/// Decoded items, then the error (if any) and what is left in the buffer.
fn whole(selector: u8, input: &[u8]) -> (Vec<Decoded>, Option<DecodeError>, BytesMut) {
    let mut decoder = decoder(selector);
    let mut buf = BytesMut::from(input);
    let mut items = Vec::new();
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(item)) => items.push(item),
            Ok(None) => return (items, None, buf),
            Err(e) => return (items, Some(e), buf),
        }
    }
}

fn chunked(
    selector: u8,
    sizes: &[u8],
    input: &[u8],
) -> (Vec<Decoded>, Option<DecodeError>, BytesMut) {
    let mut decoder = decoder(selector);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    let mut rest = input;
    let mut next = sizes.iter().cycle();
    while !rest.is_empty() {
        let size = next.next().map_or(1, |s| usize::from(*s % 64) + 1).min(rest.len());
        buf.extend_from_slice(&rest[..size]);
        rest = &rest[size..];
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(e) => return (items, Some(e), buf),
            }
        }
    }
    (items, None, buf)
}

fuzz_target!(|data: &[u8]| {
    let [selector, a, b, c, input @ ..] = data else {
        return;
    };
    let (w_items, w_err, w_rest) = whole(*selector, input);
    let (c_items, c_err, c_rest) = chunked(*selector, &[*a, *b, *c], input);
    // Limits are checked as bytes arrive, so the first error may be found earlier (and be
    // another one) in chunks, but everything decoded before it must be identical.
    assert_eq!(w_err.is_some(), c_err.is_some(), "{w_err:?} vs {c_err:?}");
    if w_err.is_none() {
        assert_eq!(w_items, c_items);
        assert_eq!(w_rest, c_rest);
    } else {
        let n = w_items.len().min(c_items.len());
        assert_eq!(w_items[..n], c_items[..n]);
    }
});
