//! Durable queues on local disk (feature `durable`): the store behind a [`SimpleBroker`]
//! opened with a [data directory](super::SimpleBrokerConfig::data_dir).
//!
//! An [fjall](https://docs.rs/fjall) database (a log-structured merge tree with a
//! write-ahead journal) in `queues/` inside the data directory holds every persistent queue
//! message not yet acknowledged, keyed by a number that grows with every message (so a
//! queue's messages load back in order). A dedicated thread owns the writes and
//! **group-commits**: a persistent SEND queues its record and waits; the thread takes
//! everything queued since its last commit (records and deletions), writes it as one atomic
//! batch, `fsync`s the journal once and only then answers every waiting SEND. So concurrent
//! producers share fsyncs, and a RECEIPT goes out only after the message is on disk.
//!
//! After a crash or power loss the journal is replayed up to its last complete batch (a
//! torn tail is cut off, as fjall's default recovery does); [`DurableReport`] says when a
//! store was not closed cleanly.
//!
//! [`SimpleBroker`]: super::SimpleBroker

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use bytes::Bytes;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use tokio::sync::oneshot;

use crate::frame::Headers;

/// The store's directory, inside the data directory.
pub const STORE_DIR: &str = "queues";

/// The keyspace of messages. Key: the message's store number (big-endian `u64`); value:
/// its [record](encode).
const MESSAGES: &str = "messages";

/// A file in the data directory while a store is open: found at open, the last one did not
/// close cleanly.
const OPEN_MARKER: &str = "queues.open";

/// Most operations one commit takes (the rest wait for the next one).
const MAX_BATCH: usize = 8192;

/// Format version of a record (its first byte).
const RECORD_V1: u8 = 1;

/// Why a durable store could not be opened (startup stops with it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DurableError {
    /// The data directory does not exist and cannot be created, or is not a directory.
    #[error("durable store: cannot use the data directory {path}: {source}")]
    Directory {
        /// The data directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The store cannot be opened or created (permissions, a full disk, files that are not
    /// a store, or damage beyond a torn journal tail).
    #[error("durable store: cannot open {path}: {reason}")]
    Open {
        /// The store's directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The store opened but its messages cannot be read.
    #[error("durable store: cannot read {path}: {reason}")]
    Read {
        /// The store's directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// What opening a durable store found (see
/// [`SimpleBroker::durable_report`](super::SimpleBroker::durable_report)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DurableReport {
    /// The store's directory.
    pub path: PathBuf,
    /// Messages restored to their queues (each is delivered with `redelivered:true`).
    pub restored_messages: usize,
    /// Queues that got messages back.
    pub restored_queues: usize,
    /// Records that could not be decoded (damaged on disk): reported and removed.
    pub damaged_records: usize,
    /// The store was not closed cleanly (a crash, `kill -9`, a power loss): its journal
    /// was replayed up to the last complete commit, and a torn tail (a batch being written
    /// at that moment, never answered so never receipted) was cut off.
    pub recovered: bool,
    /// Bytes of journal data after the last complete commit that recovery cut off: a few
    /// bytes for a torn tail; more when damage in the middle of a journal ended the replay
    /// there (what followed it is lost, and this says how much).
    pub cut_bytes: u64,
}

impl std::fmt::Display for DurableReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "durable store {}: restored {} messages in {} queues",
            self.path.display(),
            self.restored_messages,
            self.restored_queues
        )?;
        if self.recovered {
            f.write_str("; not closed cleanly, recovered up to the last complete commit")?;
        }
        if self.cut_bytes > 0 {
            write!(
                f,
                "; {} bytes of damaged or torn journal data cut off",
                self.cut_bytes
            )?;
        }
        if self.damaged_records > 0 {
            write!(f, "; {} damaged records dropped", self.damaged_records)?;
        }
        Ok(())
    }
}

/// A message read back from the store.
#[derive(Debug)]
pub(crate) struct StoredMessage {
    pub(crate) key: u64,
    pub(crate) queue: String,
    pub(crate) message_id: String,
    pub(crate) headers: Headers,
    pub(crate) body: Bytes,
}

/// Encodes a record: `1`, then the queue, the message id and each header name and value as
/// (u32 length, bytes), preceded by the u32 header count, then the body.
pub(crate) fn encode(queue: &str, message_id: &str, headers: &Headers, body: &[u8]) -> Vec<u8> {
    let text = queue.len()
        + message_id.len()
        + headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 8)
            .sum::<usize>();
    let mut out = Vec::with_capacity(1 + 12 + text + body.len());
    out.push(RECORD_V1);
    let put = |s: &[u8], out: &mut Vec<u8>| {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s);
    };
    put(queue.as_bytes(), &mut out);
    put(message_id.as_bytes(), &mut out);
    out.extend_from_slice(&(headers.len() as u32).to_le_bytes());
    for (n, v) in headers.iter() {
        put(n.as_bytes(), &mut out);
        put(v.as_bytes(), &mut out);
    }
    out.extend_from_slice(body);
    out
}

/// Decodes a record; `None` when it is damaged (every length is checked).
pub(crate) fn decode(key: u64, record: &[u8]) -> Option<StoredMessage> {
    let (&version, mut rest) = record.split_first()?;
    if version != RECORD_V1 {
        return None;
    }
    fn u32_at(rest: &mut &[u8]) -> Option<usize> {
        let (n, tail) = rest.split_first_chunk::<4>()?;
        *rest = tail;
        usize::try_from(u32::from_le_bytes(*n)).ok()
    }
    fn text<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
        let len = u32_at(rest)?;
        if rest.len() < len {
            return None;
        }
        let (s, tail) = rest.split_at(len);
        *rest = tail;
        std::str::from_utf8(s).ok()
    }
    let queue = text(&mut rest)?.to_owned();
    let message_id = text(&mut rest)?.to_owned();
    let count = u32_at(&mut rest)?;
    // Each header takes at least 8 bytes: a damaged count cannot make us allocate much.
    if count > rest.len() / 8 {
        return None;
    }
    let mut headers = Headers::with_capacity(count);
    for _ in 0..count {
        let n = text(&mut rest)?;
        let v = text(&mut rest)?;
        headers.append(n.to_owned(), v.to_owned());
    }
    if queue.is_empty() || message_id.is_empty() {
        return None;
    }
    Some(StoredMessage {
        key,
        queue,
        message_id,
        headers,
        body: Bytes::copy_from_slice(rest),
    })
}

enum Op {
    Put {
        key: u64,
        record: Vec<u8>,
        done: oneshot::Sender<Result<(), String>>,
    },
    Delete(u64),
}

/// The open store: a handle to the thread that owns the database, and its figures.
#[derive(Debug)]
pub(crate) struct Store {
    ops: Mutex<Option<mpsc::Sender<Op>>>,
    path: PathBuf,
    next_key: AtomicU64,
    messages: AtomicUsize,
    bytes: AtomicUsize,
    /// Test hook: commits fail while set (an injected write error).
    fail_writes: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Present while the store is open (see [`OPEN_MARKER`]).
    marker: PathBuf,
}

impl Store {
    /// Opens (or creates) the store in `dir` and reads every message back, in key order.
    pub(crate) fn open(
        dir: &Path,
    ) -> Result<(Store, Vec<StoredMessage>, DurableReport), DurableError> {
        // Message bodies are stored as sent: a directory this creates is private to the
        // server's user (on Unix).
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .and_then(|()| {
                if dir.is_dir() {
                    Ok(())
                } else {
                    Err(std::io::Error::other("not a directory"))
                }
            })
            .map_err(|source| DurableError::Directory {
                path: dir.to_owned(),
                source,
            })?;
        let path = dir.join(STORE_DIR);
        let open_err = |e: &dyn std::fmt::Display| DurableError::Open {
            path: path.clone(),
            reason: e.to_string(),
        };
        let marker = dir.join(OPEN_MARKER);
        let recovered = marker.exists();
        // Only after an unclean stop: how far each journal holds data, to tell what
        // recovery cuts off.
        let journals = if recovered {
            journal_data_ends(&path)
        } else {
            Vec::new()
        };
        std::fs::write(&marker, b"open\n")
            .map_err(|e| open_err(&format_args!("{}: {e}", marker.display())))?;
        // fjall panics on a few kinds of damage rather than returning an error: startup
        // must stop with a message naming the store all the same.
        let opened = std::panic::catch_unwind(|| -> fjall::Result<(Database, Keyspace)> {
            let db = Database::builder(&path).open()?;
            let keyspace = db.keyspace(MESSAGES, KeyspaceCreateOptions::default)?;
            Ok((db, keyspace))
        });
        let (db, keyspace) = match opened {
            Ok(result) => result.map_err(|e| open_err(&e))?,
            Err(_) => return Err(open_err(&"the storage engine failed on a damaged file")),
        };
        let cut_bytes = journals
            .iter()
            .map(|(file, end)| {
                let now = std::fs::metadata(file).map_or(0, |m| m.len());
                end.saturating_sub(now)
            })
            .sum();
        if cut_bytes > 0 {
            tracing::warn!(
                path = %path.display(),
                bytes = cut_bytes,
                "durable store: damaged or torn journal data cut off"
            );
        }
        let read_err = |e: &dyn std::fmt::Display| DurableError::Read {
            path: path.clone(),
            reason: e.to_string(),
        };
        let mut messages = Vec::new();
        let mut damaged = Vec::new();
        let mut max_key = 0;
        for entry in keyspace.iter() {
            let (key, value) = entry.into_inner().map_err(|e| read_err(&e))?;
            let Some(key) = <[u8; 8]>::try_from(&key[..]).ok().map(u64::from_be_bytes) else {
                damaged.push(key);
                continue;
            };
            max_key = max_key.max(key);
            match decode(key, &value) {
                Some(message) => messages.push(message),
                None => damaged.push(fjall::UserKey::from(key.to_be_bytes())),
            }
        }
        if !damaged.is_empty() {
            tracing::warn!(
                path = %path.display(),
                records = damaged.len(),
                "durable store: damaged records dropped"
            );
            let mut batch = db.batch();
            for key in &damaged {
                batch.remove(&keyspace, key.clone());
            }
            batch.commit().map_err(|e| read_err(&e))?;
            db.persist(PersistMode::SyncAll).map_err(|e| read_err(&e))?;
        }
        let mut queues: Vec<&str> = messages.iter().map(|m| m.queue.as_str()).collect();
        queues.sort_unstable();
        queues.dedup();
        let report = DurableReport {
            path: path.clone(),
            restored_messages: messages.len(),
            restored_queues: queues.len(),
            damaged_records: damaged.len(),
            recovered,
            cut_bytes,
        };
        let (tx, rx) = mpsc::channel();
        let fail_writes = Arc::new(AtomicBool::new(false));
        let thread = {
            let fail = fail_writes.clone();
            let path = path.clone();
            std::thread::Builder::new()
                .name("stomp-durable".into())
                .spawn(move || run(&db, &keyspace, &path, &rx, &fail))
                .map_err(|e| open_err(&format!("cannot start the store thread: {e}")))?
        };
        let store = Store {
            ops: Mutex::new(Some(tx)),
            path,
            next_key: AtomicU64::new(max_key + 1),
            messages: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            fail_writes,
            thread: Mutex::new(Some(thread)),
            marker,
        };
        Ok((store, messages, report))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Counts a message held in the store (a restored one, or a put that succeeded).
    pub(crate) fn count(&self, size: usize) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size, Ordering::Relaxed);
    }

    /// Messages and bytes (of their encoded MESSAGE) held.
    pub(crate) fn figures(&self) -> (usize, usize) {
        (
            self.messages.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }

    /// Reserves room for one message of `size` bytes within the bounds; `false` when full.
    pub(crate) fn reserve(&self, size: usize, max_messages: usize, max_bytes: usize) -> bool {
        let messages = self.messages.fetch_add(1, Ordering::AcqRel);
        let bytes = self.bytes.fetch_add(size, Ordering::AcqRel);
        if messages >= max_messages || bytes.saturating_add(size) > max_bytes {
            self.release(size);
            return false;
        }
        true
    }

    fn release(&self, size: usize) {
        self.messages.fetch_sub(1, Ordering::AcqRel);
        self.bytes.fetch_sub(size, Ordering::AcqRel);
    }

    fn send(&self, op: Op) -> Result<(), Op> {
        let ops = crate::sync::lock(&self.ops);
        match ops.as_ref() {
            Some(tx) => tx.send(op).map_err(|e| e.0),
            None => Err(op),
        }
    }

    /// Writes a record and waits until it is committed and fsync'd; returns its key. The
    /// caller [`reserve`](Self::reserve)d `size` first; on error the reservation is released.
    ///
    /// If the caller stops waiting (its session went away), the reservation is released;
    /// the record may still be committed and then comes back after a restart
    /// (at-least-once: it was never receipted).
    pub(crate) async fn put(&self, record: Vec<u8>, size: usize) -> Result<u64, String> {
        /// Releases the reservation unless the put succeeded.
        struct Reserved<'a>(&'a Store, usize, bool);
        impl Drop for Reserved<'_> {
            fn drop(&mut self) {
                if !self.2 {
                    self.0.release(self.1);
                }
            }
        }
        let mut reserved = Reserved(self, size, false);
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (done, answer) = oneshot::channel();
        let result = match self.send(Op::Put { key, record, done }) {
            Ok(()) => answer
                .await
                .unwrap_or_else(|_| Err("the store thread stopped".into())),
            Err(_) => Err("the store is closed".into()),
        };
        reserved.2 = result.is_ok();
        result.map(|()| key)
    }

    /// Deletes a message (acknowledged or dropped); written with the next commit.
    pub(crate) fn delete(&self, key: u64, size: usize) {
        self.release(size);
        // A lost deletion (the store closing) only means a redelivery after restart.
        let _ = self.send(Op::Delete(key));
    }

    /// Test hook: make commits fail (`true`) or work again (`false`).
    pub(crate) fn fail_writes(&self, fail: bool) {
        self.fail_writes.store(fail, Ordering::Relaxed);
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Closing the channel ends the thread after its last commit.
        crate::sync::lock(&self.ops).take();
        if let Some(thread) = crate::sync::lock(&self.thread).take() {
            if thread.join().is_ok() {
                let _ = std::fs::remove_file(&self.marker);
            }
        }
    }
}

/// Each journal file (`*.jnl`) of the store, with the end of the data in it: journals are
/// preallocated, so zeros follow the last batch written.
fn journal_data_ends(dir: &Path) -> Vec<(PathBuf, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    const CHUNK: u64 = 64 * 1024;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_none_or(|e| e != "jnl") {
            continue;
        }
        let Ok(mut file) = std::fs::File::open(&path) else {
            continue;
        };
        let mut end = file.metadata().map_or(0, |m| m.len());
        let mut buf = vec![0; CHUNK as usize];
        let data_end = loop {
            if end == 0 {
                break 0;
            }
            let start = end.saturating_sub(CHUNK);
            let len = (end - start) as usize;
            let read = file
                .seek(SeekFrom::Start(start))
                .and_then(|_| file.read_exact(&mut buf[..len]));
            if read.is_err() {
                break 0;
            }
            if let Some(at) = buf[..len].iter().rposition(|&b| b != 0) {
                break start + at as u64 + 1;
            }
            end = start;
        };
        out.push((path, data_end));
    }
    out
}

/// The store thread: commits everything queued, one batch and one fsync at a time.
fn run(
    db: &Database,
    keyspace: &Keyspace,
    path: &Path,
    ops: &mpsc::Receiver<Op>,
    fail: &AtomicBool,
) {
    let mut batch = Vec::new();
    while let Ok(op) = ops.recv() {
        batch.push(op);
        while batch.len() < MAX_BATCH {
            match ops.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let result = commit(db, keyspace, &mut batch, fail);
        if let Err(e) = &result {
            tracing::error!(path = %path.display(), error = %e, "durable store: commit failed");
        }
        for op in batch.drain(..) {
            if let Op::Put { done, .. } = op {
                let _ = done.send(result.clone());
            }
        }
    }
}

/// Writes the batch's records and deletions atomically and fsyncs the journal.
fn commit(
    db: &Database,
    keyspace: &Keyspace,
    batch: &mut [Op],
    fail: &AtomicBool,
) -> Result<(), String> {
    if fail.load(Ordering::Relaxed) {
        return Err("injected write error".into());
    }
    let mut write = db.batch();
    for op in batch.iter_mut() {
        match op {
            Op::Put { key, record, .. } => {
                write.insert(keyspace, key.to_be_bytes(), std::mem::take(record));
            }
            Op::Delete(key) => write.remove(keyspace, key.to_be_bytes()),
        }
    }
    write.commit().map_err(|e| e.to_string())?;
    db.persist(PersistMode::SyncAll).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_detected() {
        let mut headers = Headers::new();
        headers.append("destination", "/queue/a");
        headers.append("persistent", "true");
        let record = encode("/queue/a", "m-1", &headers, b"body");
        let back = decode(7, &record).expect("decodes");
        assert_eq!(
            (back.key, &*back.queue, &*back.message_id),
            (7, "/queue/a", "m-1")
        );
        assert_eq!(back.headers.get("persistent"), Some("true"));
        assert_eq!(&back.body[..], b"body");
        // Every truncation inside the header part is refused, never a panic.
        let body_at = record.len() - 4;
        for cut in 0..body_at {
            assert!(decode(1, &record[..cut]).is_none(), "cut at {cut}");
        }
        let mut garbled = record.clone();
        garbled[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(1, &garbled).is_none());
    }
}
