//! etcd's auth state: users, roles, key-range permissions, and the checks
//! that decide whether a user may read or write a key range.
//!
//! This is the deterministic part of auth, applied like everything else in
//! log order: every member holds the same users and roles and answers the
//! same to "may this user touch this range?". Passwords arrive already
//! hashed (hashing is costly and random, so it happens before consensus, as
//! in etcd 3.5); tokens are not replicated state and live above this layer.
//!
//! Permission semantics follow etcd: a role's permission covers `[key,
//! range_end)` (a single key when `range_end` is empty, every key from `key`
//! on when it is `"\0"`); a request range is allowed if the union of the
//! user's permissions of the needed kind covers all of it; the `root` role
//! may do anything. Every change bumps the auth revision.

use std::collections::{BTreeMap, BTreeSet};

use etcd_proto::authpb::permission::Type as PermType;
use etcd_proto::authpb::{Permission, Role, User as UserRecord, UserAddOptions};
use etcd_proto::etcdrs::{AuthInfo, AuthStateRecord};

/// The role with every permission.
pub const ROOT: &str = "root";

/// Client-visible auth errors, with etcd's messages.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    #[error("etcdserver: root user does not exist")]
    RootUserNotExist,
    #[error("etcdserver: root user does not have root role")]
    RootRoleNotExist,
    #[error("etcdserver: user name already exists")]
    UserAlreadyExist,
    #[error("etcdserver: user name is empty")]
    UserEmpty,
    #[error("etcdserver: user name not found")]
    UserNotFound,
    #[error("etcdserver: role name already exists")]
    RoleAlreadyExist,
    #[error("etcdserver: role name not found")]
    RoleNotFound,
    #[error("etcdserver: role name is empty")]
    RoleEmpty,
    #[error("etcdserver: role is not granted to the user")]
    RoleNotGranted,
    #[error("etcdserver: permission is not granted to the role")]
    PermissionNotGranted,
    #[error("etcdserver: invalid auth management")]
    InvalidAuthMgmt,
    #[error("etcdserver: permission denied")]
    PermissionDenied,
    #[error("etcdserver: authentication is not enabled")]
    AuthNotEnabled,
    #[error("etcdserver: authentication failed, invalid user ID or password")]
    AuthFailed,
    #[error("etcdserver: revision of auth store is old")]
    AuthOldRevision,
    #[error("etcdserver: invalid auth token")]
    InvalidAuthToken,
    #[error("etcdserver: permission not given")]
    PermissionNotGiven,
}

/// A user as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub password_hash: String,
    pub roles: BTreeSet<String>,
    pub no_password: bool,
}

/// Users, roles and whether auth is on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthState {
    pub enabled: bool,
    pub revision: u64,
    pub users: BTreeMap<String, User>,
    /// Role name -> permissions, sorted by key.
    pub roles: BTreeMap<String, Vec<Permission>>,
}

/// `[start, end)`; `end == None` is unbounded.
type Interval = (Vec<u8>, Option<Vec<u8>>);

fn interval(key: &[u8], range_end: &[u8]) -> Interval {
    if range_end.is_empty() {
        let mut end = key.to_vec();
        end.push(0);
        (key.to_vec(), Some(end))
    } else if range_end == [0] {
        (key.to_vec(), None)
    } else {
        (key.to_vec(), Some(range_end.to_vec()))
    }
}

impl AuthState {
    fn bump(&mut self) {
        self.revision += 1;
    }

    pub fn user_add(
        &mut self,
        name: &str,
        password_hash: &str,
        no_password: bool,
    ) -> Result<(), AuthError> {
        if name.is_empty() {
            return Err(AuthError::UserEmpty);
        }
        if self.users.contains_key(name) {
            return Err(AuthError::UserAlreadyExist);
        }
        self.users.insert(
            name.to_string(),
            User {
                password_hash: password_hash.to_string(),
                roles: BTreeSet::new(),
                no_password,
            },
        );
        self.bump();
        Ok(())
    }

    pub fn user_delete(&mut self, name: &str) -> Result<(), AuthError> {
        if self.enabled && name == ROOT {
            return Err(AuthError::InvalidAuthMgmt);
        }
        self.users.remove(name).ok_or(AuthError::UserNotFound)?;
        self.bump();
        Ok(())
    }

    pub fn user_change_password(
        &mut self,
        name: &str,
        password_hash: &str,
    ) -> Result<(), AuthError> {
        let user = self.users.get_mut(name).ok_or(AuthError::UserNotFound)?;
        user.password_hash = password_hash.to_string();
        self.bump();
        Ok(())
    }

    pub fn user_grant_role(&mut self, name: &str, role: &str) -> Result<(), AuthError> {
        if role != ROOT && !self.roles.contains_key(role) {
            return Err(AuthError::RoleNotFound);
        }
        let user = self.users.get_mut(name).ok_or(AuthError::UserNotFound)?;
        // Granting a role twice is accepted and changes nothing, as etcd.
        if user.roles.insert(role.to_string()) {
            self.bump();
        }
        Ok(())
    }

    pub fn user_revoke_role(&mut self, name: &str, role: &str) -> Result<(), AuthError> {
        if self.enabled && name == ROOT && role == ROOT {
            return Err(AuthError::InvalidAuthMgmt);
        }
        let user = self.users.get_mut(name).ok_or(AuthError::UserNotFound)?;
        if !user.roles.remove(role) {
            return Err(AuthError::RoleNotGranted);
        }
        self.bump();
        Ok(())
    }

    pub fn role_add(&mut self, name: &str) -> Result<(), AuthError> {
        if name.is_empty() {
            return Err(AuthError::RoleEmpty);
        }
        if self.roles.contains_key(name) {
            return Err(AuthError::RoleAlreadyExist);
        }
        self.roles.insert(name.to_string(), Vec::new());
        self.bump();
        Ok(())
    }

    /// Deletes a role and revokes it from every user.
    pub fn role_delete(&mut self, name: &str) -> Result<(), AuthError> {
        if self.enabled && name == ROOT {
            return Err(AuthError::InvalidAuthMgmt);
        }
        self.roles.remove(name).ok_or(AuthError::RoleNotFound)?;
        for user in self.users.values_mut() {
            user.roles.remove(name);
        }
        self.bump();
        Ok(())
    }

    /// Grants (or changes the type of) a permission on a key range.
    pub fn role_grant_permission(&mut self, name: &str, perm: Permission) -> Result<(), AuthError> {
        let perms = self.roles.get_mut(name).ok_or(AuthError::RoleNotFound)?;
        match perms
            .iter_mut()
            .find(|p| p.key == perm.key && p.range_end == perm.range_end)
        {
            Some(existing) => existing.perm_type = perm.perm_type,
            None => {
                perms.push(perm);
                perms.sort_by(|a, b| a.key.cmp(&b.key).then(a.range_end.cmp(&b.range_end)));
            }
        }
        self.bump();
        Ok(())
    }

    pub fn role_revoke_permission(
        &mut self,
        name: &str,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), AuthError> {
        let perms = self.roles.get_mut(name).ok_or(AuthError::RoleNotFound)?;
        let before = perms.len();
        perms.retain(|p| !(p.key == key && p.range_end == range_end));
        if perms.len() == before {
            return Err(AuthError::PermissionNotGranted);
        }
        self.bump();
        Ok(())
    }

    /// Turns auth on; etcd requires a root user holding the root role.
    pub fn enable(&mut self) -> Result<(), AuthError> {
        let root = self.users.get(ROOT).ok_or(AuthError::RootUserNotExist)?;
        if !root.roles.contains(ROOT) {
            return Err(AuthError::RootRoleNotExist);
        }
        if !self.enabled {
            self.enabled = true;
            self.bump();
        }
        Ok(())
    }

    pub fn disable(&mut self) {
        if self.enabled {
            self.enabled = false;
            self.bump();
        }
    }

    /// Whether `user` may read (or write) every key of `[key, range_end)`.
    pub fn is_allowed(&self, user: &str, key: &[u8], range_end: &[u8], write: bool) -> bool {
        let Some(u) = self.users.get(user) else {
            return false;
        };
        if u.roles.contains(ROOT) {
            return true;
        }
        let wanted = if write {
            PermType::Write
        } else {
            PermType::Read
        };
        let mut granted: Vec<Interval> = u
            .roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .flatten()
            .filter(|p| p.perm_type == PermType::Readwrite as i32 || p.perm_type == wanted as i32)
            .map(|p| interval(&p.key, &p.range_end))
            .collect();
        granted.sort();
        covers(&granted, &interval(key, range_end))
    }

    /// Whether `user` holds the root role.
    pub fn is_root(&self, user: &str) -> bool {
        self.users.get(user).is_some_and(|u| u.roles.contains(ROOT))
    }

    /// May the request of `info` read (or write) `[key, range_end)`? The
    /// checks of etcd's `isOpPermitted`, in its order: anything goes while
    /// auth is off; a request without a user is refused; so is one checked
    /// against an older auth revision (the client re-authenticates and
    /// retries); then the user's permissions decide.
    pub fn check_op(
        &self,
        info: &AuthInfo,
        key: &[u8],
        range_end: &[u8],
        write: bool,
    ) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        if info.revision == 0 || info.username.is_empty() {
            return Err(AuthError::UserEmpty);
        }
        if info.revision < self.revision {
            return Err(AuthError::AuthOldRevision);
        }
        if self.is_allowed(&info.username, key, range_end, write) {
            Ok(())
        } else {
            Err(AuthError::PermissionDenied)
        }
    }

    /// Is the user of `info` an administrator (holder of the root role)?
    pub fn check_admin(&self, info: &AuthInfo) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        if info.username.is_empty() {
            return Err(AuthError::UserEmpty);
        }
        let user = self
            .users
            .get(&info.username)
            .ok_or(AuthError::UserNotFound)?;
        if user.roles.contains(ROOT) {
            Ok(())
        } else {
            Err(AuthError::PermissionDenied)
        }
    }

    /// Is there any valid user behind `info` (for RPCs that need a login
    /// but no particular permission, e.g. LeaseGrant or MemberList)?
    pub fn check_authenticated(&self, info: &AuthInfo) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        if info.username.is_empty() {
            return Err(AuthError::UserEmpty);
        }
        if !self.users.contains_key(&info.username) {
            return Err(AuthError::UserNotFound);
        }
        Ok(())
    }

    /// The user as the API shows it (password hash left out).
    pub fn user_roles(&self, name: &str) -> Result<Vec<String>, AuthError> {
        let user = self.users.get(name).ok_or(AuthError::UserNotFound)?;
        Ok(user.roles.iter().cloned().collect())
    }

    /// The permissions of a role, sorted by key.
    pub fn role_permissions(&self, name: &str) -> Result<Vec<Permission>, AuthError> {
        self.roles.get(name).cloned().ok_or(AuthError::RoleNotFound)
    }

    /// The persisted form (one store row, part of every snapshot).
    pub fn to_record(&self) -> AuthStateRecord {
        AuthStateRecord {
            enabled: self.enabled,
            revision: self.revision,
            users: self
                .users
                .iter()
                .map(|(name, u)| UserRecord {
                    name: name.as_bytes().to_vec(),
                    password: u.password_hash.as_bytes().to_vec(),
                    roles: u.roles.iter().cloned().collect(),
                    options: Some(UserAddOptions {
                        no_password: u.no_password,
                    }),
                })
                .collect(),
            roles: self
                .roles
                .iter()
                .map(|(name, perms)| Role {
                    name: name.as_bytes().to_vec(),
                    key_permission: perms.clone(),
                })
                .collect(),
        }
    }

    pub fn from_record(r: AuthStateRecord) -> AuthState {
        AuthState {
            enabled: r.enabled,
            revision: r.revision,
            users: r
                .users
                .into_iter()
                .map(|u| {
                    (
                        String::from_utf8_lossy(&u.name).into_owned(),
                        User {
                            password_hash: String::from_utf8_lossy(&u.password).into_owned(),
                            roles: u.roles.into_iter().collect(),
                            no_password: u.options.is_some_and(|o| o.no_password),
                        },
                    )
                })
                .collect(),
            roles: r
                .roles
                .into_iter()
                .map(|role| {
                    (
                        String::from_utf8_lossy(&role.name).into_owned(),
                        role.key_permission,
                    )
                })
                .collect(),
        }
    }
}

/// True if the sorted intervals' union contains `want`.
fn covers(sorted: &[Interval], want: &Interval) -> bool {
    // Walk forward from the wanted start, extending the covered prefix.
    let mut reached = want.0.clone();
    for (start, end) in sorted {
        if *start > reached {
            break;
        }
        match end {
            None => return true,
            Some(e) if *e > reached => reached = e.clone(),
            Some(_) => {}
        }
        if let Some(want_end) = &want.1 {
            if reached >= *want_end {
                return true;
            }
        }
    }
    want.1.as_ref().is_some_and(|e| reached >= *e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(kind: PermType, key: &str, end: &str) -> Permission {
        Permission {
            perm_type: kind as i32,
            key: key.as_bytes().to_vec(),
            range_end: end.as_bytes().to_vec(),
        }
    }

    fn state() -> AuthState {
        let mut a = AuthState::default();
        a.user_add("root", "h", false).expect("root");
        a.user_add("alice", "h", false).expect("alice");
        a.role_add("reader").expect("role");
        a.role_grant_permission("reader", perm(PermType::Read, "a", "c"))
            .expect("perm");
        a.role_grant_permission("reader", perm(PermType::Read, "c", "e"))
            .expect("perm");
        a.role_grant_permission("reader", perm(PermType::Readwrite, "x", ""))
            .expect("perm");
        a.user_grant_role("alice", "reader").expect("grant");
        a
    }

    #[test]
    fn enable_needs_root_with_root_role() {
        let mut a = state();
        assert_eq!(a.enable(), Err(AuthError::RootRoleNotExist));
        a.user_grant_role("root", ROOT)
            .expect("root role needs no role entry");
        assert_eq!(a.enable(), Ok(()));
        assert_eq!(a.user_delete("root"), Err(AuthError::InvalidAuthMgmt));
        assert_eq!(
            a.user_revoke_role("root", ROOT),
            Err(AuthError::InvalidAuthMgmt)
        );
        let mut b = AuthState::default();
        assert_eq!(b.enable(), Err(AuthError::RootUserNotExist));
    }

    #[test]
    fn ranges_are_covered_by_the_union_of_permissions() {
        let a = state();
        assert!(a.is_allowed("alice", b"b", b"", false));
        assert!(
            a.is_allowed("alice", b"a", b"e", false),
            "[a,c) + [c,e) cover [a,e)"
        );
        assert!(
            !a.is_allowed("alice", b"a", b"f", false),
            "nothing covers [e,f)"
        );
        assert!(!a.is_allowed("alice", b"b", b"", true), "read-only there");
        assert!(a.is_allowed("alice", b"x", b"", true));
        assert!(
            !a.is_allowed("alice", b"x", b"y", true),
            "only the single key x"
        );
        assert!(
            !a.is_allowed("alice", b"a", b"\0", false),
            "from-key is unbounded"
        );
        assert!(!a.is_allowed("nobody", b"b", b"", false));
        let mut r = a.clone();
        r.user_grant_role("root", ROOT).expect("grant root");
        assert!(r.is_allowed("root", b"\0", b"\0", true));
    }

    #[test]
    fn errors_and_revisions() {
        let mut a = state();
        let rev = a.revision;
        assert_eq!(a.user_add("", "h", false), Err(AuthError::UserEmpty));
        assert_eq!(
            a.user_add("alice", "h", false),
            Err(AuthError::UserAlreadyExist)
        );
        assert_eq!(a.role_add("reader"), Err(AuthError::RoleAlreadyExist));
        assert_eq!(
            a.user_grant_role("alice", "nope"),
            Err(AuthError::RoleNotFound)
        );
        assert_eq!(
            a.user_revoke_role("alice", "nope"),
            Err(AuthError::RoleNotGranted)
        );
        assert_eq!(
            a.role_revoke_permission("reader", b"q", b""),
            Err(AuthError::PermissionNotGranted)
        );
        assert_eq!(a.revision, rev, "failed changes do not bump the revision");
        a.role_delete("reader").expect("delete role");
        assert!(
            !a.is_allowed("alice", b"b", b"", false),
            "deleting a role revokes it"
        );
        assert!(a.revision > rev);
    }
}
