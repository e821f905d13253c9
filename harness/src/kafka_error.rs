//! The one sorting of librdkafka errors into what a caller does next — retry, stop because
//! another producer took over (fenced), stop because the client cannot go on (fatal), give up
//! on what was refused, or fail just this operation — as vector's Kafka sink sorts them. The
//! checker (`verify`: re-read on a transient error, give up on a fatal one) and the built-in
//! replicator's writer (`classify` in its worker: abort and retry, or stop) both ask here.
//!
//! Sources: librdkafka's `rd_kafka_error_is_fatal` / `is_retriable` / `txn_requires_abort`
//! (INTRODUCTION.md, "Transactional producer API" and "Fatal consumer errors"), and Kafka's
//! `RetriableException` subclasses for the codes below.

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode as C;

/// What to do about a Kafka error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Transient: the same call may succeed later (a broker down, a leader moving, a timeout).
    Retriable,
    /// Another producer owns the transactional id now (or bumped its epoch): stop, the
    /// newcomer carries on; retrying cannot help.
    Fenced,
    /// The client cannot continue (librdkafka's fatal error, a fatal transactional error).
    Fatal,
    /// The cluster refused the request (authorization, an invalid group id): it will refuse
    /// it again until someone changes the ACLs or the configuration.
    Denied,
    /// Neither: this operation failed (a transaction that must be aborted, a record too
    /// large); the client itself is fine.
    Failed,
}

impl ErrorClass {
    /// The class of an error returned by an rdkafka call.
    pub fn of(e: &KafkaError) -> ErrorClass {
        match e {
            KafkaError::Transaction(t) if t.is_fatal() => ErrorClass::of_fatal(t.code()),
            KafkaError::Transaction(t) if t.txn_requires_abort() => ErrorClass::Failed,
            KafkaError::Transaction(t) if t.is_retriable() => ErrorClass::Retriable,
            KafkaError::Transaction(_) => ErrorClass::Failed,
            other => other
                .rdkafka_error_code()
                .map_or(ErrorClass::Failed, ErrorClass::of_code),
        }
    }

    /// The class of an error code.
    pub fn of_code(code: C) -> ErrorClass {
        match code {
            C::Fenced | C::ProducerFenced | C::InvalidProducerEpoch => ErrorClass::Fenced,
            C::Fatal => ErrorClass::Fatal,
            C::GroupAuthorizationFailed
            | C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::TransactionalIdAuthorizationFailed
            | C::InvalidGroupId => ErrorClass::Denied,
            C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::NotLeaderForPartition
            | C::LeaderNotAvailable
            | C::RequestTimedOut
            | C::NetworkException => ErrorClass::Retriable,
            _ => ErrorClass::Failed,
        }
    }

    /// The class of the client's own fatal error (`Client::fatal_error`): fenced or fatal.
    pub fn of_fatal(code: C) -> ErrorClass {
        match ErrorClass::of_code(code) {
            ErrorClass::Fenced => ErrorClass::Fenced,
            _ => ErrorClass::Fatal,
        }
    }

    /// Worth trying the same call again.
    pub fn is_retriable(self) -> bool {
        self == ErrorClass::Retriable
    }

    /// Nothing this client does will get past it: fenced, fatal or denied.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            ErrorClass::Fenced | ErrorClass::Fatal | ErrorClass::Denied
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_sorted_into_retry_stop_and_fail() {
        let consume = |c| KafkaError::MessageConsumption(c);
        assert_eq!(
            ErrorClass::of(&consume(C::BrokerTransportFailure)),
            ErrorClass::Retriable
        );
        assert_eq!(
            ErrorClass::of(&consume(C::TopicAuthorizationFailed)),
            ErrorClass::Denied
        );
        assert_eq!(
            ErrorClass::of(&KafkaError::MessageProduction(C::ProducerFenced)),
            ErrorClass::Fenced
        );
        assert_eq!(
            ErrorClass::of(&KafkaError::MessageProduction(C::MessageSizeTooLarge)),
            ErrorClass::Failed
        );
        assert_eq!(
            ErrorClass::of_fatal(C::InvalidProducerEpoch),
            ErrorClass::Fenced
        );
        assert_eq!(
            ErrorClass::of_fatal(C::OutOfOrderSequenceNumber),
            ErrorClass::Fatal
        );
        assert!(ErrorClass::Denied.is_fatal() && !ErrorClass::Failed.is_fatal());
        assert!(ErrorClass::Retriable.is_retriable() && !ErrorClass::Fenced.is_retriable());
    }
}
