//! Opt-in concurrent application dispatch within one session
//! ([`EngineBuilder::app_concurrency`](crate::engine::EngineBuilder::app_concurrency)).
//!
//! By default a session awaits each application dispatch inline, so its frames are handled
//! strictly in order. With `app_concurrency(n)` for `n > 1`, a session gets an
//! [`AppPipeline`]: a top-level SEND or SUBSCRIBE to an application destination is handed
//! to the session's one worker task, and the session goes on reading frames.
//!
//! - Bounded: a permit of an `n`-permit semaphore travels with every dispatch, so at most
//!   `n` are queued or running per session; when all are taken, the session waits for one
//!   to complete before it takes the next frame (backpressure up to the transport).
//! - One task per session, not per frame: the worker drives the in-flight dispatches as a
//!   set of futures, so they make progress while no bytes arrive.
//! - A dispatch's RECEIPT is queued by the worker once it completed, before its permit is
//!   released.
//! - The first dispatch that fails queues ERROR (with `receipt-id` when its frame asked
//!   for a receipt) and closes the queue, exactly like the in-order path; dispatches not
//!   yet started are dropped, those running are awaited (their results ignored), then the
//!   worker finishes the session.
//! - The session [`drain`](AppPipeline::drain)s the pipeline (waits until nothing is in
//!   flight) before any other frame, before an ERROR of its own, and before it closes.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytestring::ByteString;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::app::{AppDispatch, AppError, AppRequest};
use crate::engine::EngineInner;
use crate::frame::Frame;
use crate::outbound::CloseReason;

use super::error::ProtocolError;
use super::shared::SessionShared;

/// One dispatch handed to the worker.
struct Job {
    request: AppRequest,
    receipt: Option<ByteString>,
    permit: OwnedSemaphorePermit,
}

/// What the worker needs, kept until the first dispatch starts it (so sessions opened
/// outside a runtime, or that never dispatch, cost no task).
struct Idle {
    engine: Arc<EngineInner>,
    shared: Arc<SessionShared>,
    jobs: mpsc::Receiver<Job>,
}

/// A session's concurrent application dispatches (see the module docs).
pub(super) struct AppPipeline {
    limit: u32,
    permits: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
    idle: Mutex<Option<Idle>>,
    failed: Arc<AtomicBool>,
}

impl AppPipeline {
    /// A pipeline of at most `limit` dispatches in flight (at least 1).
    pub(super) fn new(limit: usize, engine: Arc<EngineInner>, shared: Arc<SessionShared>) -> Self {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        let (tx, rx) = mpsc::channel(limit);
        AppPipeline {
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            permits: Arc::new(Semaphore::new(limit)),
            jobs: tx,
            idle: Mutex::new(Some(Idle {
                engine,
                shared,
                jobs: rx,
            })),
            failed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A dispatch of this session failed: the session has been answered with ERROR.
    pub(super) fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Hands a dispatch to the worker, first waiting for a free slot. `false` when the
    /// pipeline has failed (the request is dropped, not dispatched).
    pub(super) async fn submit(&self, request: AppRequest, receipt: Option<ByteString>) -> bool {
        self.start();
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return false;
        };
        if self.failed() {
            return false;
        }
        let job = Job {
            request,
            receipt,
            permit,
        };
        self.jobs.send(job).await.is_ok() && !self.failed()
    }

    /// Waits until no dispatch is queued or running. `false` when one failed.
    pub(super) async fn drain(&self) -> bool {
        if let Ok(all) = self.permits.acquire_many(self.limit).await {
            drop(all);
        }
        !self.failed()
    }

    fn start(&self) {
        let idle = crate::sync::lock(&self.idle).take();
        if let Some(idle) = idle {
            let failed = self.failed.clone();
            tokio::spawn(run(idle, failed));
        }
    }
}

/// A finished dispatch, with what its completion needs.
type Done = (
    Result<(), AppError>,
    Option<ByteString>,
    OwnedSemaphorePermit,
);

/// The worker: runs dispatches concurrently until the session drops its sender.
async fn run(idle: Idle, failed: Arc<AtomicBool>) {
    let Idle {
        engine,
        shared,
        mut jobs,
    } = idle;
    let Some(app) = engine.app.clone() else {
        return;
    };
    let mut running = FuturesUnordered::new();
    let mut open = true;
    let mut error: Option<String> = None;
    loop {
        tokio::select! {
            job = jobs.recv(), if open => match job {
                Some(job) if error.is_none() => running.push(dispatch(&*app, job)),
                // After a failure: dropped undispatched (its permit is released).
                Some(_) => {}
                None => open = false,
            },
            Some((result, receipt, permit)) = running.next() => {
                match result {
                    Ok(()) if error.is_none() => {
                        if let Some(receipt) = receipt {
                            engine.send_frame(&shared, &Frame::receipt(receipt));
                        }
                    }
                    Err(e) if error.is_none() => {
                        let e = ProtocolError::from(e);
                        tracing::debug!(session = %shared.id, message = %e.message, "application error");
                        engine.send_frame(&shared, &e.to_frame(receipt.as_ref()));
                        shared.outbound.close(CloseReason::Error(e.message.clone()));
                        failed.store(true, Ordering::Release);
                        jobs.close();
                        error = Some(e.message);
                    }
                    _ => {}
                }
                // Released only now: a drained pipeline has queued every receipt.
                drop(permit);
            },
            else => break,
        }
    }
    if let Some(message) = error {
        engine.finish(&shared, CloseReason::Error(message)).await;
    }
}

fn dispatch(app: &dyn AppDispatch, job: Job) -> impl Future<Output = Done> + Send + 'static {
    let Job {
        request,
        receipt,
        permit,
    } = job;
    let future = app.dispatch(request);
    async move { (future.await, receipt, permit) }
}
