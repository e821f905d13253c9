//! A client context for readers that use `enable.partition.eof`: the end of a partition is how
//! they know they are done, not an error, so it is not logged as one.

use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientContext;

/// Logs client errors as warnings, except end-of-partition events.
#[derive(Debug, Default, Clone, Copy)]
pub struct QuietEof;

impl ClientContext for QuietEof {
    fn error(&self, error: KafkaError, reason: &str) {
        // librdkafka reports it per partition, and (from the fetcher) as a global error code.
        if matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        ) {
            return;
        }
        tracing::warn!(target: "librdkafka", "{reason}: {error}");
    }
}

impl ConsumerContext for QuietEof {}
