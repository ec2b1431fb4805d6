//! Group commit for SQLite: writes that arrive together share one transaction.
//!
//! SQLite has one writer. When each write takes the lock and then runs its dozen statements
//! as a task among hundreds of busy request tasks, the lock holder spends most of its time
//! waiting in the runtime's queue between statements, and every writer behind it waits too.
//! Here the writes run one after another on a thread of their own (with its own runtime), so
//! the lock is only held while SQLite works, and up to [`GROUP`] of them share one
//! `BEGIN IMMEDIATE … COMMIT`. Each runs inside its own savepoint: one that fails (or
//! panics) is undone alone, and no write is answered before the commit that holds it.

use crate::db::Writer;
use crate::{Conn, StoreError};
use futures_util::FutureExt;
use sqlx::SqlitePool;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Writes per transaction at most: enough to carry a burst from every device of a large
/// office, few enough that a commit's WAL frames stay well inside the page cache.
const GROUP: usize = 64;

/// The future of one grouped write: true to keep what it wrote, false to undo it.
pub type WriteFuture<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// One write: given the transaction's connection, it writes and says whether to keep it.
/// Its typed result travels back by the caller's own channel (see `Passage::write_grouped`).
pub type Write = Box<dyn for<'a, 'c> FnOnce(&'a mut Conn<'c>) -> WriteFuture<'a> + Send>;

struct Queued {
    write: Write,
    /// Told once the transaction that holds the write has committed (or failed to).
    settled: oneshot::Sender<Result<(), StoreError>>,
}

/// The writer thread of one SQLite database, started by its first grouped write. It ends
/// when the last [`crate::Db`] clone, and with it the sender, is dropped.
#[derive(Debug, Default)]
pub struct Group {
    queue: OnceLock<mpsc::UnboundedSender<Queued>>,
}

impl Group {
    /// Queue a write; answers after the commit. `Ok` means the transaction committed, and the
    /// write's own verdict (kept or undone) is whatever it reported through its channel; a
    /// write that panicked is undone and answered with an error.
    pub(crate) async fn write(
        &self,
        pool: &SqlitePool,
        writer: &Arc<Writer>,
        write: Write,
    ) -> Result<(), StoreError> {
        let queue = self.queue.get_or_init(|| start(pool.clone(), writer.clone()));
        let (settled, answer) = oneshot::channel();
        queue
            .send(Queued { write, settled })
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?
    }
}

/// Run one write: whether to keep it, or `None` if it panicked (logged; the caller undoes it).
pub(crate) async fn run(write: Write, conn: &mut Conn<'_>) -> Option<bool> {
    let kept = AssertUnwindSafe(write(conn)).catch_unwind().await.ok();
    if kept.is_none() {
        tracing::error!("a database write panicked; it was undone");
    }
    kept
}

/// What a write that panicked is answered.
pub(crate) fn panic_error() -> StoreError {
    StoreError::Unavailable("the write failed and was undone".into())
}

fn start(pool: SqlitePool, writer: Arc<Writer>) -> mpsc::UnboundedSender<Queued> {
    let (queue, mut incoming) = mpsc::unbounded_channel::<Queued>();
    let spawned = std::thread::Builder::new()
        .name("passage-writer".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    // Dropping `incoming` answers every write with "writer has stopped".
                    tracing::error!(error = %e, "cannot start the database writer");
                    return;
                }
            };
            runtime.block_on(async move {
                let mut batch = Vec::with_capacity(GROUP);
                while incoming.recv_many(&mut batch, GROUP).await > 0 {
                    run_group(&pool, &writer, std::mem::take(&mut batch)).await;
                }
            });
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the database writer thread");
    }
    queue
}

async fn run_group(pool: &SqlitePool, writer: &Arc<Writer>, batch: Vec<Queued>) {
    let count = batch.len() as u64;
    let (writes, settle): (Vec<_>, Vec<_>) = batch.into_iter().map(|q| (q.write, q.settled)).unzip();
    let mut panicked = vec![false; settle.len()];
    let outcome = async {
        // Writers that do not group (`Db::begin`) take the same lock.
        let _guard = writer.lock_owned().await;
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        for (write, panicked) in writes.into_iter().zip(&mut panicked) {
            sqlx::query("savepoint grouped").execute(&mut *tx).await?;
            let kept = run(write, &mut Conn::Sqlite(&mut tx)).await;
            if kept != Some(true) {
                *panicked = kept.is_none();
                sqlx::query("rollback to grouped").execute(&mut *tx).await?;
            }
            sqlx::query("release grouped").execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok::<_, StoreError>(())
    }
    .await;
    let committed = outcome.is_ok();
    let mut error = outcome.err();
    for (settled, panicked) in settle.into_iter().zip(panicked) {
        // The first write gets the error itself; the others learn that their commit failed.
        let answer = match error.take() {
            Some(e) => Err(e),
            None if !committed => Err(StoreError::Unavailable("the shared commit failed".into())),
            None if panicked => Err(panic_error()),
            None => Ok(()),
        };
        let _ = settled.send(answer);
    }
    if committed {
        writer.committed(pool, count);
    }
}
