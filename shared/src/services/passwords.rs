//! argon2id hashing and verification as a bounded, warm resource. A fixed set of hashing threads
//! (one per core) each keeps its own argon2 working memory for the life of the process; requests
//! take a slot (hashing or queued), wait briefly for one when all are taken, and otherwise answer
//! `503` with `Retry-After`, so a burst of sign-ins never piles up threads or memory. Verifying for
//! an unknown account runs against a dummy hash (made once per parameter set, on first use), so
//! the answer and its timing do not reveal which emails have accounts.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::{Semaphore, oneshot};

use crate::config::Argon2Params;
use crate::domain::passwords::Password;
use crate::error::Cause;
use crate::{AppState, Error};

/// How hashing or verifying a password failed (never because the password was wrong: that is
/// `verify`'s `false`).
#[derive(Debug, thiserror::Error)]
pub enum PasswordHashError {
    /// Every hashing slot stayed taken for the whole wait: `503` with `Retry-After` at the edge.
    #[error("every password-hashing slot is taken")]
    Overloaded { retry_after: u64 },
    #[error("argon2 parameters")]
    Parameters(#[source] argon2::Error),
    #[error("argon2 hashing failed")]
    Hashing(#[source] Cause),
    #[error("the password-hashing slots are closed")]
    SlotsClosed,
    #[error("the password-hashing threads are gone")]
    ThreadsGone,
    /// The job ended without an answer (it panicked).
    #[error("a password-hashing job failed")]
    JobFailed,
}

impl From<PasswordHashError> for Error {
    fn from(error: PasswordHashError) -> Self {
        match error {
            PasswordHashError::Overloaded { retry_after } => {
                Error::overloaded(retry_after, error.to_string())
            }
            other => Error::internal_cause(other),
        }
    }
}

pub type Result<T, E = PasswordHashError> = std::result::Result<T, E>;

const SALT_BYTES: usize = 16;

/// Requests allowed to wait for a hashing thread, per thread: at ~27 ms a hash, 16 queued per
/// core is under half a second of waiting, which a sign-in absorbs.
const QUEUED_PER_WORKER: usize = 16;
/// How long a request waits for a slot when every one is taken, before `503`.
const SLOT_WAIT: Duration = Duration::from_millis(500);
/// The `Retry-After` (seconds) of that `503`.
const RETRY_AFTER_SECONDS: u64 = 1;

fn params_of(params: Argon2Params) -> Result<Params> {
    Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(PasswordHashError::Parameters)
}

/// One hashing thread's argon2 working memory (19 MiB with the default parameters), allocated on
/// its first hash and never freed or shrunk (it grows only for a stored hash made under larger
/// parameters).
///
/// Why kept for the life of the thread: a fresh buffer is page-faulted in on every hash, which on
/// a Firecracker VM (a Lambda instance, or this project's development machines) costs 10-20 ms
/// beyond the hash itself. And why that also fixes the memory growth: glibc serves a 19 MiB
/// allocation with `mmap`, but when such a chunk is freed it raises its mmap threshold above that
/// size (the "dynamic threshold"), so every later argon2 buffer came from the freeing thread's
/// malloc arena and stayed there after being freed - with dozens of blocking threads and arenas,
/// the server grew to 1-2 GB (issue 18). A buffer that is never freed never moves the threshold:
/// the few buffers there are (one per core) stay `mmap`ed, and nothing else allocates anywhere
/// near the threshold. This is chosen over `mallopt(M_MMAP_THRESHOLD)` (glibc-only, and a process
/// setting a library should not own) and over another allocator (a dependency, and it would not
/// remove the page faults).
pub struct Memory(Vec<Block>);

impl Memory {
    /// The first `block_count` blocks, growing the buffer (once) if it is smaller.
    pub fn at_least(&mut self, block_count: usize) -> &mut [Block] {
        if self.0.len() < block_count {
            self.0.resize(block_count, Block::new());
        }
        &mut self.0[..block_count]
    }
}

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// The hashing threads and the slots that bound the requests using them.
pub struct HashPool {
    jobs: mpsc::Sender<Job>,
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl HashPool {
    /// `workers` hashing threads (started now), `queued` more requests allowed to wait for one,
    /// and `wait`: how long a request beyond those waits for a slot before `503`.
    pub fn new(workers: usize, queued: usize, wait: Duration) -> Self {
        let workers = workers.max(1);
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || {
                    let mut memory = Memory(Vec::new());
                    loop {
                        // The lock is held only while taking a job, never while hashing.
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        job(&mut memory);
                    }
                })
                .expect("spawning a password-hashing thread");
        }
        Self {
            jobs,
            slots: Arc::new(Semaphore::new(workers + queued)),
            wait,
        }
    }

    /// The process's pool: one thread per core, started on the first password operation (so a
    /// Lambda instance that never hashes never starts them).
    pub fn shared() -> &'static HashPool {
        static POOL: OnceLock<HashPool> = OnceLock::new();
        POOL.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            HashPool::new(cores, cores * QUEUED_PER_WORKER, SLOT_WAIT)
        })
    }

    /// Run `work` on a hashing thread with its warm memory; `503` with `Retry-After` when no slot
    /// frees up within the wait. The slot is held until the work ends, even if the caller stops
    /// waiting, so the bound counts work actually running or queued.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T> {
        let slot = match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_)) => return Err(PasswordHashError::SlotsClosed),
            Err(_) => {
                return Err(PasswordHashError::Overloaded {
                    retry_after: RETRY_AFTER_SECONDS,
                });
            }
        };
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |memory: &mut Memory| {
            // A panic fails this request (its answer channel drops), not the thread.
            let result = catch_unwind(AssertUnwindSafe(|| work(memory)));
            drop(slot);
            if let Ok(result) = result {
                let _ = answer.send(result);
            }
        });
        self.jobs
            .send(job)
            .map_err(|_| PasswordHashError::ThreadsGone)?;
        answered.await.map_err(|_| PasswordHashError::JobFailed)
    }
}

/// The PHC string (`$argon2id$v=19$m=...`) of the password under `params` with `salt`, hashed in
/// `memory`.
fn hash_with_memory(
    params: Argon2Params,
    password: &[u8],
    salt: &[u8],
    memory: &mut Memory,
) -> Result<String> {
    fn failed(cause: impl Into<Cause>) -> PasswordHashError {
        PasswordHashError::Hashing(cause.into())
    }
    let params = params_of(params)?;
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon2
        .hash_password_into_with_memory(
            password,
            salt,
            &mut output,
            memory.at_least(params.block_count()),
        )
        .map_err(failed)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(failed)?,
        salt: Some(Salt::new(salt).map_err(failed)?),
        hash: Some(Output::new(&output).map_err(failed)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string, under the hash's own parameters (so hashes made
/// under older settings still verify). Any malformed hash is a mismatch.
fn verify_with_memory(password: &[u8], phc: &str, memory: &mut Memory) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm.as_str()),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let block_count = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut computed = vec![0u8; expected.len()];
    let hashed = argon2.hash_password_into_with_memory(
        password,
        salt.as_ref(),
        &mut computed,
        memory.at_least(block_count),
    );
    hashed.is_ok() && bool::from(computed.ct_eq(expected.as_bytes()))
}

/// A PHC string (`$argon2id$v=19$m=...`) for the password, with a fresh salt.
pub async fn hash(state: &AppState, password: Password) -> Result<String> {
    let params = state.config.argon2;
    let mut salt = [0u8; SALT_BYTES];
    state.random.fill(&mut salt);
    HashPool::shared()
        .run(move |memory| hash_with_memory(params, password.expose().as_bytes(), &salt, memory))
        .await?
}

/// Whether the password matches the stored hash. With no hash (unknown account, or an account
/// without a password) a dummy hash of the same parameters is verified and the answer is `false`.
pub async fn verify(state: &AppState, password: Password, stored: Option<String>) -> Result<bool> {
    let params = state.config.argon2;
    let (hash, real) = match stored {
        Some(hash) => (hash, true),
        None => (dummy_hash(params).await?, false),
    };
    let matches = HashPool::shared()
        .run(move |memory| verify_with_memory(password.expose().as_bytes(), &hash, memory))
        .await?;
    Ok(real && matches)
}

/// The dummy hash for a parameter set, computed once per process on first use.
async fn dummy_hash(params: Argon2Params) -> Result<String> {
    type Cache = Mutex<HashMap<(u32, u32, u32), Arc<OnceLock<String>>>>;
    static DUMMIES: OnceLock<Cache> = OnceLock::new();
    let cell = DUMMIES
        .get_or_init(Cache::default)
        .lock()
        .expect("dummy hash cache")
        .entry((params.memory_kib, params.iterations, params.parallelism))
        .or_default()
        .clone();
    if let Some(hash) = cell.get() {
        return Ok(hash.clone());
    }
    HashPool::shared()
        .run(move |memory| {
            let hash = hash_with_memory(
                params,
                b"latchkey dummy password for unknown accounts",
                b"latchkey-dummy-salt",
                memory,
            )?;
            Ok(cell.get_or_init(|| hash).clone())
        })
        .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Argon2Params = Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn hash_blocking(params: Argon2Params, password: &str, salt: &[u8]) -> Result<String> {
        hash_with_memory(params, password.as_bytes(), salt, &mut Memory(Vec::new()))
    }

    fn verify_blocking(password: &[u8], phc: &str) -> bool {
        verify_with_memory(password, phc, &mut Memory(Vec::new()))
    }

    #[test]
    fn hashes_are_argon2id_phc_strings_that_the_crates_own_verifier_accepts() {
        use argon2::PasswordVerifier;
        let hash = hash_blocking(CHEAP, "correct horse", b"0123456789abcdef").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        let argon2 = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            params_of(CHEAP).unwrap(),
        );
        assert!(
            argon2
                .verify_password(b"correct horse", hash.as_str())
                .is_ok()
        );
        assert!(
            argon2
                .verify_password(b"wrong horse", hash.as_str())
                .is_err()
        );
    }

    #[test]
    fn our_verification_agrees_with_the_crates_own() {
        let hash = hash_blocking(CHEAP, "correct horse", b"0123456789abcdef").unwrap();
        assert!(verify_blocking(b"correct horse", &hash));
        assert!(!verify_blocking(b"wrong horse", &hash));
        // Again, on one warm buffer that earlier hashes (of other sizes) have used.
        let mut memory = Memory(Vec::new());
        hash_with_memory(CHEAP, b"other", b"0123456789abcdef", &mut memory).unwrap();
        assert!(verify_with_memory(b"correct horse", &hash, &mut memory));
        assert!(!verify_with_memory(b"correct horsE", &hash, &mut memory));
    }

    #[test]
    fn hashes_made_under_other_parameters_still_verify() {
        let older = Argon2Params {
            memory_kib: 128,
            iterations: 2,
            parallelism: 2,
        };
        let hash = hash_blocking(older, "correct horse", b"0123456789abcdef").unwrap();
        assert!(verify_blocking(b"correct horse", &hash));
        assert!(!verify_blocking(b"correct horsE", &hash));
    }

    #[test]
    fn malformed_hashes_never_verify() {
        let hash = hash_blocking(CHEAP, "correct horse", b"0123456789abcdef").unwrap();
        let truncated = &hash[..hash.len() - 4];
        for bad in [
            "",
            "plain",
            "$argon2id$v=19$m=64,t=1,p=1$",
            truncated,
            "$argon2x$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        ] {
            assert!(!verify_blocking(b"correct horse", bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_dummy_hash_is_made_once_per_parameter_set() {
        let first = dummy_hash(CHEAP).await.unwrap();
        let second = dummy_hash(CHEAP).await.unwrap();
        assert_eq!(first, second);
    }

    #[tokio::test]
    async fn a_hashing_thread_keeps_one_buffer_across_hashes() {
        let pool = HashPool::new(1, 0, Duration::from_secs(5));
        let address = |memory: &mut Memory| {
            hash_with_memory(CHEAP, b"pw", b"0123456789abcdef", memory).unwrap();
            memory.0.as_ptr() as usize
        };
        let first = pool.run(address).await.unwrap();
        let second = pool.run(address).await.unwrap();
        assert_eq!(
            first, second,
            "the second hash reused the first one's memory"
        );
    }

    #[tokio::test]
    async fn beyond_the_slots_a_request_waits_briefly_then_answers_503_with_retry_after() {
        let pool = HashPool::new(1, 1, Duration::from_millis(50));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        // One hashing, one queued: every slot taken.
        let running: Vec<_> = (0..2)
            .map(|_| {
                let released = released.clone();
                pool.run(move |_| {
                    let _ = released.lock().unwrap().recv();
                })
            })
            .collect();
        let running = futures::future::join_all(running);
        tokio::pin!(running);
        // Let the two take their slots first.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), &mut running)
                .await
                .is_err()
        );
        let refused = Error::from(pool.run(|_| ()).await.unwrap_err());
        assert_eq!(refused.status().as_u16(), 503);
        assert_eq!(refused.retry_after, Some(RETRY_AFTER_SECONDS));
        release.send(()).unwrap();
        release.send(()).unwrap();
        for answer in running.await {
            answer.unwrap();
        }
        // Slots free again: the next request runs.
        pool.run(|_| ()).await.unwrap();
    }

    #[tokio::test]
    async fn a_panicking_hash_fails_its_request_and_not_the_thread() {
        let pool = HashPool::new(1, 0, Duration::from_secs(5));
        let failed = Error::from(pool.run(|_| -> () { panic!("boom") }).await.unwrap_err());
        assert_eq!(failed.status().as_u16(), 500);
        assert_eq!(pool.run(|_| 7).await.unwrap(), 7);
    }
}
