//! An owner's fleet, as the sweep's tests see it: the emulator holding the instances, moto with a
//! subscriber to the sweep's events, and an SDK client for what owners do to their instances.

use std::collections::HashMap;

use serde_json::Value;
use supplychain_emulator::{Emulator, SeedInstance};

use super::events::SWEEP_SOURCE;
use super::*;

/// The owner tag's value of the seeded instances.
pub const OWNER: &str = "planning-team@example.com";

pub struct Fleet {
    pub emulator: Emulator,
    pub moto: Moto,
    /// The home account's owner, with the SDK: tags, untags, deletes.
    pub owner: aws_sdk_supplychain::Client,
    deletions: Deletions,
}

/// How the seeded instances' deletions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletions {
    /// As the emulator runs them, to their end; an instance seeded `Deleting` stays so.
    End,
    /// Each stays `Deleting` while the test runs.
    StayDeleting,
}

impl Fleet {
    pub async fn start(deletions: Deletions) -> Fleet {
        let emulator = emulator().await;
        let moto = Moto::start().await;
        moto.subscribe(SWEEP_SOURCE).await;
        let owner = aws_sdk_supplychain::Client::new(&sdk_config(&emulator.endpoint(), SECRET_ACCESS_KEY).await);
        Fleet { emulator, moto, owner, deletions }
    }

    /// An instance in `state` with `tags`, named after its id's first character.
    pub fn seed(&self, id: &str, state: &str, tags: &[(&str, &str)]) {
        let delete_polls = match self.deletions {
            Deletions::End => (state == "Deleting").then_some(1),
            Deletions::StayDeleting => Some(1_000),
        };
        self.emulator.seed(SeedInstance {
            instance_id: Some(id.to_owned()),
            instance_name: Some(format!("team-{}", &id[..1])),
            state: Some(state.to_owned()),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            delete_polls,
            ..Default::default()
        });
    }

    /// An Active instance whose expiry tag passed an hour ago, with an owner; the tag's value.
    pub fn seed_expired(&self, id: &str) -> String {
        let expired = time_from_now(-3_600);
        self.seed(id, "Active", &[("ExpiresAt", &expired), ("Owner", OWNER)]);
        expired
    }

    pub fn arn(&self, id: &str) -> String {
        self.emulator.instance_arn(id)
    }

    pub async fn tags(&self, id: &str) -> HashMap<String, String> {
        let listed = self.owner.list_tags_for_resource().resource_arn(self.arn(id)).send().await.unwrap();
        listed.tags().clone()
    }

    pub async fn tag(&self, id: &str, key: &str, value: &str) {
        self.owner.tag_resource().resource_arn(self.arn(id)).tags(key, value).send().await.unwrap();
    }

    pub async fn untag(&self, id: &str, key: &str) {
        self.owner.untag_resource().resource_arn(self.arn(id)).tag_keys(key).send().await.unwrap();
    }

    /// Every sweep event the subscriber received since the last call.
    pub async fn events(&self) -> Vec<Value> {
        self.moto.received().await.into_iter().filter(|event| event["source"] == SWEEP_SOURCE).collect()
    }
}

/// A test's world that is an owner's fleet and more, in a member `fleet`: the fleet's members and
/// methods read as the world's own.
macro_rules! world_of_a_fleet {
    ($world:ident) => {
        impl std::ops::Deref for $world {
            type Target = $crate::support::fleet::Fleet;

            fn deref(&self) -> &Self::Target {
                &self.fleet
            }
        }
    };
}
pub(crate) use world_of_a_fleet;
