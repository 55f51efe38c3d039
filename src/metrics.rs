//! Metrics in CloudWatch embedded metric format (EMF): what one invocation counted, written at its
//! end as JSON lines on stdout. CloudWatch Logs extracts the metrics from the function's log stream,
//! so no API call is made and no permission is needed.
//!
//! The handlers record with one-line calls ([`count`], [`count_by`], [`seconds_by`], [`instance`])
//! into the recorder of the invocation they run in, which [`recorded`] opens around a handler and
//! flushes once when it ends, whatever its result: an SQS batch writes its metrics once, not once per
//! message. Outside [`recorded`] (the library's own tests) the calls do nothing. A line that cannot
//! be written is dropped: metrics never fail an invocation.
//!
//! The lines are JSON whatever `AWS_LAMBDA_LOG_FORMAT` says: CloudWatch reads EMF from any log event
//! that is a JSON object with an `_aws` member, in a JSON or a text log stream alike.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::config::ConfigError;
use crate::model::Outcome;

pub const NAMESPACE_VARIABLE: &str = "METRICS_NAMESPACE";
pub const DEFAULT_NAMESPACE: &str = "SupplyChainInstanceDeletion";

/// The dimension every metric carries: the Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`).
pub const FUNCTION_NAME: &str = "FunctionName";
/// The dimension of refusals and failed messages: the stable `errorType` (see `crate::error`).
pub const ERROR_TYPE: &str = "ErrorType";
/// The dimension of [`TIME_TO_DELETE`]: how the deletion ended (`Deleted`, `DeleteFailed`, `TimedOut`, ...).
pub const OUTCOME: &str = "Outcome";

/// Delete function: each request that ended with its instance's deletion under way (`DeleteInstance`
/// accepted; a redelivered request counts again, as it is announced again).
pub const DELETIONS_STARTED: &str = "DeletionsStarted";
/// Delete function: each request that started no deletion because of an error, by [`ERROR_TYPE`].
pub const DELETIONS_REFUSED: &str = "DeletionsRefused";
/// Delete function: each dry run answered.
pub const DRY_RUNS: &str = "DryRuns";
/// Checker: each deletion seen to its end as `Deleted` (or gone).
pub const DELETIONS_SUCCEEDED: &str = "DeletionsSucceeded";
/// Checker: each deletion that ended in `DeleteFailed` (or any other state than `Deleting`).
pub const DELETIONS_FAILED: &str = "DeletionsFailed";
/// Checker: each deletion still under way after `MAX_WAIT_SECONDS`.
pub const DELETIONS_TIMED_OUT: &str = "DeletionsTimedOut";
/// Checker: seconds from the start of a deletion to its announced end, by [`OUTCOME`].
pub const TIME_TO_DELETE: &str = "TimeToDelete";
/// Checker: each `GetInstance` made to look at a deletion.
pub const STATUS_CHECKS: &str = "StatusChecks";
/// Both: each announcement the event bus refused or could not take.
pub const ANNOUNCEMENTS_FAILED: &str = "AnnouncementsFailed";
/// Delete function: each SQS message listed in `batchItemFailures`, by [`ERROR_TYPE`].
pub const SQS_MESSAGES_FAILED: &str = "SqsMessagesFailed";
/// The dimension of [`INSTANCES_SKIPPED`]: the sweep's reason (`DeletionProtected`, `TagsUnreadable`, ...).
pub const REASON: &str = "Reason";
/// Sweep: instances decided on in one run.
pub const INSTANCES_EXAMINED: &str = "InstancesExamined";
/// Sweep: instances the policy selected for deletion in one run.
pub const INSTANCES_SELECTED: &str = "InstancesSelected";
/// Sweep: Deletion Requested events put on the bus in one run (delete mode).
pub const DELETIONS_REQUESTED: &str = "DeletionsRequested";
/// Sweep: selected instances beyond the cap, left for the next run (delete mode).
pub const DELETIONS_DEFERRED: &str = "DeletionsDeferred";
/// Sweep: instances skipped for a reason worth reporting, by [`REASON`].
pub const INSTANCES_SKIPPED: &str = "InstancesSkipped";
/// Sweep: seconds one run took, from its event to its report.
pub const SWEEP_DURATION: &str = "SweepDuration";
/// Sweep: instances marked for deletion after the notice, and their owners told, in one run.
pub const INSTANCES_MARKED: &str = "InstancesMarked";
/// Sweep: scheduled deletions cancelled (marks removed) because the policy no longer selects them.
pub const DELETIONS_CANCELLED: &str = "DeletionsCancelled";
/// Sweep: targets (account and region) that could not be swept, by [`ERROR_TYPE`].
pub const TARGETS_FAILED: &str = "TargetsFailed";

/// Every metric the functions write, with its CloudWatch unit: the dashboard's test reads this list.
pub const METRICS: &[(&str, &str)] = &[
    (DELETIONS_STARTED, "Count"),
    (DELETIONS_REFUSED, "Count"),
    (DRY_RUNS, "Count"),
    (DELETIONS_SUCCEEDED, "Count"),
    (DELETIONS_FAILED, "Count"),
    (DELETIONS_TIMED_OUT, "Count"),
    (TIME_TO_DELETE, "Seconds"),
    (STATUS_CHECKS, "Count"),
    (ANNOUNCEMENTS_FAILED, "Count"),
    (SQS_MESSAGES_FAILED, "Count"),
    (INSTANCES_EXAMINED, "Count"),
    (INSTANCES_SELECTED, "Count"),
    (DELETIONS_REQUESTED, "Count"),
    (DELETIONS_DEFERRED, "Count"),
    (INSTANCES_SKIPPED, "Count"),
    (SWEEP_DURATION, "Seconds"),
    (INSTANCES_MARKED, "Count"),
    (DELETIONS_CANCELLED, "Count"),
    (TARGETS_FAILED, "Count"),
];

/// Where the lines go and what they say about the function, read once.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    /// `METRICS_NAMESPACE` ([`DEFAULT_NAMESPACE`]).
    pub namespace: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`, the value of the [`FUNCTION_NAME`] dimension.
    pub function_name: String,
}

impl Settings {
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let namespace = get(NAMESPACE_VARIABLE).filter(|v| !v.is_empty()).unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        // CloudWatch's rules for a namespace; a line with another one is dropped without a word.
        let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
        if namespace.len() > 255 || !namespace.chars().all(allowed) || namespace.trim().is_empty() || namespace.starts_with("AWS/") {
            return Err(ConfigError(format!(
                "{NAMESPACE_VARIABLE}={namespace:?} is not a CloudWatch namespace: up to 255 of the characters \
                 A-Z a-z 0-9 . - _ / # : and space, not starting with \"AWS/\""
            )));
        }
        let function_name = get("AWS_LAMBDA_FUNCTION_NAME").filter(|v| !v.is_empty()).unwrap_or_else(|| "unknown".to_owned());
        Ok(Settings { namespace, function_name })
    }
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Reads the settings from the environment during init, so a bad `METRICS_NAMESPACE` stops the
/// function there with its message.
pub(crate) fn init_from_env() -> Result<(), ConfigError> {
    let settings = Settings::from_lookup(&|name| std::env::var(name).ok())?;
    let _ = SETTINGS.set(settings);
    Ok(())
}

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| {
        Settings::from_lookup(&|name| std::env::var(name).ok())
            .unwrap_or_else(|_| Settings { namespace: DEFAULT_NAMESPACE.to_owned(), function_name: "unknown".to_owned() })
    })
}

/// One group of metrics sharing a dimension value, written as one EMF line.
#[derive(Debug, Default)]
struct Group {
    counts: BTreeMap<&'static str, u64>,
    seconds: BTreeMap<&'static str, Vec<f64>>,
}

/// What one invocation recorded: groups keyed by their extra dimension (none, or one name and value).
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    groups: BTreeMap<Option<(&'static str, String)>, Group>,
    instances: Vec<String>,
}

impl Recorder {
    fn group(&mut self, dimension: Option<(&'static str, &str)>) -> &mut Group {
        self.groups.entry(dimension.map(|(name, value)| (name, value.to_owned()))).or_default()
    }

    /// The EMF documents of this invocation, one per dimension value, at `timestamp_ms`.
    pub fn documents(&self, settings: &Settings, request_id: &str, timestamp_ms: u64) -> Vec<Value> {
        let mut documents = Vec::new();
        for (dimension, group) in &self.groups {
            let mut document = Map::new();
            let mut dimensions = vec![json!([FUNCTION_NAME])];
            document.insert(FUNCTION_NAME.to_owned(), json!(settings.function_name));
            if let Some((name, value)) = dimension {
                // By the dimension, and over all its values, so a graph needs no SEARCH to sum them.
                dimensions.insert(0, json!([FUNCTION_NAME, name]));
                document.insert((*name).to_owned(), json!(value));
            }
            let mut metrics = Vec::new();
            for (name, count) in &group.counts {
                metrics.push(json!({"Name": name, "Unit": "Count"}));
                document.insert((*name).to_owned(), json!(count));
            }
            for (name, values) in &group.seconds {
                metrics.push(json!({"Name": name, "Unit": "Seconds"}));
                let value = if values.len() == 1 { json!(values[0]) } else { json!(values) };
                document.insert((*name).to_owned(), value);
            }
            // Properties: searchable in the logs, never dimensions (an instance id would make one
            // metric per instance).
            document.insert("requestId".to_owned(), json!(request_id));
            match self.instances.as_slice() {
                [] => {}
                [one] => {
                    document.insert("instanceId".to_owned(), json!(one));
                }
                many => {
                    document.insert("instanceIds".to_owned(), json!(many));
                }
            }
            document.insert(
                "_aws".to_owned(),
                json!({
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{"Namespace": settings.namespace, "Dimensions": dimensions, "Metrics": metrics}],
                }),
            );
            documents.push(Value::Object(document));
        }
        documents
    }
}

tokio::task_local! {
    static RECORDER: RefCell<Recorder>;
}

fn with(record: impl FnOnce(&mut Recorder)) {
    // Outside an invocation there is nothing to record into.
    let _ = RECORDER.try_with(|recorder| record(&mut recorder.borrow_mut()));
}

/// Adds `value` to the metric `name` of this invocation.
pub fn count(name: &'static str, value: u64) {
    with(|recorder| *recorder.group(None).counts.entry(name).or_default() += value);
}

/// Counts one of `name` under the dimension `dimension` = `value` (and over all its values).
pub fn count_by(name: &'static str, dimension: &'static str, value: &str) {
    with(|recorder| *recorder.group(Some((dimension, value))).counts.entry(name).or_default() += 1);
}

/// Records a duration in seconds.
pub fn seconds(name: &'static str, seconds: f64) {
    with(|recorder| recorder.group(None).seconds.entry(name).or_default().push(seconds));
}

/// Records a duration in seconds under the dimension `dimension` = `value` (and over all its values).
pub fn seconds_by(name: &'static str, dimension: &'static str, value: &str, seconds: f64) {
    with(|recorder| recorder.group(Some((dimension, value))).seconds.entry(name).or_default().push(seconds));
}

/// Names an instance this invocation is about: a property of its lines (`instanceId`, or
/// `instanceIds` when there were several), never a dimension.
pub fn instance(id: &str) {
    with(|recorder| {
        if !recorder.instances.iter().any(|known| known == id) {
            recorder.instances.push(id.to_owned());
        }
    });
}

/// Counts a request refused with `error`'s `errorType`.
pub fn refused(error: &crate::error::Error) {
    count_by(DELETIONS_REFUSED, ERROR_TYPE, error.error_type());
}

/// Counts a deletion seen to its end by how it ended (`Deleted`, `TimedOut`, or a failure), with
/// the time it took when the start is known.
pub fn finished(outcome: &Outcome, took: Option<std::time::Duration>) {
    let name = match outcome {
        Outcome::Deleted => DELETIONS_SUCCEEDED,
        Outcome::TimedOut => DELETIONS_TIMED_OUT,
        _ => DELETIONS_FAILED,
    };
    count(name, 1);
    if let Some(took) = took {
        seconds_by(TIME_TO_DELETE, OUTCOME, outcome.as_str(), took.as_secs_f64());
    }
}

/// Runs one invocation's handler with a recorder of its own, then writes what it recorded.
pub async fn recorded<F: Future>(request_id: &str, handler: F) -> F::Output {
    let (output, recorder) = RECORDER
        .scope(RefCell::new(Recorder::default()), async {
            let output = handler.await;
            (output, RECORDER.with(|recorder| recorder.take()))
        })
        .await;
    let timestamp_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default();
    write(&recorder.documents(settings(), request_id, timestamp_ms));
    output
}

/// One line per document, in one write so that concurrent invocations' lines never interleave.
fn write(documents: &[Value]) {
    if documents.is_empty() {
        return;
    }
    let mut text = String::new();
    for document in documents {
        text.push_str(&document.to_string());
        text.push('\n');
    }
    let mut stdout = std::io::stdout().lock();
    // Nowhere to report a failure to write: the log stream is where it would go.
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings { namespace: DEFAULT_NAMESPACE.to_owned(), function_name: "delete-instance".to_owned() }
    }

    #[test]
    fn a_namespace_cloudwatch_would_refuse_stops_init_naming_the_variable() {
        for bad in ["AWS/Lambda", "a\u{e9}", "   ", &"x".repeat(256)] {
            let error = Settings::from_lookup(&|name| (name == NAMESPACE_VARIABLE).then(|| bad.to_owned())).unwrap_err();
            assert!(error.to_string().contains(NAMESPACE_VARIABLE), "{error}");
        }
        let unset = Settings::from_lookup(&|_| None).unwrap();
        assert_eq!((unset.namespace.as_str(), unset.function_name.as_str()), (DEFAULT_NAMESPACE, "unknown"));
    }

    #[test]
    fn each_dimension_value_becomes_a_line_of_its_own_with_the_counts_summed() {
        let mut recorder = Recorder::default();
        *recorder.group(None).counts.entry(DELETIONS_STARTED).or_default() += 2;
        *recorder.group(Some((ERROR_TYPE, "InvalidInput"))).counts.entry(DELETIONS_REFUSED).or_default() += 1;
        *recorder.group(Some((ERROR_TYPE, "InvalidInput"))).counts.entry(DELETIONS_REFUSED).or_default() += 1;
        *recorder.group(Some((ERROR_TYPE, "Throttled"))).counts.entry(DELETIONS_REFUSED).or_default() += 1;
        let documents = recorder.documents(&settings(), "r-1", 1_700_000_000_000);
        assert_eq!(documents.len(), 3);
        assert_eq!(documents[0][DELETIONS_STARTED], 2);
        assert_eq!(documents[1][ERROR_TYPE], "InvalidInput");
        assert_eq!(documents[1][DELETIONS_REFUSED], 2);
        assert_eq!(documents[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[FUNCTION_NAME, ERROR_TYPE], [FUNCTION_NAME]]));
        assert_eq!(documents[2][ERROR_TYPE], "Throttled");
    }

    #[tokio::test]
    async fn calls_outside_an_invocation_record_nothing_and_do_not_panic() {
        count(DELETIONS_STARTED, 1);
        instance("x");
        let recorded = RECORDER
            .scope(RefCell::new(Recorder::default()), async {
                count(DRY_RUNS, 1);
                count(DRY_RUNS, 1);
                instance("a");
                instance("a");
                RECORDER.with(|r| r.take())
            })
            .await;
        assert_eq!(recorded.groups[&None].counts[DRY_RUNS], 2);
        assert_eq!(recorded.instances, ["a"]);
    }
}
