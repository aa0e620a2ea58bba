//! Property tests: the evaluator against a naive fixpoint reference, list-objects and
//! list-users against check, contextual tuples against stored ones, RBAC against a naive
//! model, and model parsing against arbitrary input.

use custos_authz::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};

// ---- the reference model ---------------------------------------------------------------------

fn model() -> AuthorizationModel {
    let d = |types: Value| json!({"directly_related_user_types": types});
    let v = json!({
      "schema_version": "1.1",
      "type_definitions": [
        {"type": "user"},
        {"type": "group", "relations": {"member": {"this": {}}},
         "metadata": {"relations": {"member": d(json!([{"type": "user"}, {"type": "user", "wildcard": {}}, {"type": "group", "relation": "member"}]))}}},
        {"type": "folder",
         "relations": {
           "owner": {"this": {}},
           "parent": {"this": {}},
           "viewer": {"union": {"child": [
             {"this": {}},
             {"computedUserset": {"relation": "owner"}},
             {"tupleToUserset": {"tupleset": {"relation": "parent"}, "computedUserset": {"relation": "viewer"}}}
           ]}}
         },
         "metadata": {"relations": {
           "owner": d(json!([{"type": "user"}])),
           "parent": d(json!([{"type": "folder"}])),
           "viewer": d(json!([{"type": "user"}, {"type": "group", "relation": "member"}]))
         }}},
        {"type": "doc",
         "relations": {
           "parent": {"this": {}},
           "owner": {"this": {}},
           "editor": {"union": {"child": [{"this": {}}, {"computedUserset": {"relation": "owner"}}]}},
           "blocked": {"this": {}},
           "viewer": {"difference": {
             "base": {"union": {"child": [
               {"this": {}},
               {"computedUserset": {"relation": "editor"}},
               {"tupleToUserset": {"tupleset": {"relation": "parent"}, "computedUserset": {"relation": "viewer"}}}
             ]}},
             "subtract": {"computedUserset": {"relation": "blocked"}}
           }},
           "auditor": {"intersection": {"child": [{"this": {}}, {"computedUserset": {"relation": "viewer"}}]}}
         },
         "metadata": {"relations": {
           "parent": d(json!([{"type": "folder"}])),
           "owner": d(json!([{"type": "user"}])),
           "editor": d(json!([{"type": "user"}, {"type": "group", "relation": "member"}])),
           "blocked": d(json!([{"type": "user"}, {"type": "group", "relation": "member"}])),
           "viewer": d(json!([{"type": "user"}, {"type": "user", "wildcard": {}}])),
           "auditor": d(json!([{"type": "user"}]))
         }}}
      ]
    });
    match AuthorizationModel::from_json(&v) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    }
}

const N: usize = 4;
const USERS: [&str; 5] = ["user:u0", "user:u1", "user:u2", "user:u3", "user:u9"];

fn users_and_groups() -> Vec<String> {
    let mut v: Vec<String> = USERS[..N].iter().map(|s| s.to_string()).collect();
    v.extend((0..N).map(|g| format!("group:g{g}#member")));
    v
}

/// Every tuple the model accepts over the small universe.
fn candidates() -> Vec<TupleKey> {
    let mut v = Vec::new();
    let plain: Vec<String> = USERS[..N].iter().map(|s| s.to_string()).collect();
    let t = |u: &str, r: &str, o: String| TupleKey::new(u, r, o);
    for g in 0..N {
        for u in plain.iter().chain(&["user:*".to_string()]) {
            v.push(t(u, "member", format!("group:g{g}")));
        }
        for h in 0..N {
            v.push(t(
                &format!("group:g{h}#member"),
                "member",
                format!("group:g{g}"),
            ));
        }
    }
    for f in 0..N {
        for u in &plain {
            v.push(t(u, "owner", format!("folder:f{f}")));
        }
        for p in 0..N {
            v.push(t(&format!("folder:f{p}"), "parent", format!("folder:f{f}")));
        }
        for u in users_and_groups() {
            v.push(t(&u, "viewer", format!("folder:f{f}")));
        }
    }
    for d in 0..3 {
        let o = || format!("doc:d{d}");
        for p in 0..N {
            v.push(t(&format!("folder:f{p}"), "parent", o()));
        }
        for u in &plain {
            v.push(t(u, "owner", o()));
            v.push(t(u, "viewer", o()));
            v.push(t(u, "auditor", o()));
        }
        v.push(t("user:*", "viewer", o()));
        for u in users_and_groups() {
            v.push(t(&u, "editor", o()));
            v.push(t(&u, "blocked", o()));
        }
    }
    v
}

/// Naive reference: stratified fixpoint over the whole universe. Returns the set of
/// (object, relation, user) facts for plain users.
fn reference(tuples: &[TupleKey]) -> HashSet<(String, String, String)> {
    let has = |u: &str, r: &str, o: &str| {
        tuples
            .iter()
            .any(|t| t.user == u && t.relation == r && t.object == o)
    };
    let users: Vec<&str> = USERS.to_vec();
    let mut member: HashMap<String, BTreeSet<&str>> = HashMap::new();
    loop {
        let mut changed = false;
        for g in 0..N {
            let go = format!("group:g{g}");
            let mut s: BTreeSet<&str> = users
                .iter()
                .copied()
                .filter(|u| has(u, "member", &go) || has("user:*", "member", &go))
                .collect();
            for h in 0..N {
                if has(&format!("group:g{h}#member"), "member", &go) {
                    s.extend(
                        member
                            .get(&format!("group:g{h}"))
                            .into_iter()
                            .flatten()
                            .copied(),
                    );
                }
            }
            if member.get(&go) != Some(&s) {
                member.insert(go, s);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let in_usersets = |r: &str, o: &str| -> BTreeSet<&str> {
        let mut s: BTreeSet<&str> = users.iter().copied().filter(|u| has(u, r, o)).collect();
        for g in 0..N {
            if has(&format!("group:g{g}#member"), r, o) {
                s.extend(
                    member
                        .get(&format!("group:g{g}"))
                        .into_iter()
                        .flatten()
                        .copied(),
                );
            }
        }
        s
    };
    let mut fview: HashMap<String, BTreeSet<&str>> = HashMap::new();
    loop {
        let mut changed = false;
        for f in 0..N {
            let fo = format!("folder:f{f}");
            let mut s = in_usersets("viewer", &fo);
            s.extend(users.iter().copied().filter(|u| has(u, "owner", &fo)));
            for p in 0..N {
                if has(&format!("folder:f{p}"), "parent", &fo) {
                    s.extend(
                        fview
                            .get(&format!("folder:f{p}"))
                            .into_iter()
                            .flatten()
                            .copied(),
                    );
                }
            }
            if fview.get(&fo) != Some(&s) {
                fview.insert(fo, s);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut out = HashSet::new();
    let mut add = |o: &str, r: &str, s: &BTreeSet<&str>| {
        for u in s {
            out.insert((o.to_string(), r.to_string(), u.to_string()));
        }
    };
    for (g, s) in &member {
        add(g, "member", s);
    }
    for f in 0..N {
        let fo = format!("folder:f{f}");
        add(&fo, "viewer", fview.get(&fo).unwrap_or(&BTreeSet::new()));
        add(
            &fo,
            "owner",
            &users
                .iter()
                .copied()
                .filter(|u| has(u, "owner", &fo))
                .collect(),
        );
    }
    for d in 0..3 {
        let o = format!("doc:d{d}");
        let owner: BTreeSet<&str> = users
            .iter()
            .copied()
            .filter(|u| has(u, "owner", &o))
            .collect();
        let mut editor = in_usersets("editor", &o);
        editor.extend(owner.iter().copied());
        let blocked = in_usersets("blocked", &o);
        let mut base: BTreeSet<&str> = users
            .iter()
            .copied()
            .filter(|u| has(u, "viewer", &o) || has("user:*", "viewer", &o))
            .collect();
        base.extend(editor.iter().copied());
        for p in 0..N {
            if has(&format!("folder:f{p}"), "parent", &o) {
                base.extend(
                    fview
                        .get(&format!("folder:f{p}"))
                        .into_iter()
                        .flatten()
                        .copied(),
                );
            }
        }
        let viewer: BTreeSet<&str> = base.difference(&blocked).copied().collect();
        let auditor: BTreeSet<&str> = users
            .iter()
            .copied()
            .filter(|u| has(u, "auditor", &o) && viewer.contains(u))
            .collect();
        add(&o, "owner", &owner);
        add(&o, "editor", &editor);
        add(&o, "blocked", &blocked);
        add(&o, "viewer", &viewer);
        add(&o, "auditor", &auditor);
    }
    out
}

fn questions() -> Vec<(String, &'static str, &'static str)> {
    let mut q = Vec::new();
    for g in 0..N {
        q.push((format!("group:g{g}"), "member", "group"));
    }
    for f in 0..N {
        for r in ["viewer", "owner"] {
            q.push((format!("folder:f{f}"), r, "folder"));
        }
    }
    for d in 0..3 {
        for r in ["owner", "editor", "blocked", "viewer", "auditor"] {
            q.push((format!("doc:d{d}"), r, "doc"));
        }
    }
    q
}

fn tuple_sets() -> impl Strategy<Value = (Vec<TupleKey>, Vec<TupleKey>)> {
    let all = candidates();
    let n = all.len();
    (
        prop::collection::vec(0..n, 0..40),
        prop::collection::vec(0..n, 0..4),
    )
        .prop_map(move |(a, b)| {
            (
                a.iter().map(|&i| all[i].clone()).collect(),
                b.iter().map(|&i| all[i].clone()).collect(),
            )
        })
}

fn load(m: &AuthorizationModel, tuples: &[TupleKey]) -> TupleStore {
    let mut s = TupleStore::new();
    for t in tuples {
        assert_eq!(validate_tuple(m, t), Ok(()), "{t}");
        s.insert(t);
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn check_agrees_with_reference((stored, ctx) in tuple_sets()) {
        let m = model();
        let s = load(&m, &stored);
        let facts = reference(&stored);
        let mut all = stored.clone();
        all.extend(ctx.iter().cloned());
        let facts_ctx = reference(&all);
        for (o, r, _) in questions() {
            for u in USERS {
                let want = facts.contains(&(o.clone(), r.to_string(), u.to_string()));
                let req = CheckRequest { user: u, relation: r, object: &o, contextual: &[] };
                prop_assert_eq!(check_fast(&m, &s, &req), Ok(want), "{} {} {}", u, r, o);
                let full = check(&m, &s, &req);
                prop_assert_eq!(full.as_ref().map(|c| c.allowed), Ok(want));
                prop_assert!(full.map(|c| !c.reasons.is_empty()).unwrap_or(false));
                // Contextual tuples behave as if stored.
                let want = facts_ctx.contains(&(o.clone(), r.to_string(), u.to_string()));
                let req = CheckRequest { user: u, relation: r, object: &o, contextual: &ctx };
                prop_assert_eq!(check_fast(&m, &s, &req), Ok(want), "ctx {} {} {}", u, r, o);
            }
        }
    }

    #[test]
    fn list_objects_equals_checks((stored, ctx) in tuple_sets()) {
        let m = model();
        let s = load(&m, &stored);
        let mut by_rel: HashMap<(&str, &str), Vec<String>> = HashMap::new();
        for (o, r, ty) in questions() {
            by_rel.entry((ty, r)).or_default().push(o);
        }
        for ((ty, r), objects) in &by_rel {
            for u in USERS.iter().copied().chain(["user:*", "group:g0#member", "group:g1#member"]) {
                let mut want: Vec<String> = objects
                    .iter()
                    .filter(|o| {
                        let req = CheckRequest { user: u, relation: r, object: o, contextual: &ctx };
                        check_fast(&m, &s, &req) == Ok(true)
                    })
                    .cloned()
                    .collect();
                want.sort();
                let got = list_objects(&m, &s, u, r, ty, &ctx, 0, None).map(|p| p.objects);
                prop_assert_eq!(got, Ok(want.clone()), "{} {} {}", u, r, ty);
                // Paging by 2 returns the same list.
                let mut paged = Vec::new();
                let mut after: Option<String> = None;
                loop {
                    let p = list_objects(&m, &s, u, r, ty, &ctx, 2, after.as_deref());
                    prop_assert!(p.is_ok());
                    let p = p.unwrap_or_default();
                    paged.extend(p.objects);
                    match p.next { Some(n) => after = Some(n), None => break }
                }
                prop_assert_eq!(paged, want);
            }
        }
    }

    #[test]
    fn list_users_agrees_with_checks((stored, ctx) in tuple_sets()) {
        let m = model();
        let s = load(&m, &stored);
        for (o, r, _) in questions() {
            let got = list_users(&m, &s, &o, r, "user", &ctx);
            prop_assert!(got.is_ok());
            let got = got.unwrap_or_default();
            let wild = got.iter().any(|u| u == "user:*");
            for u in &got {
                let req = CheckRequest { user: u, relation: r, object: &o, contextual: &ctx };
                prop_assert_eq!(check_fast(&m, &s, &req), Ok(true), "listed {} {} {}", u, r, o);
            }
            for u in USERS {
                let req = CheckRequest { user: u, relation: r, object: &o, contextual: &ctx };
                if check_fast(&m, &s, &req) == Ok(true) {
                    prop_assert!(wild || got.iter().any(|x| x == u), "missing {} {} {}", u, r, o);
                }
            }
            let sets = list_users(&m, &s, &o, r, "group#member", &ctx);
            prop_assert!(sets.is_ok());
            for u in sets.unwrap_or_default() {
                let req = CheckRequest { user: &u, relation: r, object: &o, contextual: &ctx };
                prop_assert_eq!(check_fast(&m, &s, &req), Ok(true), "listed {} {} {}", u, r, o);
            }
        }
    }
}

// ---- arbitrary models never panic ----------------------------------------------------------------

const WORDS: &[&str] = &[
    "schema_version",
    "1.1",
    "type_definitions",
    "type",
    "relations",
    "metadata",
    "this",
    "union",
    "child",
    "computedUserset",
    "relation",
    "tupleToUserset",
    "tupleset",
    "difference",
    "base",
    "subtract",
    "intersection",
    "directly_related_user_types",
    "wildcard",
    "conditions",
    "user",
    "group",
    "member",
    "viewer",
    "parent",
    "",
    "a:b",
    "x#y",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0..WORDS.len()).prop_map(|i| Value::String(WORDS[i].to_string())),
        Just(json!({})),
        any::<i32>().prop_map(|n| json!(n)),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(((0..WORDS.len()), inner), 0..5).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (WORDS[k].to_string(), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// Mostly well-formed models: random rewrites over a small pool of relation names.
fn arb_model() -> impl Strategy<Value = Value> {
    let rel_names = ["a", "b", "c", "d"];
    let type_names = ["user", "t1", "t2"];
    let rewrite = {
        let leaf = prop_oneof![
            Just(json!({"this": {}})),
            (0..4usize).prop_map(move |r| json!({"computedUserset": {"relation": rel_names[r]}})),
            (0..4usize, 0..4usize).prop_map(move |(a, b)| json!({"tupleToUserset": {
                "tupleset": {"relation": rel_names[a]}, "computedUserset": {"relation": rel_names[b]}}})),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..3)
                    .prop_map(|c| json!({"union": {"child": c}})),
                prop::collection::vec(inner.clone(), 1..3)
                    .prop_map(|c| json!({"intersection": {"child": c}})),
                (inner.clone(), inner)
                    .prop_map(|(b, s)| json!({"difference": {"base": b, "subtract": s}})),
            ]
        })
    };
    let restriction = (0..3usize, 0..6usize).prop_map(move |(t, k)| match k {
        0 => json!({"type": type_names[t], "wildcard": {}}),
        1 | 2 => json!({"type": type_names[t], "relation": rel_names[k]}),
        _ => json!({"type": type_names[t]}),
    });
    let relation = (rewrite, prop::collection::vec(restriction, 0..3));
    let tdef = prop::collection::vec(relation, 0..4);
    prop::collection::vec(tdef, 2..3).prop_map(move |defs| {
        let mut tds = vec![json!({"type": "user"})];
        for (i, rels) in defs.into_iter().enumerate() {
            let mut relations = serde_json::Map::new();
            let mut meta = serde_json::Map::new();
            for (j, (rw, drut)) in rels.into_iter().enumerate() {
                relations.insert(rel_names[j].to_string(), rw);
                if !drut.is_empty() {
                    meta.insert(rel_names[j].to_string(), json!({"directly_related_user_types": drut}));
                }
            }
            tds.push(json!({"type": type_names[i + 1], "relations": relations, "metadata": {"relations": meta}}));
        }
        json!({"schema_version": "1.1", "type_definitions": tds})
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        let _ = AuthorizationModel::from_json(&v);
        let _ = AuthorizationModel::from_json(&json!({"schema_version": "1.1", "type_definitions": [v]}));
    }

    #[test]
    fn random_models_validate_and_evaluate(v in arb_model(), picks in prop::collection::vec((0..3usize, 0..4usize, 0..4usize, 0..3usize, 0..3usize), 0..30)) {
        let Ok(m) = AuthorizationModel::from_json(&v) else { return Ok(()) };
        // Random tuples; keep those the model accepts.
        let types = ["user", "t1", "t2"];
        let rels = ["a", "b", "c", "d"];
        let mut s = TupleStore::new();
        for (ot, r, oid, ut, uid) in picks {
            let object = format!("{}:{}", types[1 + ot % 2], oid % 3);
            for user in [format!("{}:{uid}", types[ut]), format!("{}:*", types[ut]), format!("{}:{uid}#{}", types[ut], rels[r])] {
                let t = TupleKey::new(user, rels[r], object.clone());
                if validate_tuple(&m, &t).is_ok() {
                    s.insert(&t);
                }
            }
        }
        for ty in ["t1", "t2"] {
            for r in rels {
                if !m.has_relation(ty, r) {
                    continue;
                }
                for u in ["user:0", "user:1", "t1:0#a", "t2:1"] {
                    for id in 0..3 {
                        let object = format!("{ty}:{id}");
                        let req = CheckRequest { user: u, relation: r, object: &object, contextual: &[] };
                        let fast = check_fast(&m, &s, &req);
                        let full = check(&m, &s, &req).map(|c| c.allowed);
                        prop_assert_eq!(&fast, &full);
                    }
                    let listed = list_objects(&m, &s, u, r, ty, &[], 0, None);
                    if let Ok(page) = listed {
                        for o in page.objects {
                            let req = CheckRequest { user: u, relation: r, object: &o, contextual: &[] };
                            prop_assert_eq!(check_fast(&m, &s, &req), Ok(true), "{} {} {}", u, r, o);
                        }
                    }
                    let _ = list_users(&m, &s, &format!("{ty}:0"), r, "user", &[]);
                }
            }
        }
    }
}

// ---- RBAC against a naive model ------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    GrantRole(usize, usize, usize),
    RevokeRole(usize, usize, usize),
    RemoveRole(usize),
    Assign(usize, usize, Option<usize>),
    Unassign(usize, usize, Option<usize>),
    GrantUser(usize, usize, usize),
    RevokeUser(usize, usize, usize),
    RemoveUser(usize),
}

fn arb_op() -> impl Strategy<Value = Op> {
    let org = prop::option::of(0..2usize);
    prop_oneof![
        4 => (0..3usize, 0..2usize, 0..3usize).prop_map(|(r, a, p)| Op::GrantRole(r, a, p)),
        2 => (0..3usize, 0..2usize, 0..3usize).prop_map(|(r, a, p)| Op::RevokeRole(r, a, p)),
        1 => (0..3usize).prop_map(Op::RemoveRole),
        4 => (0..3usize, 0..3usize, org.clone()).prop_map(|(u, r, o)| Op::Assign(u, r, o)),
        2 => (0..3usize, 0..3usize, org).prop_map(|(u, r, o)| Op::Unassign(u, r, o)),
        2 => (0..3usize, 0..2usize, 0..3usize).prop_map(|(u, a, p)| Op::GrantUser(u, a, p)),
        1 => (0..3usize, 0..2usize, 0..3usize).prop_map(|(u, a, p)| Op::RevokeUser(u, a, p)),
        1 => (0..3usize).prop_map(Op::RemoveUser),
    ]
}

#[derive(Default)]
struct Naive {
    role_perms: HashMap<usize, HashSet<(usize, usize)>>,
    assigned: HashMap<usize, HashSet<(usize, Option<usize>)>>,
    direct: HashMap<usize, HashSet<(usize, usize)>>,
}

const U: [&str; 3] = ["auth0|u0", "google-oauth2|u1", "samlp|acme|u2@x.com"];
const R: [&str; 3] = ["doctor", "nurse", "admin"];
const A: [&str; 2] = ["https://api.hospital", "https://api.billing"];
const P: [&str; 3] = ["read:records", "write:records", "read:invoices"];
const O: [&str; 2] = ["org_1", "org_2"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn rbac_matches_naive(ops in prop::collection::vec(arb_op(), 0..60)) {
        let mut x = RbacIndex::new();
        let mut n = Naive::default();
        for op in ops {
            match op {
                Op::GrantRole(r, a, p) => { x.grant_role(R[r], A[a], P[p]); n.role_perms.entry(r).or_default().insert((a, p)); }
                Op::RevokeRole(r, a, p) => { x.revoke_role(R[r], A[a], P[p]); n.role_perms.entry(r).or_default().remove(&(a, p)); }
                Op::RemoveRole(r) => {
                    x.remove_role(R[r]);
                    n.role_perms.remove(&r);
                    for s in n.assigned.values_mut() { s.retain(|&(rr, _)| rr != r); }
                }
                Op::Assign(u, r, o) => { x.assign(U[u], R[r], o.map(|o| O[o])); n.assigned.entry(u).or_default().insert((r, o)); }
                Op::Unassign(u, r, o) => { x.unassign(U[u], R[r], o.map(|o| O[o])); n.assigned.entry(u).or_default().remove(&(r, o)); }
                Op::GrantUser(u, a, p) => { x.grant_user(U[u], A[a], P[p]); n.direct.entry(u).or_default().insert((a, p)); }
                Op::RevokeUser(u, a, p) => { x.revoke_user(U[u], A[a], P[p]); n.direct.entry(u).or_default().remove(&(a, p)); }
                Op::RemoveUser(u) => { x.remove_user(U[u]); n.assigned.remove(&u); n.direct.remove(&u); }
            }
            for (u, uid) in U.iter().enumerate() {
                for (p, pname) in P.iter().enumerate() {
                    for a in [None, Some(0), Some(1)] {
                        for o in [None, Some(0), Some(1)] {
                            let aud_ok = |&(aa, pp): &(usize, usize)| pp == p && a.is_none_or(|a| a == aa);
                            let direct = n.direct.get(&u).is_some_and(|s| s.iter().any(aud_ok));
                            let roles: Vec<usize> = n.assigned.get(&u).map(|s| s.iter()
                                .filter(|(_, ro)| ro.is_none() || *ro == o)
                                .map(|(r, _)| *r)
                                .filter(|r| n.role_perms.get(r).is_some_and(|s| s.iter().any(aud_ok)))
                                .collect()).unwrap_or_default();
                            let got = x.check(uid, pname, a.map(|a| A[a]), o.map(|o| O[o]));
                            match got {
                                None => prop_assert!(!direct && roles.is_empty(), "denied {} {} {:?} {:?}", u, p, a, o),
                                Some(RbacSource::Direct) => prop_assert!(direct),
                                Some(RbacSource::Role(r)) => {
                                    prop_assert!(!direct, "direct grants are reported first");
                                    let idx = R.iter().position(|x| *x == r);
                                    prop_assert!(idx.is_some_and(|i| roles.contains(&i)), "role {} {} {} {:?} {:?}", r, u, p, a, o);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
