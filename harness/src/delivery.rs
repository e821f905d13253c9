//! Serving a producer's delivery reports promptly, for the transactional producers cutover
//! runs (the replicator's writers and the workload's transactional producers).
//!
//! rust-rdkafka's `commit_transaction` (and `flush`) wait on the producer's queue up to
//! 100 ms at a time while records are still in flight
//! (`BaseProducer::flush` in rust-rdkafka), so a commit issued right after the last send
//! costs one or two of those waits beyond the broker's round trip, and the transaction stays
//! open, holding back every `read_committed` reader's last stable offset, that much longer.
//! [`serve_deliveries`] polls 1 ms at a time until nothing is in flight; the commit that
//! follows then finds nothing to wait for.

use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, Producer, ProducerContext};

/// Serves `producer`'s delivery reports until none of its records is in flight or `deadline`
/// passes. True when nothing is left in flight.
pub fn serve_deliveries<C: ProducerContext>(producer: &BaseProducer<C>, deadline: Instant) -> bool {
    while producer.in_flight_count() > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        producer.poll(Duration::from_millis(1));
    }
    true
}
