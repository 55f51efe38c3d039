//! What the AWS side of the stack holds during a soak, behind one lock: everything that reached the
//! bus, the schedules, the queues (requests, their dead letters, the checks Scheduler could not
//! deliver, the invocations that failed for good) and Lambda's asynchronous invocation queue. The
//! verdict is read from here and from the emulator's call log, never from the functions' answers.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use supplychain_emulator::Emulator;

use super::stack::{Function, Rule};

/// The emulator's clock, which every part of the soak reads: it moves with the wall clock, and the
/// soak moves it on when nothing is running and the next thing due is later.
#[derive(Clone)]
pub struct Clock {
    emulator: Emulator,
}

impl Clock {
    pub fn new(emulator: Emulator) -> Clock {
        Clock { emulator }
    }

    /// Now, in epoch milliseconds of the emulator's clock.
    pub fn now_ms(&self) -> u64 {
        millis(self.emulator.now())
    }

    /// How far the emulator's clock is ahead of the wall clock the functions read, in milliseconds.
    pub fn offset_ms(&self) -> u64 {
        self.now_ms().saturating_sub(millis(SystemTime::now()))
    }

    pub fn advance_to(&self, at_ms: u64) {
        let now = self.now_ms();
        if at_ms > now {
            self.emulator.advance_clock(Duration::from_millis(at_ms - now));
        }
    }
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// An event as it reached the bus, with the emulator's time it arrived.
#[derive(Debug, Clone)]
pub struct BusEvent {
    pub at_ms: u64,
    pub event: Value,
}

/// A one-time schedule: when it is due on the emulator's clock, and the checker's input.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub due_ms: u64,
    pub input: Value,
    /// Scheduler's delivery attempts that failed so far (its retry policy).
    pub failed_deliveries: u32,
}

/// A message of the request queue.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub body: String,
    pub receive_count: u32,
    pub visible_at_ms: u64,
}

/// A message in a dead-letter queue, with the `errorType` attribute the function gave it (none when
/// the queue's redrive policy moved it).
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub body: String,
    pub error_type: Option<String>,
}

/// A failed attempt of an asynchronous invocation: when it ended, on the emulator's clock (ms),
/// and its errorType.
pub type Failure = (u64, String);

/// The record Lambda sends to an on-failure destination after the last asynchronous attempt.
#[derive(Debug, Clone)]
pub struct FailedInvocation {
    pub function: Function,
    pub payload: Value,
    /// The last attempt's errorType, which the record carries.
    pub error_type: String,
    /// Every attempt, for the verdict's details (Lambda's record has only their number).
    pub failures: Vec<Failure>,
}

/// An asynchronous invocation waiting in Lambda's queue.
#[derive(Debug, Clone)]
pub struct AsyncInvocation {
    pub function: Function,
    pub payload: Value,
    /// The attempts made so far, each failed.
    pub failures: Vec<Failure>,
    pub due_ms: u64,
}

/// Counts of what the AWS side did.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub schedules_created: usize,
    pub schedule_conflicts: usize,
    pub schedules_fired: usize,
    pub async_retries: usize,
    pub batches: usize,
    pub redelivered: usize,
}

/// The whole AWS side.
#[derive(Default)]
pub struct World {
    pub rules: Vec<Rule>,
    pub bus: Vec<BusEvent>,
    pub schedules: BTreeMap<String, Schedule>,
    pub request_queue: Vec<Message>,
    pub request_dead_letters: Vec<DeadLetter>,
    pub schedule_dead_letters: Vec<Value>,
    pub failed_invocations: Vec<FailedInvocation>,
    pub async_queue: Vec<AsyncInvocation>,
    pub counters: Counters,
    /// Rules the soak could not play (an unknown filter): the run fails with them.
    pub errors: Vec<String>,
    next_id: u64,
}

impl World {
    /// An empty world whose bus has `rules`.
    pub fn with_rules(rules: Vec<Rule>) -> World {
        World { rules, ..Default::default() }
    }
}

impl World {
    pub fn next_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{:08}", self.next_id)
    }

    /// An event reaches the bus: it is kept, and each rule it matches invokes its function
    /// asynchronously, as EventBridge does.
    pub fn put_event(&mut self, event: Value, now_ms: u64) {
        let mut targets = Vec::new();
        for rule in &self.rules {
            match super::pattern::matches(&rule.pattern, &event) {
                Ok(true) => targets.push(rule.target),
                Ok(false) => {}
                Err(e) => self.errors.push(format!("rule {}: {e}", rule.name)),
            }
        }
        for function in targets {
            self.async_queue.push(AsyncInvocation { function, payload: event.clone(), failures: Vec::new(), due_ms: now_ms });
        }
        self.bus.push(BusEvent { at_ms: now_ms, event });
    }
}
