//! Customers' code: `/api/v2/rules`, `/api/v2/rules-configs`, `/api/v2/actions/actions` (with
//! versions and deployments) and `/api/v2/actions/triggers` (with bindings).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use custos_manage::{ApiError, Manager, Paging};
use serde_json::{json, Value};

use super::{finish, paging, Q};
use crate::extract::*;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rules", get(list_rules).post(create_rule))
        .route(
            "/rules/{id}",
            get(get_rule).patch(update_rule).delete(delete_rule),
        )
        .route("/rules-configs", get(list_rules_configs))
        .route(
            "/rules-configs/{key}",
            put(set_rules_config).delete(delete_rules_config),
        )
        .route("/actions/actions", get(list_actions).post(create_action))
        .route(
            "/actions/actions/{id}",
            get(get_action).patch(update_action).delete(delete_action),
        )
        .route("/actions/actions/{id}/deploy", post(deploy_action))
        .route("/actions/actions/{id}/versions", get(list_versions))
        .route(
            "/actions/actions/{id}/versions/{version_id}",
            get(get_version),
        )
        .route(
            "/actions/actions/{id}/versions/{version_id}/deploy",
            post(rollback),
        )
        .route("/actions/triggers", get(list_triggers))
        .route(
            "/actions/triggers/{trigger_id}/bindings",
            get(list_bindings).patch(update_bindings),
        )
}

macro_rules! mgr {
    ($state:expr, $auth:expr) => {
        Manager::new(&$state.provider, $auth.actor.clone())
    };
}

fn q<'a>(q: &'a std::collections::HashMap<String, String>, key: &str) -> Option<&'a str> {
    q.get(key).map(String::as_str)
}

/// Auth0's paging of the actions endpoints: `page` and `per_page` (default 20), answers
/// always `{<list>, total, page, per_page}`.
fn actions_paging(query: &std::collections::HashMap<String, String>) -> Result<Paging, ApiError> {
    Paging::parse(q(query, "page"), q(query, "per_page").or(Some("20")), None)
}

async fn list_rules(
    State(s): State<AppState>,
    auth: Authorized<ReadRules>,
    axum::extract::Query(query): Q,
) -> Response {
    let r = match paging(&query) {
        Ok(p) => mgr!(s, auth)
            .list_rules(p, q(&query, "enabled"))
            .await
            .map(Some),
        Err(e) => Err(e),
    };
    finish(&s, &auth, false, StatusCode::OK, json!("rules"), r).await
}

async fn create_rule(
    State(s): State<AppState>,
    auth: Authorized<CreateRules>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).create_rule(&b).await.map(Some);
    finish(&s, &auth, true, StatusCode::CREATED, Value::Null, r).await
}

async fn get_rule(
    State(s): State<AppState>,
    auth: Authorized<ReadRules>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).get_rule(&id).await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!({"id": id}), r).await
}

async fn update_rule(
    State(s): State<AppState>,
    auth: Authorized<UpdateRules>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).update_rule(&id, &b).await.map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn delete_rule(
    State(s): State<AppState>,
    auth: Authorized<DeleteRules>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).delete_rule(&id).await.map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn list_rules_configs(
    State(s): State<AppState>,
    auth: Authorized<ReadRulesConfigs>,
) -> Response {
    let r = mgr!(s, auth).list_rules_configs().await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!("rules_configs"), r).await
}

async fn set_rules_config(
    State(s): State<AppState>,
    auth: Authorized<UpdateRulesConfigs>,
    Path(key): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).set_rules_config(&key, &b).await.map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn delete_rules_config(
    State(s): State<AppState>,
    auth: Authorized<DeleteRulesConfigs>,
    Path(key): Path<String>,
) -> Response {
    let r = mgr!(s, auth).delete_rules_config(&key).await.map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn list_actions(
    State(s): State<AppState>,
    auth: Authorized<ReadActions>,
    axum::extract::Query(query): Q,
) -> Response {
    let r = match actions_paging(&query) {
        Ok(p) => mgr!(s, auth)
            .list_actions(
                p,
                q(&query, "triggerId"),
                q(&query, "actionName"),
                q(&query, "deployed"),
                q(&query, "installed"),
            )
            .await
            .map(Some),
        Err(e) => Err(e),
    };
    finish(&s, &auth, false, StatusCode::OK, json!("actions"), r).await
}

async fn create_action(
    State(s): State<AppState>,
    auth: Authorized<CreateActions>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).create_action(&b).await.map(Some);
    finish(&s, &auth, true, StatusCode::CREATED, Value::Null, r).await
}

async fn get_action(
    State(s): State<AppState>,
    auth: Authorized<ReadActions>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).get_action(&id).await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!({"id": id}), r).await
}

async fn update_action(
    State(s): State<AppState>,
    auth: Authorized<UpdateActions>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).update_action(&id, &b).await.map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn delete_action(
    State(s): State<AppState>,
    auth: Authorized<DeleteActions>,
    Path(id): Path<String>,
    axum::extract::Query(query): Q,
) -> Response {
    let r = match q(&query, "force") {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::bad_query(
            "Query validation error: 'force' must be true or false",
        )),
    };
    let r = match r {
        Ok(force) => mgr!(s, auth).delete_action(&id, force).await.map(|()| None),
        Err(e) => Err(e),
    };
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn deploy_action(
    State(s): State<AppState>,
    auth: Authorized<UpdateActions>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).deploy_action(&id).await.map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn list_versions(
    State(s): State<AppState>,
    auth: Authorized<ReadActions>,
    Path(id): Path<String>,
    axum::extract::Query(query): Q,
) -> Response {
    let r = match actions_paging(&query) {
        Ok(p) => mgr!(s, auth).list_action_versions(&id, p).await.map(Some),
        Err(e) => Err(e),
    };
    finish(&s, &auth, false, StatusCode::OK, json!({"id": id}), r).await
}

async fn get_version(
    State(s): State<AppState>,
    auth: Authorized<ReadActions>,
    Path((id, version_id)): Path<(String, String)>,
) -> Response {
    let r = mgr!(s, auth)
        .get_action_version(&id, &version_id)
        .await
        .map(Some);
    let target = json!({"id": id, "version_id": version_id});
    finish(&s, &auth, false, StatusCode::OK, target, r).await
}

/// The body is optional (`{"update_draft": true}`); when present it must be JSON.
async fn rollback(
    State(s): State<AppState>,
    auth: Authorized<UpdateActions>,
    Path((id, version_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body: Result<Option<Value>, ApiError> = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(None)
    } else {
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|_| ApiError::bad_body("Invalid request payload JSON format"))
    };
    let r = match body {
        Ok(b) => mgr!(s, auth)
            .rollback_action(&id, &version_id, b.as_ref())
            .await
            .map(Some),
        Err(e) => Err(e),
    };
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn list_triggers(State(s): State<AppState>, auth: Authorized<ReadActions>) -> Response {
    let r = Ok(Some(mgr!(s, auth).list_triggers()));
    finish(&s, &auth, false, StatusCode::OK, json!("triggers"), r).await
}

async fn list_bindings(
    State(s): State<AppState>,
    auth: Authorized<ReadActions>,
    Path(trigger_id): Path<String>,
    axum::extract::Query(query): Q,
) -> Response {
    let r = match actions_paging(&query) {
        Ok(p) => mgr!(s, auth)
            .list_trigger_bindings(&trigger_id, p)
            .await
            .map(Some),
        Err(e) => Err(e),
    };
    let target = json!({"trigger_id": trigger_id});
    finish(&s, &auth, false, StatusCode::OK, target, r).await
}

async fn update_bindings(
    State(s): State<AppState>,
    auth: Authorized<UpdateActions>,
    Path(trigger_id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth)
        .update_trigger_bindings(&trigger_id, &b)
        .await
        .map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}
