//! Size limits the decoder enforces while bytes arrive.

/// Limits on what a peer may send; exceeding one is a fatal [`DecodeError`].
///
/// Every limit is checked as soon as the bytes that break it have arrived, so a decoder never
/// buffers more than about `max_frame_size` bytes for one frame.
///
/// [`DecodeError`]: super::DecodeError
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame in bytes, from the first byte of the command to the closing NUL
    /// (default 64 KiB, as Spring's `messageSizeLimit`).
    pub max_frame_size: usize,
    /// Most header lines in one frame, repeats included (default 64).
    pub max_headers: usize,
    /// Longest header line in bytes, without its EOL (default 8 KiB).
    pub max_header_line: usize,
    /// Largest body in bytes (default 64 KiB; `max_frame_size` applies too).
    pub max_body: usize,
}

impl Limits {
    /// Default largest frame: 64 KiB.
    pub const DEFAULT_MAX_FRAME_SIZE: usize = 64 * 1024;
    /// Default most header lines: 64.
    pub const DEFAULT_MAX_HEADERS: usize = 64;
    /// Default longest header line: 8 KiB.
    pub const DEFAULT_MAX_HEADER_LINE: usize = 8 * 1024;
    /// Default largest body: 64 KiB.
    pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

    /// No practical limit on anything (for trusted peers, tests and benchmarks).
    pub const fn unlimited() -> Self {
        Limits {
            max_frame_size: usize::MAX,
            max_headers: usize::MAX,
            max_header_line: usize::MAX,
            max_body: usize::MAX,
        }
    }

    /// Builder: sets [`max_frame_size`](Self::max_frame_size).
    #[must_use]
    pub const fn with_max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Builder: sets [`max_headers`](Self::max_headers).
    #[must_use]
    pub const fn with_max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// Builder: sets [`max_header_line`](Self::max_header_line).
    #[must_use]
    pub const fn with_max_header_line(mut self, bytes: usize) -> Self {
        self.max_header_line = bytes;
        self
    }

    /// Builder: sets [`max_body`](Self::max_body).
    #[must_use]
    pub const fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_size: Self::DEFAULT_MAX_FRAME_SIZE,
            max_headers: Self::DEFAULT_MAX_HEADERS,
            max_header_line: Self::DEFAULT_MAX_HEADER_LINE,
            max_body: Self::DEFAULT_MAX_BODY,
        }
    }
}
