//! `etcdctl version`: prints the client and API versions.

use super::error::CtlResult;
use super::usage::{API_VERSION, VERSION};
use super::Invocation;

pub fn run(_inv: &Invocation) -> CtlResult {
    println!("etcdctl version: {VERSION}");
    println!("API version: {API_VERSION}");
    Ok(())
}
