//! The contenders: what each copies with (built-in replicator modes, MirrorMaker 2, the
//! copy and produce limits) and the one-knob-at-a-time tuning matrix.

/// Where a row goes in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Baseline,
    System,
    Matrix,
}

/// What copies the records.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A plain consume → produce loop: no transactions, no checkpoints, no group.
    CopyLimit,
    /// rdkafka at full speed into the target (acks=all, idempotent): what the target takes.
    ProduceLimit,
    /// The built-in replicator in this process: `instances` engines in one group, the default
    /// tuning with `tuning` entries (TOML literals) put over it.
    Builtin {
        mode: &'static str,
        tuning: Vec<(String, String)>,
        instances: u32,
    },
    /// Apache Kafka's MirrorMaker 2, one dedicated-mode JVM, configured as the scenarios
    /// configure it (`scenarios::system::mirrormaker2::config`).
    MirrorMaker2 {
        exactly_once: bool,
        /// `target.producer.*` entries over MirrorMaker 2's (Connect's) producer defaults.
        producer: Vec<(String, String)>,
    },
    /// MirrorMaker 2's MirrorSourceConnector on a Kafka Connect cluster of one worker (the
    /// seed's shape: a replication connector on Connect), deployed through REST as the
    /// scenarios' `mirrormaker2` preset deploys it (`scenarios::system::connect::connectors`).
    MirrorMaker2Connect { exactly_once: bool },
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Contender {
    pub name: String,
    /// The setting that differs from the default (matrix rows), for the table.
    pub setting: String,
    pub section: Section,
    pub kind: Kind,
}

impl Contender {
    fn new(name: &str, section: Section, kind: Kind) -> Contender {
        Contender {
            name: name.into(),
            setting: String::new(),
            section,
            kind,
        }
    }

    pub fn copy_limit() -> Contender {
        Contender::new("copy limit", Section::Baseline, Kind::CopyLimit)
    }

    pub fn produce_limit() -> Contender {
        Contender::new(
            "target produce limit",
            Section::Baseline,
            Kind::ProduceLimit,
        )
    }

    pub fn builtin(mode: &'static str) -> Contender {
        let name = match mode {
            "exactly-once" => "built-in exactly-once",
            _ => "built-in at-least-once",
        };
        Contender::new(
            name,
            Section::System,
            Kind::Builtin {
                mode,
                tuning: Vec::new(),
                instances: 1,
            },
        )
    }

    pub fn mirrormaker2(exactly_once: bool) -> Contender {
        let name = if exactly_once {
            "MirrorMaker 2 exactly-once"
        } else {
            "MirrorMaker 2 exactly-once off"
        };
        Contender::new(
            name,
            Section::System,
            Kind::MirrorMaker2 {
                exactly_once,
                producer: Vec::new(),
            },
        )
    }

    pub fn mirrormaker2_connect(exactly_once: bool) -> Contender {
        let name = if exactly_once {
            "MirrorMaker 2 on Connect exactly-once"
        } else {
            "MirrorMaker 2 on Connect exactly-once off"
        };
        Contender::new(
            name,
            Section::System,
            Kind::MirrorMaker2Connect { exactly_once },
        )
    }

    /// A matrix row: MirrorMaker 2 exactly-once with the producer batching like the built-in
    /// replicator's default (Connect's producer defaults to 16 KiB batches, no linger).
    pub fn mirrormaker2_batching() -> Contender {
        Contender {
            name: "MirrorMaker 2 exactly-once".into(),
            setting: "producer batch.size = 1000000, linger.ms = 5".into(),
            section: Section::Matrix,
            kind: Kind::MirrorMaker2 {
                exactly_once: true,
                producer: vec![
                    ("batch.size".into(), "1000000".into()),
                    ("linger.ms".into(), "5".into()),
                ],
            },
        }
    }

    /// A matrix row: built-in exactly-once with one tuning entry changed.
    pub fn tuned(key: &str, value: &str) -> Contender {
        Contender {
            name: "built-in exactly-once".into(),
            setting: format!("{key} = {value}"),
            section: Section::Matrix,
            kind: Kind::Builtin {
                mode: "exactly-once",
                tuning: vec![(key.into(), value.into())],
                instances: 1,
            },
        }
    }

    /// A matrix row: built-in exactly-once with `n` instances (engines) in one group.
    pub fn workers(n: u32) -> Contender {
        Contender {
            name: "built-in exactly-once".into(),
            setting: format!("instances = {n}"),
            section: Section::Matrix,
            kind: Kind::Builtin {
                mode: "exactly-once",
                tuning: Vec::new(),
                instances: n,
            },
        }
    }
}

/// The one-at-a-time variations of the matrix: each changes one knob of the built-in
/// replicator's exactly-once default (`replicator::config::Tuning::default`).
pub fn matrix() -> Vec<Contender> {
    let mut rows: Vec<Contender> = [
        ("batch_size", "16384"),
        ("batch_size", "262144"),
        ("linger_ms", "0"),
        ("linger_ms", "50"),
        ("compression", "\"lz4\""),
        ("compression", "\"zstd\""),
        ("max_partition_fetch_bytes", "262144"),
        ("max_partition_fetch_bytes", "8388608"),
        ("fetch_max_bytes", "1048576"),
        ("commit_interval_ms", "50"),
        ("commit_interval_ms", "1000"),
    ]
    .iter()
    .map(|(k, v)| Contender::tuned(k, v))
    .collect();
    for size in ["65536", "4194304"] {
        rows.push(Contender {
            name: "built-in exactly-once".into(),
            setting: format!("socket buffers = {size}"),
            section: Section::Matrix,
            kind: Kind::Builtin {
                mode: "exactly-once",
                tuning: vec![
                    ("socket_send_buffer_bytes".into(), size.into()),
                    ("socket_receive_buffer_bytes".into(), size.into()),
                ],
                instances: 1,
            },
        });
    }
    rows.push(Contender::workers(2));
    rows.push(Contender::mirrormaker2_batching());
    // The default again after all of the above: how far the machine drifted during the matrix
    // (page cache, the target deleting earlier contenders' segments) is the noise floor.
    rows.push(Contender {
        name: "built-in exactly-once".into(),
        setting: "default again (control)".into(),
        section: Section::Matrix,
        kind: Kind::Builtin {
            mode: "exactly-once",
            tuning: Vec::new(),
            instances: 1,
        },
    });
    rows
}
