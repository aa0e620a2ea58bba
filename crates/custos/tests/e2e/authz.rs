//! The doctor/patient scenario end to end over HTTP: an OpenFGA model, relationship tuples,
//! RBAC, and the decision API with its evidence; list-objects and list-users; bad input; the
//! in-process API and a second node following the first.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

const RECORDS: &str = "urn:hospital:records";

fn hospital_model() -> Value {
    json!({
        "schema_version": "1.1",
        "type_definitions": [
            {"type": "user"},
            {"type": "group", "relations": {"member": {"this": {}}},
             "metadata": {"relations": {"member": {"directly_related_user_types": [{"type": "user"}]}}}},
            {"type": "care_team", "relations": {"member": {"this": {}}},
             "metadata": {"relations": {"member": {"directly_related_user_types": [{"type": "user"}, {"type": "group", "relation": "member"}]}}}},
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
                "owner": {"directly_related_user_types": [{"type": "user"}]},
                "treating_doctor": {"directly_related_user_types": [{"type": "user"}]},
                "care_team": {"directly_related_user_types": [{"type": "care_team"}]}
             }}}
        ]
    })
}

fn t(user: &str, relation: &str, object: &str) -> Value {
    json!({"user": user, "relation": relation, "object": object})
}

struct Hospital {
    app: TestApp,
    house: String,
    wilson: String,
    joy: String,
    alice: String,
    bob: String,
}

async fn user_with_roles(app: &TestApp, email: &str, roles: &[&str]) -> R<String> {
    let u = app.create_user(email).await?;
    let id = u["user_id"].as_str().ok_or("user id")?.to_owned();
    if !roles.is_empty() {
        let enc: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
        let (s, e) = app
            .api(
                Method::POST,
                &format!("users/{enc}/roles"),
                Some(json!({"roles": roles})),
            )
            .await?;
        assert_eq!(s, 204, "{e}");
    }
    Ok(id)
}

async fn hospital() -> R<Hospital> {
    let app = TestApp::start().await?;
    let (s, e) = app
        .api(
            Method::POST,
            "resource-servers",
            Some(json!({"identifier": RECORDS, "enforce_policies": true,
                "scopes": [{"value": "read:records"}, {"value": "read:vitals"}]})),
        )
        .await?;
    assert_eq!(s, 201, "{e}");
    let mut role_ids = Vec::new();
    for (name, perms) in [
        ("Doctor", vec!["read:records", "read:vitals"]),
        ("Nurse", vec!["read:vitals"]),
        ("Patient", vec!["read:records"]),
    ] {
        let (_, r) = app
            .api(Method::POST, "roles", Some(json!({"name": name})))
            .await?;
        let id = r["id"].as_str().ok_or("role id")?.to_owned();
        let permissions: Vec<Value> = perms
            .iter()
            .map(|p| json!({"resource_server_identifier": RECORDS, "permission_name": p}))
            .collect();
        let (s, e) = app
            .api(
                Method::POST,
                &format!("roles/{id}/permissions"),
                Some(json!({"permissions": permissions})),
            )
            .await?;
        assert_eq!(s, 201, "{e}");
        role_ids.push(id);
    }
    let (doctor, nurse, patient) = (&role_ids[0], &role_ids[1], &role_ids[2]);
    let house = user_with_roles(&app, "house@hospital.example", &[doctor]).await?;
    let wilson = user_with_roles(&app, "wilson@hospital.example", &[doctor]).await?;
    let joy = user_with_roles(&app, "joy@hospital.example", &[nurse]).await?;
    let alice = user_with_roles(&app, "alice@patients.example", &[patient]).await?;
    let bob = user_with_roles(&app, "bob@patients.example", &[patient]).await?;

    let (s, m) = app
        .api(Method::POST, "authz/models", Some(hospital_model()))
        .await?;
    assert_eq!(s, 201, "{m}");
    assert!(m["authorization_model_id"]
        .as_str()
        .is_some_and(|i| i.starts_with("mdl_")));
    let (s, w) = app
        .api(
            Method::POST,
            "authz/tuples",
            Some(json!({"writes": [
                t(&format!("user:{alice}"), "owner", "patient:alice"),
                t(&format!("user:{house}"), "treating_doctor", "patient:alice"),
                t(&format!("user:{bob}"), "owner", "patient:bob"),
                t("care_team:cardio", "care_team", "patient:bob"),
                t("group:cardiologists#member", "member", "care_team:cardio"),
                t(&format!("user:{wilson}"), "member", "group:cardiologists"),
            ]})),
        )
        .await?;
    assert_eq!((s, &w["written"]), (200, &json!(6)), "{w}");
    Ok(Hospital {
        app,
        house,
        wilson,
        joy,
        alice,
        bob,
    })
}

impl Hospital {
    /// "May `user` read `patient`'s records?": the permission and the relationship.
    async fn may_read(&self, user: &str, patient: &str) -> R<Value> {
        let (s, d) = self
            .app
            .api(
                Method::POST,
                "check",
                Some(
                    json!({"user_id": user, "permission": "read:records", "audience": RECORDS,
                    "relation": "viewer", "object": format!("patient:{patient}")}),
                ),
            )
            .await?;
        assert_eq!(s, 200, "{d}");
        Ok(d)
    }
}

#[tokio::test]
async fn doctors_patients_and_nurses_through_the_decision_api() -> TestResult {
    let h = hospital().await?;
    let app = &h.app;
    let mut decisions = Vec::new();
    for (who, patient, expected) in [
        (&h.house, "alice", true), // treating doctor
        (&h.house, "bob", false),  // another doctor's patient
        (&h.wilson, "bob", true),  // through care team → group → member (3 hops)
        (&h.wilson, "alice", false),
        (&h.alice, "alice", true), // a patient, their own records
        (&h.alice, "bob", false),  // another patient's
        (&h.joy, "alice", false),  // nurse: neither the permission nor a relationship
    ] {
        let d = h.may_read(who, patient).await?;
        assert_eq!(d["allowed"], expected, "{who} on {patient}: {d}");
        decisions.push((
            d["decision_id"].as_str().ok_or("id")?.to_owned(),
            expected,
            patient,
        ));
    }
    // The 3-hop proof is in the reasons.
    let d = h.may_read(&h.wilson, "bob").await?;
    let path = d["reasons"][2]["path"].to_string();
    assert!(
        path.contains("care_team:cardio") && path.contains("group:cardiologists"),
        "{d}"
    );
    // Every part given must allow: the nurse holds no read:records even with a relationship.
    let (_, d) = app
        .api(
            Method::POST,
            "check",
            Some(json!({"user_id": h.joy, "permission": "read:records", "relation": "viewer",
                "object": "patient:alice",
                "contextual_tuples": [t(&format!("user:{}", h.joy), "treating_doctor", "patient:alice")]})),
        )
        .await?;
    assert_eq!(d["allowed"], false, "{d}");
    // Contextual tuples hold for that one question only.
    let (_, d) = app
        .api(
            Method::POST,
            "check",
            Some(json!({"user_id": h.house, "relation": "viewer", "object": "patient:bob",
                "contextual_tuples": {"tuple_keys": [t(&format!("user:{}", h.house), "treating_doctor", "patient:bob")]}})),
        )
        .await?;
    assert_eq!(d["allowed"], true, "{d}");
    assert_eq!(h.may_read(&h.house, "bob").await?["allowed"], false);

    // Evidence: each decision is in the trail under its decision_id, with the patient as the
    // resource, so "every access to patient alice" is one query.
    let q: String = url::form_urlencoded::byte_serialize(
        b"resource:\"patient:alice\" AND type:custos_access_*",
    )
    .collect();
    let (s, logs) = app
        .api(Method::GET, &format!("logs?q={q}&per_page=100"), None)
        .await?;
    assert_eq!(s, 200, "{logs}");
    let logs = logs.as_array().ok_or("logs")?;
    for (id, allowed, patient) in decisions.iter().filter(|d| d.2 == "alice") {
        let rec = logs
            .iter()
            .find(|l| l["details"]["decision_id"] == json!(id))
            .ok_or(format!("decision {id} not in the trail"))?;
        let t = if *allowed {
            "custos_access_allowed"
        } else {
            "custos_access_denied"
        };
        assert_eq!(rec["type"], t, "{rec}");
        assert_eq!(
            rec["details"]["request"]["object"],
            format!("patient:{patient}")
        );
        assert!(rec["details"]["reasons"].is_array());
        assert_eq!(rec["client_id"], json!(app.bootstrap.0));
    }

    // Read-your-writes: the next check sees a deleted relationship.
    let (s, _) = app
        .api(
            Method::POST,
            "authz/tuples",
            Some(json!({"deletes": [t(&format!("user:{}", h.house), "treating_doctor", "patient:alice")]})),
        )
        .await?;
    assert_eq!(s, 200);
    assert_eq!(h.may_read(&h.house, "alice").await?["allowed"], false);
    // The same for roles and users: taking Wilson's role, or blocking him, applies to the very
    // next decision.
    assert_eq!(h.may_read(&h.wilson, "bob").await?["allowed"], true);
    let enc: String = url::form_urlencoded::byte_serialize(h.wilson.as_bytes()).collect();
    let (_, roles) = app
        .api(Method::GET, &format!("users/{enc}/roles"), None)
        .await?;
    let doctor = roles[0]["id"].clone();
    app.api(
        Method::DELETE,
        &format!("users/{enc}/roles"),
        Some(json!({"roles": [doctor]})),
    )
    .await?;
    let d = h.may_read(&h.wilson, "bob").await?;
    assert_eq!(d["allowed"], false, "{d}");
    app.api(
        Method::POST,
        &format!("users/{enc}/roles"),
        Some(json!({"roles": [doctor]})),
    )
    .await?;
    assert_eq!(h.may_read(&h.wilson, "bob").await?["allowed"], true);
    app.api(
        Method::PATCH,
        &format!("users/{enc}"),
        Some(json!({"blocked": true})),
    )
    .await?;
    let d = h.may_read(&h.wilson, "bob").await?;
    assert_eq!(
        (&d["allowed"], &d["reasons"][0]["detail"]),
        (&json!(false), &json!("user is blocked")),
        "{d}"
    );
    assert!(app.verify_chain().await?.is_none());
    Ok(())
}

#[tokio::test]
async fn list_objects_pages_and_list_users() -> TestResult {
    let h = hospital().await?;
    let app = &h.app;
    let writes: Vec<Value> = (0..7)
        .map(|i| {
            t(
                &format!("user:{}", h.house),
                "treating_doctor",
                &format!("patient:p{i}"),
            )
        })
        .collect();
    app.api(
        Method::POST,
        "authz/tuples",
        Some(json!({"writes": writes})),
    )
    .await?;
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let mut body = json!({"user": format!("user:{}", h.house), "relation": "viewer", "type": "patient", "page_size": 3});
        if let Some(tk) = &token {
            body["continuation_token"] = json!(tk);
        }
        let (s, page) = app
            .api(Method::POST, "authz/list-objects", Some(body))
            .await?;
        assert_eq!(s, 200, "{page}");
        let objects = page["objects"].as_array().ok_or("objects")?;
        assert!(objects.len() <= 3);
        seen.extend(objects.iter().filter_map(|o| o.as_str().map(str::to_owned)));
        match page["continuation_token"].as_str() {
            Some(tk) => token = Some(tk.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..7).map(|i| format!("patient:p{i}")).collect();
    expected.push("patient:alice".into());
    expected.sort();
    assert_eq!(seen, expected, "every patient once, none cut off");
    let (s, users) = app
        .api(
            Method::POST,
            "authz/list-users",
            Some(json!({"object": "patient:bob", "relation": "viewer", "user_filters": [{"type": "user"}]})),
        )
        .await?;
    assert_eq!(s, 200, "{users}");
    let mut got: Vec<&str> = users["users"]
        .as_array()
        .ok_or("users")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    got.sort();
    let mut want = vec![format!("user:{}", h.bob), format!("user:{}", h.wilson)];
    want.sort();
    assert_eq!(got, want);
    let (s, read) = app
        .api(Method::GET, "authz/tuples?object=patient:bob", None)
        .await?;
    assert_eq!(s, 200);
    assert_eq!(read["tuples"].as_array().map(Vec::len), Some(2), "{read}");
    Ok(())
}

#[tokio::test]
async fn bad_models_tuples_and_checks_are_refused_and_change_nothing() -> TestResult {
    let h = hospital().await?;
    let app = &h.app;
    let before = app.api(Method::GET, "authz/models", None).await?.1;
    let cyclic = json!({"schema_version": "1.1", "type_definitions": [{"type": "user"},
        {"type": "doc", "relations": {"a": {"computedUserset": {"relation": "b"}}, "b": {"computedUserset": {"relation": "a"}}}}]});
    let unknown_type = json!({"schema_version": "1.1", "type_definitions": [
        {"type": "doc", "relations": {"owner": {"this": {}}},
         "metadata": {"relations": {"owner": {"directly_related_user_types": [{"type": "ghost"}]}}}}]});
    let undefined_relation = json!({"schema_version": "1.1", "type_definitions": [{"type": "user"},
        {"type": "doc", "relations": {"viewer": {"computedUserset": {"relation": "editor"}}}}]});
    for bad in [
        cyclic,
        unknown_type,
        undefined_relation,
        json!({"schema_version": "1.0", "type_definitions": []}),
        json!({"type_definitions": []}),
        json!({"schema_version": "1.1", "type_definitions": [], "extra": 1}),
    ] {
        let (s, e) = app
            .api(Method::POST, "authz/models", Some(bad.clone()))
            .await?;
        assert_eq!(s, 400, "{bad}: {e}");
        assert_eq!(e["errorCode"], "invalid_body", "{e}");
    }
    let after = app.api(Method::GET, "authz/models", None).await?.1;
    assert_eq!(before, after, "no model written");

    // A batch with one bad tuple writes nothing.
    let good = t("user:x", "owner", "patient:zed");
    for (bad, why) in [
        (
            json!({"writes": [good.clone(), t("user:x", "owner", "ghost:1")]}),
            "unknown type",
        ),
        (
            json!({"writes": [good.clone(), t("user:x", "nurse", "patient:zed")]}),
            "undefined relation",
        ),
        (
            json!({"writes": [good.clone(), t("group:g", "owner", "patient:zed")]}),
            "user type not allowed",
        ),
        (
            json!({"writes": [good.clone(), t("user:x", "viewer", "patient:zed")]}),
            "computed relation",
        ),
        (
            json!({"writes": [good.clone(), json!({"user": "user:x", "relation": "owner"})]}),
            "missing object",
        ),
        (
            json!({"writes": (0..101).map(|i| t("user:x", "owner", &format!("patient:{i}"))).collect::<Vec<_>>()}),
            "too many",
        ),
        (json!({}), "empty"),
    ] {
        let (s, e) = app.api(Method::POST, "authz/tuples", Some(bad)).await?;
        assert_eq!(s, 400, "{why}: {e}");
    }
    let (_, read) = app
        .api(Method::GET, "authz/tuples?object=patient:zed", None)
        .await?;
    assert_eq!(read["tuples"], json!([]), "nothing written half-way");

    // Malformed checks are 400; an unknown user is a denial, not an error.
    for bad in [
        json!({"user_id": h.house, "relation": "viewer"}),
        json!({"user_id": h.house, "relation": "nurse", "object": "patient:alice"}),
        json!({"user_id": h.house, "relation": "viewer", "object": "ghost:1"}),
        json!({"user_id": h.house, "relation": "viewer", "object": "patient:alice", "contextual_tuples": [t("user:x", "owner", "ghost:1")]}),
        json!({"user_id": h.house, "permission": "read:records", "contextual_tuples": [t("user:x", "owner", "patient:alice")]}),
    ] {
        let (s, e) = app.api(Method::POST, "check", Some(bad.clone())).await?;
        assert_eq!(s, 400, "{bad}: {e}");
    }
    let (s, d) = app
        .api(
            Method::POST,
            "check",
            Some(
                json!({"user_id": "auth0|nobody", "relation": "viewer", "object": "patient:alice"}),
            ),
        )
        .await?;
    assert_eq!((s, &d["allowed"]), (200, &json!(false)));
    // A model version is immutable; checks may name an older one.
    let (_, v1) = app.api(Method::GET, "authz/models", None).await?;
    let old = v1["authorization_models"][0]["id"]
        .as_str()
        .ok_or("model")?
        .to_owned();
    let mut next = hospital_model();
    next["type_definitions"][3]["relations"]["viewer"] =
        json!({"computedUserset": {"relation": "owner"}});
    let (s, _) = app.api(Method::POST, "authz/models", Some(next)).await?;
    assert_eq!(s, 201);
    assert_eq!(
        h.may_read(&h.wilson, "bob").await?["allowed"],
        false,
        "latest model: owners only"
    );
    let (_, d) = app
        .api(
            Method::POST,
            "check",
            Some(json!({"user_id": h.wilson, "relation": "viewer",
            "object": "patient:bob", "authorization_model_id": old})),
        )
        .await?;
    assert_eq!(d["allowed"], true, "{d}");
    let (s, m) = app
        .api(Method::GET, &format!("authz/models/{old}"), None)
        .await?;
    assert_eq!(s, 200);
    assert_eq!(
        m["authorization_model"]["type_definitions"],
        hospital_model()["type_definitions"]
    );
    Ok(())
}

/// The in-process API loads what the server wrote, and a second node on the same database
/// follows the first's writes.
#[tokio::test]
async fn the_in_process_api_and_a_second_node_stay_coherent() -> TestResult {
    let h = hospital().await?;
    let other = custos_store::Store::connect(&h.app.db_url).await?;
    let node_b = custos_manage::Authz::open(other).await?;
    let alice = format!("user:{}", h.alice);
    let d = node_b.check_relation(None, &alice, "viewer", "patient:alice", &[])?;
    assert!(d.allowed, "{d:?}");
    assert!(node_b
        .check_permission(&h.house, "read:records", Some(RECORDS), None)
        .is_some());
    assert!(node_b
        .check_permission(&h.joy, "read:records", None, None)
        .is_none());
    // A write on node A reaches node B without a restart.
    h.app
        .api(
            Method::POST,
            "authz/tuples",
            Some(json!({"writes": [t(&format!("user:{}", h.joy), "treating_doctor", "patient:alice")]})),
        )
        .await?;
    let joy = format!("user:{}", h.joy);
    let mut seen = false;
    for _ in 0..100 {
        if node_b
            .check_relation(None, &joy, "viewer", "patient:alice", &[])?
            .allowed
        {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen, "node B followed node A's write");
    Ok(())
}
