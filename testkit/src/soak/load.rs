//! The soak's load: requests of every shape and kind, the instances they name seeded in the
//! emulator (home and member account, protected, failing, fast and slow), and the instances
//! someone else deletes meanwhile.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use supplychain_emulator::{Emulator, SeedInstance};

use super::random::Random;

/// The member account whose instances 20 % of the requests name.
pub const MEMBER: &str = "210987654321";

/// What a request is, and so how it must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// An instance that is deleted: one `Deleted` announcement.
    Deleted,
    /// An instance whose deletion ends `DeleteFailed`: one `Deletion Failed` announcement.
    Failing,
    /// A protected instance: never sent DeleteInstance, the request in a dead-letter queue with
    /// `DeletionProtected`.
    Protected,
    /// Not a request: in a dead-letter queue with `InvalidInput`.
    Malformed,
    /// Deleted by someone else before the request arrives: announced `Deleted` with
    /// `instanceNotFound`, the request in a dead-letter queue with `InstanceNotFound`.
    GoneBefore,
    /// Deleted by someone else while the request is handled: announced `Deleted`.
    GoneDuring,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Deleted => "deleted",
            Kind::Failing => "ends DeleteFailed",
            Kind::Protected => "protected",
            Kind::Malformed => "malformed",
            Kind::GoneBefore => "deleted by someone else before",
            Kind::GoneDuring => "deleted by someone else meanwhile",
        }
    }
}

/// How a request reaches the delete function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shape {
    /// A `Supply Chain Instance Deletion Requested` event on the bus, through the stack's rule.
    EventBridge,
    /// A message of the request queue, through the event source mapping.
    Sqs,
    /// An asynchronous invocation of the function.
    Direct,
    /// The `DeletionWorkflow` state machine's `DeleteInstance` task (a synchronous invocation).
    StepFunctions,
}

impl Shape {
    pub const ALL: [Shape; 4] = [Shape::EventBridge, Shape::Sqs, Shape::Direct, Shape::StepFunctions];

    pub fn name(self) -> &'static str {
        match self {
            Shape::EventBridge => "EventBridge",
            Shape::Sqs => "SQS",
            Shape::Direct => "direct",
            Shape::StepFunctions => "Step Functions",
        }
    }
}

/// One request of the load.
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: Kind,
    pub shape: Shape,
    pub instance_id: Option<String>,
    pub member: bool,
    /// When it is sent, in milliseconds after the start.
    pub at_ms: u64,
    /// The request object (the SQS body, the event's detail, the payload), or a malformed one.
    pub payload: Value,
    /// The request it repeats.
    pub duplicate_of: Option<usize>,
}

/// The load and what the emulator must do meanwhile.
pub struct Load {
    pub requests: Vec<Request>,
    /// Instances someone else deletes, and when (milliseconds after the start).
    pub removals: Vec<(u64, String)>,
}

/// `count` requests over `spread_ms`, about 10 % of them repeats of others; of the rest 5 %
/// malformed, 5 % protected, 5 % failing, 1 % gone before, 1 % gone meanwhile, and 20 % of those
/// naming an instance in the member account.
pub fn generate(count: usize, spread_ms: u64, random: &mut Random) -> Load {
    let originals = count - count / 10;
    let mut requests: Vec<Request> = Vec::with_capacity(count);
    let mut removals = Vec::new();
    for n in 0..originals {
        let roll = random.below(100);
        let kind = match roll {
            0..=4 => Kind::Malformed,
            5..=9 => Kind::Protected,
            10..=14 => Kind::Failing,
            15 => Kind::GoneBefore,
            16 => Kind::GoneDuring,
            _ => Kind::Deleted,
        };
        let shape = Shape::ALL[random.below(4) as usize];
        let at_ms = spread_ms * n as u64 / originals as u64;
        let member = kind != Kind::Malformed && random.below(100) < 20;
        let instance_id = (kind != Kind::Malformed).then(|| random.uuid());
        let payload = match &instance_id {
            Some(id) if member => json!({"instanceId": id, "accountId": MEMBER, "requestedBy": format!("soak-{n}")}),
            Some(id) => json!({"instanceId": id, "requestedBy": format!("soak-{n}")}),
            None => malformed(random),
        };
        if let Some(id) = &instance_id {
            match kind {
                Kind::GoneBefore => removals.push((at_ms.saturating_sub(1), id.clone())),
                Kind::GoneDuring => removals.push((at_ms + random.below(120_000), id.clone())),
                _ => {}
            }
        }
        requests.push(Request { kind, shape, instance_id, member, at_ms, payload, duplicate_of: None });
    }
    for _ in originals..count {
        let original = random.below(originals as u64) as usize;
        let repeat = Request {
            shape: Shape::ALL[random.below(4) as usize],
            at_ms: requests[original].at_ms + random.below(300_000),
            duplicate_of: Some(original),
            ..requests[original].clone()
        };
        requests.push(repeat);
    }
    Load { requests, removals }
}

/// Requests no function may accept, each naming what a sender gets wrong.
fn malformed(random: &mut Random) -> Value {
    match random.below(4) {
        0 => json!({"instanceId": "not-a-uuid"}),
        1 => json!({"instance": "a string, not a record"}),
        2 => json!({"instanceId": "../../etc/passwd"}),
        _ => json!({"instanceId": random.uuid(), "dryRun": "yes"}),
    }
}

/// Seeds every instance the load names (once each): protected ones with the protection tag,
/// failing ones with a deletion that fails, about a third finishing within a check or two, the
/// others taking the emulator's delete delay.
pub fn seed(emulator: &Emulator, load: &Load, protection_tag: &str, random: &mut Random) {
    let mut seeded = BTreeMap::new();
    for request in load.requests.iter().filter(|r| r.duplicate_of.is_none()) {
        let Some(id) = &request.instance_id else { continue };
        let mut tags = BTreeMap::new();
        if request.kind == Kind::Protected {
            tags.insert(protection_tag.to_owned(), "true".to_owned());
        }
        let seed = SeedInstance {
            instance_id: Some(id.clone()),
            instance_name: Some(format!("soak-{}", seeded.len())),
            aws_account_id: request.member.then(|| MEMBER.to_owned()),
            tags,
            fail_deletion: (request.kind == Kind::Failing).then(|| "KMS key access was revoked".to_owned()),
            delete_polls: (random.below(3) == 0).then(|| random.below(2) as u32),
            ..Default::default()
        };
        emulator.seed(seed);
        seeded.insert(id.clone(), ());
    }
}
