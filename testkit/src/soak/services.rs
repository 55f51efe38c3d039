//! The AWS services the functions call besides Supply Chain and STS, served in this process so that
//! they follow the emulator's clock: EventBridge `PutEvents` (AWS JSON 1.1), SQS `SendMessage`
//! (AWS JSON 1.0, for the request queue's dead letters) and EventBridge Scheduler's
//! `CreateSchedule`, `GetSchedule` and `DeleteSchedule` (restJson1). The functions reach them
//! through the project's fault proxy ([`supplychain_emulator::FaultProxy`]), which injects the
//! faults; what is answered here is the service's ordinary answer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use supplychain_emulator::http::{self, Dropped, Request, Response, StopHandle};

use super::world::{Clock, DeadLetter, Schedule, World};
use crate::local::{ACCOUNT, REGION};

/// The queue URL the delete function sends a message that failed for good to (`DEAD_LETTER_QUEUE_URL`).
pub const REQUEST_DEAD_LETTER_QUEUE: &str = "requests-dlq";

/// The running server; it stops when dropped.
pub struct Services {
    pub addr: SocketAddr,
    _stop: StopHandle,
}

impl Services {
    pub async fn start(world: Arc<Mutex<World>>, clock: Clock) -> Result<Services, String> {
        let (listener, addr) = http::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.map_err(|e| e.to_string())?;
        let (stop_handle, stop) = http::stop_pair();
        let handler = move |request: Request| {
            let (world, clock) = (world.clone(), clock.clone());
            async move { Ok::<Response, Dropped>(answer(&world, &clock, &request)) }
        };
        tokio::spawn(http::serve(listener, handler, stop));
        Ok(Services { addr, _stop: stop_handle })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn answer(world: &Mutex<World>, clock: &Clock, request: &Request) -> Response {
    let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body: Value = serde_json::from_slice(request.body()).unwrap_or(Value::Null);
    let mut world = world.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match target.as_str() {
        "AWSEvents.PutEvents" => put_events(&mut world, clock, &body),
        "AmazonSQS.SendMessage" => send_message(&mut world, &body),
        "" => schedules(&mut world, clock, request.method().as_str(), request.uri().path(), &body),
        other => json_error(400, "UnknownOperationException", &format!("{other} is not served by the soak")),
    }
}

/// PutEvents: each entry becomes an event of the stack's account and region on the bus.
fn put_events(world: &mut World, clock: &Clock, body: &Value) -> Response {
    let mut answers = Vec::new();
    for entry in body["Entries"].as_array().into_iter().flatten() {
        let id = world.next_id("event");
        let detail: Value = entry["Detail"].as_str().and_then(|d| serde_json::from_str(d).ok()).unwrap_or(Value::Null);
        let event = json!({
            "version": "0", "id": id, "detail-type": entry["DetailType"], "source": entry["Source"], "account": ACCOUNT,
            "time": entry.get("Time").cloned().unwrap_or(Value::Null), "region": REGION,
            "resources": entry.get("Resources").cloned().unwrap_or_else(|| json!([])), "detail": detail,
        });
        world.put_event(event, clock.now_ms());
        answers.push(json!({"EventId": id}));
    }
    ok(json!({"FailedEntryCount": 0, "Entries": answers}))
}

/// SendMessage to the request queue's dead-letter queue, with the function's `errorType` attribute.
fn send_message(world: &mut World, body: &Value) -> Response {
    let url = body["QueueUrl"].as_str().unwrap_or_default();
    if !url.ends_with(REQUEST_DEAD_LETTER_QUEUE) {
        return json_error(400, "AWS.SimpleQueueService.NonExistentQueue", &format!("no queue {url}"));
    }
    let error_type = body["MessageAttributes"]["errorType"]["StringValue"].as_str().map(str::to_owned);
    world.request_dead_letters.push(DeadLetter { body: body["MessageBody"].as_str().unwrap_or_default().to_owned(), error_type });
    let id = world.next_id("message");
    ok(json!({"MessageId": id}))
}

fn schedules(world: &mut World, clock: &Clock, method: &str, path: &str, body: &Value) -> Response {
    let Some(name) = path.strip_prefix("/schedules/").map(decode) else {
        return rest_error(404, "ResourceNotFoundException", &format!("no route {method} {path}"));
    };
    match method {
        "POST" => {
            if world.schedules.contains_key(&name) {
                world.counters.schedule_conflicts += 1;
                return rest_error(409, "ConflictException", &format!("Schedule {name} already exists."));
            }
            let expression = body["ScheduleExpression"].as_str().unwrap_or_default();
            let Some(at_seconds) = at_expression_seconds(expression) else {
                return rest_error(400, "ValidationException", &format!("not a one-time expression: {expression}"));
            };
            // The checker reads the wall clock; Scheduler fires by the same clock, which the
            // emulator's is ahead of by what the soak moved it on.
            let due_ms = at_seconds * 1000 + clock.offset_ms();
            let input = body["Target"]["Input"].as_str().and_then(|i| serde_json::from_str(i).ok()).unwrap_or(Value::Null);
            world.schedules.insert(name.clone(), Schedule { due_ms, input, failed_deliveries: 0 });
            world.counters.schedules_created += 1;
            ok(json!({"ScheduleArn": format!("arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/soak/{name}")}))
        }
        "GET" => match world.schedules.get(&name) {
            Some(schedule) => ok(json!({
                "Name": name, "GroupName": "soak", "State": "ENABLED", "ScheduleExpression": format!("at({})", schedule.due_ms / 1000),
                "FlexibleTimeWindow": {"Mode": "OFF"}, "ActionAfterCompletion": "DELETE",
                "Target": {"Arn": super::stack::Function::Check.arn(), "RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/soak-scheduler"),
                           "Input": schedule.input.to_string()},
            })),
            None => rest_error(404, "ResourceNotFoundException", &format!("Schedule {name} does not exist.")),
        },
        "DELETE" => match world.schedules.remove(&name) {
            Some(_) => ok(json!({})),
            None => rest_error(404, "ResourceNotFoundException", &format!("Schedule {name} does not exist.")),
        },
        _ => rest_error(404, "ResourceNotFoundException", &format!("no route {method} {path}")),
    }
}

fn decode(label: &str) -> String {
    // Schedule names are letters, digits, `-`, `_` and `.`: nothing the SDK percent-encodes.
    label.to_owned()
}

/// `at(yyyy-mm-ddThh:mm:ss)` as epoch seconds (UTC).
pub fn at_expression_seconds(expression: &str) -> Option<u64> {
    let time = expression.strip_prefix("at(")?.strip_suffix(')')?;
    let (date, clock) = time.split_once('T')?;
    let date: Vec<i64> = date.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let clock: Vec<i64> = clock.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let ([year, month, day], [hour, minute, second]) = (<[i64; 3]>::try_from(date).ok()?, <[i64; 3]>::try_from(clock).ok()?);
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + hour * 3_600 + minute * 60 + second).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn ok(body: Value) -> Response {
    http::json_response(200, body.to_string().into_bytes(), &[("x-amzn-requestid", "soak".to_owned())])
}

fn json_error(status: u16, error_type: &str, message: &str) -> Response {
    let body = json!({"__type": error_type, "message": message});
    http::json_response(status, body.to_string().into_bytes(), &[("x-amzn-errortype", error_type.to_owned())])
}

fn rest_error(status: u16, error_type: &str, message: &str) -> Response {
    http::json_response(status, json!({"message": message}).to_string().into_bytes(), &[("x-amzn-errortype", error_type.to_owned())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_time_expressions_read_as_utc_seconds() {
        assert_eq!(at_expression_seconds("at(1970-01-01T00:00:10)"), Some(10));
        assert_eq!(at_expression_seconds("at(2024-02-29T12:00:00)"), Some(1_709_208_000));
        assert_eq!(at_expression_seconds("rate(5 minutes)"), None);
    }
}
