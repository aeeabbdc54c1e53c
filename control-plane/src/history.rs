//! The history of published versions, and the configurations they carried (for rollback).
//!
//! Both are bounded: the last [`MAX_EVENTS`] versions, and the configurations of at most
//! [`MAX_CONFIGS`] of them. Registry versions share the configuration of the version before.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::SystemTime;

/// How many versions are remembered.
pub(crate) const MAX_EVENTS: usize = 1000;

/// How many distinct configurations are kept for rollback.
pub(crate) const MAX_CONFIGS: usize = 100;

/// Why a version was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    /// The directory changed and validated (or was first loaded).
    Config,
    /// A sidecar registered, moved or left.
    Endpoints,
    /// An earlier version's configuration, published again.
    Rollback,
    /// The trust bundle changed (a step of an anchor rotation).
    Trust,
}

impl Kind {
    /// The name, as in JSON.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Config => "config",
            Kind::Endpoints => "endpoints",
            Kind::Rollback => "rollback",
            Kind::Trust => "trust",
        }
    }
}

/// One published version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The version.
    pub(crate) version: u64,
    /// When it was published.
    pub(crate) time: SystemTime,
    /// Who made it: `config-dir`, `registry`, or the person who asked for a rollback.
    pub(crate) author: String,
    /// Why.
    pub(crate) kind: Kind,
    /// What changed, in one line.
    pub(crate) summary: String,
    config: u64,
}

/// Why a version's configuration cannot be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LookupError {
    /// The version is not in the history (never published, or too old).
    #[error("version {0} is not in the history")]
    NotFound(u64),
    /// The version is remembered but its configuration is no longer kept.
    #[error(
        "the configuration of version {0} is no longer kept (only the last {MAX_CONFIGS} are)"
    )]
    Forgotten(u64),
}

/// Versions, oldest first, with the configurations `C` they carried.
#[derive(Debug)]
pub(crate) struct History<C> {
    events: VecDeque<Event>,
    configs: VecDeque<(u64, C)>,
    max_events: usize,
    max_configs: usize,
    next_config: u64,
}

impl<C: Clone> Default for History<C> {
    fn default() -> Self {
        Self::new(MAX_EVENTS, MAX_CONFIGS)
    }
}

impl<C: Clone> History<C> {
    /// A history of at most `max_events` versions and `max_configs` configurations.
    pub(crate) fn new(max_events: usize, max_configs: usize) -> Self {
        History {
            events: VecDeque::new(),
            configs: VecDeque::new(),
            max_events: max_events.max(1),
            max_configs: max_configs.max(1),
            next_config: 0,
        }
    }

    /// Records a published version; `config` is the configuration it introduced, `None` when
    /// it kept the previous one (a registry change).
    pub(crate) fn record(
        &mut self,
        version: u64,
        time: SystemTime,
        author: impl Into<String>,
        kind: Kind,
        summary: impl Into<String>,
        config: Option<C>,
    ) {
        let config = match config {
            Some(config) => {
                self.next_config += 1;
                self.configs.push_back((self.next_config, config));
                self.next_config
            }
            None => self.next_config,
        };
        self.events.push_back(Event {
            version,
            time,
            author: author.into(),
            kind,
            summary: summary.into(),
            config,
        });
        while self.events.len() > self.max_events {
            self.events.pop_front();
        }
        // Configurations only the forgotten versions used go, and the oldest beyond the bound.
        let oldest_used = self.events.front().map_or(0, |e| e.config);
        while self
            .configs
            .front()
            .is_some_and(|(id, _)| *id < oldest_used)
            || self.configs.len() > self.max_configs
        {
            self.configs.pop_front();
        }
    }

    /// The configuration in force at `version`.
    pub(crate) fn config_of(&self, version: u64) -> Result<C, LookupError> {
        let event = self
            .events
            .iter()
            .find(|e| e.version == version)
            .ok_or(LookupError::NotFound(version))?;
        self.configs
            .iter()
            .find(|(id, _)| *id == event.config)
            .map(|(_, config)| config.clone())
            .ok_or(LookupError::Forgotten(version))
    }

    /// Every remembered version, oldest first.
    pub(crate) fn events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(history: &mut History<&'static str>, version: u64, config: Option<&'static str>) {
        let kind = if config.is_some() {
            Kind::Config
        } else {
            Kind::Endpoints
        };
        history.record(version, SystemTime::now(), "t", kind, "s", config);
    }

    #[test]
    fn registry_versions_share_the_config_before_them() {
        let mut history = History::new(10, 10);
        record(&mut history, 1, Some("a"));
        record(&mut history, 2, None);
        record(&mut history, 3, Some("b"));
        record(&mut history, 4, None);
        assert_eq!(history.config_of(1), Ok("a"));
        assert_eq!(history.config_of(2), Ok("a"));
        assert_eq!(history.config_of(4), Ok("b"));
        assert_eq!(history.config_of(5), Err(LookupError::NotFound(5)));
        let versions: Vec<u64> = history.events().map(|e| e.version).collect();
        assert_eq!(versions, [1, 2, 3, 4]);
    }

    #[test]
    fn events_and_configs_are_bounded() {
        let mut history = History::new(5, 2);
        record(&mut history, 1, Some("a"));
        for version in 2..=4 {
            record(&mut history, version, None);
        }
        record(&mut history, 5, Some("b"));
        record(&mut history, 6, Some("c"));
        // Events 2..=6 remain; only the last two configurations are kept.
        assert_eq!(history.events().count(), 5);
        assert_eq!(history.config_of(1), Err(LookupError::NotFound(1)));
        assert_eq!(history.config_of(2), Err(LookupError::Forgotten(2)));
        assert_eq!(history.config_of(5), Ok("b"));
        assert_eq!(history.config_of(6), Ok("c"));
        for version in 7..=20 {
            record(&mut history, version, None);
        }
        assert_eq!(history.configs.len(), 1, "only the one still in use");
        assert_eq!(history.config_of(20), Ok("c"));
    }
}
