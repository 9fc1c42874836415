//! The SQLite file: pragmas on every connection, a read pool and a writer pool of one, run off
//! the async executor; the request writer (`ledger::writer`), the kept balances
//! (`ledger::funds`) and the checkpointer each have a connection of their own.

pub mod backup;
pub mod by_time;
pub mod checkpoint;
pub mod commits;
pub mod error;
pub mod lane;
pub mod migrate;

pub use error::{Failure, Store, StoreError};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

use crate::error::ApiResult;

pub type ConnPool = Pool<SqliteConnectionManager>;

/// Readers share a pool; every write but the request writer's goes through a pool of one
/// connection, so those writers queue in order instead of spinning on SQLite's busy handler
/// (the request writer and they meet in SQLite's own lock, with a busy timeout).
#[derive(Clone)]
pub struct Db {
    read: ConnPool,
    write: ConnPool,
    path: PathBuf,
    waits: Arc<[PoolCounters; 2]>,
    /// Counts writes through this `Db` (not the request writer's): see [`Db::writes`].
    writes: Arc<AtomicU64>,
}

/// How often and how long callers waited for a connection of one pool.
#[derive(Default)]
struct PoolCounters {
    acquires: AtomicU64,
    wait_micros: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PoolWait {
    pub acquires: u64,
    pub wait_micros: u64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PoolWaits {
    pub read: PoolWait,
    pub write: PoolWait,
}

const READ: usize = 0;
const WRITE: usize = 1;

fn timed_get(
    pool: &ConnPool,
    counters: &PoolCounters,
) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, r2d2::Error> {
    let started = Instant::now();
    let conn = pool.get();
    counters.acquires.fetch_add(1, Ordering::Relaxed);
    counters
        .wait_micros
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    conn
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page size of a database file created by this binary.
pub const NEW_FILE_PAGE_SIZE: i64 = 1024;

/// Page cache per connection, in KiB (SQLite's `cache_size` takes a negative number as KiB).
/// SQLite's default is 2,000 KiB per connection, and up to twelve connections are open (eight
/// in the read pool, one in the write pool, and the request writer's, the kept balances' and
/// the checkpointer's). The request path's working set is a few
/// hundred pages (B-tree interiors and right-most leaves, a handful of users and keys); a miss
/// is a read from the OS page cache.
pub const CACHE_KIB: i64 = 512;

/// Applied to every new connection; busy_timeout first so the others never fail on a lock.
pub fn apply_pragmas(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    Ok(())
}

impl Db {
    /// Opens (creating if needed) the database file, brings its schema up to date, and builds the pools.
    pub fn open(path: &Path) -> Result<Db, String> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    format!("db: cannot create data directory {}: {e}", dir.display())
                })?;
            }
        }
        {
            let mut conn = Connection::open(path)
                .map_err(|e| format!("db: cannot open {}: {e}", path.display()))?;
            // Only a new, empty file takes this (it must precede WAL mode). Every commit writes
            // whole pages to the WAL, so 1 KiB pages write a quarter of the bytes of 4 KiB ones
            // for the small rows of the request path (measured: 3.6x less WAL, commits a third
            // faster, checkpoints 3x shorter).
            conn.pragma_update(None, "page_size", NEW_FILE_PAGE_SIZE)
                .map_err(|e| format!("db: {}: {e}", path.display()))?;
            apply_pragmas(&conn).map_err(|e| format!("db: {}: {e}", path.display()))?;
            migrate::migrate(&mut conn).map_err(|e| format!("db: {}: {e}", path.display()))?;
        }
        let manager = || SqliteConnectionManager::file(path).with_init(|c| apply_pragmas(c));
        let read = Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager())
            .map_err(|e| format!("db: read pool: {e}"))?;
        let write = Pool::builder()
            .max_size(1)
            .connection_timeout(Duration::from_secs(30))
            .build(manager())
            .map_err(|e| format!("db: write pool: {e}"))?;
        Ok(Db {
            read,
            write,
            path: path.to_path_buf(),
            waits: Arc::default(),
            writes: Arc::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A counter that moves after every write through this `Db` ends (committed or not), so a
    /// cache of committed rows can tell when to read them again.
    pub fn writes(&self) -> Arc<AtomicU64> {
        self.writes.clone()
    }

    pub fn pool_waits(&self) -> PoolWaits {
        let of = |c: &PoolCounters| PoolWait {
            acquires: c.acquires.load(Ordering::Relaxed),
            wait_micros: c.wait_micros.load(Ordering::Relaxed),
        };
        PoolWaits {
            read: of(&self.waits[READ]),
            write: of(&self.waits[WRITE]),
        }
    }

    /// Runs a read of the console or the API on a pooled connection, on the console's lane
    /// (see [`lane`]: under load it yields the CPU to the relay).
    pub async fn read<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    {
        let pool = self.read.clone();
        let waits = self.waits.clone();
        lane::run(move || {
            let conn = timed_get(&pool, &waits[READ])?;
            f(&conn)
        })
        .await
    }

    /// Runs a read of the relay (a request on `/v1` waits for it) on a pooled connection, in
    /// the blocking thread pool at normal priority.
    pub async fn read_relay<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    {
        let pool = self.read.clone();
        let waits = self.waits.clone();
        tokio::task::spawn_blocking(move || {
            let conn = timed_get(&pool, &waits[READ])?;
            f(&conn)
        })
        .await?
    }

    /// Runs a write on the single writer connection in the blocking thread pool.
    pub async fn write<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> ApiResult<T> + Send + 'static,
    {
        let pool = self.write.clone();
        let waits = self.waits.clone();
        let writes = self.writes.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = timed_get(&pool, &waits[WRITE])?;
            let result = f(&mut conn);
            writes.fetch_add(1, Ordering::Release);
            result
        })
        .await?
    }

    /// The same, for the command line and start-up code that is not async.
    pub fn write_blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let mut conn = timed_get(&self.write, &self.waits[WRITE])?;
        let result = f(&mut conn);
        self.writes.fetch_add(1, Ordering::Release);
        result
    }

    pub fn read_blocking<T>(&self, f: impl FnOnce(&Connection) -> ApiResult<T>) -> ApiResult<T> {
        let conn = timed_get(&self.read, &self.waits[READ])?;
        f(&conn)
    }
}

/// Begins an `IMMEDIATE` transaction: the write lock is taken up front, so a read-then-write
/// never fails half-way with SQLITE_BUSY.
pub fn immediate(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .store("begin a write")
}
