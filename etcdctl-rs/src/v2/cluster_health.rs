//! `cluster-health`: asks every member's client URLs for `/health` and
//! sums up (`--forever` repeats every 10 seconds).

use std::time::Duration;

use super::cli::{Command, Flag, Kind};
use super::client::{Client, Endpoint, Request};
use super::context::{handle_error, Ctx, Exit, EXIT_CLUSTER_NOT_HEALTHY, EXIT_SERVER_ERROR};
use super::member::fetch_members;

pub const COMMAND: Command = Command::leaf(
    "cluster-health",
    "check the health of the etcd cluster",
    " ",
    &[Flag::new(
        &["forever", "f"],
        Kind::Bool,
        "forever check the health every 10 second until CTRL+C",
        "",
    )],
);

pub async fn run(ctx: &mut Ctx) -> Result<(), Exit> {
    let forever = ctx.flags.bool("forever");
    let mut c = ctx.client_no_sync()?;
    let members = match fetch_members(&mut c).await {
        Ok(m) => m,
        Err(e) => {
            println!("cluster may be unhealthy: failed to list members");
            return Err(handle_error(EXIT_SERVER_ERROR, &e));
        }
    };
    loop {
        let mut healthy = 0;
        for m in &members {
            if m.client_urls.is_empty() {
                println!(
                    "member {} is unreachable: no available published client urls",
                    m.id
                );
                continue;
            }
            let mut checked = false;
            for url in &m.client_urls {
                match check(&c, url).await {
                    Err(e) => {
                        println!(
                            "failed to check the health of member {} on {url}: {e}",
                            m.id
                        )
                    }
                    Ok(ok) => {
                        checked = true;
                        if ok {
                            healthy += 1;
                            println!("member {} is healthy: got healthy result from {url}", m.id);
                        } else {
                            println!(
                                "member {} is unhealthy: got unhealthy result from {url}",
                                m.id
                            );
                        }
                        break;
                    }
                }
            }
            if !checked {
                println!(
                    "member {} is unreachable: [{}] are all unreachable",
                    m.id,
                    m.client_urls.join(" ")
                );
            }
        }
        if healthy == members.len() {
            println!("cluster is healthy");
        } else if healthy == 0 {
            println!("cluster is unavailable");
        } else {
            println!("cluster is degraded");
        }
        if !forever {
            if healthy == members.len() {
                return Ok(());
            }
            return Err(Exit::new(EXIT_CLUSTER_NOT_HEALTHY, String::new()));
        }
        println!("\nnext check after 10 second...\n");
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

/// One `/health` probe: `Ok(healthy)` or the failure text.
async fn check(base: &Client, url: &str) -> Result<bool, String> {
    let ep = Endpoint::parse(url)?;
    let mut probe = Client::new(vec![ep], base.tls_config(), Duration::ZERO, None, false);
    let a = probe
        .call(&Request::new("GET", "/health".into()))
        .await
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_slice(&a.body).map_err(|e| e.to_string())?;
    Ok(match v.get("health") {
        Some(serde_json::Value::String(s)) => s == "true",
        Some(serde_json::Value::Bool(b)) => *b,
        _ => false,
    })
}
