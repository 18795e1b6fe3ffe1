//! Raw settings as the runtime hands them over: text by name, before any validation, and the
//! names of every binding the deployment has.

use std::collections::{BTreeMap, BTreeSet};

/// Raw settings as text, keyed by name. Blank values count as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    values: BTreeMap<String, String>,
    /// Every binding's name (vars, secrets, Durable Objects, ...), when the runtime told them.
    bindings: Option<BTreeSet<String>>,
}

impl Settings {
    /// No settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set one setting (builder style).
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    /// Set one setting.
    pub fn insert(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_owned(), value.into());
    }

    /// A setting's value, trimmed; `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The names of every binding of the deployment (builder style): [`Config::load`] refuses
    /// one that looks like a misspelled setting and reports the others it does not read (see
    /// [`super::bindings`]). Without it (tests, the warm-up) no name is checked.
    ///
    /// [`Config::load`]: super::Config::load
    pub fn with_bindings<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.bindings = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// The names of every binding, when known: those given to [`Settings::with_bindings`] and
    /// every setting that has a value.
    pub fn binding_names(&self) -> Option<BTreeSet<&str>> {
        let given = self.bindings.as_ref()?;
        Some(given.iter().chain(self.values.keys()).map(String::as_str).collect())
    }
}
