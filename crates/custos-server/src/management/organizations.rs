//! `/api/v2/organizations` routes (and `/api/v2/users/{id}/organizations`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use custos_manage::Manager;
use serde_json::{json, Value};

use super::{finish, paging, Q};
use crate::extract::*;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/organizations", get(list).post(create))
        .route("/organizations/name/{name}", get(by_name))
        .route(
            "/organizations/{id}",
            get(get_one).patch(update).delete(delete),
        )
        .route(
            "/organizations/{id}/members",
            get(members).post(add_members).delete(remove_members),
        )
        .route(
            "/organizations/{id}/members/{user_id}/roles",
            get(member_roles)
                .post(assign_member_roles)
                .delete(unassign_member_roles),
        )
        .route("/users/{id}/organizations", get(user_organizations))
}

macro_rules! mgr {
    ($state:expr, $auth:expr) => {
        Manager::new(&$state.provider, $auth.actor.clone())
    };
}

async fn list(
    State(s): State<AppState>,
    auth: Authorized<ReadOrganizations>,
    axum::extract::Query(q): Q,
) -> Response {
    let r = match paging(&q) {
        Ok(p) => mgr!(s, auth).list_organizations(p).await.map(Some),
        Err(e) => Err(e),
    };
    finish(&s, &auth, false, StatusCode::OK, json!("organizations"), r).await
}

async fn create(
    State(s): State<AppState>,
    auth: Authorized<CreateOrganizations>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).create_organization(&b).await.map(Some);
    finish(&s, &auth, true, StatusCode::CREATED, Value::Null, r).await
}

async fn by_name(
    State(s): State<AppState>,
    auth: Authorized<ReadOrganizations>,
    Path(name): Path<String>,
) -> Response {
    let r = mgr!(s, auth)
        .get_organization_by_name(&name)
        .await
        .map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!({"name": name}), r).await
}

async fn get_one(
    State(s): State<AppState>,
    auth: Authorized<ReadOrganizations>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).get_organization(&id).await.map(Some);
    finish(&s, &auth, false, StatusCode::OK, json!({"id": id}), r).await
}

async fn update(
    State(s): State<AppState>,
    auth: Authorized<UpdateOrganizations>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).update_organization(&id, &b).await.map(Some);
    finish(&s, &auth, true, StatusCode::OK, Value::Null, r).await
}

async fn delete(
    State(s): State<AppState>,
    auth: Authorized<DeleteOrganizations>,
    Path(id): Path<String>,
) -> Response {
    let r = mgr!(s, auth).delete_organization(&id).await.map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn members(
    State(s): State<AppState>,
    auth: Authorized<ReadOrganizationMembers>,
    Path(id): Path<String>,
    axum::extract::Query(q): Q,
) -> Response {
    let r = match paging(&q) {
        Ok(p) => mgr!(s, auth).get_members(&id, p).await.map(Some),
        Err(e) => Err(e),
    };
    finish(&s, &auth, false, StatusCode::OK, json!({"id": id}), r).await
}

async fn add_members(
    State(s): State<AppState>,
    auth: Authorized<CreateOrganizationMembers>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).add_members(&id, &b).await.map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn remove_members(
    State(s): State<AppState>,
    auth: Authorized<DeleteOrganizationMembers>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth).remove_members(&id, &b).await.map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn member_roles(
    State(s): State<AppState>,
    auth: Authorized<ReadOrganizationMemberRoles>,
    Path((id, user_id)): Path<(String, String)>,
    axum::extract::Query(q): Q,
) -> Response {
    let r = match paging(&q) {
        Ok(p) => mgr!(s, auth)
            .get_member_roles(&id, &user_id, p)
            .await
            .map(Some),
        Err(e) => Err(e),
    };
    let target = json!({"id": id, "user_id": user_id});
    finish(&s, &auth, false, StatusCode::OK, target, r).await
}

async fn assign_member_roles(
    State(s): State<AppState>,
    auth: Authorized<CreateOrganizationMemberRoles>,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth)
        .assign_member_roles(&id, &user_id, &b)
        .await
        .map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn unassign_member_roles(
    State(s): State<AppState>,
    auth: Authorized<DeleteOrganizationMemberRoles>,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(b): ApiJson,
) -> Response {
    let r = mgr!(s, auth)
        .unassign_member_roles(&id, &user_id, &b)
        .await
        .map(|()| None);
    finish(&s, &auth, true, StatusCode::NO_CONTENT, Value::Null, r).await
}

async fn user_organizations(
    State(s): State<AppState>,
    auth: Authorized<ReadOrganizations>,
    Path(id): Path<String>,
    axum::extract::Query(q): Q,
) -> Response {
    let r = match paging(&q) {
        Ok(p) => mgr!(s, auth).get_user_organizations(&id, p).await.map(Some),
        Err(e) => Err(e),
    };
    finish(&s, &auth, false, StatusCode::OK, json!({"user_id": id}), r).await
}
