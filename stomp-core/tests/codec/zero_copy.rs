//! Shape of the decoder's work: frames share the received bytes, and tiny chunks cost
//! linear time.

use crate::support::decode_bytewise;
use bytes::BytesMut;
use stomp_core::codec::{Decoded, Decoder, Limits};
use stomp_core::Version;

#[test]
fn unescaped_headers_and_the_body_are_slices_of_the_received_bytes() {
    let mut buf =
        BytesMut::from(&b"MESSAGE\ndestination:/a\nk:x\\cy\ncontent-length:3\n\nb\0d\0"[..]);
    let range = buf.as_ptr_range();
    let within = |p: *const u8| range.contains(&p);
    let mut decoder = Decoder::new(Limits::default());
    let Ok(Some(Decoded::Frame(frame))) = decoder.decode(&mut buf) else {
        panic!("expected a frame");
    };
    assert!(within(frame.body.as_ptr()), "body is copied");
    let entries = frame.headers.entries();
    let (name, value) = &entries[0];
    assert!(within(name.as_bytes().as_ptr()), "name is copied");
    assert!(within(value.as_bytes().as_ptr()), "value is copied");
    // A value with an escape is necessarily a new string.
    assert_eq!(&*entries[1].1, "x:y");
    assert!(!within(entries[1].1.as_bytes().as_ptr()));
}

#[test]
fn one_byte_chunks_of_large_frames_take_linear_time() {
    // A quadratic decoder rescanning its buffer on every byte would need about 10^10 steps
    // here and never finish; a linear one takes well under a second, even unoptimized.
    let size = 128 * 1024;
    let mut input = b"SEND\nk:".to_vec();
    input.extend(std::iter::repeat_n(b'v', size));
    input.extend_from_slice(b"\n\n");
    input.extend(std::iter::repeat_n(b'b', size));
    input.push(0);
    let outcome = decode_bytewise(Version::V1_2, Limits::unlimited(), &input);
    assert_eq!(outcome.error, None);
    let [Decoded::Frame(frame)] = &outcome.items[..] else {
        panic!("expected one frame");
    };
    assert_eq!(frame.body.len(), size);
    assert_eq!(frame.headers.get("k").map(str::len), Some(size));
}
