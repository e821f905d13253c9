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

/// Serves `producer`'s delivery reports until nothing is in flight (librdkafka's out queue:
/// records, requests and events not yet served, as rust-rdkafka's `flush` counts them) or
/// `deadline` passes. True when nothing is left in flight.
pub fn serve_deliveries<C: ProducerContext>(producer: &BaseProducer<C>, deadline: Instant) -> bool {
    while producer.in_flight_count() > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        producer.poll(Duration::from_millis(1));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::producer::{BaseRecord, DefaultProducerContext};
    use rdkafka::ClientConfig;

    #[test]
    fn records_nobody_acknowledges_are_served_until_the_deadline_only() {
        let producer: BaseProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .set("message.timeout.ms", "60000")
            .create()
            .expect("a producer needs no broker to be created");
        producer
            .send(BaseRecord::<(), [u8]>::to("t").payload(&b"x"[..]))
            .map_err(|(e, _)| e)
            .expect("queued");
        let began = Instant::now();
        assert!(!serve_deliveries(
            &producer,
            began + Duration::from_millis(50)
        ));
        let waited = began.elapsed();
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        assert!(producer.in_flight_count() > 0);
    }
}
