//! [`LazyRead`]: a socket whose reads cost an idle connection no buffer.
//!
//! tungstenite keeps a read buffer per connection and asks the socket for at most that
//! many bytes per read. This adapter sits between the two so that tungstenite's buffer
//! can stay small while the socket is still read in `read_size` chunks: a read lands
//! directly in the caller's buffer when that has room for a whole chunk, otherwise in a
//! scratch buffer of the worker thread; bytes the caller had no room for are kept, in a
//! buffer of exactly their size, until the next reads take them. Between messages the
//! adapter holds nothing.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

thread_local! {
    /// The worker thread's scratch buffer for socket reads the caller has no room for.
    /// Taken out while a read uses it, so a nested read (none is expected) gets a fresh
    /// one instead of a panic.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// An [`AsyncRead`] + [`AsyncWrite`] adapter that holds no read buffer while idle.
///
/// Each read of the inner stream asks for up to `read_size` bytes. Writes pass through.
#[derive(Debug)]
pub(crate) struct LazyRead<S> {
    inner: S,
    /// Bytes read from the socket that the caller had no room for, from `stash_pos` on.
    stash: Option<Box<[u8]>>,
    stash_pos: usize,
    read_size: usize,
}

impl<S> LazyRead<S> {
    /// Wraps `inner`, reading up to `read_size` bytes (at least 1) from it at a time.
    pub(crate) fn new(inner: S, read_size: usize) -> Self {
        LazyRead {
            inner,
            stash: None,
            stash_pos: 0,
            read_size: read_size.max(1),
        }
    }

    /// Bytes read from the socket and not yet handed out (0 when idle).
    #[cfg(test)]
    fn stashed(&self) -> usize {
        self.stash.as_ref().map_or(0, |s| s.len() - self.stash_pos)
    }

    /// Hands out stashed bytes; frees the stash once it is empty.
    fn take_stash(&mut self, stash: &[u8], buf: &mut ReadBuf<'_>) -> bool {
        let n = buf.remaining().min(stash.len() - self.stash_pos);
        buf.put_slice(&stash[self.stash_pos..self.stash_pos + n]);
        self.stash_pos += n;
        self.stash_pos == stash.len()
    }
}

impl<S: AsyncRead + Unpin> LazyRead<S> {
    /// Reads a chunk into the thread's scratch buffer, gives the caller what fits and
    /// stashes the rest.
    fn poll_read_scratch(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut scratch = SCRATCH.take();
        if scratch.len() < self.read_size {
            scratch.resize(self.read_size, 0);
        }
        let mut chunk = ReadBuf::new(&mut scratch[..self.read_size]);
        let polled = Pin::new(&mut self.inner).poll_read(cx, &mut chunk);
        if let Poll::Ready(Ok(())) = polled {
            let read = chunk.filled();
            let n = buf.remaining().min(read.len());
            buf.put_slice(&read[..n]);
            if n < read.len() {
                self.stash = Some(read[n..].into());
                self.stash_pos = 0;
            }
        }
        SCRATCH.set(scratch);
        polled
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LazyRead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if let Some(stash) = this.stash.take() {
            if !this.take_stash(&stash, buf) {
                this.stash = Some(stash);
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= this.read_size {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        ready!(this.poll_read_scratch(cx, buf))?;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LazyRead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::future::poll_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One `poll_read` with a caller buffer of `room` bytes.
    async fn read_once<S: AsyncRead + Unpin>(
        lazy: &mut LazyRead<S>,
        room: usize,
    ) -> io::Result<Vec<u8>> {
        let mut storage = vec![0; room];
        let mut buf = ReadBuf::new(&mut storage);
        poll_fn(|cx| Pin::new(&mut *lazy).poll_read(cx, &mut buf)).await?;
        Ok(buf.filled().to_vec())
    }

    #[tokio::test]
    async fn small_caller_buffer_gets_a_part_and_the_rest_is_stashed() {
        let stream = script(&[b"hello world"]);
        let mut lazy = LazyRead::new(stream, 64);
        assert_eq!(read_once(&mut lazy, 5).await.ok(), Some(b"hello".to_vec()));
        assert_eq!(lazy.stashed(), 6);
        assert_eq!(read_once(&mut lazy, 4).await.ok(), Some(b" wor".to_vec()));
        assert_eq!(lazy.stashed(), 2);
        assert_eq!(read_once(&mut lazy, 100).await.ok(), Some(b"ld".to_vec()));
        assert!(lazy.stash.is_none(), "the emptied stash is freed");
        assert_eq!(read_once(&mut lazy, 100).await.ok(), Some(Vec::new()));
    }

    #[tokio::test]
    async fn a_caller_buffer_with_room_is_read_into_directly() {
        let stream = script(&[b"abc", b"defgh"]);
        let mut lazy = LazyRead::new(stream, 4);
        assert_eq!(read_once(&mut lazy, 4).await.ok(), Some(b"abc".to_vec()));
        assert_eq!(lazy.stashed(), 0);
        assert_eq!(read_once(&mut lazy, 8).await.ok(), Some(b"defgh".to_vec()));
        assert_eq!(lazy.stashed(), 0);
    }

    #[tokio::test]
    async fn socket_reads_are_bounded_by_the_read_size() {
        let stream = script(&[b"0123456789"]);
        let mut lazy = LazyRead::new(stream, 4);
        // The caller has room for 2: one socket read of 4, 2 handed out, 2 stashed.
        assert_eq!(read_once(&mut lazy, 2).await.ok(), Some(b"01".to_vec()));
        assert_eq!(lazy.stashed(), 2);
        assert_eq!(read_once(&mut lazy, 2).await.ok(), Some(b"23".to_vec()));
        assert_eq!(read_once(&mut lazy, 3).await.ok(), Some(b"456".to_vec()));
        assert_eq!(lazy.stashed(), 1);
    }

    #[tokio::test]
    async fn eof_and_errors_pass_through() {
        let stream = Script(
            [
                Ok(b"ab".to_vec()),
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")),
            ]
            .into(),
        );
        let mut lazy = LazyRead::new(stream, 16);
        assert_eq!(read_once(&mut lazy, 1).await.ok(), Some(b"a".to_vec()));
        assert_eq!(read_once(&mut lazy, 1).await.ok(), Some(b"b".to_vec()));
        let error = read_once(&mut lazy, 1).await.err().map(|e| e.kind());
        assert_eq!(error, Some(io::ErrorKind::ConnectionReset));
        assert_eq!(lazy.stashed(), 0);

        let (client, server) = tokio::io::duplex(64);
        drop(client);
        let mut lazy = LazyRead::new(server, 16);
        assert_eq!(read_once(&mut lazy, 1).await.ok(), Some(Vec::new()));
        assert_eq!(read_once(&mut lazy, 32).await.ok(), Some(Vec::new()));
    }

    #[tokio::test]
    async fn a_large_frame_over_many_reads_arrives_whole_and_nothing_stays() {
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let (mut client, server) = tokio::io::duplex(1500);
        let sent = payload.clone();
        let writer = tokio::spawn(async move {
            for chunk in sent.chunks(777) {
                client.write_all(chunk).await?;
            }
            client.shutdown().await
        });
        let mut lazy = LazyRead::new(server, 4096);
        let mut received = Vec::new();
        // Caller buffers smaller and larger than the read size, like tungstenite's.
        for room in [300, 5000, 1, 512].into_iter().cycle() {
            let part = read_once(&mut lazy, room).await;
            let part = part.unwrap_or_else(|e| panic!("read failed: {e}"));
            if part.is_empty() {
                break;
            }
            assert!(part.len() <= room);
            received.extend_from_slice(&part);
        }
        assert!(matches!(writer.await, Ok(Ok(()))));
        assert_eq!(received, payload);
        assert!(lazy.stash.is_none(), "nothing kept at the end");
    }

    #[tokio::test]
    async fn an_idle_socket_keeps_no_stash() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut lazy = LazyRead::new(server, 32);
        client.write_all(b"frame").await.ok();
        assert_eq!(read_once(&mut lazy, 8).await.ok(), Some(b"frame".to_vec()));
        // Nothing more arrives: the read is pending and the adapter holds nothing.
        let mut storage = [0u8; 8];
        let mut buf = ReadBuf::new(&mut storage);
        let pending =
            poll_fn(|cx| Poll::Ready(Pin::new(&mut lazy).poll_read(cx, &mut buf).is_pending()))
                .await;
        assert!(pending);
        assert!(lazy.stash.is_none());
        assert_eq!(std::mem::size_of::<LazyRead<()>>(), 32);
    }

    #[tokio::test]
    async fn writes_pass_through() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut lazy = LazyRead::new(server, 32);
        lazy.write_all(b"one").await.ok();
        let slices = [io::IoSlice::new(b"two"), io::IoSlice::new(b"three")];
        let n = lazy.write_vectored(&slices).await.ok();
        assert!(n.is_some_and(|n| n > 0));
        lazy.flush().await.ok();
        lazy.shutdown().await.ok();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.ok();
        assert!(out.starts_with(b"onetwo"), "{out:?}");
    }

    /// A socket that answers each read with the next scripted result (a longer chunk
    /// than the caller has room for is split over reads), then the end.
    struct Script(VecDeque<io::Result<Vec<u8>>>);

    impl AsyncRead for Script {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let queue = &mut self.get_mut().0;
            match queue.pop_front() {
                None => Poll::Ready(Ok(())),
                Some(Err(error)) => Poll::Ready(Err(error)),
                Some(Ok(mut chunk)) => {
                    let n = buf.remaining().min(chunk.len());
                    buf.put_slice(&chunk[..n]);
                    if n < chunk.len() {
                        queue.push_front(Ok(chunk.split_off(n)));
                    }
                    Poll::Ready(Ok(()))
                }
            }
        }
    }

    fn script(reads: &[&[u8]]) -> Script {
        Script(reads.iter().map(|r| Ok(r.to_vec())).collect())
    }
}
