//! The `etcd-rs` server binary: etcd's flags in, a running member out.
//! SIGTERM or Ctrl-C stops it cleanly; a fatal error exits non-zero.

use clap::Parser;
use mimalloc::MiMalloc;
use raft_node::Config;
use tracing_subscriber::EnvFilter;

/// The request path allocates and frees many small buffers on several
/// threads (HTTP/2 frames, protobuf messages, raft entries); mimalloc's
/// thread-local free lists serve that far cheaper than glibc's malloc,
/// which showed as an eighth of a put's CPU time in the profile. Its v2
/// line: v3 returned freed pages to the kernel so eagerly that a fifth of
/// the CPU went to zeroing them again (benches/README.md).
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    // mimalloc commits its arena eagerly and marks it for transparent huge
    // pages, so on kernels that honour the mark an idle member held 50 MiB
    // of 2 MiB pages it had touched a few bytes of (RSS 64 MiB idle, 39
    // without). The member gains nothing from huge pages; refuse them.
    let _ = nix::sys::prctl::set_thp_disable(true);
    let config = Config::parse();
    // Test builds: crash points named in FAILPOINTS kill the process there.
    #[cfg(feature = "failpoints")]
    let _failpoints = {
        raft_node::failpoints::abort_on_crash();
        fail::FailScenario::setup()
    };
    let level = match config.log_level.as_str() {
        "panic" | "fatal" => "error",
        l => l,
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("{level},sled=warn,h2=warn,hyper=warn,tower=warn"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("etcd-rs: cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async move {
        let running = match raft_node::start(config).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "failed to start");
                return 1;
            }
        };
        let code = tokio::select! {
            _ = terminate_signal() => {
                tracing::info!("received stop signal, shutting down");
                0
            }
            reason = running.wait_fatal() => {
                if reason == raft_node::ServerError::Removed.to_string() {
                    // As etcd: a member removed from its cluster stops cleanly.
                    tracing::warn!(%reason, "stopping");
                    0
                } else {
                    tracing::error!(%reason, "member failed");
                    1
                }
            }
        };
        running.stop().await;
        tracing::info!("stopped");
        code
    });
    std::process::exit(code);
}

async fn terminate_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
