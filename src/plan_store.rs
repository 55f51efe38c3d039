//! The adapter to the stack's S3 bucket of organization sweep plans and results: the plan's targets
//! written as JSON Lines for the Distributed Map's `ItemReader`, and the files of its
//! `ResultWriter` read back for the summary, one child execution at a time, so that neither the
//! state machine's states nor the function's memory hold a list that grows with the organization.

use std::io::Read;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::{Buf, Bytes};
use serde::de::{DeserializeOwned, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::deadline::Budget;
use crate::error::Error;
pub use crate::model::S3Location;

/// The `manifest.json` a Distributed Map's `ResultWriter` writes: where the files of its child
/// executions are, by how they ended.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Manifest {
    destination_bucket: String,
    result_files: ResultFiles,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
struct ResultFiles {
    #[serde(default)]
    succeeded: Vec<ResultFile>,
    #[serde(default)]
    failed: Vec<ResultFile>,
    /// Children not run: the Map failed, or was stopped, before them.
    #[serde(default)]
    pending: Vec<ResultFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResultFile {
    key: String,
}

/// One child execution, as a `ResultWriter` file lists it: its input and output as JSON text, or
/// the error it failed with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChildExecution {
    pub status: String,
    #[serde(default)]
    pub input: Option<String>,
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
}

/// The bucket, with the SDK client built once at init.
#[derive(Debug, Clone)]
pub struct PlanStore {
    client: Client,
    bucket: String,
}

impl PlanStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        PlanStore { client, bucket: bucket.into() }
    }

    /// Writes `items` as JSON Lines (one JSON object a line) at `key`.
    pub async fn put_lines<T: Serialize>(&self, key: &str, items: &[T], budget: &Budget) -> Result<S3Location, Error> {
        let mut body = Vec::with_capacity(items.len() * 96);
        for item in items {
            serde_json::to_writer(&mut body, item).map_err(|e| Error::Unexpected(format!("a line of {key} not written: {e}")))?;
            body.push(b'\n');
        }
        self.put_jsonl(key, body, budget).await
    }

    /// Writes `body`, JSON Lines already written, at `key`.
    pub async fn put_jsonl(&self, key: &str, body: Vec<u8>, budget: &Budget) -> Result<S3Location, Error> {
        const OP: &str = "PutObject";
        let call =
            self.client.put_object().bucket(&self.bucket).key(key).content_type("application/jsonl").body(ByteStream::from(body)).send();
        budget.within(OP, call).await?.map_err(|e| Error::from_s3(OP, e))?;
        Ok(S3Location { bucket: self.bucket.clone(), key: key.to_owned() })
    }

    /// Reads the `manifest` of a Map's results, then every child execution of its files, each
    /// handed to `each` as it is read. Only the stack's own bucket is read, and in it only the
    /// manifest and files under `prefix` (a run's own results, `results/<sweepId>/`): anything else
    /// is `InvalidInput`, before a file is read. Children still pending (the Map did not run them)
    /// fail the read: a summary must not count them as swept.
    pub async fn each_child<A: Send + 'static>(
        &self,
        manifest: &S3Location,
        prefix: &str,
        mut acc: A,
        each: fn(&mut A, ChildExecution),
        budget: &Budget,
    ) -> Result<A, Error> {
        let elsewhere = |what: &str, bucket: &str, key: &str| {
            Error::InvalidInput(format!(
                "{what} is s3://{bucket}/{key}, but only the run's own results are read: those under s3://{}/{prefix}",
                self.bucket
            ))
        };
        if manifest.bucket != self.bucket || !manifest.key.starts_with(prefix) {
            return Err(elsewhere("the results manifest", &manifest.bucket, &manifest.key));
        }
        let text = self.get(&manifest.key, budget).await?;
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| Error::Unexpected(format!("the results manifest {} is not a ResultWriter manifest: {e}", manifest.key)))?;
        if !manifest.result_files.pending.is_empty() {
            return Err(Error::Unexpected(format!(
                "{} results files of pending children are listed: the Map did not run every target",
                manifest.result_files.pending.len()
            )));
        }
        let files = manifest.result_files.succeeded.iter().chain(&manifest.result_files.failed);
        if let Some(file) = files.clone().find(|file| manifest.destination_bucket != self.bucket || !file.key.starts_with(prefix)) {
            return Err(elsewhere("a results file the manifest names", &manifest.destination_bucket, &file.key));
        }
        for file in files {
            acc = self.fold_array(&file.key, acc, each, budget).await?;
        }
        Ok(acc)
    }

    /// Folds the JSON array at `key` into `acc` as its body arrives: the chunks go to a parser on a
    /// blocking thread, so that neither the body nor the list is ever held whole (a results file
    /// of 100,000 children is tens of megabytes, against a function of 128 MB).
    async fn fold_array<A, T>(&self, key: &str, acc: A, each: fn(&mut A, T), budget: &Budget) -> Result<A, Error>
    where
        A: Send + 'static,
        T: DeserializeOwned + 'static,
    {
        const OP: &str = "GetObject";
        let mut body = self.open(key, budget).await?;
        let (chunks, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(8);
        let parser = tokio::task::spawn_blocking(move || {
            let reader = std::io::BufReader::new(Chunks { receiver, current: Bytes::new() });
            let mut deserializer = serde_json::Deserializer::from_reader(reader);
            let acc = deserializer.deserialize_seq(Fold { acc, each })?;
            deserializer.end()?;
            Ok::<A, serde_json::Error>(acc)
        });
        // Why the body stopped before its end, if it did: then that is the error, retryable, and
        // not the parser's complaint about a cut document.
        let mut cut = None;
        loop {
            let chunk = match budget.within(OP, body.next()).await {
                Ok(Some(Ok(chunk))) => chunk,
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    cut = Some(Error::ServiceUnavailable(format!("{OP} of {key}: the body was cut: {e}")));
                    break;
                }
                Err(timeout) => {
                    cut = Some(timeout);
                    break;
                }
            };
            // The parser stops taking chunks once it has failed; its error says why.
            if chunks.send(Ok(chunk)).await.is_err() {
                break;
            }
        }
        if let Some(error) = &cut {
            // Ends the parser's read with an error rather than with what looks like the end.
            let _ = chunks.send(Err(error.to_string())).await;
        }
        drop(chunks);
        let parsed = parser.await.map_err(|e| Error::Unexpected(format!("the reader of {key} stopped: {e}")))?;
        match (cut, parsed) {
            (Some(error), _) => Err(error),
            (None, parsed) => {
                parsed.map_err(|e| Error::Unexpected(format!("the results file {key} is not a JSON array of executions: {e}")))
            }
        }
    }

    /// The object at `key`, as UTF-8 text (an input the operator put in the bucket).
    pub async fn get_text(&self, key: &str, budget: &Budget) -> Result<String, Error> {
        String::from_utf8(self.get(key, budget).await?).map_err(|_| Error::InvalidInput(format!("{key} is not UTF-8 text")))
    }

    async fn get(&self, key: &str, budget: &Budget) -> Result<Vec<u8>, Error> {
        const OP: &str = "GetObject";
        let body = budget
            .within(OP, self.open(key, budget).await?.collect())
            .await?
            .map_err(|e| Error::ServiceUnavailable(format!("{OP} of {key}: the body was cut: {e}")))?;
        Ok(body.to_vec())
    }

    /// GetObject of `key`, the one call every read makes: the body, still to be read, or the
    /// call's error classified.
    async fn open(&self, key: &str, budget: &Budget) -> Result<ByteStream, Error> {
        const OP: &str = "GetObject";
        let call = self.client.get_object().bucket(&self.bucket).key(key).send();
        let output = budget.within(OP, call).await?.map_err(|e| Error::from_s3(OP, e))?;
        Ok(output.body)
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

/// The chunks of a body, read as one stream.
struct Chunks {
    receiver: tokio::sync::mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(error)) => return Err(std::io::Error::other(error)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// Folds the elements of a JSON array into `acc`, one at a time, never holding the whole list.
struct Fold<A, T> {
    acc: A,
    each: fn(&mut A, T),
}

impl<'de, A, T: DeserializeOwned> Visitor<'de> for Fold<A, T> {
    type Value = A;
    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON array")
    }
    fn visit_seq<S: SeqAccess<'de>>(mut self, mut seq: S) -> Result<A, S::Error> {
        while let Some(item) = seq.next_element::<T>()? {
            (self.each)(&mut self.acc, item);
        }
        Ok(self.acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_results_file_is_folded_one_execution_at_a_time() {
        let text = br#"[{"Status": "SUCCEEDED", "Input": "{}", "Output": "{\"a\":1}", "StartDate": "x"},
                        {"Status": "FAILED", "Input": "{}", "Error": "States.Timeout", "Cause": "late"}]"#;
        let read = |text: &[u8]| {
            let mut deserializer = serde_json::Deserializer::from_slice(text);
            let each: fn(&mut Vec<ChildExecution>, ChildExecution) = |seen, child| seen.push(child);
            deserializer.deserialize_seq(Fold { acc: Vec::new(), each })
        };
        let seen = read(text).unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!((seen[0].status.as_str(), seen[0].output.as_deref()), ("SUCCEEDED", Some("{\"a\":1}")));
        assert_eq!((seen[1].error.as_deref(), seen[1].cause.as_deref()), (Some("States.Timeout"), Some("late")));
        assert!(read(b"{}").is_err());
    }

    /// A bucket on a local server that answers every GetObject with `head` and `body`, then
    /// closes the connection.
    async fn store_answering(head: &'static str, body: &'static str) -> PlanStore {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket.write_all(format!("{head}{body}").as_bytes()).await;
            }
        });
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new("local", "local", None, None, "test"))
            .build();
        PlanStore::new(Client::from_conf(config), "plans")
    }

    #[tokio::test]
    async fn a_results_file_cut_short_is_a_retryable_error_and_not_a_parse_error() {
        let budget = Budget::for_invocation(0, std::time::Duration::ZERO, std::time::Duration::from_secs(20));
        let each: fn(&mut usize, ChildExecution) = |count, _| *count += 1;
        // The answer promises 1,000 bytes and sends 40: the connection ends inside the array.
        let cut = store_answering("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n", r#"[{"Status": "SUCCEEDED", "Output": "{}"},"#).await;
        let error = cut.fold_array("results/x/SUCCEEDED_0.json", 0, each, &budget).await.unwrap_err();
        assert_eq!(error.error_type(), "ServiceUnavailable", "{error}");
        // Whole but not an array of executions: the file's fault, named as such.
        let wrong = store_answering("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n", "{}").await;
        let error = wrong.fold_array("results/x/SUCCEEDED_0.json", 0, each, &budget).await.unwrap_err();
        assert!(error.to_string().contains("is not a JSON array of executions"), "{error}");
        // Whole and right: every child is folded.
        let body = r#"[{"Status": "SUCCEEDED"}, {"Status": "FAILED"}]"#;
        let right = store_answering("HTTP/1.1 200 OK\r\ncontent-length: 47\r\n\r\n", body).await;
        assert_eq!(body.len(), 47);
        assert_eq!(right.fold_array("results/x/SUCCEEDED_0.json", 0, each, &budget).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn only_the_run_s_own_results_in_the_stack_s_bucket_are_read() {
        let budget = Budget::for_invocation(0, std::time::Duration::ZERO, std::time::Duration::from_secs(20));
        let each: fn(&mut usize, ChildExecution) = |count, _| *count += 1;
        let manifest = |bucket: &str, file: &str| {
            format!(r#"{{"DestinationBucket": "{bucket}", "ResultFiles": {{"SUCCEEDED": [{{"Key": "{file}", "Size": 2}}]}}}}"#)
        };
        let answering = |body: String| {
            let body: &'static str = Box::leak(body.into_boxed_str());
            store_answering(Box::leak(format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_boxed_str()), body)
        };
        let location = |key: &str| S3Location { bucket: "plans".into(), key: key.into() };
        let prefix = "results/run-1/";
        let refused = |error: Error| {
            assert_eq!(error.error_type(), "InvalidInput", "{error}");
            assert!(error.to_string().contains("only the run's own results are read"), "{error}");
        };
        // A manifest key outside the run's prefix, or in another bucket: refused before any read.
        let store = answering(manifest("plans", "results/run-1/SUCCEEDED_0.json")).await;
        for outside in ["results/run-2/manifest.json", "plans/run-1/manifest.json", "results/run-1-other/manifest.json"] {
            refused(store.each_child(&location(outside), prefix, 0, each, &budget).await.unwrap_err());
        }
        let elsewhere = S3Location { bucket: "another".into(), key: "results/run-1/manifest.json".into() };
        refused(store.each_child(&elsewhere, prefix, 0, each, &budget).await.unwrap_err());
        // A manifest naming another bucket, or a file outside the prefix: refused before its files are read.
        for (bucket, file) in [("another", "results/run-1/SUCCEEDED_0.json"), ("plans", "results/run-2/SUCCEEDED_0.json")] {
            let store = answering(manifest(bucket, file)).await;
            refused(store.each_child(&location("results/run-1/manifest.json"), prefix, 0, each, &budget).await.unwrap_err());
        }
    }
}
