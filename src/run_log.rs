//! Logging: the terminal shows cutover's own warnings; during `cutover run` and `cutover
//! rehearse` everything at info and above (librdkafka's lines among them, expected in plenty
//! while a fault is on) goes to `run.log` in the scenario's report dir instead.
//! `CUTOVER_LOG` (an `EnvFilter`, e.g. `debug` or `info,librdkafka=debug`) sets the terminal's
//! filter.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The run log currently written to (none outside a run).
static RUN_LOG: Mutex<Option<File>> = Mutex::new(None);

/// Sends the file layer's lines to `path` (created or appended) from now on.
pub fn open(path: &Path) -> io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    *RUN_LOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    Ok(())
}

/// Stops writing to the run log.
pub fn close() {
    *RUN_LOG.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

#[derive(Clone, Copy)]
struct RunLogWriter;

impl Write for RunLogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match RUN_LOG.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(f) => f.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match RUN_LOG.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for RunLogWriter {
    type Writer = RunLogWriter;
    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// `quiet_clients`: the command runs many Kafka clients through expected faults (`run`,
/// `rehearse`): the terminal then shows only cutover's own warnings, and the client libraries'
/// lines go to the run log. Other commands show info on the terminal as before.
pub fn init(quiet_clients: bool) {
    let terminal_default = if quiet_clients {
        "warn,librdkafka=off,rdkafka=off"
    } else {
        "info,rdkafka=warn"
    };
    let terminal =
        EnvFilter::try_from_env("CUTOVER_LOG").unwrap_or_else(|_| EnvFilter::new(terminal_default));
    let terminal = tracing_subscriber::fmt::layer()
        .with_writer(io::stderr)
        .with_target(false)
        .with_filter(terminal);
    let file = quiet_clients.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(RunLogWriter)
            .with_ansi(false)
            .with_filter(EnvFilter::new("info,rdkafka=warn"))
    });
    tracing_subscriber::registry()
        .with(terminal)
        .with(file)
        .init();
}
