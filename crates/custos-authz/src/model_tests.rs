//! Model parsing: accepted shapes, and one rejection per error.
use super::*;
use serde_json::json;

fn hospital() -> Value {
    json!({
      "schema_version": "1.1",
      "type_definitions": [
        {"type": "user"},
        {"type": "group", "relations": {"member": {"this": {}}},
         "metadata": {"relations": {"member": {"directly_related_user_types": [
            {"type": "user"}, {"type": "group", "relation": "member"}]}}}},
        {"type": "care_team", "relations": {"member": {"this": {}}},
         "metadata": {"relations": {"member": {"directly_related_user_types": [
            {"type": "user"}, {"type": "group", "relation": "member"}]}}}},
        {"type": "patient",
         "relations": {
           "owner": {"this": {}},
           "treating_doctor": {"this": {}},
           "care_team": {"this": {}},
           "viewer": {"union": {"child": [
             {"computedUserset": {"object": "", "relation": "owner"}},
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

#[test]
fn accepts_hospital_model() {
    let m = AuthorizationModel::from_json(&hospital());
    assert!(m.is_ok(), "{m:?}");
    let Ok(m) = m else { return };
    assert_eq!(
        m.type_names().collect::<Vec<_>>(),
        ["user", "group", "care_team", "patient"]
    );
    assert!(m.has_relation("patient", "viewer"));
    assert!(m.has_relation("group", "member"));
    assert!(!m.has_relation("patient", "member"));
    assert!(!m.has_relation("nope", "viewer"));
}

/// Applies `edit` to the hospital model and returns the error.
fn reject(edit: impl FnOnce(&mut Value)) -> ModelError {
    let mut v = hospital();
    edit(&mut v);
    match AuthorizationModel::from_json(&v) {
        Ok(_) => panic!("model was accepted: {v}"),
        Err(e) => e,
    }
}

fn patient(v: &mut Value) -> &mut Value {
    &mut v["type_definitions"][3]
}

#[test]
fn rejects_each_error() {
    use ModelError as E;
    type Case = (ModelError, fn(&ModelError) -> bool);
    let cases: Vec<Case> = vec![
        (
            reject(|v| {
                v.as_object_mut().map(|m| m.remove("schema_version"));
            }),
            |e| matches!(e, E::MissingSchemaVersion),
        ),
        (
            reject(|v| v["schema_version"] = json!("1.0")),
            |e| matches!(e, E::UnsupportedSchemaVersion(s) if s == "1.0"),
        ),
        (reject(|v| v["type_definitions"] = json!({})), |e| {
            matches!(e, E::InvalidShape(_))
        }),
        (reject(|v| v["type_definitions"] = json!([])), |e| {
            matches!(e, E::InvalidShape(_))
        }),
        (
            reject(|v| v["type_definitions"][0]["type"] = json!("us er")),
            |e| matches!(e, E::InvalidName { kind: "type", .. }),
        ),
        (
            reject(|v| v["type_definitions"][1]["type"] = json!("user")),
            |e| matches!(e, E::DuplicateType(t) if t == "user"),
        ),
        (
            reject(|v| {
                patient(v)["metadata"]["relations"]["owner"]["directly_related_user_types"] =
                    json!([{"type": "robot"}])
            }),
            |e| matches!(e, E::UnknownType { ty, relation, referenced } if ty == "patient" && relation == "owner" && referenced == "robot"),
        ),
        (
            reject(|v| {
                patient(v)["relations"]["viewer"] =
                    json!({"computedUserset": {"relation": "nurse"}})
            }),
            |e| matches!(e, E::UndefinedRelation { referenced, .. } if referenced == "patient#nurse"),
        ),
        (
            reject(
                |v| patient(v)["relations"]["viewer"] = json!({"tupleToUserset": {"tupleset": {"relation": "ward"}, "computedUserset": {"relation": "member"}}}),
            ),
            |e| matches!(e, E::UndefinedRelation { referenced, .. } if referenced == "patient#ward"),
        ),
        (
            reject(
                |v| patient(v)["relations"]["viewer"] = json!({"tupleToUserset": {"tupleset": {"relation": "care_team"}, "computedUserset": {"relation": "owner"}}}),
            ),
            |e| matches!(e, E::UndefinedRelation { referenced, .. } if referenced.contains("not defined on care_team")),
        ),
        (
            reject(|v| {
                patient(v)["metadata"]["relations"]["owner"]["directly_related_user_types"] =
                    json!([{"type": "group", "relation": "admin"}])
            }),
            |e| matches!(e, E::UndefinedRelation { referenced, .. } if referenced == "group#admin"),
        ),
        (
            reject(|v| {
                patient(v)["metadata"]["relations"]["care_team"]["directly_related_user_types"] =
                    json!([{"type": "group", "relation": "member"}])
            }),
            |e| matches!(e, E::UndefinedRelation { .. } | E::TuplesetNotDirect { .. }),
        ),
        (
            reject(|v| {
                patient(v)["metadata"]["relations"]["care_team"]["directly_related_user_types"] =
                    json!([{"type": "care_team"}, {"type": "care_team", "wildcard": {}}])
            }),
            |e| matches!(e, E::TuplesetNotDirect { tupleset, .. } if tupleset == "care_team"),
        ),
        (
            reject(
                |v| patient(v)["relations"]["care_team"] = json!({"union": {"child": [{"this": {}}, {"computedUserset": {"relation": "owner"}}]}}),
            ),
            |e| matches!(e, E::TuplesetNotDirect { .. }),
        ),
        (
            reject(|v| {
                patient(v)["metadata"]["relations"]
                    .as_object_mut()
                    .map(|m| m.remove("owner"));
            }),
            |e| matches!(e, E::ThisWithoutTypes { ty, relation } if ty == "patient" && relation == "owner"),
        ),
        (
            reject(|v| {
                patient(v)["metadata"]["relations"]["viewer"] =
                    json!({"directly_related_user_types": [{"type": "user"}]})
            }),
            |e| matches!(e, E::TypesWithoutThis { relation, .. } if relation == "viewer"),
        ),
        (
            reject(|v| {
                v["conditions"] = json!({"in_hours": {"name": "in_hours", "expression": "true"}})
            }),
            |e| matches!(e, E::ConditionsNotSupported { .. }),
        ),
        (
            reject(|v| {
                patient(v)["metadata"]["relations"]["owner"]["directly_related_user_types"] =
                    json!([{"type": "user", "condition": "in_hours"}])
            }),
            |e| matches!(e, E::ConditionsNotSupported { .. }),
        ),
        (
            reject(|v| {
                patient(v)["relations"]["a"] = json!({"computedUserset": {"relation": "b"}});
                patient(v)["relations"]["b"] = json!({"computedUserset": {"relation": "a"}});
            }),
            |e| matches!(e, E::Cycle { ty, path, .. } if ty == "patient" && (path == "a -> b -> a" || path == "b -> a -> b")),
        ),
        (
            reject(
                |v| patient(v)["relations"]["viewer"] = json!({"intersection": {"child": [{"computedUserset": {"relation": "owner"}}, {"computedUserset": {"relation": "viewer"}}]}}),
            ),
            |e| matches!(e, E::Cycle { relation, .. } if relation == "viewer"),
        ),
        (
            reject(|v| patient(v)["relations"]["viewer"] = json!({"union": {"child": []}})),
            |e| matches!(e, E::InvalidRewrite { .. }),
        ),
        (
            reject(|v| {
                patient(v)["relations"]["viewer"] =
                    json!({"this": {}, "computedUserset": {"relation": "owner"}})
            }),
            |e| matches!(e, E::InvalidRewrite { .. }),
        ),
        (
            reject(|v| patient(v)["relations"]["viewer"] = json!({"xor": {}})),
            |e| matches!(e, E::InvalidRewrite { .. }),
        ),
        (
            reject(|v| patient(v)["relations"]["bad name"] = json!({"this": {}})),
            |e| {
                matches!(
                    e,
                    E::InvalidName {
                        kind: "relation",
                        ..
                    }
                )
            },
        ),
        (
            reject(|v| {
                patient(v)["metadata"]["relations"]["ghost"] =
                    json!({"directly_related_user_types": []})
            }),
            |e| matches!(e, E::UndefinedRelation { .. }),
        ),
    ];
    for (i, (err, ok)) in cases.iter().enumerate() {
        assert!(ok(err), "case {i}: unexpected {err:?}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn recursion_through_data_is_legal() {
    let v = json!({
      "schema_version": "1.1",
      "type_definitions": [
        {"type": "user"},
        {"type": "folder",
         "relations": {
           "parent": {"this": {}},
           "viewer": {"union": {"child": [{"this": {}}, {"tupleToUserset": {"tupleset": {"relation": "parent"}, "computedUserset": {"relation": "viewer"}}}]}},
           "a": {"union": {"child": [{"this": {}}, {"computedUserset": {"relation": "b"}}]}},
           "b": {"computedUserset": {"relation": "a"}}
         },
         "metadata": {"relations": {
           "parent": {"directly_related_user_types": [{"type": "folder"}]},
           "viewer": {"directly_related_user_types": [{"type": "user"}, {"type": "user", "wildcard": {}}]},
           "a": {"directly_related_user_types": [{"type": "user"}]}
         }}}
      ]
    });
    let m = AuthorizationModel::from_json(&v);
    assert!(m.is_ok(), "{m:?}");
}

#[test]
fn error_messages_name_the_culprit() {
    let e = reject(|v| {
        patient(v)["relations"]["viewer"] = json!({"computedUserset": {"relation": "nurse"}})
    });
    assert_eq!(
        e.to_string(),
        "authorization model: patient#viewer references undefined relation patient#nurse"
    );
}
