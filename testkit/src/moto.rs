//! moto's server, started by `scripts/test`, standing in for EventBridge, EventBridge Scheduler, SQS
//! and KMS: a bus, a subscriber queue, a schedule group and a notice key of one's own, behind a
//! fault proxy.

use aws_config::SdkConfig;
use serde_json::Value;

use crate::local::{sdk_config, unique_name, ACCOUNT, SCHEDULER_ROLE_ARN, SECRET_ACCESS_KEY};

/// moto's server, started by `scripts/test`, standing in for EventBridge, EventBridge Scheduler and SQS.
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT_URL")
        .expect("MOTO_ENDPOINT_URL is not set: this test needs moto's server; run it with scripts/test, which installs and starts it")
}

/// A bus of its own for one test, with a rule delivering everything this project announces to an
/// SQS queue (read by the test as a subscriber would), and a schedule group of its own.
pub struct Moto {
    /// Where the functions send their calls: a fault proxy in front of moto, which forwards
    /// everything unless a test injects a fault.
    pub proxy: supplychain_emulator::FaultProxy,
    pub endpoint: String,
    pub bus: String,
    pub group: String,
    pub queue_url: String,
    /// The queue of the re-checks Scheduler could not deliver (`SCHEDULE_DEAD_LETTER_ARN`).
    pub schedule_dead_letter_arn: String,
    /// The HMAC key (`HMAC_256`, `GENERATE_VERIFY_MAC`) that signs the sweep's notice marks
    /// (`NOTICE_KEY_ID`), as the stack's `NoticeKey`.
    pub notice_key: String,
    pub sdk_config: SdkConfig,
    /// The functions' configuration, through the proxy.
    pub function_config: SdkConfig,
}

impl Moto {
    pub async fn start() -> Moto {
        let endpoint = moto_endpoint();
        let sdk_config = sdk_config(&endpoint, SECRET_ACCESS_KEY).await;
        let unique = unique_name();
        let (bus, group, queue) = (format!("bus-{unique}"), format!("group-{unique}"), format!("queue-{unique}"));
        let events = aws_sdk_eventbridge::Client::new(&sdk_config);
        let sqs = aws_sdk_sqs::Client::new(&sdk_config);
        let scheduler = aws_sdk_scheduler::Client::new(&sdk_config);
        events.create_event_bus().name(&bus).send().await.expect("create bus");
        let queue_url = sqs.create_queue().queue_name(&queue).send().await.expect("create queue").queue_url.unwrap();
        let subscriber_arn = queue_arn(&sqs, &queue_url).await;
        let dead_letters = sqs.create_queue().queue_name(format!("schedule-dlq-{unique}")).send().await.expect("create queue");
        let schedule_dead_letter_arn = queue_arn(&sqs, dead_letters.queue_url().unwrap()).await;
        events
            .put_rule()
            .name("announcements")
            .event_bus_name(&bus)
            .event_pattern(serde_json::json!({"source": ["supplychain-delete-instance"]}).to_string())
            .send()
            .await
            .expect("put rule");
        events
            .put_targets()
            .rule("announcements")
            .event_bus_name(&bus)
            .targets(aws_sdk_eventbridge::types::Target::builder().id("subscriber").arn(subscriber_arn).build().unwrap())
            .send()
            .await
            .expect("put targets");
        scheduler.create_schedule_group().name(&group).send().await.expect("create schedule group");
        let notice_key = aws_sdk_kms::Client::new(&sdk_config)
            .create_key()
            .key_spec(aws_sdk_kms::types::KeySpec::Hmac256)
            .key_usage(aws_sdk_kms::types::KeyUsageType::GenerateVerifyMac)
            .description(format!("notice marks of {unique}"))
            .send()
            .await
            .expect("create key")
            .key_metadata
            .expect("key metadata")
            .arn
            .expect("key arn");
        let proxy = supplychain_emulator::FaultProxy::start(&endpoint).await.expect("proxy starts");
        let function_config = self::sdk_config(&proxy.endpoint(), SECRET_ACCESS_KEY).await;
        Moto { proxy, endpoint, bus, group, queue_url, schedule_dead_letter_arn, notice_key, sdk_config, function_config }
    }

    /// Delivers the events of `source` too (for example the sweep's) to the subscriber queue.
    pub async fn subscribe(&self, source: &str) {
        self.subscribe_matching(&format!("from-{source}"), serde_json::json!({"source": [source]})).await;
    }

    /// Subscribes the queue to the events of the bus that match `pattern`, with the rule `rule`.
    pub async fn subscribe_matching(&self, rule: &str, pattern: Value) {
        let events = aws_sdk_eventbridge::Client::new(&self.sdk_config);
        let sqs = aws_sdk_sqs::Client::new(&self.sdk_config);
        let queue_arn = queue_arn(&sqs, &self.queue_url).await;
        events.put_rule().name(rule).event_bus_name(&self.bus).event_pattern(pattern.to_string()).send().await.expect("put rule");
        events
            .put_targets()
            .rule(rule)
            .event_bus_name(&self.bus)
            .targets(aws_sdk_eventbridge::types::Target::builder().id("subscriber").arn(queue_arn).build().unwrap())
            .send()
            .await
            .expect("put targets");
    }

    /// Every event delivered to the subscriber queue so far, as the subscriber receives them.
    pub async fn received(&self) -> Vec<Value> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk_config);
        let mut events = Vec::new();
        loop {
            let batch = sqs.receive_message().queue_url(&self.queue_url).max_number_of_messages(10).send().await.unwrap();
            let messages = batch.messages.unwrap_or_default();
            if messages.is_empty() {
                return events;
            }
            for message in messages {
                let mut event: Value = serde_json::from_str(message.body().unwrap()).unwrap();
                // EventBridge delivers the whole event, `account` (the sender) included; moto's default
                // input template for an SQS target leaves it out. moto's backend is the one account
                // every test stands in.
                if let Some(event) = event.as_object_mut().filter(|event| event.contains_key("detail-type")) {
                    event.entry("account").or_insert_with(|| Value::String(ACCOUNT.to_owned()));
                }
                events.push(event);
                sqs.delete_message().queue_url(&self.queue_url).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();
            }
        }
    }

    pub async fn schedule(&self, name: &str) -> Option<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput> {
        let scheduler = aws_sdk_scheduler::Client::new(&self.sdk_config);
        scheduler.get_schedule().name(name).group_name(&self.group).send().await.ok()
    }

    pub async fn schedule_names(&self) -> Vec<String> {
        let scheduler = aws_sdk_scheduler::Client::new(&self.sdk_config);
        let listed = scheduler.list_schedules().group_name(&self.group).send().await.unwrap();
        let mut names: Vec<String> = listed.schedules().iter().filter_map(|s| s.name().map(str::to_owned)).collect();
        names.sort();
        names
    }

    /// Fires a one-time schedule as Scheduler does: its input goes to the target, and the schedule
    /// is deleted after completion (`ActionAfterCompletion: DELETE`).
    pub async fn fire(&self, name: &str) -> Value {
        let schedule = self.schedule(name).await.unwrap_or_else(|| panic!("no schedule {name}"));
        let target = schedule.target().unwrap();
        assert_eq!(schedule.action_after_completion(), Some(&aws_sdk_scheduler::types::ActionAfterCompletion::Delete));
        let input = serde_json::from_str(target.input().unwrap()).unwrap();
        aws_sdk_scheduler::Client::new(&self.sdk_config).delete_schedule().name(name).group_name(&self.group).send().await.unwrap();
        input
    }

    /// The environment that wires a function binary to Supply Chain at `supply_chain_endpoint` and to
    /// this bus, schedule group, scheduler role and notice key, with EventBridge, Scheduler and KMS
    /// through the proxy.
    /// The sweep requests deletions at once (`NOTICE_HOURS=0`, the behaviour of a sweep without
    /// notice), so that a deletion it requests can be followed to its end in one run; the notice
    /// tests set their own `NOTICE_HOURS` after these, which wins.
    pub fn function_env(&self, supply_chain_endpoint: String) -> Vec<(&'static str, String)> {
        vec![
            ("NOTICE_HOURS", "0".to_owned()),
            ("AWS_ENDPOINT_URL_SUPPLYCHAIN", supply_chain_endpoint),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", self.proxy.endpoint()),
            ("AWS_ENDPOINT_URL_SCHEDULER", self.proxy.endpoint()),
            ("AWS_ENDPOINT_URL_KMS", self.proxy.endpoint()),
            ("NOTICE_KEY_ID", self.notice_key.clone()),
            ("EVENT_BUS_NAME", self.bus.clone()),
            ("SCHEDULE_GROUP", self.group.clone()),
            ("SCHEDULER_ROLE_ARN", SCHEDULER_ROLE_ARN.to_owned()),
            ("SCHEDULE_DEAD_LETTER_ARN", self.schedule_dead_letter_arn.clone()),
        ]
    }
}

/// The ARN of the queue at `queue_url`.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone()
}
