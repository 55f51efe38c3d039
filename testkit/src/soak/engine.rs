//! The soak's loop: sends the load when it falls due, plays the parts of AWS that invoke the
//! functions (the SQS event source, Lambda's asynchronous queue and its retries, Scheduler firing
//! the re-checks, the state machine's task with its retriers), and moves the emulator's clock on to
//! the next thing due whenever nothing is running.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use supplychain_emulator::Emulator;

use super::lambda::{Ended, Pool};
use super::load::{Load, Shape};
use super::random::Random;
use super::stack::{Function, Stack};
use super::world::{AsyncInvocation, Clock, FailedInvocation, Message, World};
use crate::local::{ACCOUNT, REGION};

/// Lambda's waits before the first and the second retry of an asynchronous invocation.
const ASYNC_RETRY_WAITS_MS: [u64; 2] = [60_000, 120_000];
/// Scheduler's retry policy as the checker sets it: 185 retries within 24 hours.
const SCHEDULER_RETRIES: u32 = 185;
/// While invocations run, the emulator's clock runs this many times faster than the wall clock
/// (never past the next thing due, nor past the visibility timeout of a batch being handled);
/// when nothing runs, it moves straight on to the next thing due.
const BUSY_SPEED: u64 = 20;
/// A re-check schedule's name ends in its attempt; a marker's in a 16-digit hash.
pub fn is_marker(name: &str) -> bool {
    name.rsplit('-').next().is_some_and(|tail| tail.len() == 16)
}

/// A `DeletionWorkflow` execution at its `DeleteInstance` task.
#[derive(Debug, Clone)]
pub struct Execution {
    pub request: usize,
    pub attempts: Vec<u32>,
    pub due_ms: u64,
}

/// How each execution's task ended: `Ok` when the function answered, `Err(errorType)` when the
/// execution failed (caught, after the retriers).
pub type Executions = Vec<(usize, Result<(), String>)>;

/// The parts the loop drives.
pub struct Engine {
    pub world: Arc<Mutex<World>>,
    pub clock: Clock,
    pub emulator: Emulator,
    pub stack: Stack,
    pub delete: Arc<Pool>,
    pub check: Arc<Pool>,
    pub kill_rate: f64,
    /// Scheduler's deliveries to Lambda refused (throttled) with this probability.
    pub delivery_fault_rate: f64,
    pub in_flight: Arc<AtomicUsize>,
    pub pending_executions: Arc<Mutex<Vec<Execution>>>,
    pub executions: Arc<Mutex<Executions>>,
    pub random: Arc<Mutex<Random>>,
    pub delivery_faults: usize,
    /// Each request's payload, by its index in the load.
    pub payloads: Vec<Value>,
    /// SQS batches being handled.
    pub pollers: Arc<AtomicUsize>,
    /// When the messages of each batch being handled become visible again.
    pub batch_deadlines: Arc<Mutex<Vec<u64>>>,
}

/// How the loop ended.
pub struct Settled {
    pub start_ms: u64,
    pub end_ms: u64,
    pub real: Duration,
}

impl Engine {
    fn lock(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pool(&self, function: Function) -> Arc<Pool> {
        match function {
            Function::Delete => self.delete.clone(),
            Function::Check => self.check.clone(),
        }
    }

    /// A kill moment for one invocation: with probability `kill_rate`, a few milliseconds in.
    fn kill_after(&self) -> Option<Duration> {
        let mut random = self.random.lock().unwrap_or_else(|p| p.into_inner());
        (random.unit() < self.kill_rate).then(|| Duration::from_micros(500 + random.below(20_000)))
    }

    /// Runs until the load is sent and nothing is due any more, or fails past the limits.
    pub async fn run(&mut self, load: &Load, real_limit: Duration, clock_limit: Duration) -> Result<Settled, String> {
        let started = Instant::now();
        let start_ms = self.clock.now_ms();
        let mut arrivals: Vec<(u64, usize)> = load.requests.iter().enumerate().map(|(i, r)| (start_ms + r.at_ms, i)).collect();
        arrivals.sort_unstable();
        let mut removals: Vec<(u64, String)> = load.removals.iter().map(|(at, id)| (start_ms + at, id.clone())).collect();
        removals.sort_unstable();
        let (mut next_arrival, mut next_removal) = (0, 0);
        let mut tick = Instant::now();
        loop {
            let now = self.clock.now_ms();
            while next_removal < removals.len() && removals[next_removal].0 <= now {
                self.emulator.remove(&removals[next_removal].1);
                next_removal += 1;
            }
            while next_arrival < arrivals.len() && arrivals[next_arrival].0 <= now {
                self.send(load, arrivals[next_arrival].1, now);
                next_arrival += 1;
            }
            self.fire_schedules(now);
            self.dispatch_async(now);
            self.poll_queue(now);
            self.dispatch_executions(now);
            if let Some(error) = self.lock().errors.first() {
                return Err(error.clone());
            }
            if started.elapsed() > real_limit {
                return Err(format!("the soak did not settle within {real_limit:?} of real time"));
            }
            let later = [arrivals.get(next_arrival).map(|a| a.0), removals.get(next_removal).map(|r| r.0), self.next_due(now)];
            let next = later.into_iter().flatten().min();
            let busy = self.in_flight.load(Ordering::SeqCst) > 0;
            match next {
                None if !busy => return Ok(Settled { start_ms, end_ms: now, real: started.elapsed() }),
                Some(at) if at > start_ms + clock_limit.as_millis() as u64 => {
                    return Err(format!("work is still due {} s into the emulator's clock", (at - start_ms) / 1000));
                }
                _ => {}
            }
            let mut target = next.unwrap_or(u64::MAX);
            if busy {
                let faster = now + tick.elapsed().as_millis() as u64 * (BUSY_SPEED - 1);
                let barrier = self.batch_deadlines.lock().unwrap_or_else(|p| p.into_inner()).iter().min().map_or(u64::MAX, |d| d - 1);
                target = target.min(faster).min(barrier);
            }
            if target != u64::MAX {
                self.clock.advance_to(target);
            }
            tick = Instant::now();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The earliest time something is due after `now` (markers, which fire 25 hours on and are
    /// ignored by the checker, are left in place: they are not work).
    fn next_due(&self, now: u64) -> Option<u64> {
        let world = self.lock();
        let schedules = world.schedules.iter().filter(|(name, _)| !is_marker(name)).map(|(_, s)| s.due_ms);
        let invocations = world.async_queue.iter().map(|i| i.due_ms);
        let messages = world.request_queue.iter().map(|m| m.visible_at_ms);
        let executions: Vec<u64> = self.pending_executions.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|e| e.due_ms).collect();
        schedules.chain(invocations).chain(messages).chain(executions).min().map(|at| at.max(now))
    }

    /// A request of the load reaches the stack in its shape.
    fn send(&self, load: &Load, index: usize, now: u64) {
        let request = &load.requests[index];
        let mut world = self.lock();
        match request.shape {
            Shape::EventBridge => {
                let id = world.next_id("request");
                let event = json!({
                    "version": "0", "id": id, "detail-type": "Supply Chain Instance Deletion Requested",
                    "source": "soak.platform-team", "account": ACCOUNT, "time": "2026-01-01T00:00:00Z", "region": REGION,
                    "resources": [], "detail": request.payload,
                });
                world.put_event(event, now);
            }
            Shape::Sqs => {
                let id = world.next_id("message");
                world.request_queue.push(Message { id, body: request.payload.to_string(), receive_count: 0, visible_at_ms: now });
            }
            Shape::Direct => world.async_queue.push(AsyncInvocation {
                function: Function::Delete,
                payload: request.payload.clone(),
                failures: Vec::new(),
                due_ms: now,
            }),
            Shape::StepFunctions => {
                let attempts = vec![0; self.stack.workflow_retriers.len()];
                self.pending_executions.lock().unwrap_or_else(|p| p.into_inner()).push(Execution { request: index, attempts, due_ms: now });
            }
        }
    }

    /// Scheduler fires each re-check that is due: an asynchronous invocation of the checker with
    /// its input, then the schedule is deleted (`ActionAfterCompletion: DELETE`). A delivery Lambda
    /// refuses is retried with backoff, and after the retry policy's last it goes to the
    /// schedule's dead-letter queue.
    fn fire_schedules(&mut self, now: u64) {
        let mut world = self.lock();
        let due: Vec<String> = world.schedules.iter().filter(|(n, s)| !is_marker(n) && s.due_ms <= now).map(|(n, _)| n.clone()).collect();
        let mut refused = 0;
        for name in due {
            let refuse =
                self.delivery_fault_rate > 0.0 && self.random.lock().unwrap_or_else(|p| p.into_inner()).unit() < self.delivery_fault_rate;
            if refuse {
                refused += 1;
                let schedule = world.schedules.get_mut(&name).expect("due");
                schedule.failed_deliveries += 1;
                if schedule.failed_deliveries <= SCHEDULER_RETRIES {
                    schedule.due_ms = now + 1000 * (1u64 << schedule.failed_deliveries.min(8));
                    continue;
                }
                let schedule = world.schedules.remove(&name).expect("due");
                world.schedule_dead_letters.push(schedule.input);
                continue;
            }
            let schedule = world.schedules.remove(&name).expect("due");
            world.counters.schedules_fired += 1;
            world.async_queue.push(AsyncInvocation {
                function: Function::Check,
                payload: schedule.input,
                failures: Vec::new(),
                due_ms: now,
            });
        }
        drop(world);
        self.delivery_faults += refused;
    }

    /// Starts each asynchronous invocation that is due; a failed one is retried twice, one and two
    /// minutes later, then goes to the on-failure destination with its errorType.
    fn dispatch_async(&self, now: u64) {
        let due: Vec<AsyncInvocation> = {
            let mut world = self.lock();
            let (due, later) = world.async_queue.drain(..).partition(|i| i.due_ms <= now);
            world.async_queue = later;
            due
        };
        for mut invocation in due {
            let pool = self.pool(invocation.function);
            let retries = self.stack.async_retries[&invocation.function];
            let (world, clock, in_flight, kill) = (self.world.clone(), self.clock.clone(), self.in_flight.clone(), self.kill_after());
            in_flight.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let ended = pool.invoke(invocation.payload.clone(), kill).await;
                let error_type = match ended {
                    Ok(Ended::Response(_)) => None,
                    Ok(Ended::Error(error_type)) => Some(error_type),
                    Err(e) => Some(format!("Harness: {e}")),
                };
                if let Some(error_type) = error_type {
                    let mut world = world.lock().unwrap_or_else(|p| p.into_inner());
                    invocation.failures.push((clock.now_ms(), error_type.clone()));
                    let attempts = invocation.failures.len() as u32;
                    if attempts <= retries {
                        world.counters.async_retries += 1;
                        invocation.due_ms = clock.now_ms() + ASYNC_RETRY_WAITS_MS[(attempts as usize - 1).min(1)];
                        world.async_queue.push(invocation);
                    } else {
                        let AsyncInvocation { function, payload, failures, .. } = invocation;
                        world.failed_invocations.push(FailedInvocation { function, payload, error_type, failures });
                    }
                }
                in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    /// The event source mapping: up to `MaximumConcurrency` batches at once, each of up to
    /// `BatchSize` visible messages, handled by the delete function.
    fn poll_queue(&self, now: u64) {
        while self.pollers.load(Ordering::SeqCst) < self.stack.max_pollers {
            let batch = self.receive_batch(now);
            if batch.is_empty() {
                return;
            }
            self.handle_batch(batch, now);
        }
    }

    /// Receives up to `BatchSize` visible messages, each hidden for the visibility timeout; a
    /// message already received `maxReceiveCount` times goes to the dead-letter queue instead.
    fn receive_batch(&self, now: u64) -> Vec<Message> {
        let mut world = self.lock();
        let visibility = self.stack.visibility_timeout_seconds * 1000;
        let max_receives = self.stack.max_receive_count;
        let mut batch = Vec::new();
        let mut index = 0;
        while index < world.request_queue.len() && batch.len() < self.stack.batch_size {
            let message = &mut world.request_queue[index];
            if message.visible_at_ms > now {
                index += 1;
                continue;
            }
            if message.receive_count >= max_receives {
                let message = world.request_queue.remove(index);
                world.request_dead_letters.push(super::world::DeadLetter { body: message.body, error_type: None });
                continue;
            }
            message.receive_count += 1;
            message.visible_at_ms = now + visibility;
            batch.push(message.clone());
            index += 1;
        }
        if !batch.is_empty() {
            world.counters.batches += 1;
            world.counters.redelivered += batch.iter().filter(|m| m.receive_count > 1).count();
        }
        batch
    }

    /// Invokes the delete function with a batch received at `now`, then deletes the messages it
    /// handled: every message not listed in `batchItemFailures`, or none when the invocation
    /// failed as a whole. Until then the clock stops short of the batch's visibility timeout.
    fn handle_batch(&self, batch: Vec<Message>, now: u64) {
        self.pollers.fetch_add(1, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let deadline = now + self.stack.visibility_timeout_seconds * 1000;
        self.batch_deadlines.lock().unwrap_or_else(|p| p.into_inner()).push(deadline);
        let deadlines = self.batch_deadlines.clone();
        let (world, pool, in_flight, kill) = (self.world.clone(), self.delete.clone(), self.in_flight.clone(), self.kill_after());
        let pollers = self.pollers.clone();
        tokio::spawn(async move {
            let ids: Vec<String> = batch.iter().map(|m| m.id.clone()).collect();
            let ended = pool.invoke(sqs_event(&batch), kill).await;
            if let Ok(Ended::Response(response)) = ended {
                let failed: Vec<&str> =
                    response["batchItemFailures"].as_array().into_iter().flatten().filter_map(|f| f["itemIdentifier"].as_str()).collect();
                let mut world = world.lock().unwrap_or_else(|p| p.into_inner());
                world.request_queue.retain(|m| !ids.contains(&m.id) || failed.contains(&m.id.as_str()));
            }
            let mut open = deadlines.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = open.iter().position(|d| *d == deadline) {
                open.remove(at);
            }
            drop(open);
            pollers.fetch_sub(1, Ordering::SeqCst);
            in_flight.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Runs the `DeleteInstance` task of each execution that is due, with the state machine's
    /// retriers (`IntervalSeconds`, `BackoffRate`, `MaxDelaySeconds`, full jitter) and its catch-all.
    fn dispatch_executions(&self, now: u64) {
        let due: Vec<Execution> = {
            let mut pending = self.pending_executions.lock().unwrap_or_else(|p| p.into_inner());
            let (due, later) = pending.drain(..).partition(|e| e.due_ms <= now);
            *pending = later;
            due
        };
        for mut execution in due {
            let payload = self.payload_of(execution.request);
            let (pool, clock, in_flight, kill) = (self.delete.clone(), self.clock.clone(), self.in_flight.clone(), self.kill_after());
            let (pending, executions, random, retriers) =
                (self.pending_executions.clone(), self.executions.clone(), self.random.clone(), self.stack.workflow_retriers.clone());
            in_flight.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let error = match pool.invoke(payload, kill).await {
                    Ok(Ended::Response(_)) => None,
                    // Step Functions reports a function that ended without an answer (a crash, a
                    // timeout, running out of memory) as `Lambda.Unknown`.
                    Ok(Ended::Error(error_type)) if ["Runtime.ExitError", "Sandbox.Timedout"].contains(&error_type.as_str()) => {
                        Some("Lambda.Unknown".to_owned())
                    }
                    Ok(Ended::Error(error_type)) => Some(error_type),
                    Err(e) => Some(format!("Harness: {e}")),
                };
                match error {
                    None => executions.lock().unwrap_or_else(|p| p.into_inner()).push((execution.request, Ok(()))),
                    Some(error) => {
                        let retrier = retriers.iter().position(|r| r.errors.iter().any(|e| *e == error || e == "States.ALL"));
                        match retrier.filter(|&r| execution.attempts[r] < retriers[r].max_attempts) {
                            Some(r) => {
                                let retrier = &retriers[r];
                                let mut wait = retrier.interval_seconds * retrier.backoff_rate.powi(execution.attempts[r] as i32);
                                wait = retrier.max_delay_seconds.map_or(wait, |max| wait.min(max));
                                let jitter = random.lock().unwrap_or_else(|p| p.into_inner()).unit();
                                execution.attempts[r] += 1;
                                execution.due_ms = clock.now_ms() + (wait * jitter * 1000.0) as u64;
                                pending.lock().unwrap_or_else(|p| p.into_inner()).push(execution);
                            }
                            None => executions.lock().unwrap_or_else(|p| p.into_inner()).push((execution.request, Err(error))),
                        }
                    }
                }
                in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    fn payload_of(&self, request: usize) -> Value {
        self.payloads.get(request).cloned().unwrap_or(Value::Null)
    }
}

/// An SQS event of the event source mapping, one record per message.
fn sqs_event(batch: &[Message]) -> Value {
    let records: Vec<Value> = batch
        .iter()
        .map(|m| {
            json!({
                "messageId": m.id, "receiptHandle": format!("handle-{}-{}", m.id, m.receive_count), "body": m.body,
                "attributes": {"ApproximateReceiveCount": m.receive_count.to_string(), "SentTimestamp": "0",
                               "SenderId": ACCOUNT, "ApproximateFirstReceiveTimestamp": "0"},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:requests"), "awsRegion": REGION,
            })
        })
        .collect();
    json!({"Records": records})
}
