//! The read-only Kafka reader every cutover component builds (the checker, the drain counter,
//! the delay probe, the consumer-group check, the rehearsal, the preflight sampler, the
//! replicator's look-ups, the readiness probe): a consumer that commits nothing on its own,
//! stores no offsets and never creates a topic by asking for it.
//!
//! librdkafka wants a `group.id` to fetch assigned partitions; the reader names one but
//! commits to it only when its caller commits explicitly (`Consumer::commit` with offsets),
//! and joins it only when its caller subscribes.

use rdkafka::ClientConfig;

use crate::client_props::ClientProps;
use crate::error::Result;

/// The settings that make a consumer read-only, as `(key, value)`.
pub const READ_ONLY: [(&str, &str); 3] = [
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("allow.auto.create.topics", "false"),
];

/// Makes `config` a read-only reader under `group` ([`READ_ONLY`]); returns it for more
/// settings (`isolation.level`, `enable.partition.eof`, fetch sizes).
pub fn read_only<'a>(config: &'a mut ClientConfig, group: &str) -> &'a mut ClientConfig {
    config.set("group.id", group);
    for (key, value) in READ_ONLY {
        config.set(key, value);
    }
    config
}

impl ClientProps {
    /// A read-only reader's configuration for these client properties ([`read_only`]).
    pub fn reader(&self, group: &str) -> Result<ClientConfig> {
        let mut config = self.to_rdkafka()?;
        read_only(&mut config, group);
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_commits_nothing_stores_nothing_and_creates_nothing() {
        let config = ClientProps::bootstrap("127.0.0.1:9")
            .reader("g")
            .expect("valid properties");
        assert_eq!(config.get("group.id"), Some("g"));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(config.get("allow.auto.create.topics"), Some("false"));
        assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:9"));
        // librdkafka accepts every setting.
        let consumer: rdkafka::consumer::BaseConsumer = config.create().expect("creates");
        drop(consumer);
    }
}
