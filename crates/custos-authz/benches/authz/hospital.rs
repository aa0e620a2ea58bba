//! The hospital data set of `shared/bench-authz` (same generator logic and seed, so the same
//! users, roles, groups, care teams, patients and request lists), parameterized by scale for
//! the flat-cost curve, plus its expression as Custos tuples, RBAC grants and string ids.

#![allow(dead_code)]

use custos_authz::TupleKey;

/// Entity counts; fan-outs are constants, so every scale has the same per-check work.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub users: u32,
    pub clinicians: u32,
    pub roles: u32,
    pub groups: u32,
    pub teams: u32,
    pub patients: u32,
}

impl Sizes {
    /// The reference data set: 990k tuples.
    pub const FULL: Sizes = Sizes {
        users: 100_000,
        clinicians: 20_000,
        roles: 1_000,
        groups: 2_000,
        teams: 1_000,
        patients: 100_000,
    };

    /// `FULL` divided by `div` (10 → 99k tuples, 100 → 9.9k).
    pub fn scaled(div: u32) -> Sizes {
        let f = Sizes::FULL;
        Sizes {
            users: f.users / div,
            clinicians: f.clinicians / div,
            roles: (f.roles / div).max(10),
            groups: f.groups / div,
            teams: f.teams / div,
            patients: f.patients / div,
        }
    }
}

pub const RESOURCES: u32 = 100;
pub const ACTIONS: u32 = 10;
const ROLES_PER_USER: usize = 2;
const PERMS_PER_ROLE: usize = 10;
const GROUPS_PER_CLINICIAN: usize = 7;
const TEAM_USERS: usize = 20;
const TEAM_GROUPS: usize = 10;
const TREATING_PER_PATIENT: usize = 3;
const TEAMS_PER_PATIENT: usize = 2;
pub const N_REQ: usize = 100_000;

/// splitmix64, seeded as the peer seeds it.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform in `0..n` by multiply-shift of the high 32 bits.
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }
    /// `k` distinct values in `lo..hi`, in draw order.
    pub fn distinct(&mut self, lo: u32, hi: u32, k: usize) -> Vec<u32> {
        let mut v = Vec::with_capacity(k);
        while v.len() < k {
            let x = lo + self.below(hi - lo);
            if !v.contains(&x) {
                v.push(x);
            }
        }
        v
    }
}

/// The splitmix64 output function (a bijection on u64).
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub struct Data {
    pub sizes: Sizes,
    pub user_roles: Vec<Vec<u32>>,
    pub role_perms: Vec<Vec<u32>>,
    pub user_groups: Vec<Vec<u32>>,
    pub group_users: Vec<Vec<u32>>,
    pub team_users: Vec<Vec<u32>>,
    pub team_groups: Vec<Vec<u32>>,
    pub patient_owner: Vec<u32>,
    pub patient_treating: Vec<Vec<u32>>,
    pub patient_teams: Vec<Vec<u32>>,
}

impl Data {
    /// Draws in the peer's order: user roles, role grants, clinician groups, team users, team
    /// groups, treating doctors, patient teams (owners are not drawn).
    pub fn generate(sizes: Sizes) -> Data {
        let s = sizes;
        let mut rng = Rng::new(42);
        let user_roles = (0..s.users)
            .map(|u| {
                let mut r = rng.distinct(1, s.roles, ROLES_PER_USER);
                if u < s.clinicians {
                    r.insert(0, 0);
                }
                r
            })
            .collect();
        let role_perms = (0..s.roles)
            .map(|_| rng.distinct(0, RESOURCES * ACTIONS, PERMS_PER_ROLE))
            .collect();
        let user_groups: Vec<Vec<u32>> = (0..s.clinicians)
            .map(|_| rng.distinct(0, s.groups, GROUPS_PER_CLINICIAN))
            .collect();
        let team_users = (0..s.teams)
            .map(|_| rng.distinct(0, s.clinicians, TEAM_USERS))
            .collect();
        let team_groups = (0..s.teams)
            .map(|_| rng.distinct(0, s.groups, TEAM_GROUPS))
            .collect();
        let patient_owner = (0..s.patients)
            .map(|p| s.clinicians + p % (s.users - s.clinicians))
            .collect();
        let patient_treating = (0..s.patients)
            .map(|_| rng.distinct(0, s.clinicians, TREATING_PER_PATIENT))
            .collect();
        let patient_teams = (0..s.patients)
            .map(|_| rng.distinct(0, s.teams, TEAMS_PER_PATIENT))
            .collect();
        let mut group_users = vec![Vec::new(); s.groups as usize];
        for (u, gs) in user_groups.iter().enumerate() {
            for &g in gs {
                group_users[g as usize].push(u as u32);
            }
        }
        Data {
            sizes,
            user_roles,
            role_perms,
            user_groups,
            group_users,
            team_users,
            team_groups,
            patient_owner,
            patient_treating,
            patient_teams,
        }
    }

    pub fn tuple_count(&self) -> usize {
        let n = |v: &Vec<Vec<u32>>| v.iter().map(Vec::len).sum::<usize>();
        n(&self.user_roles)
            + n(&self.user_groups)
            + n(&self.team_users)
            + n(&self.team_groups)
            + self.patient_owner.len()
            + n(&self.patient_treating)
            + n(&self.patient_teams)
    }

    pub fn rbac_ref(&self, u: u32, perm: u32) -> bool {
        self.user_roles[u as usize]
            .iter()
            .any(|&r| self.role_perms[r as usize].contains(&perm))
    }

    fn team_member_ref(&self, t: u32, u: u32) -> bool {
        u < self.sizes.clinicians
            && (self.team_users[t as usize].contains(&u)
                || self.team_groups[t as usize]
                    .iter()
                    .any(|g| self.user_groups[u as usize].contains(g)))
    }

    /// Owner, or a doctor who treats the patient or is on one of its care teams.
    pub fn viewer_ref(&self, u: u32, p: u32) -> bool {
        let p = p as usize;
        self.patient_owner[p] == u
            || (self.user_roles[u as usize][0] == 0
                && (self.patient_treating[p].contains(&u)
                    || self.patient_teams[p]
                        .iter()
                        .any(|&t| self.team_member_ref(t, u))))
    }

    /// Allowed: a permission of one of the user's roles; denied: a random pair no role grants.
    pub fn rbac_requests(&self, allow: bool, n: usize, seed: u64) -> Vec<(u32, u32)> {
        let mut rng = Rng::new(seed);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let user = rng.below(self.sizes.users);
            let perm = if allow {
                let roles = &self.user_roles[user as usize];
                let perms =
                    &self.role_perms[roles[rng.below(roles.len() as u32) as usize] as usize];
                perms[rng.below(perms.len() as u32) as usize]
            } else {
                rng.below(RESOURCES * ACTIONS)
            };
            if self.rbac_ref(user, perm) == allow {
                out.push((user, perm));
            }
        }
        out
    }

    /// Allowed: a doctor reaching the patient only through care team -> group -> user (3 hops);
    /// denied: a doctor with no relation to the patient. Returns (user, patient).
    pub fn view_requests(&self, allow: bool, n: usize, seed: u64) -> Vec<(u32, u32)> {
        let s = self.sizes;
        let mut rng = Rng::new(seed);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n * 100 {
            if out.len() == n {
                break;
            }
            let patient = rng.below(s.patients);
            let user = if allow {
                let teams = &self.patient_teams[patient as usize];
                let t = teams[rng.below(teams.len() as u32) as usize];
                let g = self.team_groups[t as usize][rng.below(TEAM_GROUPS as u32) as usize];
                let members = &self.group_users[g as usize];
                if members.is_empty() {
                    continue;
                }
                let u = members[rng.below(members.len() as u32) as usize];
                let p = patient as usize;
                if self.patient_owner[p] == u
                    || self.patient_treating[p].contains(&u)
                    || self.patient_teams[p]
                        .iter()
                        .any(|&t| self.team_users[t as usize].contains(&u))
                {
                    continue;
                }
                u
            } else {
                rng.below(s.clinicians)
            };
            if self.viewer_ref(user, patient) == allow {
                out.push((user, patient));
            }
        }
        assert_eq!(out.len(), n, "could not draw enough requests");
        out
    }

    /// Denied requests for the size curve: a random non-clinician and a patient it does not
    /// own. The model walks every path for these exactly as for the peer's denied doctors
    /// (owner, treating doctors, care-team members, each team's groups), but unlike denied
    /// doctors they still exist in small data sets, where a doctor's 7 groups cover every team.
    pub fn curve_deny_requests(&self, n: usize, seed: u64) -> Vec<(u32, u32)> {
        let s = self.sizes;
        let mut rng = Rng::new(seed);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let u = s.clinicians + rng.below(s.users - s.clinicians);
            let p = rng.below(s.patients);
            if !self.viewer_ref(u, p) {
                out.push((u, p));
            }
        }
        out
    }

    /// Every relationship tuple as Custos strings (streamed, not collected).
    pub fn tuples(&self) -> impl Iterator<Item = TupleKey> + '_ {
        let t = |u: String, r: &str, o: String| TupleKey {
            user: u,
            relation: r.to_string(),
            object: o,
        };
        let roles = self.user_roles.iter().enumerate().flat_map(move |(u, rs)| {
            rs.iter().map(move |&r| {
                t(
                    subject(u as u32),
                    "member",
                    format!("role:{}", role_name(r)),
                )
            })
        });
        let groups = self
            .user_groups
            .iter()
            .enumerate()
            .flat_map(move |(u, gs)| {
                gs.iter()
                    .map(move |&g| t(subject(u as u32), "member", format!("group:{g}")))
            });
        let team_users = self
            .team_users
            .iter()
            .enumerate()
            .flat_map(move |(tm, us)| {
                us.iter()
                    .map(move |&u| t(subject(u), "member", format!("care_team:{tm}")))
            });
        let team_groups = self
            .team_groups
            .iter()
            .enumerate()
            .flat_map(move |(tm, gs)| {
                gs.iter().map(move |&g| {
                    t(
                        format!("group:{g}#member"),
                        "member",
                        format!("care_team:{tm}"),
                    )
                })
            });
        let owners = self
            .patient_owner
            .iter()
            .enumerate()
            .map(move |(p, &u)| t(subject(u), "owner", patient(p as u32)));
        let treating = self
            .patient_treating
            .iter()
            .enumerate()
            .flat_map(move |(p, us)| {
                us.iter()
                    .map(move |&u| t(subject(u), "treating_doctor", patient(p as u32)))
            });
        let teams = self
            .patient_teams
            .iter()
            .enumerate()
            .flat_map(move |(p, ts)| {
                ts.iter()
                    .map(move |&tm| t(format!("care_team:{tm}"), "care_team", patient(p as u32)))
            });
        roles
            .chain(groups)
            .chain(team_users)
            .chain(team_groups)
            .chain(owners)
            .chain(treating)
            .chain(teams)
    }
}

pub fn role_name(r: u32) -> String {
    if r == 0 {
        "doctor".into()
    } else {
        format!("r{r}")
    }
}

/// An Auth0-shaped user id derived from the index: `auth0|` + 24 hex digits.
pub fn user_id(u: u32) -> String {
    format!("auth0|{:016x}{:08x}", mix(u64::from(u) ^ 0x00C0_5705), u)
}

pub fn subject(u: u32) -> String {
    format!("user:{}", user_id(u))
}

pub fn patient(p: u32) -> String {
    format!("patient:{p}")
}

const ACTION_NAMES: [&str; ACTIONS as usize] = [
    "read", "create", "update", "delete", "list", "export", "share", "approve", "sign", "audit",
];

/// Permission `resource * ACTIONS + action` as an Auth0 permission name, e.g. `read:res17`.
pub fn perm_name(p: u32) -> String {
    format!(
        "{}:res{}",
        ACTION_NAMES[(p % ACTIONS) as usize],
        p / ACTIONS
    )
}

pub const AUDIENCE: &str = "https://api.hospital";

pub fn model_json() -> serde_json::Value {
    let direct =
        |types: serde_json::Value| serde_json::json!({"directly_related_user_types": types});
    serde_json::json!({
      "schema_version": "1.1",
      "type_definitions": [
        {"type": "user"},
        {"type": "role", "relations": {"member": {"this": {}}},
         "metadata": {"relations": {"member": direct(serde_json::json!([{"type": "user"}]))}}},
        {"type": "group", "relations": {"member": {"this": {}}},
         "metadata": {"relations": {"member": direct(serde_json::json!([{"type": "user"}, {"type": "group", "relation": "member"}]))}}},
        {"type": "care_team", "relations": {"member": {"this": {}}},
         "metadata": {"relations": {"member": direct(serde_json::json!([{"type": "user"}, {"type": "group", "relation": "member"}]))}}},
        {"type": "patient",
         "relations": {
           "owner": {"this": {}},
           "treating_doctor": {"this": {}},
           "care_team": {"this": {}},
           "viewer": {"union": {"child": [
             {"computedUserset": {"relation": "owner"}},
             {"computedUserset": {"relation": "treating_doctor"}},
             {"tupleToUserset": {"tupleset": {"relation": "care_team"}, "computedUserset": {"relation": "member"}}}
           ]}}
         },
         "metadata": {"relations": {
           "owner": direct(serde_json::json!([{"type": "user"}])),
           "treating_doctor": direct(serde_json::json!([{"type": "user"}])),
           "care_team": direct(serde_json::json!([{"type": "care_team"}]))
         }}}
      ]
    })
}
