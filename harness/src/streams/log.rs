//! The events a Streams application under test prints, parsed from its log.
//!
//! The reference application (`apps/streams-counter/CutoverCounter.java`) prints one line per
//! event on stdout, prefixed `cutover-app: `, among log4j2's lines (times in epoch ms):
//!
//! ```text
//! cutover-app: state REBALANCING RUNNING at_ms=1767000000000
//! cutover-app: restore-start store=totals topic=app-totals-changelog partition=0 start=0 end=41 at_ms=…
//! cutover-app: restored store=totals topic=app-totals-changelog partition=0 records=41 ms=12 at_ms=…
//! cutover-app: restore-suspended store=totals topic=… partition=1 records=3 ms=5 at_ms=…
//! cutover-app: error at_ms=… message=java.lang.IllegalStateException: …
//! cutover-app: closed at_ms=… clean=true
//! ```
//!
//! A user's application may print the same lines to have its states and restores measured;
//! lines that are not cutover's, or malformed ones, are skipped.

/// The prefix of every event line.
pub const PREFIX: &str = "cutover-app: ";

/// A `KafkaStreams.State` change (`CREATED`, `REBALANCING`, `RUNNING`, `PENDING_SHUTDOWN`,
/// `NOT_RUNNING`, `PENDING_ERROR`, `ERROR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub from: String,
    pub to: String,
    pub at_ms: u64,
}

/// The start of one changelog partition's restoration (`StateRestoreListener.onRestoreStart`):
/// the offsets it will read, `start` to `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreStart {
    pub store: String,
    pub topic: String,
    pub partition: i32,
    pub start: i64,
    pub end: i64,
    pub at_ms: u64,
}

/// The end of one changelog partition's restoration (`onRestoreEnd`, or `onRestoreSuspended`
/// when the task moved away first): how many records it restored and how long it took (`ms`,
/// -1 when the start was not seen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub store: String,
    pub topic: String,
    pub partition: i32,
    pub records: u64,
    pub ms: i64,
    pub suspended: bool,
    pub at_ms: u64,
}

/// An uncaught exception the application reported (it shuts the client down).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    pub message: String,
    pub at_ms: u64,
}

/// The application closed (`KafkaStreams.close` returned; `clean`: every thread stopped within
/// the close timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    pub at_ms: u64,
    pub clean: bool,
}

/// Everything one life of an application printed, in log order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppEvents {
    pub states: Vec<StateChange>,
    pub restore_starts: Vec<RestoreStart>,
    pub restores: Vec<Restored>,
    pub errors: Vec<AppError>,
    pub closed: Option<Closed>,
}

impl AppEvents {
    /// When the application first reached `RUNNING`.
    pub fn first_running_ms(&self) -> Option<u64> {
        self.states
            .iter()
            .find(|s| s.to == "RUNNING")
            .map(|s| s.at_ms)
    }

    /// The state it is in as far as the log shows.
    pub fn current_state(&self) -> Option<&str> {
        self.states.last().map(|s| s.to.as_str())
    }

    /// The completed restorations of `store` (not the suspended ones).
    pub fn restored(&self, store: &str) -> impl Iterator<Item = &Restored> + '_ {
        let store = store.to_string();
        self.restores
            .iter()
            .filter(move |r| r.store == store && !r.suspended)
    }

    /// Records restored into `store` over every partition.
    pub fn restored_records(&self, store: &str) -> u64 {
        self.restored(store).map(|r| r.records).sum()
    }

    /// From the first restoration's start to the last one's end (ms), over every store and
    /// partition; None when nothing was restored.
    pub fn restore_span_ms(&self) -> Option<u64> {
        let first = self.restore_starts.iter().map(|r| r.at_ms).min()?;
        let last = self.restores.iter().map(|r| r.at_ms).max()?;
        Some(last.saturating_sub(first))
    }
}

/// Parses every `cutover-app:` line of `text`.
pub fn parse_events(text: &str) -> AppEvents {
    let mut events = AppEvents::default();
    for line in text.lines() {
        let Some(rest) = line.trim_end().strip_prefix(PREFIX) else {
            continue;
        };
        let (kind, fields) = rest.split_once(' ').unwrap_or((rest, ""));
        match kind {
            "state" => {
                let mut words = fields.split(' ');
                let (Some(from), Some(to)) = (words.next(), words.next()) else {
                    continue;
                };
                let Some(at_ms) = field(fields, "at_ms").and_then(|v| v.parse().ok()) else {
                    continue;
                };
                events.states.push(StateChange {
                    from: from.to_string(),
                    to: to.to_string(),
                    at_ms,
                });
            }
            "restore-start" => {
                if let Some(start) = restore_start(fields) {
                    events.restore_starts.push(start);
                }
            }
            "restored" | "restore-suspended" => {
                if let Some(done) = restored(fields, kind == "restore-suspended") {
                    events.restores.push(done);
                }
            }
            "error" => {
                // The message is the rest of the line and may hold `=` and spaces.
                let Some((head, message)) = fields.split_once(" message=") else {
                    continue;
                };
                let Some(at_ms) = field(head, "at_ms").and_then(|v| v.parse().ok()) else {
                    continue;
                };
                events.errors.push(AppError {
                    message: message.to_string(),
                    at_ms,
                });
            }
            "closed" => {
                let Some(at_ms) = field(fields, "at_ms").and_then(|v| v.parse().ok()) else {
                    continue;
                };
                events.closed = Some(Closed {
                    at_ms,
                    clean: field(fields, "clean") != Some("false"),
                });
            }
            _ => {}
        }
    }
    events
}

/// The value of `name=value` among space-separated fields.
fn field<'a>(fields: &'a str, name: &str) -> Option<&'a str> {
    fields
        .split(' ')
        .filter_map(|w| w.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn restore_start(fields: &str) -> Option<RestoreStart> {
    Some(RestoreStart {
        store: field(fields, "store")?.to_string(),
        topic: field(fields, "topic")?.to_string(),
        partition: field(fields, "partition")?.parse().ok()?,
        start: field(fields, "start")?.parse().ok()?,
        end: field(fields, "end")?.parse().ok()?,
        at_ms: field(fields, "at_ms")?.parse().ok()?,
    })
}

fn restored(fields: &str, suspended: bool) -> Option<Restored> {
    Some(Restored {
        store: field(fields, "store")?.to_string(),
        topic: field(fields, "topic")?.to_string(),
        partition: field(fields, "partition")?.parse().ok()?,
        records: field(fields, "records")?.parse().ok()?,
        ms: field(fields, "ms")?.parse().ok()?,
        suspended,
        at_ms: field(fields, "at_ms")?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
=== cutover: Kafka Streams application `app` started (pid 42) ===
[2026-01-01 10:00:00,000] INFO stream-client [app-1] State transition from CREATED to REBALANCING (org.apache.kafka.streams.KafkaStreams)
cutover-app: state CREATED REBALANCING at_ms=1000
cutover-app: restore-start store=totals topic=app-totals-changelog partition=2 start=0 end=57 at_ms=1100
cutover-app: restore-start store=totals topic=app-totals-changelog partition=0 start=3 end=40 at_ms=1101
cutover-app: restored store=totals topic=app-totals-changelog partition=2 records=57 ms=35 at_ms=1135
cutover-app: restore-suspended store=totals topic=app-totals-changelog partition=0 records=9 ms=20 at_ms=1121
cutover-app: state REBALANCING RUNNING at_ms=1500
cutover-app: state RUNNING REBALANCING at_ms=1600
cutover-app: state REBALANCING RUNNING at_ms=1700
cutover-app: restored store=totals topic=broken partition=x records=1 ms=1 at_ms=1
cutover-app: state RUNNING
  cutover-app: state RUNNING ERROR at_ms=1
cutover-app: error at_ms=1800 message=org.apache.kafka.common.KafkaException: a=b failed c d
cutover-app: state RUNNING PENDING_SHUTDOWN at_ms=1900
cutover-app: closed at_ms=2000 clean=true
";

    #[test]
    fn states_restores_errors_and_the_close_are_parsed_with_their_times() {
        let e = parse_events(LOG);
        let states: Vec<(&str, &str, u64)> = e
            .states
            .iter()
            .map(|s| (s.from.as_str(), s.to.as_str(), s.at_ms))
            .collect();
        assert_eq!(
            states,
            vec![
                ("CREATED", "REBALANCING", 1000),
                ("REBALANCING", "RUNNING", 1500),
                ("RUNNING", "REBALANCING", 1600),
                ("REBALANCING", "RUNNING", 1700),
                ("RUNNING", "PENDING_SHUTDOWN", 1900),
            ],
            "log4j2's own line, an indented line and lines without at_ms are not events"
        );
        assert_eq!(e.first_running_ms(), Some(1500));
        assert_eq!(e.current_state(), Some("PENDING_SHUTDOWN"));
        assert_eq!(
            e.restore_starts[0],
            RestoreStart {
                store: "totals".into(),
                topic: "app-totals-changelog".into(),
                partition: 2,
                start: 0,
                end: 57,
                at_ms: 1100
            }
        );
        assert_eq!(e.restores.len(), 2, "the malformed partition is skipped");
        assert!(e.restores[1].suspended);
        assert_eq!(e.restored("totals").count(), 1);
        assert_eq!(
            e.restored_records("totals"),
            57,
            "a suspended restore is not a restore"
        );
        assert_eq!(e.restored_records("other"), 0);
        assert_eq!(e.restore_span_ms(), Some(35));
        assert_eq!(
            e.errors,
            vec![AppError {
                message: "org.apache.kafka.common.KafkaException: a=b failed c d".into(),
                at_ms: 1800
            }]
        );
        assert_eq!(
            e.closed,
            Some(Closed {
                at_ms: 2000,
                clean: true
            })
        );
    }

    #[test]
    fn an_empty_or_foreign_log_has_no_events() {
        assert_eq!(parse_events(""), AppEvents::default());
        let e = parse_events(
            "cutover-app: closed at_ms=5 clean=false\nnoise cutover-app: closed at_ms=9\n",
        );
        assert_eq!(
            e.closed,
            Some(Closed {
                at_ms: 5,
                clean: false
            })
        );
        assert_eq!(e.first_running_ms(), None);
        assert_eq!(e.restore_span_ms(), None);
    }
}
