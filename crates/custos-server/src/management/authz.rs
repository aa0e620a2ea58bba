//! `/api/v2/authz/*`: authorization models, relationship tuples, list-objects and list-users.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use custos_manage::Manager;
use serde_json::{json, Value};

use super::{finish, Q};
use crate::extract::*;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/authz/models", get(list_models).post(write_model))
        .route("/authz/models/{id}", get(get_model))
        .route("/authz/tuples", get(read_tuples).post(write_tuples))
        .route("/authz/list-objects", post(list_objects))
        .route("/authz/list-users", post(list_users))
}

macro_rules! mgr {
    ($state:expr, $auth:expr) => {
        Manager::new(&$state.provider, $auth.actor.clone()).with_authz(&$state.authz)
    };
}

async fn write_model(
    State(s): State<AppState>,
    auth: Authorized<CreateAuthorizationModels>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).write_authz_model(&b).await.map(Some);
    finish(&s, &auth, true, StatusCode::CREATED, Value::Null, r).await
}

async fn list_models(
    State(s): State<AppState>,
    auth: Authorized<ReadAuthorizationModels>,
) -> Response {
    let r = mgr!(s, auth).list_authz_models().await.map(Some);
    finish(
        &s,
        &auth,
        false,
        StatusCode::OK,
        json!("authorization_models"),
        r,
    )
    .await
}

async fn get_model(
    State(s): State<AppState>,
    auth: Authorized<ReadAuthorizationModels>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).get_authz_model(&id).await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!({"id": id}), r).await
}

async fn write_tuples(
    State(s): State<AppState>,
    auth: Authorized<UpdateRelationships>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).write_tuples(&b).await.map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn read_tuples(
    State(s): State<AppState>,
    auth: Authorized<ReadRelationships>,
    Query(q): Q,
) -> Response {
    let g = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let r = mgr!(s, auth)
        .read_tuples(g("object"), g("relation"), g("user"), g("limit"))
        .await
        .map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!("tuples"), r).await
}

async fn list_objects(
    State(s): State<AppState>,
    auth: Authorized<ReadRelationships>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).list_objects(&b).await.map(Some);
    let target = json!({"list_objects": b});
    finish(&s, &auth, false, StatusCode::OK, target, r).await
}

async fn list_users(
    State(s): State<AppState>,
    auth: Authorized<ReadRelationships>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).list_relationship_users(&b).await.map(Some);
    let target = json!({"list_users": b});
    finish(&s, &auth, false, StatusCode::OK, target, r).await
}
