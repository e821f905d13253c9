//! Shared by the tests that write their own records for the checker: the workload identity
//! header (`cutover-id`: producer, sequence), as the workload writes it, so the checker pairs a
//! record with its copy.

use rdkafka::message::{Header, OwnedHeaders};
use verify::fingerprint::{encode_identity, WORKLOAD_ID_HEADER};

/// Headers carrying the workload identity (`producer`, `sequence`) alone.
pub fn identified(producer: u16, sequence: u64) -> OwnedHeaders {
    let id = encode_identity(producer, sequence);
    OwnedHeaders::new().insert(Header {
        key: WORKLOAD_ID_HEADER,
        value: Some(&id[..]),
    })
}
