//! Deletion protection: the one rule that keeps an instance from being deleted, asked by the
//! delete function before every deletion and by the sweep before it selects an instance.

use std::collections::HashMap;

/// Protection by a tag (`DELETION_PROTECTION_TAG`, default `DeletionProtection`): an instance is
/// protected while that tag's value is `true`, in any case, with spaces around it ignored. Any
/// other value, or no such tag, protects nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionProtection {
    tag: String,
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

    /// The value that protects the instance with these `tags`, or `None` when it is not protected.
    pub fn protecting_value<'t>(&self, tags: &'t HashMap<String, String>) -> Option<&'t str> {
        tags.get(&self.tag).map(String::as_str).filter(|value| value.trim().eq_ignore_ascii_case("true"))
    }

    /// What protects an instance, in words: `its tag DeletionProtection="true"`.
    pub fn explain(&self, value: &str) -> String {
        format!("its tag {}={value:?}", self.tag)
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
            assert_eq!(protection.protecting_value(&tags(&[("Keep", value)])), Some(value), "{value:?}");
        }
        for value in ["false", "yes", "1", "", "truex"] {
            assert_eq!(protection.protecting_value(&tags(&[("Keep", value)])), None, "{value:?}");
        }
        assert_eq!(protection.protecting_value(&tags(&[("DeletionProtection", "true")])), None);
    }
}
