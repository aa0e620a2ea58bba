//! Checks, list-objects and list-users on a hospital model.

use crate::*;
use serde_json::json;

pub(crate) fn hospital_model() -> AuthorizationModel {
    let direct = |types: serde_json::Value| json!({"directly_related_user_types": types});
    let v = json!({
      "schema_version": "1.1",
      "type_definitions": [
        {"type": "user"},
        {"type": "group", "relations": {"member": {"this": {}}},
         "metadata": {"relations": {"member": direct(json!([{"type": "user"}, {"type": "group", "relation": "member"}]))}}},
        {"type": "care_team", "relations": {"member": {"this": {}}},
         "metadata": {"relations": {"member": direct(json!([{"type": "user"}, {"type": "group", "relation": "member"}]))}}},
        {"type": "patient",
         "relations": {
           "owner": {"this": {}},
           "treating_doctor": {"this": {}},
           "care_team": {"this": {}},
           "nurse": {"this": {}},
           "blocked": {"this": {}},
           "viewer": {"union": {"child": [
             {"computedUserset": {"relation": "owner"}},
             {"computedUserset": {"relation": "treating_doctor"}},
             {"tupleToUserset": {"tupleset": {"relation": "care_team"}, "computedUserset": {"relation": "member"}}}
           ]}},
           "record_reader": {"difference": {"base": {"computedUserset": {"relation": "viewer"}},
                                            "subtract": {"computedUserset": {"relation": "blocked"}}}},
           "co_sign": {"intersection": {"child": [
             {"computedUserset": {"relation": "treating_doctor"}},
             {"tupleToUserset": {"tupleset": {"relation": "care_team"}, "computedUserset": {"relation": "member"}}}
           ]}}
         },
         "metadata": {"relations": {
           "owner": direct(json!([{"type": "user"}])),
           "treating_doctor": direct(json!([{"type": "user"}])),
           "care_team": direct(json!([{"type": "care_team"}])),
           "nurse": direct(json!([{"type": "user"}])),
           "blocked": direct(json!([{"type": "user"}, {"type": "group", "relation": "member"}]))
         }}},
        {"type": "doc", "relations": {"public_reader": {"this": {}}, "reader": {"computedUserset": {"relation": "public_reader"}}},
         "metadata": {"relations": {"public_reader": direct(json!([{"type": "user"}, {"type": "user", "wildcard": {}}]))}}},
        {"type": "folder",
         "relations": {
           "parent": {"this": {}},
           "viewer": {"union": {"child": [{"this": {}}, {"tupleToUserset": {"tupleset": {"relation": "parent"}, "computedUserset": {"relation": "viewer"}}}]}}
         },
         "metadata": {"relations": {
           "parent": direct(json!([{"type": "folder"}])),
           "viewer": direct(json!([{"type": "user"}]))
         }}}
      ]
    });
    match AuthorizationModel::from_json(&v) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    }
}

fn t(u: &str, r: &str, o: &str) -> TupleKey {
    TupleKey::new(u, r, o)
}

fn store(m: &AuthorizationModel, tuples: &[TupleKey]) -> TupleStore {
    let mut s = TupleStore::new();
    for x in tuples {
        assert_eq!(validate_tuple(m, x), Ok(()), "{x}");
        s.insert(x);
    }
    s
}

fn hospital_tuples() -> Vec<TupleKey> {
    vec![
        t("user:auth0|pat42", "owner", "patient:42"),
        t("user:auth0|drA", "treating_doctor", "patient:42"),
        t("care_team:7", "care_team", "patient:42"),
        t("user:auth0|drT", "member", "care_team:7"),
        t("group:3#member", "member", "care_team:7"),
        t("user:auth0|abc", "member", "group:3"),
        t("user:auth0|nurse", "nurse", "patient:42"),
        t("user:auth0|drB", "treating_doctor", "patient:43"),
        t("user:auth0|pat43", "owner", "patient:43"),
    ]
}

fn req<'a>(user: &'a str, relation: &'a str, object: &'a str) -> CheckRequest<'a> {
    CheckRequest {
        user,
        relation,
        object,
        contextual: &[],
    }
}

#[test]
fn hospital_checks() {
    let m = hospital_model();
    let s = store(&m, &hospital_tuples());
    let cases: &[(&str, &str, &str, bool)] = &[
        ("user:auth0|drA", "viewer", "patient:42", true), // treating doctor
        ("user:auth0|drT", "viewer", "patient:42", true), // care team member
        ("user:auth0|abc", "viewer", "patient:42", true), // care team through group
        ("user:auth0|pat42", "viewer", "patient:42", true), // owner
        ("user:auth0|drB", "viewer", "patient:42", false), // another doctor's patient
        ("user:auth0|drA", "viewer", "patient:43", false),
        ("user:auth0|nurse", "viewer", "patient:42", false),
        ("user:auth0|pat42", "viewer", "patient:43", false),
        ("user:unknown", "viewer", "patient:42", false),
        ("user:auth0|drA", "viewer", "patient:999", false),
        ("group:3#member", "member", "care_team:7", true),
        ("group:3#member", "viewer", "patient:42", true),
        ("group:4#member", "viewer", "patient:42", false),
    ];
    for &(u, r, o, want) in cases {
        assert_eq!(check_fast(&m, &s, &req(u, r, o)), Ok(want), "{u} {r} {o}");
        let out = check(&m, &s, &req(u, r, o));
        assert_eq!(out.as_ref().map(|o| o.allowed), Ok(want), "{u} {r} {o}");
    }
}

#[test]
fn reasons_show_the_chain() {
    let m = hospital_model();
    let s = store(&m, &hospital_tuples());
    let out = check(&m, &s, &req("user:auth0|abc", "viewer", "patient:42"));
    assert_eq!(
        out.map(|o| o.reasons),
        Ok(vec![
            "patient:42#viewer via patient:42#care_team -> care_team:7#member".to_string(),
            "care_team:7#member via group:3#member".to_string(),
            "group:3#member@user:auth0|abc".to_string(),
        ])
    );
    let out = check(&m, &s, &req("user:auth0|drA", "viewer", "patient:42"));
    assert_eq!(
        out.map(|o| o.reasons),
        Ok(vec![
            "patient:42#viewer via patient:42#treating_doctor".to_string(),
            "patient:42#treating_doctor@user:auth0|drA".to_string(),
        ])
    );
    let out = check(&m, &s, &req("user:auth0|nurse", "viewer", "patient:42"));
    assert_eq!(
        out,
        Ok(CheckOutcome {
            allowed: false,
            reasons: vec!["no relationship user:auth0|nurse viewer patient:42".to_string()]
        })
    );
}

#[test]
fn errors_deny() {
    let m = hospital_model();
    let s = store(&m, &hospital_tuples());
    let e = |u: &str, r: &str, o: &str| check_fast(&m, &s, &req(u, r, o)).err();
    assert_eq!(
        e("user:a", "viewer", "ward:1"),
        Some(CheckError::UnknownType("ward".into()))
    );
    assert_eq!(
        e("robot:a", "viewer", "patient:42"),
        Some(CheckError::UnknownType("robot".into()))
    );
    assert!(matches!(
        e("user:a", "surgeon", "patient:42"),
        Some(CheckError::UnknownRelation { .. })
    ));
    assert!(matches!(
        e("group:1#boss", "viewer", "patient:42"),
        Some(CheckError::UnknownRelation { .. })
    ));
    assert!(matches!(
        e("nobody", "viewer", "patient:42"),
        Some(CheckError::InvalidUser(_))
    ));
    assert!(matches!(
        e("user:a", "viewer", "patient"),
        Some(CheckError::InvalidObject(_))
    ));
    assert!(matches!(
        e("user:a", "viewer", "patient:*"),
        Some(CheckError::InvalidObject(_))
    ));
    let bad = [t("user:a", "owner", "nope")];
    let r = CheckRequest {
        user: "user:a",
        relation: "viewer",
        object: "patient:42",
        contextual: &bad,
    };
    assert!(matches!(
        check_fast(&m, &s, &r),
        Err(CheckError::InvalidContextualTuple(_))
    ));
}

#[test]
fn wildcard() {
    let m = hospital_model();
    let s = store(
        &m,
        &[
            t("user:*", "public_reader", "doc:1"),
            t("user:x", "public_reader", "doc:2"),
        ],
    );
    assert_eq!(
        check_fast(&m, &s, &req("user:anyone", "reader", "doc:1")),
        Ok(true)
    );
    assert_eq!(
        check_fast(&m, &s, &req("user:*", "reader", "doc:1")),
        Ok(true)
    );
    assert_eq!(
        check_fast(&m, &s, &req("user:anyone", "reader", "doc:2")),
        Ok(false)
    );
    assert_eq!(
        check_fast(&m, &s, &req("user:*", "reader", "doc:2")),
        Ok(false)
    );
    assert_eq!(
        check_fast(&m, &s, &req("user:x", "reader", "doc:2")),
        Ok(true)
    );
    let out = check(&m, &s, &req("user:anyone", "reader", "doc:1")).map(|o| o.reasons);
    assert_eq!(
        out,
        Ok(vec![
            "doc:1#reader via doc:1#public_reader".to_string(),
            "doc:1#public_reader@user:*".to_string()
        ])
    );
}

#[test]
fn intersection_and_difference() {
    let m = hospital_model();
    let mut tuples = hospital_tuples();
    tuples.push(t("user:auth0|drT", "treating_doctor", "patient:42"));
    tuples.push(t("group:9#member", "blocked", "patient:42"));
    tuples.push(t("user:auth0|abc", "member", "group:9"));
    let s = store(&m, &tuples);
    let c = |u: &str, r: &str| check_fast(&m, &s, &req(u, r, "patient:42"));
    // co_sign = treating_doctor and care team member
    assert_eq!(c("user:auth0|drT", "co_sign"), Ok(true));
    assert_eq!(c("user:auth0|drA", "co_sign"), Ok(false));
    assert_eq!(c("user:auth0|abc", "co_sign"), Ok(false));
    // record_reader = viewer but not blocked
    assert_eq!(c("user:auth0|drA", "record_reader"), Ok(true));
    assert_eq!(c("user:auth0|abc", "viewer"), Ok(true));
    assert_eq!(c("user:auth0|abc", "record_reader"), Ok(false));
    assert_eq!(c("user:auth0|nurse", "record_reader"), Ok(false));
}

#[test]
fn contextual_tuples_apply_to_one_request() {
    let m = hospital_model();
    let s = store(&m, &hospital_tuples());
    let ctx = [t("user:auth0|nurse", "member", "group:3")];
    let r = CheckRequest {
        user: "user:auth0|nurse",
        relation: "viewer",
        object: "patient:42",
        contextual: &ctx,
    };
    assert_eq!(check_fast(&m, &s, &r), Ok(true));
    assert_eq!(
        check_fast(&m, &s, &req("user:auth0|nurse", "viewer", "patient:42")),
        Ok(false)
    );
    // New objects and relations that the store has never seen.
    let ctx = [t("user:auth0|new", "treating_doctor", "patient:77")];
    let r = CheckRequest {
        user: "user:auth0|new",
        relation: "viewer",
        object: "patient:77",
        contextual: &ctx,
    };
    assert_eq!(check_fast(&m, &s, &r), Ok(true));
    assert_eq!(check(&m, &s, &r).map(|o| o.reasons.len()), Ok(2));
    let page = list_objects(
        &m,
        &s,
        "user:auth0|new",
        "viewer",
        "patient",
        &ctx,
        10,
        None,
    );
    assert_eq!(page.map(|p| p.objects), Ok(vec!["patient:77".to_string()]));
    let users = list_users(&m, &s, "patient:77", "viewer", "user", &ctx);
    assert_eq!(users, Ok(vec!["user:auth0|new".to_string()]));
}

#[test]
fn data_cycles_terminate() {
    let m = hospital_model();
    let s = store(
        &m,
        &[
            t("group:2#member", "member", "group:1"),
            t("group:1#member", "member", "group:2"),
            t("group:1#member", "member", "group:1"),
            t("group:2#member", "member", "care_team:1"),
            t("user:z", "member", "group:2"),
            t("folder:1", "parent", "folder:2"),
            t("folder:2", "parent", "folder:1"),
        ],
    );
    assert_eq!(
        check_fast(&m, &s, &req("user:a", "member", "group:1")),
        Ok(false)
    );
    assert_eq!(
        check_fast(&m, &s, &req("user:z", "member", "group:1")),
        Ok(true)
    );
    assert_eq!(
        check_fast(&m, &s, &req("user:z", "member", "care_team:1")),
        Ok(true)
    );
    assert_eq!(
        check_fast(&m, &s, &req("user:a", "viewer", "folder:1")),
        Ok(false)
    );
    let users = list_users(&m, &s, "group:1", "member", "user", &[]);
    assert_eq!(users, Ok(vec!["user:z".to_string()]));
    let sets = list_users(&m, &s, "care_team:1", "member", "group#member", &[]);
    assert_eq!(
        sets,
        Ok(vec![
            "group:1#member".to_string(),
            "group:2#member".to_string()
        ])
    );
}

#[test]
fn deep_chains_exceed_depth() {
    let m = hospital_model();
    let chain = |n: usize| {
        let mut v: Vec<TupleKey> = (0..n)
            .map(|i| {
                t(
                    &format!("folder:{}", i + 1),
                    "parent",
                    &format!("folder:{i}"),
                )
            })
            .collect();
        v.push(t("user:root", "viewer", &format!("folder:{n}")));
        store(&m, &v)
    };
    assert_eq!(
        check_fast(&m, &chain(10), &req("user:root", "viewer", "folder:0")),
        Ok(true)
    );
    assert_eq!(
        check_fast(&m, &chain(40), &req("user:root", "viewer", "folder:0")),
        Err(CheckError::DepthExceeded)
    );
    assert_eq!(
        check(&m, &chain(40), &req("user:root", "viewer", "folder:0")),
        Err(CheckError::DepthExceeded)
    );
    // A deep chain that is not needed does not hide a short proof.
    let mut v: Vec<TupleKey> = (0..40)
        .map(|i| {
            t(
                &format!("folder:{}", i + 1),
                "parent",
                &format!("folder:{i}"),
            )
        })
        .collect();
    v.push(t("user:root", "viewer", "folder:0"));
    assert_eq!(
        check_fast(&m, &store(&m, &v), &req("user:root", "viewer", "folder:0")),
        Ok(true)
    );
}

#[test]
fn wide_diamonds_stay_fast() {
    // 20 layers of 4 groups, each including every group of the next layer: 4^20 paths.
    let m = hospital_model();
    let mut v = Vec::new();
    for l in 0..20 {
        for a in 0..4 {
            for b in 0..4 {
                v.push(t(
                    &format!("group:{}_{b}#member", l + 1),
                    "member",
                    &format!("group:{l}_{a}"),
                ));
            }
        }
    }
    let s = store(&m, &v);
    let start = std::time::Instant::now();
    assert_eq!(
        check_fast(&m, &s, &req("user:nobody", "member", "group:0_0")),
        Ok(false)
    );
    assert!(start.elapsed().as_secs() < 2);
}

#[test]
fn list_objects_pages_without_truncation() {
    let m = hospital_model();
    let mut v = Vec::new();
    for p in 0..25 {
        v.push(t("user:drX", "treating_doctor", &format!("patient:{p:02}")));
    }
    v.push(t("care_team:1", "care_team", "patient:90"));
    v.push(t("care_team:1", "care_team", "patient:05"));
    v.push(t("group:1#member", "member", "care_team:1"));
    v.push(t("user:drX", "member", "group:1"));
    v.push(t("user:other", "treating_doctor", "patient:91"));
    let s = store(&m, &v);
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = match list_objects(
            &m,
            &s,
            "user:drX",
            "viewer",
            "patient",
            &[],
            10,
            after.as_deref(),
        ) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        pages += 1;
        assert!(page.objects.len() <= 10);
        all.extend(page.objects.iter().cloned());
        match page.next {
            Some(n) => {
                assert_eq!(page.objects.len(), 10);
                after = Some(n);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut want: Vec<String> = (0..25).map(|p| format!("patient:{p:02}")).collect();
    want.push("patient:90".into());
    assert_eq!(all, want);
    let one = list_objects(&m, &s, "user:drX", "viewer", "patient", &[], 0, None)
        .map(|p| (p.objects.len(), p.next));
    assert_eq!(one, Ok((26, None)));
    let exact =
        list_objects(&m, &s, "user:drX", "viewer", "patient", &[], 26, None).map(|p| p.next);
    assert_eq!(exact, Ok(None));
    // Non-monotone relations are filtered by a check.
    let co =
        list_objects(&m, &s, "user:drX", "co_sign", "patient", &[], 0, None).map(|p| p.objects);
    assert_eq!(co, Ok(vec!["patient:05".to_string()]));
    assert!(matches!(
        list_objects(&m, &s, "user:drX", "viewer", "ward", &[], 0, None),
        Err(CheckError::UnknownType(_))
    ));
}

#[test]
fn list_users_by_filter() {
    let m = hospital_model();
    let mut tuples = hospital_tuples();
    tuples.push(t("user:*", "public_reader", "doc:1"));
    tuples.push(t("user:a", "public_reader", "doc:1"));
    let s = store(&m, &tuples);
    let users = list_users(&m, &s, "patient:42", "viewer", "user", &[]);
    assert_eq!(
        users,
        Ok([
            "user:auth0|abc",
            "user:auth0|drA",
            "user:auth0|drT",
            "user:auth0|pat42"
        ]
        .map(String::from)
        .to_vec())
    );
    assert_eq!(
        list_users(&m, &s, "patient:42", "viewer", "group#member", &[]),
        Ok(vec!["group:3#member".to_string()])
    );
    assert_eq!(
        list_users(&m, &s, "doc:1", "reader", "user", &[]),
        Ok(vec!["user:*".to_string(), "user:a".to_string()])
    );
    assert!(matches!(
        list_users(&m, &s, "doc:1", "reader", "group#boss", &[]),
        Err(CheckError::UnknownRelation { .. })
    ));
}
