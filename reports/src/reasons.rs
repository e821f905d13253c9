//! Why a run failed or could not decide, as named classes.
//!
//! A report's `failures` (the system did something wrong: the outcome is FAIL) and `undecided`
//! (cutover could not observe what the run claims: with no failure, the outcome is UNKNOWN)
//! are lists of [`Reason`]s: a [`Class`] (one of the checker's anomaly classes, or a run-level
//! [`RunClass`]), a count and one line in words. A scenario's `[expect]` names the classes it
//! must show, and CI tools can count them without parsing sentences.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use verdict::AnomalyClass;

/// What went wrong around the record-level verdict, each counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunClass {
    /// The target never held every source partition's records within the drain timeout
    /// (count: partitions still short, or 1 when no partition is named).
    NotCaughtUp,
    /// An instance of the system under test exited on its own (count: instances).
    InstanceExited,
    /// A target topic the system was to copy into does not exist (count: topics).
    TargetTopicMissing,
    /// A consumer group would skip records on the target after the cutover (count: partitions).
    GroupSkipped,
    /// A consumer group would read records again on the target, beyond what it allows
    /// (count: partitions).
    GroupReRead,
    /// A consumer group's target position points at other records (count: partitions).
    GroupMisplaced,
    /// A consumer group's offsets were never translated to the target (count: partitions).
    GroupUntranslated,
    /// Schema registries: two sources differ at one subject/version (count: findings).
    RegistryConflict,
    /// Schema registries: a source subject/version is missing on the target.
    RegistryMissing,
    /// Schema registries: the target holds the schema under another version number.
    RegistryVersionMismatch,
    /// Schema registries: the target's schema differs in content.
    RegistryContentMismatch,
    /// Schema registries: a schema reference resolves to nothing.
    RegistryReferenceUnresolved,
    /// Schema registries: a subject's compatibility level differs.
    RegistryCompatibilityMismatch,
    /// A fault was applied but its effect on the system under test was not seen (count:
    /// faults). Makes a run UNKNOWN.
    FaultNotProven,
    /// A fault task failed or panicked before it could say what happened (count: faults).
    /// Makes a run UNKNOWN.
    FaultFailed,
    /// A process of the system under test outlived the run (count: processes).
    ProcessSurvived,
    /// Records the workload's producers had acknowledged and committed are absent from the
    /// source itself (count: records): the source cluster lost them, not the copy.
    SourceLost,
    /// Records left unjudged (an open transaction hides them, a topic skipped; count:
    /// records). Makes a run UNKNOWN unless the scenario allows it.
    Unverified,
    /// The workload delivered under 99 % of the records it sent (count: records not
    /// delivered): the scenario was not exercised as written. Makes a run UNKNOWN.
    WorkloadUndelivered,
    /// The checker could not read a side to the end (count: 1). Makes a run UNKNOWN.
    CheckerFailed,
    /// Rehearsal: records of a source window missing on the target within the bound (count:
    /// records).
    WindowMissing,
    /// Rehearsal: a topic's window could not be judged (count: topics). Makes it UNKNOWN.
    WindowIncomplete,
    /// Rehearsal: a selected topic cannot be checked (absent on the target, partition counts
    /// differ, no topic matched; count: topics).
    TopicUnchecked,
    /// Rehearsal: canary resources left behind (count: resources).
    CleanupIncomplete,
    /// Application cutover: inputs the moved application processed more than once (count:
    /// extra processings).
    Reprocessed,
    /// Application cutover: inputs the moved application never processed (count: inputs).
    Unprocessed,
    /// Application cutover: updates whose state is not what the application's earlier
    /// updates give, its state lost or changed across the switch (count: updates).
    StateDiverged,
    /// Application cutover: updates naming an input their key never had (count: updates).
    AppUnexplained,
    /// Application cutover: the switch did not complete (the copy or the offsets never
    /// reached the target in time, or the application did not start there; count: apps).
    AppNotMoved,
    /// A source transaction seen in parts on the target (`[verify] transactions = "atomic"`;
    /// count: transactions).
    TornTransaction,
    /// A reason from a report written before classes existed (its text only).
    Other,
}

impl RunClass {
    pub const ALL: [RunClass; 31] = [
        RunClass::NotCaughtUp,
        RunClass::InstanceExited,
        RunClass::TargetTopicMissing,
        RunClass::GroupSkipped,
        RunClass::GroupReRead,
        RunClass::GroupMisplaced,
        RunClass::GroupUntranslated,
        RunClass::RegistryConflict,
        RunClass::RegistryMissing,
        RunClass::RegistryVersionMismatch,
        RunClass::RegistryContentMismatch,
        RunClass::RegistryReferenceUnresolved,
        RunClass::RegistryCompatibilityMismatch,
        RunClass::FaultNotProven,
        RunClass::FaultFailed,
        RunClass::ProcessSurvived,
        RunClass::SourceLost,
        RunClass::Unverified,
        RunClass::WorkloadUndelivered,
        RunClass::CheckerFailed,
        RunClass::WindowMissing,
        RunClass::WindowIncomplete,
        RunClass::TopicUnchecked,
        RunClass::CleanupIncomplete,
        RunClass::Reprocessed,
        RunClass::Unprocessed,
        RunClass::StateDiverged,
        RunClass::AppUnexplained,
        RunClass::AppNotMoved,
        RunClass::TornTransaction,
        RunClass::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunClass::NotCaughtUp => "not-caught-up",
            RunClass::InstanceExited => "instance-exited",
            RunClass::TargetTopicMissing => "target-topic-missing",
            RunClass::GroupSkipped => "group-skipped",
            RunClass::GroupReRead => "group-re-read",
            RunClass::GroupMisplaced => "group-misplaced",
            RunClass::GroupUntranslated => "group-untranslated",
            RunClass::RegistryConflict => "registry-conflict",
            RunClass::RegistryMissing => "registry-missing",
            RunClass::RegistryVersionMismatch => "registry-version-mismatch",
            RunClass::RegistryContentMismatch => "registry-content-mismatch",
            RunClass::RegistryReferenceUnresolved => "registry-reference-unresolved",
            RunClass::RegistryCompatibilityMismatch => "registry-compatibility-mismatch",
            RunClass::FaultNotProven => "fault-not-proven",
            RunClass::FaultFailed => "fault-failed",
            RunClass::ProcessSurvived => "process-survived",
            RunClass::SourceLost => "source-lost",
            RunClass::Unverified => "unverified",
            RunClass::WorkloadUndelivered => "workload-undelivered",
            RunClass::CheckerFailed => "checker-failed",
            RunClass::WindowMissing => "window-missing",
            RunClass::WindowIncomplete => "window-incomplete",
            RunClass::TopicUnchecked => "topic-unchecked",
            RunClass::CleanupIncomplete => "cleanup-incomplete",
            RunClass::Reprocessed => "reprocessed",
            RunClass::Unprocessed => "unprocessed",
            RunClass::StateDiverged => "state-diverged",
            RunClass::AppUnexplained => "app-unexplained",
            RunClass::AppNotMoved => "app-not-moved",
            RunClass::TornTransaction => "torn-transaction",
            RunClass::Other => "other",
        }
    }

    /// The class of a schema-registry finding kind (`conflict`, `missing`, …, as
    /// `cutover verify-schemas` names them).
    pub fn of_registry_finding(kind: &str) -> RunClass {
        match kind {
            "conflict" => RunClass::RegistryConflict,
            "missing" => RunClass::RegistryMissing,
            "version-mismatch" => RunClass::RegistryVersionMismatch,
            "content-mismatch" => RunClass::RegistryContentMismatch,
            "reference-unresolved" => RunClass::RegistryReferenceUnresolved,
            "compatibility-mismatch" => RunClass::RegistryCompatibilityMismatch,
            _ => RunClass::Other,
        }
    }
}

/// A named class: a record-level anomaly class of the checker or a run-level class.
/// Written as its kebab-case name in `report.json` and in `[expect] classes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Anomaly(AnomalyClass),
    Run(RunClass),
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Anomaly(c) => c.as_str(),
            Class::Run(c) => c.as_str(),
        }
    }

    /// The class of a kebab-case name, or None.
    pub fn parse(name: &str) -> Option<Class> {
        AnomalyClass::ALL
            .iter()
            .find(|c| c.as_str() == name)
            .map(|c| Class::Anomaly(*c))
            .or_else(|| {
                RunClass::ALL
                    .iter()
                    .find(|c| c.as_str() == name && **c != RunClass::Other)
                    .map(|c| Class::Run(*c))
            })
    }

    /// Every name [`Class::parse`] knows, anomaly classes first.
    pub fn names() -> Vec<&'static str> {
        AnomalyClass::ALL
            .iter()
            .map(|c| c.as_str())
            .chain(
                RunClass::ALL
                    .iter()
                    .filter(|c| **c != RunClass::Other)
                    .map(|c| c.as_str()),
            )
            .collect()
    }
}

impl From<AnomalyClass> for Class {
    fn from(c: AnomalyClass) -> Class {
        Class::Anomaly(c)
    }
}

impl From<RunClass> for Class {
    fn from(c: RunClass) -> Class {
        Class::Run(c)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Class {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Class {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Class, D::Error> {
        let name = String::deserialize(d)?;
        // A class this cutover does not know (a newer report) reads as `other`.
        Ok(Class::parse(&name).unwrap_or(Class::Run(RunClass::Other)))
    }
}

/// One reason a run failed or could not decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub class: Class,
    /// How many of what the class counts (records, partitions, faults, processes).
    pub count: u64,
    /// One line in words, naming what and where.
    pub detail: String,
}

impl Reason {
    pub fn new(class: impl Into<Class>, count: u64, detail: impl Into<String>) -> Reason {
        Reason {
            class: class.into(),
            count,
            detail: detail.into(),
        }
    }

    /// A checker anomaly class and its count (`17 lost`).
    pub fn anomaly(class: AnomalyClass, count: u64) -> Reason {
        Reason::new(class, count, format!("{count} {class}"))
    }

    /// True for the line of a checker anomaly count (the verdict says the rest).
    pub fn is_anomaly_count(&self) -> bool {
        matches!(self.class, Class::Anomaly(_))
    }
}

/// `class: detail` (the detail alone for an anomaly count, which names its class, and for a
/// reason from an older report).
impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.class {
            Class::Anomaly(_) | Class::Run(RunClass::Other) => f.write_str(&self.detail),
            Class::Run(c) => write!(f, "{}: {}", c.as_str(), self.detail),
        }
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Reason, D::Error> {
        /// Reports of major 1 wrote a line of text per reason.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Named {
                class: Class,
                #[serde(default)]
                count: u64,
                #[serde(default)]
                detail: String,
            },
        }
        Ok(match Repr::deserialize(d)? {
            Repr::Text(detail) => Reason {
                class: Class::Run(RunClass::Other),
                count: 1,
                detail,
            },
            Repr::Named {
                class,
                count,
                detail,
            } => Reason {
                class,
                count,
                detail,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_name_parses_back_and_names_are_unique() {
        let names = Class::names();
        for n in &names {
            assert_eq!(Class::parse(n).map(|c| c.as_str()), Some(*n));
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert_eq!(
            Class::parse("other"),
            None,
            "`other` is for old reports only"
        );
        assert_eq!(
            Class::parse("lost"),
            Some(Class::Anomaly(AnomalyClass::Lost))
        );
    }

    #[test]
    fn a_reason_round_trips_and_an_old_text_reason_still_reads() {
        let r = Reason::new(RunClass::ProcessSurvived, 2, "pid 7 (sh copier.sh)");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"class":"process-survived","count":2,"detail":"pid 7 (sh copier.sh)"}"#
        );
        assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), r);
        let old: Reason = serde_json::from_str(r#""12 lost""#).unwrap();
        assert_eq!(old.class, Class::Run(RunClass::Other));
        assert_eq!(old.detail, "12 lost");
    }
}
