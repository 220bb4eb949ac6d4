//! Output printers selected by `-w/--write-out`: simple, json, fields,
//! table and protobuf. Each printer implements the subset of [`Printer`]
//! that etcdctl supports for that format; everything else reports
//! "<format> not supported as output format" (exit code 4), as etcdctl does.

mod fields;
mod json;
mod jsonw;
mod protobuf;
mod simple;
mod table;
mod tablewriter;

use std::io::Write;

use etcd_proto::etcdserverpb::{
    AlarmResponse, DeleteRangeResponse, HashKvResponse, LeaseGrantResponse, LeaseKeepAliveResponse,
    LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, MemberAddResponse,
    MemberListResponse, MemberPromoteResponse, MemberRemoveResponse, MemberUpdateResponse,
    MoveLeaderResponse, PutResponse, RangeResponse, ResponseHeader, StatusResponse, TxnResponse,
};
use etcd_proto::etcdserverpb::{
    AuthRoleAddResponse, AuthRoleDeleteResponse, AuthRoleGetResponse,
    AuthRoleGrantPermissionResponse, AuthRoleListResponse, AuthRoleRevokePermissionResponse,
    AuthUserAddResponse, AuthUserChangePasswordResponse, AuthUserDeleteResponse,
    AuthUserGetResponse, AuthUserGrantRoleResponse, AuthUserListResponse,
    AuthUserRevokeRoleResponse,
};
use etcd_proto::mvccpb::Event;

use super::error::{CtlError, CtlResult, EXIT_BAD_FEATURE};

/// Buffered output of one printer call, split by stream.
#[derive(Debug, Default)]
pub struct Out {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Out {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends to stdout.
    pub fn print(&mut self, s: &str) {
        self.stdout.extend_from_slice(s.as_bytes());
    }

    /// Appends a line to stdout.
    pub fn println(&mut self, s: &str) {
        self.print(s);
        self.stdout.push(b'\n');
    }

    /// Appends raw bytes to stdout.
    pub fn write_bytes(&mut self, b: &[u8]) {
        self.stdout.extend_from_slice(b);
    }

    /// Appends to stderr.
    pub fn eprint(&mut self, s: &str) {
        self.stderr.extend_from_slice(s.as_bytes());
    }

    /// Writes everything buffered to the real streams and clears the buffers.
    pub fn flush(&mut self) {
        if !self.stdout.is_empty() {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(&self.stdout);
            let _ = o.flush();
            self.stdout.clear();
        }
        if !self.stderr.is_empty() {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(&self.stderr);
            let _ = e.flush();
            self.stderr.clear();
        }
    }
}

/// clientv3's `WatchResponse` as etcdctl sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchResp {
    pub header: ResponseHeader,
    pub events: Vec<Event>,
    pub compact_revision: i64,
    pub canceled: bool,
    pub created: bool,
}

/// The result of checking one endpoint's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpHealth {
    pub ep: String,
    pub health: bool,
    pub took: String,
    pub error: String,
}

/// The status of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EpStatus {
    pub ep: String,
    pub resp: StatusResponse,
}

/// The KV hash of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EpHashKv {
    pub ep: String,
    pub resp: HashKvResponse,
}

/// What `snapshot status` reports about a snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbStatus {
    pub hash: u32,
    pub revision: i64,
    pub total_key: usize,
    pub total_size: u64,
}

/// The result of a `user` or `role` command, with the names the command
/// was given (etcdctl's printer calls `UserAdd(user, resp)`, ...).
#[derive(Debug, Clone, PartialEq)]
pub enum AuthResult<'a> {
    RoleAdd(&'a str, AuthRoleAddResponse),
    RoleGet(&'a str, AuthRoleGetResponse),
    RoleDelete(&'a str, AuthRoleDeleteResponse),
    RoleList(AuthRoleListResponse),
    RoleGrantPermission(&'a str, AuthRoleGrantPermissionResponse),
    /// Role, key and range end as the command computed them.
    RoleRevokePermission(
        &'a str,
        &'a [u8],
        &'a [u8],
        AuthRoleRevokePermissionResponse,
    ),
    UserAdd(&'a str, AuthUserAddResponse),
    UserGet(&'a str, AuthUserGetResponse),
    UserList(AuthUserListResponse),
    UserChangePassword(AuthUserChangePasswordResponse),
    /// User and role.
    UserGrantRole(&'a str, &'a str, AuthUserGrantRoleResponse),
    UserRevokeRole(&'a str, &'a str, AuthUserRevokeRoleResponse),
    UserDelete(&'a str, AuthUserDeleteResponse),
}

impl AuthResult<'_> {
    /// The response header, whatever the response.
    pub fn header(&self) -> &Option<ResponseHeader> {
        match self {
            AuthResult::RoleAdd(_, r) => &r.header,
            AuthResult::RoleGet(_, r) => &r.header,
            AuthResult::RoleDelete(_, r) => &r.header,
            AuthResult::RoleList(r) => &r.header,
            AuthResult::RoleGrantPermission(_, r) => &r.header,
            AuthResult::RoleRevokePermission(_, _, _, r) => &r.header,
            AuthResult::UserAdd(_, r) => &r.header,
            AuthResult::UserGet(_, r) => &r.header,
            AuthResult::UserList(r) => &r.header,
            AuthResult::UserChangePassword(r) => &r.header,
            AuthResult::UserGrantRole(_, _, r) => &r.header,
            AuthResult::UserRevokeRole(_, _, r) => &r.header,
            AuthResult::UserDelete(_, r) => &r.header,
        }
    }
}

/// Every kind of output etcdctl prints through its display printer.
pub trait Printer {
    /// The `-w` value, for "<format> not supported as output format".
    fn format(&self) -> &'static str;

    fn unsupported(&self) -> CtlResult {
        Err(CtlError::new(
            EXIT_BAD_FEATURE,
            format!("{} not supported as output format", self.format()),
        ))
    }

    fn is_simple(&self) -> bool {
        false
    }

    fn del(&self, _o: &mut Out, _r: &DeleteRangeResponse) -> CtlResult {
        self.unsupported()
    }
    fn get(&self, _o: &mut Out, _r: &RangeResponse) -> CtlResult {
        self.unsupported()
    }
    fn put(&self, _o: &mut Out, _r: &PutResponse) -> CtlResult {
        self.unsupported()
    }
    fn txn(&self, _o: &mut Out, _r: &TxnResponse) -> CtlResult {
        self.unsupported()
    }
    fn watch(&self, _o: &mut Out, _r: &WatchResp) -> CtlResult {
        self.unsupported()
    }
    fn grant(&self, _o: &mut Out, _r: &LeaseGrantResponse) -> CtlResult {
        self.unsupported()
    }
    fn revoke(&self, _o: &mut Out, _id: i64, _r: &LeaseRevokeResponse) -> CtlResult {
        self.unsupported()
    }
    fn keep_alive(&self, _o: &mut Out, _r: &LeaseKeepAliveResponse) -> CtlResult {
        self.unsupported()
    }
    fn time_to_live(&self, _o: &mut Out, _r: &LeaseTimeToLiveResponse, _keys: bool) -> CtlResult {
        self.unsupported()
    }
    fn leases(&self, _o: &mut Out, _r: &LeaseLeasesResponse) -> CtlResult {
        self.unsupported()
    }
    fn member_add(&self, _o: &mut Out, _r: &MemberAddResponse) -> CtlResult {
        self.unsupported()
    }
    fn member_remove(&self, _o: &mut Out, _id: u64, _r: &MemberRemoveResponse) -> CtlResult {
        self.unsupported()
    }
    fn member_update(&self, _o: &mut Out, _id: u64, _r: &MemberUpdateResponse) -> CtlResult {
        self.unsupported()
    }
    fn member_promote(&self, _o: &mut Out, _id: u64, _r: &MemberPromoteResponse) -> CtlResult {
        self.unsupported()
    }
    fn member_list(&self, _o: &mut Out, _r: &MemberListResponse) -> CtlResult {
        self.unsupported()
    }
    fn endpoint_health(&self, _o: &mut Out, _r: &[EpHealth]) -> CtlResult {
        self.unsupported()
    }
    fn endpoint_status(&self, _o: &mut Out, _r: &[EpStatus]) -> CtlResult {
        self.unsupported()
    }
    fn endpoint_hashkv(&self, _o: &mut Out, _r: &[EpHashKv]) -> CtlResult {
        self.unsupported()
    }
    fn alarm(&self, _o: &mut Out, _r: &AlarmResponse) -> CtlResult {
        self.unsupported()
    }
    fn move_leader(
        &self,
        _o: &mut Out,
        _leader: u64,
        _target: u64,
        _r: &MoveLeaderResponse,
    ) -> CtlResult {
        self.unsupported()
    }
    fn db_status(&self, _o: &mut Out, _r: &DbStatus) -> CtlResult {
        self.unsupported()
    }
    fn auth(&self, _o: &mut Out, _r: &AuthResult) -> CtlResult {
        self.unsupported()
    }
}

/// etcdctl's `NewPrinter`: `None` for an unknown format.
pub fn new(format: &str, hex: bool) -> Option<Box<dyn Printer>> {
    Some(match format {
        "simple" => Box::new(simple::SimplePrinter::new(hex, false)),
        "json" => Box::new(json::JsonPrinter),
        "fields" => Box::new(fields::FieldsPrinter),
        "protobuf" => Box::new(protobuf::ProtobufPrinter),
        "table" => Box::new(table::TablePrinter),
        _ => return None,
    })
}

/// The simple printer with `--print-value-only` applied.
pub fn simple_value_only(hex: bool) -> Box<dyn Printer> {
    Box::new(simple::SimplePrinter::new(hex, true))
}

/// gogo's `String()` of an `AlarmMember` (`proto.CompactTextString`).
pub fn alarm_member_text(member_id: u64, alarm: i32) -> String {
    let mut out = String::new();
    if member_id != 0 {
        out.push_str(&format!("memberID:{member_id} "));
    }
    if alarm != 0 {
        out.push_str(&format!("alarm:{} ", alarm_name(alarm)));
    }
    out
}

/// The Go enum name of an `AlarmType`.
pub fn alarm_name(alarm: i32) -> String {
    match alarm {
        0 => "NONE".into(),
        1 => "NOSPACE".into(),
        2 => "CORRUPT".into(),
        n => n.to_string(),
    }
}

/// The Go enum name of an event type.
pub fn event_type_name(t: i32) -> String {
    match t {
        0 => "PUT".into(),
        1 => "DELETE".into(),
        n => n.to_string(),
    }
}

/// Rows shared by the simple and table printers (`makeMemberListTable`).
pub fn member_list_rows(r: &MemberListResponse) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let hdr = vec![
        "ID",
        "Status",
        "Name",
        "Peer Addrs",
        "Client Addrs",
        "Is Learner",
    ];
    let rows = r
        .members
        .iter()
        .map(|m| {
            vec![
                format!("{:x}", m.id),
                if m.name.is_empty() {
                    "unstarted"
                } else {
                    "started"
                }
                .to_string(),
                m.name.clone(),
                m.peer_ur_ls.join(","),
                m.client_ur_ls.join(","),
                m.is_learner.to_string(),
            ]
        })
        .collect();
    (hdr, rows)
}

/// `makeEndpointHealthTable`.
pub fn endpoint_health_rows(list: &[EpHealth]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let hdr = vec!["endpoint", "health", "took", "error"];
    let rows = list
        .iter()
        .map(|h| {
            vec![
                h.ep.clone(),
                h.health.to_string(),
                h.took.clone(),
                h.error.clone(),
            ]
        })
        .collect();
    (hdr, rows)
}

/// `makeEndpointStatusTable`.
pub fn endpoint_status_rows(list: &[EpStatus]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let hdr = vec![
        "endpoint",
        "ID",
        "version",
        "db size",
        "is leader",
        "is learner",
        "raft term",
        "raft index",
        "raft applied index",
        "errors",
    ];
    let rows = list
        .iter()
        .map(|s| {
            let member_id = s.resp.header.as_ref().map(|h| h.member_id).unwrap_or(0);
            vec![
                s.ep.clone(),
                format!("{member_id:x}"),
                s.resp.version.clone(),
                super::gofmt::humanize_bytes(s.resp.db_size as u64),
                (s.resp.leader == member_id).to_string(),
                s.resp.is_learner.to_string(),
                s.resp.raft_term.to_string(),
                s.resp.raft_index.to_string(),
                s.resp.raft_applied_index.to_string(),
                s.resp.errors.join(", "),
            ]
        })
        .collect();
    (hdr, rows)
}

/// `makeEndpointHashKVTable`.
pub fn endpoint_hashkv_rows(list: &[EpHashKv]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let hdr = vec!["endpoint", "hash"];
    let rows = list
        .iter()
        .map(|h| vec![h.ep.clone(), h.resp.hash.to_string()])
        .collect();
    (hdr, rows)
}

/// `makeDBStatusTable`.
pub fn db_status_rows(ds: &DbStatus) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let hdr = vec!["hash", "revision", "total keys", "total size"];
    let row = vec![
        format!("{:x}", ds.hash),
        ds.revision.to_string(),
        ds.total_key.to_string(),
        super::gofmt::humanize_bytes(ds.total_size),
    ];
    (hdr, vec![row])
}
