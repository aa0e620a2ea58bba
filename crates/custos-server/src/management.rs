//! Management API v2 routes: authorise (typed scope), call the shared service, render.
//!
//! Every call leaves an audit record: writes record `sapi` in their own transaction (inside the
//! service), successful reads record `sapi` with the read action (who looked at what), and any
//! refusal records `fapi`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use custos_domain::audit::{AuditEvent, EventType};
use custos_manage::{ApiError, LogQuery, Manager, Paging};
use serde_json::{json, Value};

use crate::error::api_error;
use crate::extract::*;
use crate::AppState;

mod authz;
mod organizations;
mod rules;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/clients", get(list_clients).post(create_client))
        .route(
            "/clients/{id}",
            get(get_client).patch(update_client).delete(delete_client),
        )
        .route("/clients/{id}/rotate-secret", post(rotate_secret))
        .route("/resource-servers", get(list_apis).post(create_api))
        .route(
            "/resource-servers/{id}",
            get(get_api).patch(update_api).delete(delete_api),
        )
        .route("/client-grants", get(list_grants).post(create_grant))
        .route(
            "/client-grants/{id}",
            get(get_grant).patch(update_grant).delete(delete_grant),
        )
        .merge(organizations::routes())
        .merge(authz::routes())
        .merge(rules::routes())
        .route("/users", get(list_users).post(create_user))
        .route("/users-by-email", get(users_by_email))
        .route(
            "/users/{id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route("/users/{id}/logs", get(user_logs))
        .route(
            "/user-blocks/{id}",
            get(get_user_blocks).delete(delete_user_blocks),
        )
        .route("/logs", get(list_logs))
        .route("/logs/{id}", get(get_log))
        .route("/jobs/logs-exports", post(create_logs_export))
        .route("/jobs/{id}", get(get_job))
        .route("/jobs/{id}/result", get(job_result))
        .route("/check", post(check))
        .route("/check/batch", post(check_batch))
        .route("/roles", get(list_roles).post(create_role))
        .route(
            "/roles/{id}",
            get(get_role).patch(update_role).delete(delete_role),
        )
        .route(
            "/users/{id}/roles",
            get(get_user_roles)
                .post(assign_user_roles)
                .delete(unassign_user_roles),
        )
        .route(
            "/users/{id}/permissions",
            get(get_user_permissions)
                .post(add_user_permissions)
                .delete(remove_user_permissions),
        )
        .route(
            "/roles/{id}/users",
            get(get_role_users).post(assign_role_users),
        )
        .route(
            "/roles/{id}/permissions",
            get(get_role_permissions)
                .post(add_role_permissions)
                .delete(remove_role_permissions),
        )
        .route("/log-streams", get(list_streams).post(create_stream))
        .route(
            "/log-streams/{id}",
            get(get_stream).patch(update_stream).delete(delete_stream),
        )
        .route("/keys/signing", get(list_keys))
        .route("/keys/signing/rotate", post(rotate_keys))
}

type Q = Query<HashMap<String, String>>;

/// Offset paging only: for the logs, whose `from`/`take` are log ids (see `log_query`).
fn log_paging(q: &HashMap<String, String>) -> Result<Paging, ApiError> {
    Paging::parse(
        q.get("page").map(String::as_str),
        q.get("per_page").map(String::as_str),
        q.get("include_totals").map(String::as_str),
    )
}

fn paging(q: &HashMap<String, String>) -> Result<Paging, ApiError> {
    Paging::parse_query(
        q.get("page").map(String::as_str),
        q.get("per_page").map(String::as_str),
        q.get("include_totals").map(String::as_str),
        q.get("from").map(String::as_str),
        q.get("take").map(String::as_str),
    )
}

/// Renders a service result with its audit trail: reads are recorded here, writes already
/// recorded their `sapi` with the change, and failures record `fapi`.
async fn finish<S: Scope>(
    state: &AppState,
    auth: &Authorized<S>,
    write: bool,
    ok: StatusCode,
    target: Value,
    result: Result<Option<Value>, ApiError>,
) -> Response {
    let mgr = Manager::new(&state.provider, auth.actor.clone());
    match result {
        Ok(body) => {
            if !write {
                let mut ev = AuditEvent::new(EventType::Sapi, state.provider.now_ms());
                ev.description = format!("Management API: {}", auth.scope());
                ev.client_id = Some(auth.actor.client_id.clone());
                ev.ip = Some(auth.actor.meta.ip.clone());
                ev.user_agent = Some(auth.actor.meta.user_agent.clone());
                ev.details = json!({"action": auth.scope(), "target": target});
                if let Err(e) = state.provider.store.append_audit(ev).await {
                    tracing::error!(error = %e, "could not record management read");
                    return api_error(&ApiError::internal());
                }
            }
            match body {
                Some(b) => (ok, Json(b)).into_response(),
                None => ok.into_response(),
            }
        }
        Err(e) => {
            mgr.record_failure(auth.scope(), &e).await;
            api_error(&e)
        }
    }
}

macro_rules! mgr {
    ($state:expr, $auth:expr) => {
        Manager::new(&$state.provider, $auth.actor.clone())
    };
}

async fn list_clients(
    State(s): State<AppState>,
    auth: Authorized<ReadClients>,
    Query(q): Q,
) -> Response {
    let r = match paging(&q) {
        Ok(p) => mgr!(s, auth).list_clients(p).await.map(Some),
        Err(e) => Err(e),
    };
    finish(&s, &auth, false, StatusCode::OK, json!("clients"), r).await
}

async fn create_client(
    State(s): State<AppState>,
    auth: Authorized<CreateClients>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).create_client(&b).await.map(Some);
    finish(&s, &auth, true, StatusCode::CREATED, Value::Null, r).await
}

async fn get_client(
    State(s): State<AppState>,
    auth: Authorized<ReadClients>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).get_client(&id).await.map(Some);
    finish(
        &s,
        &auth,
        false,
        StatusCode::OK,
        json!({"client_id": id}),
        r,
    )
    .await
}

async fn update_client(
    State(s): State<AppState>,
    auth: Authorized<UpdateClients>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).update_client(&id, &b).await.map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn delete_client(
    State(s): State<AppState>,
    auth: Authorized<DeleteClients>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).delete_client(&id).await.map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn rotate_secret(
    State(s): State<AppState>,
    auth: Authorized<UpdateClientKeys>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).rotate_client_secret(&id).await.map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn list_apis(
    State(s): State<AppState>,
    auth: Authorized<ReadResourceServers>,
    Query(q): Q,
) -> Response {
    let r = match paging(&q) {
        Ok(p) => mgr!(s, auth).list_resource_servers(p).await.map(Some),
        Err(e) => Err(e),
    };
    finish(
        &s,
        &auth,
        false,
        StatusCode::OK,
        json!("resource_servers"),
        r,
    )
    .await
}

async fn create_api(
    State(s): State<AppState>,
    auth: Authorized<CreateResourceServers>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).create_resource_server(&b).await.map(Some);
    finish(&s, &auth, true, StatusCode::CREATED, Value::Null, r).await
}

async fn get_api(
    State(s): State<AppState>,
    auth: Authorized<ReadResourceServers>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).get_resource_server(&id).await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!({"id": id}), r).await
}

async fn update_api(
    State(s): State<AppState>,
    auth: Authorized<UpdateResourceServers>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth)
        .update_resource_server(&id, &b)
        .await
        .map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn delete_api(
    State(s): State<AppState>,
    auth: Authorized<DeleteResourceServers>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth)
        .delete_resource_server(&id)
        .await
        .map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn get_grant(
    State(s): State<AppState>,
    auth: Authorized<ReadClientGrants>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).get_client_grant(&id).await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!({"id": id}), r).await
}

async fn list_grants(
    State(s): State<AppState>,
    auth: Authorized<ReadClientGrants>,
    Query(q): Q,
) -> Response {
    let r = match paging(&q) {
        Ok(p) => mgr!(s, auth)
            .list_client_grants(
                q.get("client_id").map(String::as_str),
                q.get("audience").map(String::as_str),
                p,
            )
            .await
            .map(Some),
        Err(e) => Err(e),
    };
    finish(&s, &auth, false, StatusCode::OK, json!("client_grants"), r).await
}

async fn create_grant(
    State(s): State<AppState>,
    auth: Authorized<CreateClientGrants>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).create_client_grant(&b).await.map(Some);
    finish(&s, &auth, true, StatusCode::CREATED, Value::Null, r).await
}

async fn update_grant(
    State(s): State<AppState>,
    auth: Authorized<UpdateClientGrants>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).update_client_grant(&id, &b).await.map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn delete_grant(
    State(s): State<AppState>,
    auth: Authorized<DeleteClientGrants>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).delete_client_grant(&id).await.map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn list_users(
    State(s): State<AppState>,
    auth: Authorized<ReadUsers>,
    Query(q): Q,
) -> Response {
    let r = match paging(&q) {
        Ok(p) => mgr!(s, auth)
            .search_users(
                p,
                q.get("q").map(String::as_str),
                q.get("sort").map(String::as_str),
            )
            .await
            .map(Some),
        Err(e) => Err(e),
    };
    finish(&s, &auth, false, StatusCode::OK, json!("users"), r).await
}

async fn users_by_email(
    State(s): State<AppState>,
    auth: Authorized<ReadUsers>,
    Query(q): Q,
) -> Response {
    let r = mgr!(s, auth)
        .users_by_email(q.get("email").map(String::as_str))
        .await
        .map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!("users-by-email"), r).await
}

async fn create_user(
    State(s): State<AppState>,
    auth: Authorized<CreateUsers>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).create_user(&b).await.map(Some);
    finish(&s, &auth, true, StatusCode::CREATED, Value::Null, r).await
}

async fn get_user(
    State(s): State<AppState>,
    auth: Authorized<ReadUsers>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).get_user(&id).await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!({"user_id": id}), r).await
}

async fn update_user(
    State(s): State<AppState>,
    auth: Authorized<UpdateUsers>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).update_user(&id, &b).await.map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn delete_user(
    State(s): State<AppState>,
    auth: Authorized<DeleteUsers>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).delete_user(&id).await.map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

fn log_query(q: &HashMap<String, String>, user_id: Option<String>) -> LogQuery {
    LogQuery {
        from: q.get("from").cloned(),
        take: q.get("take").cloned(),
        sort: q.get("sort").cloned(),
        q: q.get("q").cloned(),
        fields: q.get("fields").cloned(),
        include_fields: q.get("include_fields").cloned(),
        user_id,
    }
}

async fn list_logs(State(s): State<AppState>, auth: Authorized<ReadLogs>, Query(q): Q) -> Response {
    let r = match log_paging(&q) {
        Ok(p) => mgr!(s, auth)
            .list_logs(&log_query(&q, None), p)
            .await
            .map(Some),
        Err(e) => Err(e),
    };
    finish(&s, &auth, false, StatusCode::OK, json!("logs"), r).await
}

async fn user_logs(
    State(s): State<AppState>,
    auth: Authorized<ReadLogs>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let r = match log_paging(&q) {
        Ok(p) => mgr!(s, auth)
            .list_logs(&log_query(&q, Some(id.clone())), p)
            .await
            .map(Some),
        Err(e) => Err(e),
    };
    finish(&s, &auth, false, StatusCode::OK, json!({"user_id": id}), r).await
}

async fn get_log(
    State(s): State<AppState>,
    auth: Authorized<ReadLogs>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).get_log(&id).await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!({"log_id": id}), r).await
}

async fn list_keys(State(s): State<AppState>, auth: Authorized<ReadSigningKeys>) -> Response {
    let r = mgr!(s, auth).list_signing_keys().await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!("signing_keys"), r).await
}

async fn rotate_keys(State(s): State<AppState>, auth: Authorized<CreateSigningKeys>) -> Response {
    let r = mgr!(s, auth).rotate_signing_keys().await.map(Some);
    finish(&s, &auth, true, StatusCode::CREATED, Value::Null, r).await
}

async fn list_streams(State(s): State<AppState>, auth: Authorized<ReadLogStreams>) -> Response {
    let r = mgr!(s, auth).list_log_streams().await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!("log-streams"), r).await
}

async fn create_stream(
    State(s): State<AppState>,
    auth: Authorized<CreateLogStreams>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).create_log_stream(&b).await.map(Some);
    s.trail.streams.reconfigure();
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn get_stream(
    State(s): State<AppState>,
    auth: Authorized<ReadLogStreams>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).get_log_stream(&id).await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!({"id": id}), r).await
}

async fn update_stream(
    State(s): State<AppState>,
    auth: Authorized<UpdateLogStreams>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).update_log_stream(&id, &b).await.map(Some);
    s.trail.streams.reconfigure();
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn delete_stream(
    State(s): State<AppState>,
    auth: Authorized<DeleteLogStreams>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).delete_log_stream(&id).await.map(|_| None);
    s.trail.streams.reconfigure();
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn create_logs_export(
    State(s): State<AppState>,
    auth: Authorized<ReadLogs>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth)
        .create_logs_export(&s.trail.exports, &b)
        .await
        .map(Some);
    finish(&s, &auth, true, StatusCode::CREATED, Value::Null, r).await
}

async fn get_job(
    State(s): State<AppState>,
    auth: Authorized<ReadLogs>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).get_job(&s.trail.exports, &id).await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!({"job": id}), r).await
}

async fn job_result(
    State(s): State<AppState>,
    auth: Authorized<ReadLogs>,
    Path(id): Path<String>,
) -> Response {
    let found = mgr!(s, auth).job_result(&s.trail.exports, &id).await;
    let (path, content_type) = match found {
        Ok(f) => f,
        Err(e) => {
            return finish(&s, &auth, false, StatusCode::OK, json!({"job": id}), Err(e)).await
        }
    };
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "reading an export file");
            return api_error(&ApiError::internal());
        }
    };
    // The download itself is a read of the audit trail: recorded like any other.
    let recorded = finish(
        &s,
        &auth,
        false,
        StatusCode::OK,
        json!({"job_result": id}),
        Ok(None),
    )
    .await;
    if recorded.status() != StatusCode::OK {
        return recorded;
    }
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, content_type)],
        bytes,
    )
        .into_response()
}

async fn get_user_blocks(
    State(s): State<AppState>,
    auth: Authorized<ReadUsers>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).get_user_blocks(&id).await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!({"user_id": id}), r).await
}

async fn delete_user_blocks(
    State(s): State<AppState>,
    auth: Authorized<UpdateUsers>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).delete_user_blocks(&id).await.map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn list_roles(
    State(s): State<AppState>,
    auth: Authorized<ReadRoles>,
    Query(q): Q,
) -> Response {
    let r = match paging(&q) {
        Ok(p) => mgr!(s, auth)
            .list_roles(p, q.get("name_filter").map(String::as_str))
            .await
            .map(Some),
        Err(e) => Err(e),
    };
    finish(&s, &auth, false, StatusCode::OK, json!("roles"), r).await
}

async fn create_role(
    State(s): State<AppState>,
    auth: Authorized<CreateRoles>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).create_role(&b).await.map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn get_role(
    State(s): State<AppState>,
    auth: Authorized<ReadRoles>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).get_role(&id).await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!({"id": id}), r).await
}

async fn update_role(
    State(s): State<AppState>,
    auth: Authorized<UpdateRoles>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).update_role(&id, &b).await.map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn delete_role(
    State(s): State<AppState>,
    auth: Authorized<DeleteRoles>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).delete_role(&id).await.map(|()| None);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn get_role_permissions(
    State(s): State<AppState>,
    auth: Authorized<ReadRoles>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let r = match paging(&q) {
        Ok(p) => mgr!(s, auth).get_role_permissions(&id, p).await.map(Some),
        Err(e) => Err(e),
    };
    finish(
        &s,
        &auth,
        false,
        StatusCode::OK,
        json!({"role_permissions": id}),
        r,
    )
    .await
}

async fn add_role_permissions(
    State(s): State<AppState>,
    auth: Authorized<UpdateRoles>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth)
        .add_role_permissions(&id, &b)
        .await
        .map(|()| None);
    finish(&s, &auth, true, StatusCode::CREATED, Value::Null, r).await
}

async fn remove_role_permissions(
    State(s): State<AppState>,
    auth: Authorized<UpdateRoles>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth)
        .remove_role_permissions(&id, &b)
        .await
        .map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn get_user_roles(
    State(s): State<AppState>,
    auth: Authorized<ReadUsers>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let r = match paging(&q) {
        Ok(p) => mgr!(s, auth).get_user_roles(&id, p).await.map(Some),
        Err(e) => Err(e),
    };
    finish(
        &s,
        &auth,
        false,
        StatusCode::OK,
        json!({"user_roles": id}),
        r,
    )
    .await
}

async fn assign_user_roles(
    State(s): State<AppState>,
    auth: Authorized<UpdateUsers>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth)
        .assign_user_roles(&id, &b)
        .await
        .map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn unassign_user_roles(
    State(s): State<AppState>,
    auth: Authorized<UpdateUsers>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth)
        .unassign_user_roles(&id, &b)
        .await
        .map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn get_user_permissions(
    State(s): State<AppState>,
    auth: Authorized<ReadUsers>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let r = match paging(&q) {
        Ok(p) => mgr!(s, auth).get_user_permissions(&id, p).await.map(Some),
        Err(e) => Err(e),
    };
    finish(
        &s,
        &auth,
        false,
        StatusCode::OK,
        json!({"user_permissions": id}),
        r,
    )
    .await
}

async fn add_user_permissions(
    State(s): State<AppState>,
    auth: Authorized<UpdateUsers>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth)
        .add_user_permissions(&id, &b)
        .await
        .map(|()| None);
    finish(&s, &auth, true, StatusCode::CREATED, Value::Null, r).await
}

async fn remove_user_permissions(
    State(s): State<AppState>,
    auth: Authorized<UpdateUsers>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth)
        .remove_user_permissions(&id, &b)
        .await
        .map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn get_role_users(
    State(s): State<AppState>,
    auth: Authorized<ReadRoles>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let r = match paging(&q) {
        Ok(p) => mgr!(s, auth).get_role_users(&id, p).await.map(Some),
        Err(e) => Err(e),
    };
    finish(
        &s,
        &auth,
        false,
        StatusCode::OK,
        json!({"role_users": id}),
        r,
    )
    .await
}

async fn assign_role_users(
    State(s): State<AppState>,
    auth: Authorized<UpdateRoles>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth)
        .assign_role_users(&id, &b)
        .await
        .map(|()| None);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

/// Decisions are recorded by the service itself (as `custos_access_*`), so a successful check
/// adds no `sapi` read record; refused requests still record `fapi`.
async fn check(
    State(s): State<AppState>,
    auth: Authorized<CheckAccess>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).with_authz(&s.authz).check(&b).await.map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn check_batch(
    State(s): State<AppState>,
    auth: Authorized<CheckAccess>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth)
        .with_authz(&s.authz)
        .check_batch(&b)
        .await
        .map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}
