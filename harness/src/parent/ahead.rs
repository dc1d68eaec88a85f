//! Sandboxes made ahead of their tests: while one test runs, the zygote
//! builds the next sandboxes (cgroup, namespaces, the whole setup, the
//! lock), and their PID 2 waits, built, for the test it will run. When the
//! next test starts and asks for the same sandbox, it gets the oldest one
//! and pays only for the handover; its sandbox's setup overlapped the
//! tests before it and ran on the other core.
//!
//! Every sandbox is still made for one test and used once: a sandbox made
//! ahead is handed to exactly one test, and dropped (killed, its cgroup
//! removed) when the next test asks for another one ([`Key`]), when it
//! waited longer than [`MAX_AGE`], or when the process exits. What changes
//! is when its setup ran: up to [`MAX_AGE`] before its test started, while
//! the tests before it ran. The host's files are seen through the overlay
//! as they are when the test reads them; the files the setup copies
//! (`/etc/hosts`, `/etc/resolv.conf`) and the host's mount table are those
//! of that moment.
//!
//! How many: two ([`crate::config::defaults::DEFAULT_AHEAD`]), so that a
//! test takes one whose setup had the whole of the test before it to run,
//! rather than one still being built; [`crate::config::ENV_AHEAD`] sets
//! another number, `0` none.
//!
//! When it is used: the attribute's tests with the zygote on, and the
//! commands `isolated-test wrap` runs (its helper, executed as PID 2,
//! reads its nonce and specification on standard input the same way),
//! from the second sandbox of a process on (a process that runs one test,
//! as under nextest, never makes one it would not use). It stops for
//! the rest of the process once the sandboxes made ahead missed more often
//! than they were used (tests that each ask for a different sandbox, or
//! that each run longer than [`MAX_AGE`]; see [`note_missed`]), and says
//! so under `ISOLATED_TEST_LOG=debug`.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::guard::Pid1Guard;
use super::start::{Invocation, MadeFrom, Started};
use crate::config::{ENV_CHILD_NONCE, ENV_CHILD_TEST, ENV_HELPER_AHEAD, ENV_HELPER_NONCE, ENV_HELPER_SPEC, ENV_ZYGOTE};

/// The variables that say which test (or command) a sandbox runs: never
/// part of what it is made from.
const PER_TEST: [&str; 4] = [ENV_CHILD_NONCE, ENV_CHILD_TEST, ENV_HELPER_NONCE, ENV_HELPER_SPEC];

/// A sandbox made ahead and not asked for within this long is dropped
/// instead of used: it bounds how old the moment of its setup can be.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(1);

/// How many more misses (see [`note_missed`]) than sandboxes made ahead
/// used are allowed before none is made any more.
const MISSES_ALLOWED: u32 = 3;

/// How many sandboxes to keep made ahead (`ISOLATED_TEST_AHEAD`, read
/// once). A wrong value fails each test as it starts (see
/// `parent::attribute`); meanwhile the default holds.
fn pool_size() -> usize {
    static SIZE: OnceLock<usize> = OnceLock::new();
    *SIZE.get_or_init(|| crate::config::defaults::ahead().unwrap_or(crate::config::defaults::DEFAULT_AHEAD))
}

/// Starts a sandbox for `inv`: the one made ahead for it if there is one
/// (see the module's documentation), else one of its own; then has the
/// next one made ahead when `inv` may use one.
///
/// # Errors
/// As [`super::start::start`].
pub(crate) fn start(inv: &Invocation) -> Result<(Started, Pid1Guard), crate::error::SpawnError> {
    // The first sandbox of a process (the only one, under nextest) is
    // never served from one made ahead nor followed by one: no key.
    let Some(eligible) = Eligible::of(inv).filter(|_| counted()) else {
        return super::start::start(inv);
    };
    let key = Key::new(super::start::made_from(inv)?);
    if let Some(taken) = eligible.take(&key) {
        want(&key, inv);
        return Ok(taken);
    }
    let (started, guard, forked) = super::start::launch(inv, false)?;
    if forked || eligible.helper {
        want(&key, inv);
    }
    Ok((started, guard))
}

/// Everything a sandbox is made from but the test's name and nonce: the
/// setup request (before the cgroup's paths are added), PID 2's working
/// directory and its whole environment but the two variables that name
/// the test. A sandbox made ahead serves only a test whose key is equal,
/// so that it is the sandbox that test would have got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key(MadeFrom);

impl Key {
    /// The key of what a sandbox is made from.
    pub(crate) fn new(mut made: MadeFrom) -> Self {
        let per_test = PER_TEST.map(|k| format!("{k}="));
        made.env.retain(|e| !per_test.iter().any(|p| e.starts_with(p.as_bytes())));
        Self(made)
    }
}

/// A sandbox made ahead, built or being built by its PID 2.
struct Ready {
    key: Key,
    made: Instant,
    started: Started,
    guard: Pid1Guard,
    /// The write end of PID 2's standard input, where it waits for its test.
    go: OwnedFd,
}

/// What the maker is asked to make next.
#[derive(Clone)]
struct Job {
    key: Key,
    forked_test: Option<String>,
    argv: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    setup: crate::sandbox::request::SetupRequest,
}

struct State {
    /// Sandboxes asked for so far (the first one is never made ahead).
    asked: u32,
    /// What the last test that could use one asked for: the maker keeps
    /// [`pool_size`] of these made.
    job: Option<Job>,
    /// The key of the one the maker is making now.
    making: Option<Key>,
    /// Made ahead and not yet taken, oldest first.
    ready: VecDeque<Ready>,
    /// How old the last one taken was: when tests take long, more than one
    /// made ahead would grow too old before its turn (see [`pool_target`]).
    last_age: Duration,
    used: u32,
    /// Times those made ahead did not fit (see [`note_missed`]).
    missed: u32,
    /// No more sandboxes ahead, and why.
    off: Option<String>,
    /// The maker thread runs.
    maker: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    asked: 0,
    job: None,
    making: None,
    ready: VecDeque::new(),
    last_age: Duration::ZERO,
    used: 0,
    missed: 0,
    off: None,
    maker: false,
});
static CHANGED: Condvar = Condvar::new();
/// The process the sandboxes made ahead belong to (their PID 1 is its
/// child): a fork of it must not use them.
static OWNER: OnceLock<u32> = OnceLock::new();

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An invocation that a sandbox made ahead may serve: an attribute's test
/// (its nonce and name go to PID 2 when it takes the sandbox), or a
/// command that `isolated-test wrap` runs (the CLI's helper as PID 2: its
/// nonce and specification).
pub(crate) struct Eligible<'a> {
    /// For the log: the test's name, or the helper's.
    test: &'a str,
    nonce: &'a OsString,
    /// The test's name, or the helper's specification (one line of JSON).
    what: &'a OsString,
    /// A CLI helper, executed as PID 2 (no zygote).
    helper: bool,
}

impl<'a> Eligible<'a> {
    /// `Some` for an attribute's test that goes through the zygote, or a
    /// `run` helper of the CLI (`wrap`'s), with nothing of its own on
    /// standard input, in the process that owns the sandboxes, while this
    /// is not turned off.
    pub(crate) fn of(inv: &'a Invocation) -> Option<Self> {
        let var = |name: &str| inv.env.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let eligible = match (inv.forked_test.as_deref(), inv.argv.get(1).zip(inv.argv.get(2))) {
            (Some(test), _) => {
                let what = var(ENV_CHILD_TEST)?;
                Self { test, nonce: var(ENV_CHILD_NONCE)?, what, helper: false }
            }
            (None, Some((helper, mode))) if helper == "__sandbox-helper" && mode == "run" => Self {
                test: "__sandbox-helper run",
                nonce: var(ENV_HELPER_NONCE)?,
                what: var(ENV_HELPER_SPEC)?,
                helper: true,
            },
            _ => return None,
        };
        if inv.stdin.is_some() || *OWNER.get_or_init(std::process::id) != std::process::id() {
            return None;
        }
        let off = |var: &str| std::env::var_os(var).is_some_and(|v| v == "0");
        // Under coverage each sandbox has a profile directory of its own.
        if pool_size() == 0 || (!eligible.helper && off(ENV_ZYGOTE)) || crate::config::coverage::wanted() {
            return None;
        }
        // One line each on PID 2's standard input.
        if eligible.what.as_bytes().contains(&b'\n') || eligible.nonce.as_bytes().contains(&b'\n') {
            return None;
        }
        Some(eligible)
    }

    /// The oldest sandbox made ahead for `key`, handed over to this test;
    /// `None` when there is none (then the caller starts one). Those made
    /// before it for another key or too long ago are dropped. Waits for
    /// one being made when none is ready.
    pub(crate) fn take(&self, key: &Key) -> Option<(Started, Pid1Guard)> {
        let mut state = state();
        // Bounded, should the maker be stuck: the test then starts its own.
        let until = Instant::now() + Duration::from_secs(60);
        while state.ready.is_empty() && state.making.as_ref() == Some(key) && Instant::now() < until {
            state = CHANGED.wait_timeout(state, Duration::from_millis(200)).unwrap_or_else(PoisonError::into_inner).0;
        }
        let mut unfit = Vec::new();
        let mut taken = None;
        while let Some(ready) = state.ready.pop_front() {
            let age = ready.made.elapsed();
            if ready.key == *key && age <= MAX_AGE {
                state.used += 1;
                state.last_age = age;
                taken = Some((ready, age));
                break;
            }
            unfit.push((ready, age));
        }
        if let Some((first, _)) = unfit.first() {
            let why = if first.key == *key { "it waited too long" } else { "the test asked for another" };
            note_missed(&mut state, why);
        }
        // The maker makes the next one.
        CHANGED.notify_all();
        drop(state);
        for (ready, age) in unfit {
            tracing::debug!(test = self.test, ?age, "dropped the sandbox made ahead");
            drop_unused(ready);
        }
        let (ready, age) = taken?;
        let Ready { started, guard, go, .. } = ready;
        let mut go = std::fs::File::from(go);
        let mut message = self.nonce.as_bytes().to_vec();
        message.push(b'\n');
        message.extend_from_slice(self.what.as_bytes());
        message.push(b'\n');
        match go.write_all(&message) {
            Ok(()) => {
                tracing::debug!(test = self.test, ?age, "using the sandbox made ahead");
                Some((started, guard))
            }
            // PID 2 is gone: start one the ordinary way.
            Err(err) => {
                tracing::debug!(test = self.test, %err, "the sandbox made ahead did not take its test");
                discard(go.into(), guard, started);
                None
            }
        }
    }
}

/// Counts a sandbox asked for; whether sandboxes made ahead are still on
/// and this is not the first one of the process.
fn counted() -> bool {
    let mut state = state();
    state.asked = state.asked.saturating_add(1);
    state.asked >= 2 && state.off.is_none()
}

/// Counts a miss: a test found only sandboxes made ahead that did not fit
/// it (made for another, or too long ago), or the maker dropped those it
/// had made because a test asked for another. Once misses outnumber the
/// sandboxes used by more than [`MISSES_ALLOWED`], none are made any more.
/// One miss however many sandboxes it drops, so that the size of the pool
/// does not turn them off sooner.
fn note_missed(state: &mut State, why: &str) {
    state.missed += 1;
    if state.off.is_none() && state.missed > state.used + MISSES_ALLOWED {
        let off = format!(
            "{} times the sandboxes made ahead did not fit and {} were used (the last: {why})",
            state.missed, state.used
        );
        tracing::debug!("no more sandboxes made ahead in this process: {off}");
        state.off = Some(off);
    }
}

/// Kills and removes a sandbox made ahead that no test will use.
fn drop_unused(ready: Ready) {
    let Ready { started, guard, go, .. } = ready;
    discard(go, guard, started);
}

/// How long a dropped sandbox may take to finish its setup and end by
/// itself before it is killed.
const SETTLE: Duration = Duration::from_secs(10);

fn discard(go: OwnedFd, guard: Pid1Guard, started: Started) {
    // EOF first: PID 2 ends by itself once its setup is done. The setup is
    // let finish rather than killed halfway: it may be writing the host's
    // image cache (an archive unpacked into a private directory, then
    // renamed), which a kill would leave half done.
    drop(go);
    let until = Instant::now() + SETTLE;
    let options = rustix::process::WaitIdOptions::EXITED
        | rustix::process::WaitIdOptions::NOHANG
        | rustix::process::WaitIdOptions::NOWAIT;
    let pidfd = std::os::fd::AsFd::as_fd(&started.init.pidfd);
    while matches!(rustix::process::waitid(rustix::process::WaitId::PidFd(pidfd), options), Ok(None))
        && Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Then PID 1 is killed (if it is still there) and reaped, and only
    // then the cgroup removed.
    drop(guard);
    drop(started);
}

/// After `inv` got its sandbox: has the next one made ahead, like the one
/// `key` describes (called from the second sandbox of the process on).
pub(crate) fn want(key: &Key, inv: &Invocation) {
    let mut state = state();
    if state.off.is_some() {
        return;
    }
    let per_test = |k: &OsString| PER_TEST.iter().any(|v| k == v);
    let mut env: Vec<(OsString, OsString)> = inv.env.iter().filter(|(k, _)| !per_test(k)).cloned().collect();
    if inv.forked_test.is_none() {
        // A helper: it reads its nonce and specification on standard input.
        env.push((ENV_HELPER_AHEAD.into(), "1".into()));
    }
    state.job = Some(Job {
        key: key.clone(),
        forked_test: inv.forked_test.clone(),
        argv: inv.argv.clone(),
        env,
        env_remove: inv.env_remove.clone(),
        setup: inv.setup.clone(),
    });
    if !state.maker {
        state.maker = true;
        let spawned = std::thread::Builder::new().name("isolated-test-ahead".into()).spawn(make_forever);
        match spawned {
            Ok(_) => {
                if let Err(err) = crate::sys::process::at_exit(at_exit) {
                    tracing::debug!(%err, "no sandboxes made ahead: their cleanup at exit could not be registered");
                    state.off = Some(format!("their cleanup at exit could not be registered: {err}"));
                    state.job = None;
                }
            }
            Err(err) => {
                tracing::debug!(%err, "no sandboxes made ahead: the thread that makes them could not start");
                state.off = Some(format!("its thread could not start: {err}"));
                state.job = None;
            }
        }
    }
    CHANGED.notify_all();
}

/// How many the maker keeps made: [`pool_size`] while tests take them
/// young, one when the last one taken was older than a quarter of
/// [`MAX_AGE`] (slow tests: a second one would be too old by its turn and
/// be made for nothing).
fn pool_target(state: &State) -> usize {
    if state.last_age > MAX_AGE / 4 { pool_size().min(1) } else { pool_size() }
}

/// Takes out of the ready ones those that will not be taken: made for
/// another test than the last one asked for (`key`), or half as old as
/// allowed (a fresh one is made instead). Counts one miss for them and
/// says why each goes; the caller drops them, outside the lock.
fn take_stale(state: &mut State, key: &Key) -> Vec<Ready> {
    let (keep, stale): (VecDeque<Ready>, VecDeque<Ready>) =
        std::mem::take(&mut state.ready).into_iter().partition(|r| r.key == *key && r.made.elapsed() < MAX_AGE / 2);
    state.ready = keep;
    if !stale.is_empty() {
        let other = stale.iter().any(|old| old.key != *key);
        note_missed(state, if other { "a newer one was asked for" } else { "it grew old" });
    }
    for old in &stale {
        let why = if old.key == *key { "it grew old" } else { "a test asked for another" };
        tracing::debug!(age = ?old.made.elapsed(), "dropped the sandbox made ahead: {why} before it was taken");
    }
    stale.into()
}

/// The maker thread: keeps [`pool_target`] sandboxes made for the last
/// job, until sandboxes made ahead are off.
fn make_forever() {
    loop {
        let mut state = state();
        let (job, stale) = loop {
            if state.off.is_some() {
                let left = std::mem::take(&mut state.ready);
                drop(state);
                left.into_iter().for_each(drop_unused);
                return;
            }
            if let Some(job) = state.job.clone() {
                let stale = take_stale(&mut state, &job.key);
                if state.ready.len() < pool_target(&state) {
                    break (job, stale);
                }
                if !stale.is_empty() {
                    drop(state);
                    stale.into_iter().for_each(drop_unused);
                    state = self::state();
                    continue;
                }
            }
            state = CHANGED.wait(state).unwrap_or_else(PoisonError::into_inner);
        };
        state.making = Some(job.key.clone());
        drop(state);
        stale.into_iter().for_each(drop_unused);
        // A panic must not leave `making` set: a test waiting for this key
        // would wait for ever.
        let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| make(job))).unwrap_or_else(|_| {
            Err(crate::error::SpawnError::Prepare {
                what: "make a sandbox ahead of its test".into(),
                source: crate::error::IoCause(std::io::Error::other("the maker thread panicked")),
            })
        });
        let mut state = self::state();
        state.making = None;
        let unused = match made {
            Ok(ready) if state.off.is_none() => {
                state.ready.push_back(ready);
                None
            }
            Ok(ready) => Some(ready),
            Err(err) => {
                let why = err.render();
                tracing::debug!(error = %why, "could not make a sandbox ahead; no more in this process");
                state.off = Some(format!("making one failed: {why}"));
                None
            }
        };
        CHANGED.notify_all();
        drop(state);
        if let Some(unused) = unused {
            drop_unused(unused);
        }
    }
}

fn make(job: Job) -> Result<Ready, crate::error::SpawnError> {
    let (go_read, go) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| crate::error::SpawnError::Prepare {
            what: "create the pipe a sandbox made ahead waits on".into(),
            source: crate::error::IoCause(e.into()),
        })?;
    let inv = Invocation {
        argv: job.argv,
        env: job.env,
        env_remove: job.env_remove,
        setup: job.setup,
        stdin: Some(go_read),
        forked_test: job.forked_test,
    };
    let (started, guard, _) = super::start::launch(&inv, true)?;
    Ok(Ready { key: job.key, made: Instant::now(), started, guard, go })
}

/// At the process's exit: no sandbox made ahead is left behind (its PID 1
/// would die with the process; its cgroup would stay).
extern "C" fn at_exit() {
    if OWNER.get().is_some_and(|owner| *owner != std::process::id()) {
        return;
    }
    let mut state = state();
    state.off.get_or_insert_with(|| "the process exits".into());
    state.job = None;
    CHANGED.notify_all();
    let until = Instant::now() + Duration::from_secs(10);
    while state.making.is_some() && Instant::now() < until {
        state = CHANGED.wait_timeout(state, Duration::from_millis(50)).unwrap_or_else(PoisonError::into_inner).0;
    }
    let left = std::mem::take(&mut state.ready);
    drop(state);
    left.into_iter().for_each(drop_unused);
}
