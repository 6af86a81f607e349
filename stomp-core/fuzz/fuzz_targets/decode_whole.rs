//! Decodes the whole input as one buffer, under every version and small limits.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use stomp_core::codec::{Decoder, Limits};
use stomp_core::Version;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let version = Version::ALL[usize::from(selector % 3)];
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
    decoder.set_version(version);
    let mut buf = BytesMut::from(input);
    while let Ok(Some(_)) = decoder.decode(&mut buf) {}
});
