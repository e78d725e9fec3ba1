//! Log output: `tracing` events to standard error, as text or JSON lines.

use anyhow::{Context, Result};
use tracing_subscriber::EnvFilter;

use super::config_file::LogFormat;

/// Installs the global subscriber. `level` is a `tracing` filter (`info`,
/// `info,myelin_server=debug`); without one, `RUST_LOG`, else `info`.
pub fn init(format: LogFormat, level: Option<&str>) -> Result<()> {
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).with_context(|| format!("invalid log level {l:?}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    // Colours only on a terminal: not in files, pipes or the journal.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

/// For the client commands: warnings and errors only, unless `RUST_LOG` says otherwise.
pub fn init_quiet() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
