//! Deletion protection: the one rule that keeps an instance from being deleted, asked by the
//! delete function before every deletion and by the sweep before it selects an instance.

use std::collections::HashMap;

/// Protection by a tag (`DELETION_PROTECTION_TAG`, default `DeletionProtection`): an instance is
/// protected while that tag's value is `true`, in any case, with spaces around it ignored. Any
/// other value, or no such tag, protects nothing. The tag's key is matched without regard to case,
/// as IAM matches the key of `aws:ResourceTag/<key>`: an instance that IAM's condition protects is
/// protected here too, so it is never requested only to be refused by IAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionProtection {
    tag: String,
}

/// The tag that protects an instance: its key as the instance has it, and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtectingTag<'t> {
    pub key: &'t str,
    pub value: &'t str,
}

impl DeletionProtection {
    /// The tag the functions read when `DELETION_PROTECTION_TAG` is unset.
    pub const DEFAULT_TAG: &'static str = "DeletionProtection";

    pub fn new(tag: impl Into<String>) -> DeletionProtection {
        DeletionProtection { tag: tag.into() }
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The tag that protects the instance with these `tags`, or `None` when it is not protected.
    /// Every key equal to the protection tag's ignoring ASCII case counts, and any one of them
    /// whose value is true protects: tags whose keys differ only in case are each a tag to the
    /// service, and IAM's condition may read any of them. Of several, the one spelt exactly as
    /// configured is named, else the first in sorted order, so the answer does not depend on the
    /// order the service lists them in.
    pub fn protecting_value<'t>(&self, tags: &'t HashMap<String, String>) -> Option<ProtectingTag<'t>> {
        tags.iter()
            .filter(|(key, value)| key.eq_ignore_ascii_case(&self.tag) && value.trim().eq_ignore_ascii_case("true"))
            .map(|(key, value)| ProtectingTag { key, value })
            .min_by_key(|found| (found.key != self.tag, found.key))
    }

    /// What protects an instance, in words, naming the key as the instance has it:
    /// `its tag DeletionProtection="true"`.
    pub fn explain(&self, found: ProtectingTag<'_>) -> String {
        format!("its tag {}={:?}", found.key, found.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn true_in_any_case_with_spaces_around_protects_and_nothing_else_does() {
        let protection = DeletionProtection::new("Keep");
        for value in ["true", "TRUE", " True "] {
            let tags = tags(&[("Keep", value)]);
            assert_eq!(protection.protecting_value(&tags).map(|found| found.value), Some(value), "{value:?}");
        }
        for value in ["false", "yes", "1", "", "truex"] {
            assert_eq!(protection.protecting_value(&tags(&[("Keep", value)])), None, "{value:?}");
        }
        assert_eq!(protection.protecting_value(&tags(&[("DeletionProtection", "true")])), None);
        assert_eq!(protection.protecting_value(&tags(&[("Keeps", "true"), ("Kee", "true")])), None);
    }

    #[test]
    fn the_key_is_matched_as_iam_matches_it_without_regard_to_case_and_named_as_found() {
        let protection = DeletionProtection::new(DeletionProtection::DEFAULT_TAG);
        for key in ["deletionprotection", "DELETIONPROTECTION", "deletionProtection"] {
            let tags = tags(&[(key, "TRUE")]);
            let found = protection.protecting_value(&tags).unwrap_or_else(|| panic!("{key} protects"));
            assert_eq!(found, ProtectingTag { key, value: "TRUE" });
            assert_eq!(protection.explain(found), format!("its tag {key}=\"TRUE\""));
        }
        // Only ASCII case is ignored, as IAM does: a key with another letter is another key.
        assert_eq!(protection.protecting_value(&tags(&[("DeletionProtectıon", "true")])), None);
    }

    #[test]
    fn of_several_keys_differing_only_in_case_any_true_one_protects() {
        let protection = DeletionProtection::new(DeletionProtection::DEFAULT_TAG);
        let mixed = tags(&[("DeletionProtection", "false"), ("deletionprotection", "true"), ("DELETIONPROTECTION", "no")]);
        assert_eq!(protection.protecting_value(&mixed), Some(ProtectingTag { key: "deletionprotection", value: "true" }));
        // The key spelt as configured is named first, then the first in sorted order.
        let both = tags(&[("deletionprotection", "true"), ("DeletionProtection", "True"), ("DELETIONPROTECTION", "true")]);
        assert_eq!(protection.protecting_value(&both).map(|found| found.key), Some("DeletionProtection"));
        let neither = tags(&[("deletionprotection", "true"), ("DELETIONPROTECTION", "true")]);
        assert_eq!(protection.protecting_value(&neither).map(|found| found.key), Some("DELETIONPROTECTION"));
        let none = tags(&[("DeletionProtection", "false"), ("deletionprotection", "FALSE")]);
        assert_eq!(protection.protecting_value(&none), None);
    }
}
