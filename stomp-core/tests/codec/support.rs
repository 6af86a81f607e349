//! Helpers shared by the codec integration tests.

use bytes::BytesMut;
use stomp_core::codec::{DecodeError, Decoded, Decoder, Limits};
use stomp_core::{Frame, Headers, Version};

/// Everything a decoder produced from some input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Heart-beats and frames, in order.
    pub(crate) items: Vec<Decoded>,
    /// The error that stopped decoding, if any.
    pub(crate) error: Option<DecodeError>,
    /// Bytes left in the buffer (an incomplete frame) when no error stopped decoding.
    pub(crate) rest: Vec<u8>,
}

pub(crate) fn decoder(version: Version, limits: Limits) -> Decoder {
    let mut decoder = Decoder::new(limits);
    decoder.set_version(version);
    decoder
}

/// Decodes `input` given as one buffer.
pub(crate) fn decode_whole(version: Version, limits: Limits, input: &[u8]) -> Outcome {
    decode_chunks(version, limits, [input])
}

/// Decodes `input` fed as the given chunks, decoding everything possible after each one.
pub(crate) fn decode_chunks<'a>(
    version: Version,
    limits: Limits,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Outcome {
    let mut decoder = decoder(version, limits);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        items,
                        error: Some(error),
                        rest: Vec::new(),
                    }
                }
            }
        }
    }
    Outcome {
        items,
        error: None,
        rest: buf.to_vec(),
    }
}

/// Decodes `input` fed one byte at a time.
pub(crate) fn decode_bytewise(version: Version, limits: Limits, input: &[u8]) -> Outcome {
    decode_chunks(version, limits, input.chunks(1))
}

/// A successful outcome holding `items` and nothing left over.
pub(crate) fn complete(items: Vec<Decoded>) -> Outcome {
    Outcome {
        items,
        error: None,
        rest: Vec::new(),
    }
}

/// `frame` with every `content-length` header removed (the encoder owns that header).
pub(crate) fn without_content_length(frame: &Frame) -> Frame {
    let headers: Headers = frame
        .headers
        .entries()
        .iter()
        .filter(|(n, _)| n != "content-length")
        .cloned()
        .collect();
    Frame {
        command: frame.command,
        headers,
        body: frame.body.clone(),
    }
}

/// Shorthand for a decoded frame.
pub(crate) fn frame(frame: Frame) -> Decoded {
    Decoded::Frame(frame)
}

/// Shorthand for a heart-beat.
pub(crate) const HB: Decoded = Decoded::HeartBeat;
