//! The harness's error type: every variant names the cause and what to do about it.

use std::path::PathBuf;

/// Errors raised while fetching Kafka, starting, controlling or reaching a cluster.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("unsupported Kafka version `{version}`: {reason}")]
    UnsupportedVersion { version: String, reason: String },

    #[error(
        "Kafka {version} is not on Maven Central (org.apache.kafka:kafka_2.13:{version} could not be resolved). \
         Pick a released version such as {default}; Maven said:\n{detail}"
    )]
    UnknownVersion {
        version: String,
        default: String,
        detail: String,
    },

    #[error(
        "no Java found: {detail}. Kafka 4.x brokers need Java 17 or newer; install it \
         (Debian: `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME"
    )]
    JavaMissing { detail: String },

    #[error("Java at {path} is version {major}; Kafka 4.x brokers need Java 17 or newer (set JAVA_HOME to a newer JDK)")]
    JavaTooOld { path: PathBuf, major: u32 },

    #[error(
        "Maven (`mvn`) is needed to fetch the Kafka {version} jars into the cache and was not found: {detail}. \
         Install it (Debian: `apt-get install maven`) or fill the cache on another machine and copy {cache}"
    )]
    MavenMissing {
        version: String,
        cache: PathBuf,
        detail: String,
    },

    #[error("fetching Kafka {version} jars failed (exit {status}); the cache was left untouched. Maven said:\n{detail}")]
    FetchFailed {
        version: String,
        status: String,
        detail: String,
    },

    #[error(
        "the Kafka {version} jar cache at {dir} is damaged: {detail}. It is re-fetched automatically; \
         run `cutover fetch-kafka --kafka-version {version} --force` to do it now"
    )]
    CacheDamaged {
        version: String,
        dir: PathBuf,
        detail: String,
    },

    #[error("port {port} on 127.0.0.1 is already in use ({what}); choose another port or leave it unset so a free one is picked")]
    PortInUse { port: u16, what: String },

    #[error("invalid cluster spec: {field}: {reason}")]
    InvalidSpec { field: String, reason: String },

    #[error("broker {node_id} of cluster `{cluster}` failed to start: {cause}\n--- last lines of {log} ---\n{tail}")]
    BrokerStartFailed {
        cluster: String,
        node_id: u32,
        cause: String,
        log: PathBuf,
        tail: String,
    },

    #[error("storage format of broker {node_id} of cluster `{cluster}` failed: {detail}")]
    FormatFailed {
        cluster: String,
        node_id: u32,
        detail: String,
    },

    #[error("cluster `{cluster}` was not ready within {seconds} s: {cause}{log_hint}")]
    NotReady {
        cluster: String,
        seconds: u64,
        cause: String,
        log_hint: String,
    },

    #[error("cluster `{cluster}` has no broker with node id {node_id} (it has {known:?})")]
    NoSuchBroker {
        cluster: String,
        node_id: u32,
        known: Vec<u32>,
    },

    #[error("`{operation}` is not possible on cluster `{cluster}`: the {backend} backend does not own its brokers")]
    NotOwned {
        cluster: String,
        backend: &'static str,
        operation: &'static str,
    },

    #[error("Docker engine not reachable: {detail}. Start one (see `cutover doctor`) or use --backend process")]
    DockerUnavailable { detail: String },

    #[error("container backend: {0}")]
    Container(String),

    #[error("{file}:{line}: client properties: {reason}")]
    ClientProperties {
        file: String,
        line: usize,
        reason: String,
    },

    #[error("Kafka admin/client error on cluster `{cluster}` during {operation}: {detail}")]
    Kafka {
        cluster: String,
        operation: String,
        detail: String,
    },

    #[error("cluster `{cluster}`: {problem}")]
    Connect {
        cluster: String,
        problem: Box<crate::diagnose::ConnectProblem>,
    },

    #[error("fault proxy {listen} -> {upstream}: {reason}")]
    Proxy {
        listen: String,
        upstream: String,
        reason: String,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl HarnessError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
        let context = context.into();
        move |source| HarnessError::Io { context, source }
    }
}

/// Result alias used throughout the harness.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// `origin:line: field `f`: reason` — how every input error (workload specs, replicator configs,
/// scenario files) names where it is; parts that are unknown are left out.
pub fn located_message(origin: &str, line: usize, field: &str, reason: &str) -> String {
    let at = match (origin.is_empty(), line) {
        (true, _) => String::new(),
        (false, 0) => format!("{origin}: "),
        (false, l) => format!("{origin}:{l}: "),
    };
    let field = if field.is_empty() {
        String::new()
    } else {
        format!("field `{field}`: ")
    };
    format!("{at}{field}{reason}")
}

/// The 1-based line of byte `offset` in `text` (parsers report spans as byte ranges).
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The 1-based line where `field` (a dotted path such as `run.duration_secs`,
/// `fault[1].instance` or `workload.producer[0].rate`) is written in the TOML `text`, from the
/// parser's spans: the key's line, or an array element's. A path only partly present gives
/// the line of its deepest present part (a missing key points at its table); None when the
/// text is not TOML or nothing of the path is there.
pub fn line_of_field(text: &str, field: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut table: &DeTable = root.get_ref();
    let mut found: Option<std::ops::Range<usize>> = None;
    for segment in field.split('.').filter(|s| !s.is_empty()) {
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        let Some((key, value)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == name) else {
            break;
        };
        found = Some(key.span());
        let mut value = value;
        if let Some(i) = index {
            match value.get_ref() {
                DeValue::Array(items) => match items.get(i) {
                    Some(item) => {
                        found = Some(item.span());
                        value = item;
                    }
                    None => break,
                },
                _ => break,
            }
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found.map(|span| line_of(text, span.start))
}

/// The line of `field` in a TOML `text` for an error message: from the parser's spans
/// ([`line_of_field`]); for text that does not parse, the first `key =` line of the field's
/// last segment; 0 when neither finds it.
pub fn field_line(text: &str, field: &str) -> usize {
    if let Some(line) = line_of_field(text, field) {
        return line;
    }
    let last = field.rsplit('.').next().unwrap_or(field);
    let last = last.split('[').next().unwrap_or(last);
    let at_start = text.lines().position(|l| {
        let l = l.trim_start();
        l.starts_with(last) && l[last.len()..].trim_start().starts_with('=')
    });
    // Inline tables: `rate = { records_per_sec = 5 }`.
    let inline = || {
        text.lines().position(|l| {
            l.match_indices(last)
                .any(|(i, _)| l[i + last.len()..].trim_start().starts_with('='))
        })
    };
    at_start.or_else(inline).map_or(0, |i| i + 1)
}

#[cfg(test)]
mod field_line_tests {
    use super::line_of_field;

    #[test]
    fn fields_are_found_by_their_spans_not_by_their_last_name() {
        let text = "[scenario]\nname = \"x\"\n\n[workload.record]\norder = 1\n\n[verify]\norder = true\n\n[[fault]]\nat_secs = 1\n\n[[fault]]\nat_secs = 2\ninstance = 3\nrate = { records_per_sec = 5 }\n";
        assert_eq!(line_of_field(text, "verify.order"), Some(8));
        assert_eq!(line_of_field(text, "workload.record.order"), Some(5));
        assert_eq!(line_of_field(text, "fault[1].instance"), Some(15));
        assert_eq!(line_of_field(text, "fault[1].at_secs"), Some(14));
        assert_eq!(
            line_of_field(text, "fault[1].rate.records_per_sec"),
            Some(16)
        );
        // A missing key points at the deepest part that is there.
        assert_eq!(line_of_field(text, "verify.offsets"), Some(7));
        assert_eq!(line_of_field(text, "nothing.here"), None);
        assert_eq!(line_of_field("not = [toml", "not"), None);
    }
}
