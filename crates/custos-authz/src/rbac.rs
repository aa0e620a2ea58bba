//! Auth0-style role-based access control: permissions are (audience, name) pairs; roles hold
//! permissions; users hold roles, globally or within an organization, and direct permissions.
//!
//! Checks go through the roles on the fly (no flattened per-user sets), so every mutation is
//! visible to the next check with nothing to keep in sync. A check is one hash lookup of the
//! user id (kept inline in the table, with the user's first roles beside it), one of the
//! permission name, and a binary search in each role's sorted permission list; the role table
//! is small and stays in cache.

use crate::intern::{Interner, Key};
use rustc_hash::FxHashMap;

/// How a permission was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RbacSource<'a> {
    /// Assigned to the user directly.
    Direct,
    /// Through this role (borrowed from the index: copy it out before releasing a lock).
    Role(&'a str),
}

const INLINE_ROLES: usize = 3;
/// `UserEntry::n` when the global roles live in `Extra::roles`.
const SPILLED: u8 = u8::MAX;

/// One user. Kept to 24 bytes so that, with its inline id, a hash-table bucket is about one
/// cache line: the common user (a few global roles) is answered from that line alone.
#[derive(Clone, Default)]
struct UserEntry {
    roles: [u32; INLINE_ROLES],
    n: u8,
    extra: Option<Box<Extra>>,
}

/// The rarer parts of a user: more than three global roles, organization roles, direct
/// permissions.
#[derive(Clone, Default)]
struct Extra {
    roles: Vec<u32>,
    /// (organization, role), sorted.
    org: Vec<(u32, u32)>,
    /// Permission keys, sorted.
    direct: Vec<u64>,
}

impl UserEntry {
    fn global(&self) -> &[u32] {
        if self.n == SPILLED {
            self.extra.as_ref().map_or(&[], |e| &e.roles)
        } else {
            self.roles.get(..usize::from(self.n)).unwrap_or(&[])
        }
    }
    fn org(&self) -> &[(u32, u32)] {
        self.extra.as_ref().map_or(&[], |e| &e.org)
    }
    fn direct(&self) -> &[u64] {
        self.extra.as_ref().map_or(&[], |e| &e.direct)
    }
    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }
    fn add_global(&mut self, r: u32) {
        if self.global().contains(&r) {
            return;
        }
        let n = usize::from(self.n);
        if self.n != SPILLED && n < INLINE_ROLES {
            self.roles[n] = r;
            self.n += 1;
        } else {
            if self.n != SPILLED {
                let inline = self.roles;
                self.extra_mut().roles = inline.to_vec();
                self.n = SPILLED;
            }
            self.extra_mut().roles.push(r);
        }
    }
    fn remove_global(&mut self, r: u32) {
        if self.n == SPILLED {
            let e = self.extra_mut();
            e.roles.retain(|&x| x != r);
            if e.roles.len() <= INLINE_ROLES {
                let v = std::mem::take(&mut e.roles);
                self.roles[..v.len()].copy_from_slice(&v);
                self.n = v.len() as u8;
            }
        } else {
            let n = usize::from(self.n);
            if let Some(i) = self.roles[..n].iter().position(|&x| x == r) {
                self.roles.copy_within(i + 1..n, i);
                self.n -= 1;
            }
        }
        self.tidy();
    }
    /// Drops an empty `Extra`.
    fn tidy(&mut self) {
        if self.n != SPILLED
            && self
                .extra
                .as_ref()
                .is_some_and(|e| e.org.is_empty() && e.direct.is_empty())
        {
            self.extra = None;
        }
    }
    fn is_empty(&self) -> bool {
        self.global().is_empty() && self.org().is_empty() && self.direct().is_empty()
    }
}

#[derive(Clone)]
struct RoleEntry {
    id: Box<str>,
    /// Permission keys, sorted.
    perms: Vec<u64>,
}

/// Roles, assignments and permissions, indexed for checks. Not internally locked.
#[derive(Clone, Default)]
pub struct RbacIndex {
    users: FxHashMap<Key, UserEntry>,
    roles: FxHashMap<Key, u32>,
    role_data: Vec<RoleEntry>,
    perm_names: Interner,
    audiences: Interner,
    /// Per permission name: the audiences it has ever been granted on. Resolving the audience
    /// of a check through this short list compares a string or two instead of hashing it.
    name_auds: Vec<Vec<u32>>,
    orgs: Interner,
}

impl std::fmt::Debug for RbacIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RbacIndex")
            .field("users", &self.users.len())
            .field("roles", &self.roles.len())
            .finish()
    }
}

#[inline]
fn pkey(name: u32, aud: u32) -> u64 {
    (u64::from(name) << 32) | u64::from(aud)
}

fn insert_sorted<T: Ord>(v: &mut Vec<T>, x: T) {
    if let Err(i) = v.binary_search(&x) {
        v.insert(i, x);
    }
}

fn remove_sorted<T: Ord>(v: &mut Vec<T>, x: &T) {
    if let Ok(i) = v.binary_search(x) {
        v.remove(i);
    }
}

/// Whether sorted `perms` holds `name` on `aud` (or on any audience when `aud` is None).
#[inline]
fn holds(perms: &[u64], name: u32, aud: Option<u32>) -> bool {
    match aud {
        Some(a) => perms.binary_search(&pkey(name, a)).is_ok(),
        None => {
            let lo = perms.partition_point(|&k| (k >> 32) < u64::from(name));
            perms.get(lo).is_some_and(|&k| (k >> 32) == u64::from(name))
        }
    }
}

impl RbacIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of users with at least one role or permission.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Number of roles known (with permissions or assignments).
    pub fn role_count(&self) -> usize {
        self.roles.len()
    }

    fn role_mut(&mut self, role_id: &str) -> Option<u32> {
        if let Some(&r) = self.roles.get(role_id.as_bytes()) {
            return Some(r);
        }
        let r = u32::try_from(self.role_data.len()).ok()?;
        self.roles.insert(Key::new(role_id), r);
        self.role_data.push(RoleEntry {
            id: role_id.into(),
            perms: Vec::new(),
        });
        Some(r)
    }

    fn perm_mut(&mut self, audience: &str, permission: &str) -> Option<u64> {
        let (n, a) = (
            self.perm_names.intern(permission)?,
            self.audiences.intern(audience)?,
        );
        if self.name_auds.len() <= n as usize {
            self.name_auds.resize_with(n as usize + 1, Vec::new);
        }
        if let Some(l) = self.name_auds.get_mut(n as usize) {
            if !l.contains(&a) {
                l.push(a);
            }
        }
        Some(pkey(n, a))
    }

    /// The id of `audience` if permission `name` was ever granted on it.
    #[inline]
    fn audience_of(&self, name: u32, audience: &str) -> Option<u32> {
        let l = self.name_auds.get(name as usize)?;
        if l.len() <= 4 {
            l.iter()
                .copied()
                .find(|&a| self.audiences.name(a) == audience)
        } else {
            self.audiences.get(audience)
        }
    }

    fn perm(&self, audience: &str, permission: &str) -> Option<u64> {
        Some(pkey(
            self.perm_names.get(permission)?,
            self.audiences.get(audience)?,
        ))
    }

    fn user_mut(&mut self, user_id: &str) -> &mut UserEntry {
        self.users.entry(Key::new(user_id)).or_default()
    }

    /// Drops a user's entry once it holds nothing.
    fn tidy_user(&mut self, user_id: &str) {
        if self
            .users
            .get(user_id.as_bytes())
            .is_some_and(UserEntry::is_empty)
        {
            self.users.remove(user_id.as_bytes());
        }
    }

    /// Gives `role_id` the permission (creating the role if new).
    pub fn grant_role(&mut self, role_id: &str, audience: &str, permission: &str) {
        let (Some(r), Some(p)) = (self.role_mut(role_id), self.perm_mut(audience, permission))
        else {
            return;
        };
        if let Some(role) = self.role_data.get_mut(r as usize) {
            insert_sorted(&mut role.perms, p);
        }
    }

    pub fn revoke_role(&mut self, role_id: &str, audience: &str, permission: &str) {
        let (Some(&r), Some(p)) = (
            self.roles.get(role_id.as_bytes()),
            self.perm(audience, permission),
        ) else {
            return;
        };
        if let Some(role) = self.role_data.get_mut(r as usize) {
            remove_sorted(&mut role.perms, &p);
        }
    }

    /// Deletes a role: its permissions and every assignment of it. Costs a pass over all
    /// users (roles are deleted rarely; checks stay lean without a reverse index).
    pub fn remove_role(&mut self, role_id: &str) {
        let Some(r) = self.roles.remove(role_id.as_bytes()) else {
            return;
        };
        if let Some(role) = self.role_data.get_mut(r as usize) {
            role.perms = Vec::new();
        }
        self.users.retain(|_, u| {
            u.remove_global(r);
            if let Some(e) = u.extra.as_mut() {
                e.org.retain(|&(_, x)| x != r);
            }
            u.tidy();
            !u.is_empty()
        });
    }

    /// Assigns a role to a user, globally (`organization` None) or within an organization.
    pub fn assign(&mut self, user_id: &str, role_id: &str, organization: Option<&str>) {
        let Some(r) = self.role_mut(role_id) else {
            return;
        };
        match organization {
            None => self.user_mut(user_id).add_global(r),
            Some(o) => {
                let Some(o) = self.orgs.intern(o) else { return };
                insert_sorted(&mut self.user_mut(user_id).extra_mut().org, (o, r));
            }
        }
    }

    pub fn unassign(&mut self, user_id: &str, role_id: &str, organization: Option<&str>) {
        let Some(&r) = self.roles.get(role_id.as_bytes()) else {
            return;
        };
        let org = match organization {
            Some(o) => match self.orgs.get(o) {
                Some(o) => Some(o),
                None => return,
            },
            None => None,
        };
        let Some(u) = self.users.get_mut(user_id.as_bytes()) else {
            return;
        };
        match org {
            None => u.remove_global(r),
            Some(o) => {
                if let Some(e) = u.extra.as_mut() {
                    remove_sorted(&mut e.org, &(o, r));
                }
                u.tidy();
            }
        }
        self.tidy_user(user_id);
    }

    /// Grants a permission to a user directly.
    pub fn grant_user(&mut self, user_id: &str, audience: &str, permission: &str) {
        let Some(p) = self.perm_mut(audience, permission) else {
            return;
        };
        insert_sorted(&mut self.user_mut(user_id).extra_mut().direct, p);
    }

    pub fn revoke_user(&mut self, user_id: &str, audience: &str, permission: &str) {
        let Some(p) = self.perm(audience, permission) else {
            return;
        };
        let Some(u) = self.users.get_mut(user_id.as_bytes()) else {
            return;
        };
        if let Some(e) = u.extra.as_mut() {
            remove_sorted(&mut e.direct, &p);
        }
        u.tidy();
        self.tidy_user(user_id);
    }

    /// Forgets a user: roles and direct permissions.
    pub fn remove_user(&mut self, user_id: &str) {
        self.users.remove(user_id.as_bytes());
    }

    /// Whether `user_id` holds `permission`: on `audience` (None = on any API), through a
    /// direct grant, a global role, or (with `organization` Some) a role held in that
    /// organization. `None` = denied. A direct grant is reported before roles; roles in
    /// assignment order, global before organization.
    pub fn check(
        &self,
        user_id: &str,
        permission: &str,
        audience: Option<&str>,
        organization: Option<&str>,
    ) -> Option<RbacSource<'_>> {
        let u = self.users.get(user_id.as_bytes())?;
        let name = self.perm_names.get(permission)?;
        let aud = match audience {
            Some(a) => Some(self.audience_of(name, a)?),
            None => None,
        };
        if u.extra.is_some() && holds(u.direct(), name, aud) {
            return Some(RbacSource::Direct);
        }
        let role = |r: u32| {
            self.role_data
                .get(r as usize)
                .filter(|d| holds(&d.perms, name, aud))
        };
        for &r in u.global() {
            if let Some(d) = role(r) {
                return Some(RbacSource::Role(&d.id));
            }
        }
        let org = self.orgs.get(organization?)?;
        let orgs = u.org();
        let lo = orgs.partition_point(|&(o, _)| o < org);
        for &(o, r) in orgs.get(lo..).unwrap_or(&[]) {
            if o != org {
                break;
            }
            if let Some(d) = role(r) {
                return Some(RbacSource::Role(&d.id));
            }
        }
        None
    }

    /// The roles `user_id` holds globally and, with `organization`, in that organization.
    pub fn roles_of(&self, user_id: &str, organization: Option<&str>) -> Vec<&str> {
        let Some(u) = self.users.get(user_id.as_bytes()) else {
            return Vec::new();
        };
        let name = |r: u32| self.role_data.get(r as usize).map(|d| &*d.id);
        let mut out: Vec<&str> = u.global().iter().filter_map(|&r| name(r)).collect();
        if let Some(org) = organization.and_then(|o| self.orgs.get(o)) {
            out.extend(
                u.org()
                    .iter()
                    .filter(|&&(o, _)| o == org)
                    .filter_map(|&(_, r)| name(r)),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: &str = "https://api.hospital";

    #[test]
    fn roles_orgs_and_direct_grants() {
        let mut x = RbacIndex::new();
        x.grant_role("doctor", API, "read:records");
        x.grant_role("billing", API, "read:invoices");
        x.assign("auth0|a", "doctor", None);
        x.assign("auth0|a", "billing", Some("org_1"));
        x.grant_user("auth0|b", API, "read:records");

        let c = |u: &str, p: &str, a: Option<&str>, o: Option<&str>| x.check(u, p, a, o);
        assert_eq!(
            c("auth0|a", "read:records", Some(API), None),
            Some(RbacSource::Role("doctor"))
        );
        assert_eq!(
            c("auth0|a", "read:records", None, None),
            Some(RbacSource::Role("doctor"))
        );
        assert_eq!(
            c("auth0|a", "read:records", Some("https://other"), None),
            None
        );
        assert_eq!(c("auth0|a", "read:invoices", Some(API), None), None);
        assert_eq!(
            c("auth0|a", "read:invoices", Some(API), Some("org_1")),
            Some(RbacSource::Role("billing"))
        );
        assert_eq!(
            c("auth0|a", "read:invoices", Some(API), Some("org_2")),
            None
        );
        assert_eq!(
            c("auth0|b", "read:records", Some(API), None),
            Some(RbacSource::Direct)
        );
        assert_eq!(c("auth0|c", "read:records", Some(API), None), None);
        assert_eq!(x.roles_of("auth0|a", Some("org_1")), ["doctor", "billing"]);
    }

    #[test]
    fn mutations_are_visible_at_once() {
        let mut x = RbacIndex::new();
        x.assign("u", "r", None);
        assert_eq!(x.check("u", "p", None, None), None);
        x.grant_role("r", API, "p");
        assert_eq!(x.check("u", "p", None, None), Some(RbacSource::Role("r")));
        x.revoke_role("r", API, "p");
        assert_eq!(x.check("u", "p", None, None), None);
        x.grant_role("r", API, "p");
        x.remove_role("r");
        assert_eq!(x.check("u", "p", None, None), None);
        // A role re-created under the same id does not bring back old assignments.
        x.grant_role("r", API, "p");
        assert_eq!(x.check("u", "p", None, None), None);
        x.assign("u", "r", None);
        x.unassign("u", "r", None);
        assert_eq!(x.check("u", "p", None, None), None);
        x.assign("u", "r", None);
        x.remove_user("u");
        assert_eq!(x.check("u", "p", None, None), None);
        assert_eq!(x.user_count(), 0);
    }

    #[test]
    fn many_roles_spill_and_shrink() {
        let mut x = RbacIndex::new();
        for i in 0..10 {
            x.grant_role(&format!("r{i}"), API, &format!("p{i}"));
            x.assign("u", &format!("r{i}"), None);
        }
        for i in 0..10 {
            assert_eq!(
                x.check("u", &format!("p{i}"), Some(API), None),
                Some(RbacSource::Role(&format!("r{i}")))
            );
        }
        for i in 0..8 {
            x.unassign("u", &format!("r{i}"), None);
        }
        assert_eq!(
            x.check("u", "p9", Some(API), None),
            Some(RbacSource::Role("r9"))
        );
        assert_eq!(x.check("u", "p1", Some(API), None), None);
    }
}
