//! Where a deletion stands, as the status checker decides it.

use std::fmt;

use aws_sdk_supplychain::types::InstanceState;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The outcome of a deletion at one status check. On the wire (reports, events, logs) it is the
/// string of [`Outcome::as_str`]: `Deleting` while pending, `Deleted`, `DeleteFailed`, `TimedOut`,
/// or the state the instance is in when that is none of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still `Deleting`.
    Pending,
    Deleted,
    DeleteFailed,
    /// Still `Deleting` after `MAX_WAIT_SECONDS`.
    TimedOut,
    /// A state a deletion does not lead to (`Active`, `Initializing`, a state this SDK does not know).
    Unexpected(String),
}

impl Outcome {
    /// The outcome an instance in `state` stands at.
    pub fn of(state: &InstanceState) -> Outcome {
        match state {
            InstanceState::Deleting => Outcome::Pending,
            InstanceState::Deleted => Outcome::Deleted,
            InstanceState::DeleteFailed => Outcome::DeleteFailed,
            other => Outcome::Unexpected(other.as_str().to_owned()),
        }
    }

    /// Whether the deletion has come to an end (or cannot be followed any further).
    pub fn is_done(&self) -> bool {
        *self != Outcome::Pending
    }

    pub fn as_str(&self) -> &str {
        match self {
            Outcome::Pending => "Deleting",
            Outcome::Deleted => "Deleted",
            Outcome::DeleteFailed => "DeleteFailed",
            Outcome::TimedOut => "TimedOut",
            Outcome::Unexpected(state) => state,
        }
    }

    fn from_wire(text: &str) -> Outcome {
        match text {
            "Deleting" => Outcome::Pending,
            "Deleted" => Outcome::Deleted,
            "DeleteFailed" => Outcome::DeleteFailed,
            "TimedOut" => Outcome::TimedOut,
            other => Outcome::Unexpected(other.to_owned()),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Outcome::from_wire(&String::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_keeps_its_wire_name_both_ways() {
        let cases = [
            (Outcome::Pending, "Deleting"),
            (Outcome::Deleted, "Deleted"),
            (Outcome::DeleteFailed, "DeleteFailed"),
            (Outcome::TimedOut, "TimedOut"),
            (Outcome::Unexpected("Active".into()), "Active"),
        ];
        for (outcome, wire) in cases {
            assert_eq!(serde_json::to_value(&outcome).unwrap(), wire);
            assert_eq!(serde_json::from_value::<Outcome>(wire.into()).unwrap(), outcome);
        }
    }

    #[test]
    fn states_map_to_outcomes_and_only_deleting_is_pending() {
        assert_eq!(Outcome::of(&InstanceState::Deleting), Outcome::Pending);
        assert_eq!(Outcome::of(&InstanceState::Deleted), Outcome::Deleted);
        assert_eq!(Outcome::of(&InstanceState::DeleteFailed), Outcome::DeleteFailed);
        assert_eq!(Outcome::of(&InstanceState::from("Archiving")), Outcome::Unexpected("Archiving".into()));
        assert!(!Outcome::Pending.is_done());
        assert!(Outcome::Unexpected("Active".into()).is_done());
    }
}
