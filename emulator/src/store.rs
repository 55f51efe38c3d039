//! The emulated service state: instances, their lifecycle, tags, the STS sessions issued, fault
//! rules and the call log.
//!
//! Each instance lives in an account and a region; the API operations act in the [`Scope`] of
//! the call (the account of its credentials, the region of its signature) and see nothing else.
//!
//! Lifecycle transitions are computed lazily: whenever an instance is touched, [`Store::advance`]
//! applies every transition whose time has come (taking the emulator clock into account), stamping
//! each with the time it was due rather than the time it was noticed. No background task is needed,
//! and a test that advances the clock sees exactly the transitions a real wait would have produced.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::accounts::Session;
use crate::config::EmulatorConfig;
use crate::faults::Ledger;
use crate::model::{self, Instance};

/// One state change of an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChange {
    /// The state entered.
    pub state: String,
    /// When it was entered, epoch seconds.
    pub at: f64,
    /// The error message that came with it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// An instance to put into the emulator directly, bypassing CreateInstance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SeedInstance {
    /// The id; a random UUID when absent. Must match the model's UUID pattern.
    pub instance_id: Option<String>,
    /// The instance name.
    pub instance_name: Option<String>,
    /// The instance description.
    pub instance_description: Option<String>,
    /// The web application DNS label.
    pub web_app_dns_domain: Option<String>,
    /// The KMS key ARN.
    pub kms_key_arn: Option<String>,
    /// The owning account; the emulator's home account when absent.
    pub aws_account_id: Option<String>,
    /// The region the instance lives in; the emulator's home region when absent. Must be served.
    pub region: Option<String>,
    /// The starting state; `Active` when absent.
    pub state: Option<String>,
    /// The error message to show (useful with `CreateFailed` / `DeleteFailed` states).
    pub error_message: Option<String>,
    /// Tags on the instance.
    pub tags: BTreeMap<String, String>,
    /// When set, deletions end in `DeleteFailed` with this error message.
    pub fail_deletion: Option<String>,
    /// With `fail_deletion`: how many deletion attempts fail before one succeeds (all when absent).
    pub fail_deletion_attempts: Option<u32>,
    /// When set, a deletion finishes once this many GetInstance reads have returned `Deleting`,
    /// instead of after the configured delete delay.
    pub delete_polls: Option<u32>,
    /// How long before now (on the emulator clock) the instance was created: its `createdTime`.
    /// Now when absent. Relative, so that seeds do not depend on the day they are used.
    pub created_seconds_ago: Option<u64>,
}

/// An error answer of the API: status code, `x-amzn-errortype` and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// The error shape name.
    pub error_type: String,
    /// The message.
    pub message: String,
}

impl ApiError {
    fn new(status: u16, error_type: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, error_type: error_type.into(), message: message.into() }
    }

    /// 400 `ValidationException`.
    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "ValidationException", message)
    }

    /// 403 `AccessDeniedException`.
    pub fn access_denied(message: impl Into<String>) -> ApiError {
        ApiError::new(403, "AccessDeniedException", message)
    }

    /// 404 `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "ResourceNotFoundException", message)
    }

    /// 409 `ConflictException`.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(409, "ConflictException", message)
    }

    /// 404 `UnknownOperationException` for requests that match no operation.
    pub fn unknown_operation(method: &str, path: &str) -> ApiError {
        ApiError::new(404, "UnknownOperationException", format!("No operation matches {method} {path}"))
    }
}

/// Where a call acts: the account of its credentials, the region of its signature, and who signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    pub(crate) account_id: String,
    pub(crate) region: String,
    /// The principal, named in AccessDenied messages.
    pub(crate) caller_arn: String,
}

fn instance_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Instance {id} not found"))
}

/// The default page size of ListInstances when `maxResults` is absent or 0.
pub const DEFAULT_PAGE_SIZE: usize = 10;

struct Record {
    /// Creation order, used for listing and page tokens.
    seq: u64,
    instance: Instance,
    region: String,
    tags: BTreeMap<String, String>,
    /// When the current state was entered (emulator clock, since the epoch).
    entered: Duration,
    fail_deletion: Option<String>,
    fail_deletion_attempts: Option<u32>,
    delete_polls: Option<u32>,
    /// GetInstance reads that returned `Deleting` during the current deletion.
    polls_seen: u32,
}

/// All mutable emulator state, behind one lock.
pub(crate) struct Store {
    pub(crate) config: EmulatorConfig,
    clock_offset: Duration,
    instances: HashMap<String, Record>,
    next_seq: u64,
    histories: HashMap<String, Vec<StateChange>>,
    client_tokens: HashMap<String, String>,
    /// The sessions AssumeRole issued, by access key id (kept after they expire, to answer
    /// `ExpiredTokenException` rather than an unknown key).
    pub(crate) sessions: HashMap<String, Session>,
    /// The fault rules and the call log.
    pub(crate) ledger: Ledger,
}

fn secs(t: Duration) -> f64 {
    t.as_millis() as f64 / 1000.0
}

impl Store {
    pub(crate) fn new(config: EmulatorConfig) -> Store {
        Store {
            config,
            clock_offset: Duration::ZERO,
            instances: HashMap::new(),
            next_seq: 0,
            histories: HashMap::new(),
            client_tokens: HashMap::new(),
            sessions: HashMap::new(),
            ledger: Ledger::default(),
        }
    }

    /// Forgets every instance, history, session, fault rule and call, and resets the clock; the
    /// configuration (accounts and roles included) stays.
    pub(crate) fn reset(&mut self) {
        *self = Store::new(self.config.clone());
    }

    /// The emulator clock: wall time plus whatever the clock was advanced by.
    pub(crate) fn now(&self) -> Duration {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + self.clock_offset
    }

    pub(crate) fn advance_clock(&mut self, by: Duration) {
        self.clock_offset += by;
    }

    fn transition(
        histories: &mut HashMap<String, Vec<StateChange>>,
        record: &mut Record,
        state: &str,
        at: Duration,
        error_message: Option<String>,
    ) {
        record.instance.state = state.into();
        record.instance.error_message = error_message.clone();
        record.instance.last_modified_time = secs(at);
        record.entered = at;
        record.polls_seen = 0;
        histories.entry(record.instance.instance_id.clone()).or_default().push(StateChange {
            state: state.into(),
            at: secs(at),
            error_message,
        });
    }

    /// Applies due transitions to one instance; removes it once its retention has passed.
    /// Returns whether the instance still exists.
    fn advance(&mut self, id: &str) -> bool {
        let now = self.now();
        let config = &self.config;
        let Some(record) = self.instances.get_mut(id) else {
            return false;
        };
        loop {
            match record.instance.state.as_str() {
                "Initializing" if now >= record.entered + config.create_delay => {
                    let at = record.entered + config.create_delay;
                    Self::transition(&mut self.histories, record, "Active", at, None);
                }
                "Deleting" => {
                    let due = match record.delete_polls {
                        Some(polls) => (record.polls_seen >= polls).then_some(now),
                        None => {
                            let at = record.entered + config.delete_delay;
                            (now >= at).then_some(at)
                        }
                    };
                    let Some(at) = due else { return true };
                    let fails = record.fail_deletion.is_some() && record.fail_deletion_attempts.is_none_or(|left| left > 0);
                    if fails {
                        if let Some(left) = record.fail_deletion_attempts.as_mut() {
                            *left -= 1;
                        }
                        let message = record.fail_deletion.clone();
                        Self::transition(&mut self.histories, record, "DeleteFailed", at, message);
                    } else {
                        Self::transition(&mut self.histories, record, "Deleted", at, None);
                    }
                }
                "Deleted" if now >= record.entered + config.deleted_retention => {
                    self.instances.remove(id);
                    return false;
                }
                _ => return true,
            }
        }
    }

    fn live(&mut self, id: &str) -> Option<&mut Record> {
        self.live_with_history(id).map(|(record, _)| record)
    }

    /// Like `live`, only when the instance is in `scope`'s account and region: another account's
    /// or region's instance is not found, as on AWS, where each is a separate service endpoint
    /// and data store.
    fn live_in(&mut self, id: &str, scope: &Scope) -> Option<&mut Record> {
        self.live(id).filter(|r| r.instance.aws_account_id == scope.account_id && r.region == scope.region)
    }

    /// The region and account of a live instance.
    pub(crate) fn placement(&mut self, id: &str) -> Option<(String, String)> {
        self.live(id).map(|r| (r.region.clone(), r.instance.aws_account_id.clone()))
    }

    /// Like `live`, also lending the histories so the caller can record a transition.
    fn live_with_history(&mut self, id: &str) -> Option<(&mut Record, &mut HashMap<String, Vec<StateChange>>)> {
        if self.advance(id) {
            let histories = &mut self.histories;
            self.instances.get_mut(id).map(|record| (record, histories))
        } else {
            None
        }
    }

    /// The current state of an instance, after due transitions.
    pub(crate) fn instance(&mut self, id: &str) -> Option<Instance> {
        self.live(id).map(|r| r.instance.clone())
    }

    /// All live instances in creation order.
    pub(crate) fn all_instances(&mut self) -> Vec<Instance> {
        let ids: Vec<String> = self.instances.keys().cloned().collect();
        let mut live: Vec<(u64, Instance)> = ids.iter().filter_map(|id| self.live(id).map(|r| (r.seq, r.instance.clone()))).collect();
        live.sort_by_key(|(seq, _)| *seq);
        live.into_iter().map(|(_, i)| i).collect()
    }

    pub(crate) fn history(&mut self, id: &str) -> Vec<StateChange> {
        self.advance(id);
        self.histories.get(id).cloned().unwrap_or_default()
    }

    pub(crate) fn tags(&mut self, id: &str) -> Option<BTreeMap<String, String>> {
        self.live(id).map(|r| r.tags.clone())
    }

    /// Forces a state, as if the service had moved the instance there now.
    pub(crate) fn set_state(&mut self, id: &str, state: &str, error_message: Option<String>) -> bool {
        let now = self.now();
        match self.live_with_history(id) {
            Some((record, histories)) => {
                Self::transition(histories, record, state, now, error_message);
                true
            }
            None => false,
        }
    }

    pub(crate) fn remove(&mut self, id: &str) -> bool {
        self.instances.remove(id).is_some()
    }

    /// Validates a seed and inserts the instance it describes, replacing any with the same id.
    pub(crate) fn seed(&mut self, seed: SeedInstance) -> Result<Instance, String> {
        let id = seed.instance_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        model::validate_uuid(&id, "instanceId")?;
        let state = seed.state.clone().unwrap_or_else(|| "Active".into());
        model::validate_state(&state, "state")?;
        let account = seed.aws_account_id.clone().unwrap_or_else(|| self.config.account_id.clone());
        model::validate_account_id(&account, "awsAccountId")?;
        let region = seed.region.clone().unwrap_or_else(|| self.config.region.clone());
        let served = self.config.regions();
        if !served.contains(&region) {
            return Err(format!(
                "region '{region}' is not served by the emulator (served: {}); add it to extra_regions",
                served.join(", ")
            ));
        }
        if let Some(name) = &seed.instance_name {
            model::validate_instance_name(name, "instanceName")?;
        }
        if let Some(description) = &seed.instance_description {
            model::validate_description(description, "instanceDescription")?;
        }
        if let Some(domain) = &seed.web_app_dns_domain {
            model::validate_dns_domain(domain, "webAppDnsDomain")?;
        }
        if let Some(kms) = &seed.kms_key_arn {
            model::validate_kms_key_arn(kms, "kmsKeyArn")?;
        }
        validate_tags(&seed.tags)?;
        let now = self.now();
        let instance = Instance {
            instance_id: id.clone(),
            aws_account_id: account,
            state: state.clone(),
            error_message: seed.error_message.clone(),
            web_app_dns_domain: seed.web_app_dns_domain,
            created_time: secs(now.saturating_sub(Duration::from_secs(seed.created_seconds_ago.unwrap_or(0)))),
            last_modified_time: secs(now),
            instance_name: seed.instance_name,
            instance_description: seed.instance_description,
            kms_key_arn: seed.kms_key_arn,
            version_number: Some(1.0),
        };
        self.insert(instance.clone(), region, seed.tags, now);
        let record = self.instances.get_mut(&id).expect("just inserted");
        record.fail_deletion = seed.fail_deletion;
        record.fail_deletion_attempts = seed.fail_deletion_attempts;
        record.delete_polls = seed.delete_polls;
        Ok(instance)
    }

    fn insert(&mut self, instance: Instance, region: String, tags: BTreeMap<String, String>, now: Duration) {
        let id = instance.instance_id.clone();
        self.next_seq += 1;
        self.histories.insert(
            id.clone(),
            vec![StateChange { state: instance.state.clone(), at: secs(now), error_message: instance.error_message.clone() }],
        );
        self.instances.insert(
            id,
            Record {
                seq: self.next_seq,
                instance,
                region,
                tags,
                entered: now,
                fail_deletion: None,
                fail_deletion_attempts: None,
                delete_polls: None,
                polls_seen: 0,
            },
        );
    }

    // ----- API operations -------------------------------------------------------------------

    pub(crate) fn create_instance(&mut self, body: &Map<String, Value>, scope: &Scope) -> Result<Value, ApiError> {
        let name = optional_string(body, "instanceName")?;
        let description = optional_string(body, "instanceDescription")?;
        let kms = optional_string(body, "kmsKeyArn")?;
        let domain = optional_string(body, "webAppDnsDomain")?;
        let token = optional_string(body, "clientToken")?;
        let tags = optional_tags(body)?.unwrap_or_default();
        if let Some(v) = &name {
            model::validate_instance_name(v, "instanceName").map_err(ApiError::validation)?;
        }
        if let Some(v) = &description {
            model::validate_description(v, "instanceDescription").map_err(ApiError::validation)?;
        }
        if let Some(v) = &kms {
            model::validate_kms_key_arn(v, "kmsKeyArn").map_err(ApiError::validation)?;
        }
        if let Some(v) = &domain {
            model::validate_dns_domain(v, "webAppDnsDomain").map_err(ApiError::validation)?;
        }
        if let Some(v) = &token {
            model::validate_client_token(v, "clientToken").map_err(ApiError::validation)?;
        }
        validate_tags(&tags).map_err(ApiError::validation)?;

        // The operation is idempotent on its client token, in each account and region: a retry
        // returns the same instance.
        let token = token.map(|t| format!("{}/{}/{t}", scope.account_id, scope.region));
        if let Some(existing) = token.as_ref().and_then(|t| self.client_tokens.get(t)).cloned() {
            if let Some(record) = self.live_in(&existing, scope) {
                return Ok(json!({ "instance": record.instance }));
            }
        }
        let now = self.now();
        let instance = Instance {
            instance_id: uuid::Uuid::new_v4().to_string(),
            aws_account_id: scope.account_id.clone(),
            state: "Initializing".into(),
            error_message: None,
            web_app_dns_domain: domain,
            created_time: secs(now),
            last_modified_time: secs(now),
            instance_name: name,
            instance_description: description,
            kms_key_arn: kms,
            version_number: Some(1.0),
        };
        if let Some(t) = token {
            self.client_tokens.insert(t, instance.instance_id.clone());
        }
        self.insert(instance.clone(), scope.region.clone(), tags, now);
        Ok(json!({ "instance": instance }))
    }

    pub(crate) fn get_instance(&mut self, id: &str, scope: &Scope) -> Result<Value, ApiError> {
        model::validate_uuid(id, "instanceId").map_err(ApiError::validation)?;
        let record = self.live_in(id, scope).ok_or_else(|| instance_not_found(id))?;
        let answer = json!({ "instance": record.instance });
        // Reads that show `Deleting` count towards a seeded `deletePolls`.
        if record.instance.state == "Deleting" && record.delete_polls.is_some() {
            record.polls_seen += 1;
        }
        Ok(answer)
    }

    pub(crate) fn delete_instance(&mut self, id: &str, scope: &Scope) -> Result<Value, ApiError> {
        model::validate_uuid(id, "instanceId").map_err(ApiError::validation)?;
        let now = self.now();
        self.live_in(id, scope).ok_or_else(|| instance_not_found(id))?;
        let (record, histories) = self.live_with_history(id).ok_or_else(|| instance_not_found(id))?;
        match record.instance.state.as_str() {
            "Initializing" => {
                Err(ApiError::conflict(format!("Instance {id} is still Initializing and cannot be deleted until it is Active")))
            }
            // DeleteInstance is idempotent: a deletion under way or finished is simply reported.
            "Deleting" | "Deleted" => Ok(json!({ "instance": record.instance })),
            _ => {
                Self::transition(histories, record, "Deleting", now, None);
                Ok(json!({ "instance": record.instance }))
            }
        }
    }

    pub(crate) fn update_instance(&mut self, id: &str, body: &Map<String, Value>, scope: &Scope) -> Result<Value, ApiError> {
        model::validate_uuid(id, "instanceId").map_err(ApiError::validation)?;
        let name = optional_string(body, "instanceName")?;
        let description = optional_string(body, "instanceDescription")?;
        if let Some(v) = &name {
            model::validate_instance_name(v, "instanceName").map_err(ApiError::validation)?;
        }
        if let Some(v) = &description {
            model::validate_description(v, "instanceDescription").map_err(ApiError::validation)?;
        }
        let now = self.now();
        let record = self.live_in(id, scope).ok_or_else(|| instance_not_found(id))?;
        if matches!(record.instance.state.as_str(), "Deleting" | "Deleted") {
            return Err(ApiError::conflict(format!("Instance {id} is {} and cannot be updated", record.instance.state)));
        }
        if name.is_some() {
            record.instance.instance_name = name;
        }
        if description.is_some() {
            record.instance.instance_description = description;
        }
        record.instance.last_modified_time = secs(now);
        Ok(json!({ "instance": record.instance }))
    }

    pub(crate) fn list_instances(&mut self, query: &[(String, String)], scope: &Scope) -> Result<Value, ApiError> {
        let ListQuery { after, page_size, names, states } = ListQuery::parse(query)?;
        let ids: Vec<String> = self.instances.keys().cloned().collect();
        let mut matching: Vec<(u64, Instance)> = ids
            .iter()
            .filter_map(|id| self.live_in(id, scope).map(|r| (r.seq, r.instance.clone())))
            .filter(|(seq, _)| *seq > after)
            .filter(|(_, i)| names.is_empty() || i.instance_name.as_ref().is_some_and(|n| names.contains(n)))
            .filter(|(_, i)| states.is_empty() || states.contains(&i.state))
            .collect();
        matching.sort_by_key(|(seq, _)| *seq);
        let more = matching.len() > page_size;
        matching.truncate(page_size);
        let mut answer = Map::new();
        if more {
            let last = matching.last().map(|(seq, _)| *seq).unwrap_or(after);
            answer.insert("nextToken".into(), Value::String(encode_token(last)));
        }
        let instances: Vec<Instance> = matching.into_iter().map(|(_, i)| i).collect();
        answer.insert("instances".into(), json!(instances));
        Ok(Value::Object(answer))
    }

    /// Resolves a resource ARN (already percent-decoded) to a live instance id of `scope`.
    ///
    /// An ARN naming another account is refused with AccessDeniedException, as AWS does: IAM
    /// authorizes the call against the resource ARN before the service looks anything up, and a
    /// Supply Chain instance has no resource-based policy, so no principal of one account is ever
    /// allowed on another account's ARN. An ARN naming another region is looked up in the call's
    /// region and not found, as the instance lives behind another regional endpoint.
    fn resource(&mut self, arn: &str, operation: &str, scope: &Scope) -> Result<String, ApiError> {
        let parsed = model::parse_resource_arn(arn, "resourceArn").map_err(ApiError::validation)?;
        if parsed.account.as_ref().is_some_and(|a| *a != scope.account_id) {
            return Err(ApiError::access_denied(format!(
                "User: {} is not authorized to perform: scn:{operation} on resource: {arn} because no resource-based policy allows the scn:{operation} action",
                scope.caller_arn
            )));
        }
        let not_found = || ApiError::not_found(format!("Resource {arn} not found"));
        if parsed.region.as_ref().is_some_and(|r| *r != scope.region) {
            return Err(not_found());
        }
        self.live_in(&parsed.instance_id, scope).ok_or_else(not_found)?;
        Ok(parsed.instance_id)
    }

    pub(crate) fn tag_resource(&mut self, arn: &str, body: &Map<String, Value>, scope: &Scope) -> Result<Value, ApiError> {
        let tags = optional_tags(body)?.ok_or_else(|| ApiError::validation(model::missing("tags")))?;
        validate_tags(&tags).map_err(ApiError::validation)?;
        let id = self.resource(arn, "TagResource", scope)?;
        let record = self.instances.get_mut(&id).expect("resource is live");
        record.tags.extend(tags);
        Ok(json!({}))
    }

    pub(crate) fn untag_resource(&mut self, arn: &str, query: &[(String, String)], scope: &Scope) -> Result<Value, ApiError> {
        let keys: Vec<&String> = query.iter().filter(|(k, _)| k == "tagKeys").map(|(_, v)| v).collect();
        // `tagKeys` is a required query list: at least one occurrence must be present.
        if keys.is_empty() {
            return Err(ApiError::validation(model::missing("tagKeys")));
        }
        model::validate_count(keys.len(), "tagKeys", 200).map_err(ApiError::validation)?;
        for key in &keys {
            model::validate_tag_key(key, "tagKeys.member").map_err(ApiError::validation)?;
        }
        let id = self.resource(arn, "UntagResource", scope)?;
        let record = self.instances.get_mut(&id).expect("resource is live");
        for key in keys {
            record.tags.remove(key);
        }
        Ok(json!({}))
    }

    pub(crate) fn list_tags_for_resource(&mut self, arn: &str, scope: &Scope) -> Result<Value, ApiError> {
        let id = self.resource(arn, "ListTagsForResource", scope)?;
        let tags = self.tags(&id).unwrap_or_default();
        Ok(json!({ "tags": tags }))
    }
}

/// What a ListInstances call asks for, from its query string, checked against the model.
struct ListQuery {
    /// The sequence number the page starts after (from `nextToken`; 0 for the first page).
    after: u64,
    page_size: usize,
    /// `instanceNameFilter`: only instances of these names, when not empty.
    names: Vec<String>,
    /// `instanceStateFilter`: only instances in these states, when not empty.
    states: Vec<String>,
}

impl ListQuery {
    fn parse(query: &[(String, String)]) -> Result<ListQuery, ApiError> {
        let mut next_token = None;
        let mut max_results = None;
        let mut names = Vec::new();
        let mut states = Vec::new();
        for (key, value) in query {
            match key.as_str() {
                "nextToken" => next_token = Some(value.clone()),
                "maxResults" => max_results = Some(parse_max_results(value)?),
                "instanceNameFilter" => {
                    model::validate_instance_name(value, "instanceNameFilter.member").map_err(ApiError::validation)?;
                    names.push(value.clone());
                }
                "instanceStateFilter" => {
                    model::validate_state(value, "instanceStateFilter.member").map_err(ApiError::validation)?;
                    states.push(value.clone());
                }
                _ => {}
            }
        }
        model::validate_count(names.len(), "instanceNameFilter", 10).map_err(ApiError::validation)?;
        model::validate_count(states.len(), "instanceStateFilter", 6).map_err(ApiError::validation)?;
        let after = match &next_token {
            None => 0,
            Some(token) => decode_token(token).ok_or_else(|| ApiError::validation(format!("The nextToken '{token}' is not valid")))?,
        };
        let page_size = match max_results {
            None | Some(0) => DEFAULT_PAGE_SIZE,
            Some(n) => n,
        };
        Ok(ListQuery { after, page_size, names, states })
    }
}

/// `maxResults`: an integer from 0 to 20.
fn parse_max_results(value: &str) -> Result<usize, ApiError> {
    let n: i64 = value.parse().map_err(|_| ApiError::validation(model::violation(value, "maxResults", "Member must be an integer")))?;
    if !(0..=20).contains(&n) {
        let bound =
            if n < 0 { "Member must have value greater than or equal to 0" } else { "Member must have value less than or equal to 20" };
        return Err(ApiError::validation(model::violation(value, "maxResults", bound)));
    }
    Ok(n as usize)
}

fn optional_string(body: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::validation(model::violation(&other.to_string(), field, "Member must be a string"))),
    }
}

fn optional_tags(body: &Map<String, Value>) -> Result<Option<BTreeMap<String, String>>, ApiError> {
    match body.get("tags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => {
            let mut tags = BTreeMap::new();
            for (k, v) in map {
                let Value::String(v) = v else {
                    return Err(ApiError::validation(model::violation(&v.to_string(), &format!("tags.{k}"), "Member must be a string")));
                };
                tags.insert(k.clone(), v.clone());
            }
            Ok(Some(tags))
        }
        Some(other) => Err(ApiError::validation(model::violation(&other.to_string(), "tags", "Member must be a map of strings"))),
    }
}

fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), String> {
    model::validate_count(tags.len(), "tags", 200)?;
    for (k, v) in tags {
        model::validate_tag_key(k, "tags.key")?;
        model::validate_tag_value(v, &format!("tags.{k}"))?;
    }
    Ok(())
}

/// Page tokens are opaque to clients: the hex form of the last creation sequence number served.
fn encode_token(seq: u64) -> String {
    hex::encode(format!("scn-page:{seq}"))
}

fn decode_token(token: &str) -> Option<u64> {
    if token.is_empty() || token.len() > 1024 {
        return None;
    }
    let bytes = hex::decode(token).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("scn-page:")?.parse().ok()
}
