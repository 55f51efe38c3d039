//! The instance id, validated against the service model's `UUID` shape.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::{kind_of, quoted, Error};

/// An AWS Supply Chain instance id, checked against the model's `UUID` shape: 36 characters,
/// lowercase hexadecimal digits in groups of 8-4-4-4-12 separated by `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(String);

impl InstanceId {
    /// Validates `value`, naming `field` (for example `detail.instanceId`) in the error.
    pub fn parse(field: &str, value: &Value) -> Result<InstanceId, Error> {
        let Value::String(text) = value else {
            return Err(Error::InvalidInput(format!("{field} must be a string, got {}", kind_of(value))));
        };
        match uuid_problem(text) {
            None => Ok(InstanceId(text.clone())),
            Some(problem) => Err(Error::InvalidInput(format!(
                "{field} {} is not a valid Supply Chain instance id: {problem}; expected 36 characters, \
                 a lowercase hexadecimal UUID such as \"1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1\"",
                quoted(text)
            ))),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for InstanceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Read back with the same validation as [`InstanceId::parse`].
impl<'de> Deserialize<'de> for InstanceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        InstanceId::parse("instanceId", &Value::String(text)).map_err(serde::de::Error::custom)
    }
}

/// What is wrong with `text` as a lowercase UUID, or `None` when nothing is.
fn uuid_problem(text: &str) -> Option<String> {
    let count = text.chars().count();
    if count != 36 {
        return Some(format!("it has {count} characters"));
    }
    for (index, c) in text.chars().enumerate() {
        let position = index + 1;
        if matches!(index, 8 | 13 | 18 | 23) {
            if c != '-' {
                return Some(format!("character {position} is {c:?}, where a '-' belongs"));
            }
        } else if !matches!(c, '0'..='9' | 'a'..='f') {
            return Some(format!("character {position} is {c:?}, not a lowercase hexadecimal digit"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_back_as_it_was_written_and_a_bad_one_is_refused() {
        let id = InstanceId::parse("instanceId", &Value::from("1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1")).unwrap();
        let written = serde_json::to_value(&id).unwrap();
        assert_eq!(serde_json::from_value::<InstanceId>(written).unwrap(), id);
        let error = serde_json::from_value::<InstanceId>(Value::from("1F0E2D3C-4B5A-4697-8877-A6B5C4D3E2F1")).unwrap_err();
        assert!(error.to_string().contains("not a lowercase hexadecimal digit"), "{error}");
    }
}
