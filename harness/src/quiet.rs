//! A client context for readers that use `enable.partition.eof`: the end of a partition is how
//! they know they are done, not an error, so it is not logged as one.

use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::ClientContext;

/// Logs client errors as warnings, except end-of-partition events.
#[derive(Debug, Default, Clone, Copy)]
pub struct QuietEof;

impl ClientContext for QuietEof {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::PartitionEOF(_)) {
            return;
        }
        tracing::warn!(target: "librdkafka", "{reason}: {error}");
    }
}

impl ConsumerContext for QuietEof {}
