//! The `myelin` binary: `myelin serve` runs a broker; `myelin topic ...`, `myelin group
//! ...`, `myelin produce` and `myelin consume` speak the Kafka protocol to any broker.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve(_)) {
        tune_allocator();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("myelin")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => cli::serve::run(args).await,
            Command::Topic(command) => {
                cli::telemetry::init_quiet();
                cli::topic::run(command).await
            }
            Command::Produce(args) => {
                cli::telemetry::init_quiet();
                cli::produce::run(args).await
            }
            Command::Consume(args) => {
                cli::telemetry::init_quiet();
                cli::consume::run(args).await
            }
            Command::Group(command) => {
                cli::telemetry::init_quiet();
                cli::group::run(command).await
            }
            Command::Acl(command) => {
                cli::telemetry::init_quiet();
                cli::acl::run(command).await
            }
            Command::Quota(command) => {
                cli::telemetry::init_quiet();
                cli::quota::run(command).await
            }
        }
    });
    // Produce's stdin reader may still block on a read: do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc's allocator gives memory back to the kernel when the top of a heap holds more
/// than its trim threshold free (128 KiB, raised at most to twice the mmap threshold), and
/// maps each block above the mmap threshold on its own. A broker frees every request's
/// buffers (up to `message.max.bytes` per batch) right after handling it, so each request
/// faulted its pages in again: with librdkafka's 1 MB produce requests, page faults and the
/// copies that took them were about a fifth of the broker's CPU (docs/performance.md,
/// "Third round", the allocator). Keeping up to 64 MiB free at the top of each heap, and
/// mapping only blocks over 8 MiB on their own, keeps those pages. An idle broker's RSS is
/// unchanged; a busy one holds on to what its largest bursts used, per allocator arena.
///
/// `GLIBC_TUNABLES` that set `glibc.malloc.*` win: then nothing is changed here.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.")) {
            return;
        }
        const TRIM_THRESHOLD: libc::c_int = 64 << 20;
        const MMAP_THRESHOLD: libc::c_int = 8 << 20;
        // SAFETY: mallopt only sets allocator parameters; it is called before any thread
        // is started, with parameters and values glibc documents.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}
