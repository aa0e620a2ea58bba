"""Management API interop for Custos, built on auth0-python (the PyPI package).

The SDK is used unchanged: ``auth0.management.ManagementClient`` is given a domain and client
credentials, fetches its own token with client_credentials at https://<domain>/oauth/token
(audience https://<domain>/api/v2/) over httpx, and ``auth0.authentication.GetToken`` asks for
tokens over requests; both speak HTTPS only, so Custos must serve TLS with a certificate this
process trusts (SSL_CERT_FILE for httpx, REQUESTS_CA_BUNDLE for requests).

It manages an API (resource server), a machine-to-machine application and its client grant,
users (metadata, search, paging, lookup by email), roles and permissions, then deletes
everything. Each step's results are checked. A step marked ``soft`` is one whose failure does
not stop the rest (nothing later depends on it); any failure makes the script exit 1 with every
failed step named. Success prints "<label>: ok".

Configuration (environment):
  CUSTOS_DOMAIN   host:port of Custos, e.g. 127.0.0.1:43123 (https is implied)
  CLIENT_ID       a client allowed the Management API scopes
  CLIENT_SECRET   its secret
  NAME_PREFIX     optional; prefixes every name so runs can share one server (default "py")

Secrets and tokens are never printed.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, Callable, TypeVar

from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error
from auth0.management import ManagementClient
from auth0.management.core.api_error import ApiError

PREFIX = os.environ.get("NAME_PREFIX") or "py"
LABEL = f"management {PREFIX}"
PASSWORD = "correct horse battery staple"
failures: list[str] = []

T = TypeVar("T")


def env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SystemExit(f"{LABEL}: environment variable {name} is required")
    return value


def describe(err: BaseException) -> str:
    if isinstance(err, ApiError):
        return f"HTTP {err.status_code}: {json.dumps(err.body, default=str)[:500]}"
    if isinstance(err, Auth0Error):
        return f"HTTP {err.status_code}: {err.error_code}: {err.message}"
    if isinstance(err, AssertionError):
        return str(err)
    return "".join(traceback.format_exception(err)).strip()


def finish() -> None:
    if failures:
        print(f"{LABEL}: FAILED ({len(failures)}): {'; '.join(failures)}", file=sys.stderr)
        sys.exit(1)
    print(f"{LABEL}: ok")
    sys.exit(0)


def step(name: str, fn: Callable[[], T], soft: bool = False) -> T:
    """Runs one step; a failure of a hard step stops the script, a soft one is recorded."""
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - every failure is reported with its step
        print(f'{LABEL}: step "{name}" failed: {describe(err)}', file=sys.stderr)
        failures.append(name)
        if not soft:
            finish()
        return None  # type: ignore[return-value]


def check(cond: bool, what: str, actual: Any = None) -> None:
    if not cond:
        raise AssertionError(what if actual is None else f"{what}; got {actual!r}")


def eq(actual: Any, expected: Any, what: str) -> None:
    check(actual == expected, f"{what}: expected {expected!r}", actual)


def expect_status(status: int, fn: Callable[[], Any], what: str) -> None:
    try:
        fn()
    except ApiError as err:
        if err.status_code == status:
            return
        raise
    raise AssertionError(f"{what}: expected HTTP {status}, the call succeeded")


def perm_names(perms: list[Any]) -> list[str]:
    return sorted(f"{p.resource_server_identifier} {p.permission_name}" for p in perms)


def main() -> None:
    domain = env("CUSTOS_DOMAIN")
    client_id, client_secret = env("CLIENT_ID"), env("CLIENT_SECRET")

    # The Authentication API client: a Management API token by client_credentials.
    def get_token() -> None:
        t = GetToken(domain, client_id, client_secret=client_secret)
        r = t.client_credentials(f"https://{domain}/api/v2/")
        check(bool(r.get("access_token")), "an access_token", sorted(r))
        eq(r.get("token_type"), "Bearer", "token_type")

    step("GetToken.client_credentials (Management API)", get_token, soft=True)

    mgmt = ManagementClient(domain=domain, client_id=client_id, client_secret=client_secret)

    # -- API (resource server) ---------------------------------------------------------------
    identifier = f"urn:custos:sdk:{PREFIX}:charts"

    def create_api() -> Any:
        r = mgmt.resource_servers.create(
            name=f"{PREFIX} charts",
            identifier=identifier,
            scopes=[
                {"value": "read:charts", "description": "Read charts"},
                {"value": "write:charts", "description": "Write charts"},
            ],
            signing_alg="RS256",
            token_lifetime=3600,
            enforce_policies=True,
            token_dialect="access_token_authz",
        )
        check(bool(r.id), "resource server id", r)
        eq(r.identifier, identifier, "identifier")
        eq(r.enforce_policies, True, "enforce_policies")
        eq(r.token_dialect, "access_token_authz", "token_dialect")
        eq(sorted(s.value for s in r.scopes), ["read:charts", "write:charts"], "scopes")
        return r

    api = step("resource_servers.create", create_api)

    def update_api() -> None:
        r = mgmt.resource_servers.update(
            api.id,
            name=f"{PREFIX} charts v2",
            token_lifetime=7200,
            scopes=[
                {"value": "read:charts", "description": "Read charts"},
                {"value": "write:charts", "description": "Write charts"},
                {"value": "delete:charts", "description": "Delete charts"},
            ],
        )
        eq(r.name, f"{PREFIX} charts v2", "updated name")
        eq(r.token_lifetime, 7200, "updated token_lifetime")

    step("resource_servers.update", update_api)

    def get_api() -> None:
        r = mgmt.resource_servers.get(api.id)
        eq(r.id, api.id, "id")
        eq(r.name, f"{PREFIX} charts v2", "name")
        eq(r.enforce_policies, True, "enforce_policies")
        eq(r.token_dialect, "access_token_authz", "token_dialect")
        eq(
            sorted(s.value for s in r.scopes),
            ["delete:charts", "read:charts", "write:charts"],
            "scopes",
        )

    step("resource_servers.get", get_api)

    def list_apis() -> None:
        ids = [r.id for r in mgmt.resource_servers.list(per_page=50)]
        check(api.id in ids, "the new API is listed", ids)

    step("resource_servers.list", list_apis)

    # -- machine-to-machine application and its grant -----------------------------------------
    def create_client() -> Any:
        c = mgmt.clients.create(
            name=f"{PREFIX} worker",
            description="SDK interop worker",
            app_type="non_interactive",
            grant_types=["client_credentials"],
            token_endpoint_auth_method="client_secret_post",
            client_metadata={"team": "interop"},
        )
        check(bool(c.client_id), "client_id", c)
        check(bool(c.client_secret), "a client_secret is returned")
        eq(c.app_type, "non_interactive", "app_type")
        eq(c.grant_types, ["client_credentials"], "grant_types")
        return c

    app = step("clients.create", create_client)

    def get_client() -> None:
        c = mgmt.clients.get(app.client_id)
        eq(c.client_id, app.client_id, "client_id")
        eq(c.name, f"{PREFIX} worker", "name")
        eq(c.client_metadata, {"team": "interop"}, "client_metadata")

    step("clients.get", get_client)

    def update_client() -> None:
        c = mgmt.clients.update(
            app.client_id,
            description="SDK interop worker, updated",
            client_metadata={"team": "interop", "tier": "gold"},
        )
        eq(c.description, "SDK interop worker, updated", "description")
        eq(c.client_metadata, {"team": "interop", "tier": "gold"}, "client_metadata")

    step("clients.update", update_client)

    def list_clients() -> None:
        page = mgmt.clients.list(per_page=100, include_totals=True)
        ids = [c.client_id for c in page.items or []]
        check(app.client_id in ids, "the new client is listed", ids)

    step("clients.list", list_clients)

    def create_grant() -> Any:
        g = mgmt.client_grants.create(
            client_id=app.client_id, audience=identifier, scope=["read:charts"]
        )
        check(bool(g.id), "grant id", g)
        eq(g.client_id, app.client_id, "client_id")
        eq(g.audience, identifier, "audience")
        eq(g.scope, ["read:charts"], "scope")
        return g

    grant = step("client_grants.create", create_grant)

    def list_grants() -> None:
        found = [g.id for g in mgmt.client_grants.list(client_id=app.client_id, audience=identifier)]
        eq(found, [grant.id], "the grant of this client for this API")

    step("client_grants.list (client_id, audience)", list_grants)

    # Auth0 pages client grants by checkpoint: `take` items, then `from` the answer's `next`.
    def checkpoint_grants() -> None:
        first = mgmt.client_grants.list(take=1)
        eq(len(first.items or []), 1, "one grant per page (the bootstrap client's and this one)")
        check(first.has_next, "a next page (`next` in the answer)", first.response)
        ids = [g.id for g in mgmt.client_grants.list(take=1)]
        check(grant.id in ids and len(ids) >= 2 and len(set(ids)) == len(ids), "every grant once", ids)

    step("client_grants.list take=1 (checkpoint paging)", checkpoint_grants, soft=True)

    def update_grant() -> None:
        g = mgmt.client_grants.update(grant.id, scope=["read:charts", "write:charts"])
        eq(g.id, grant.id, "id")
        eq(sorted(g.scope), ["read:charts", "write:charts"], "updated scope")

    step("client_grants.update", update_grant)

    def get_grant() -> None:
        g = mgmt.client_grants.get(grant.id)
        eq(g.id, grant.id, "id")
        eq(sorted(g.scope), ["read:charts", "write:charts"], "scope")

    step("client_grants.get", get_grant, soft=True)

    # The application can now get a token for the API with the granted scopes.
    def app_token() -> None:
        t = GetToken(domain, app.client_id, client_secret=app.client_secret)
        r = t.client_credentials(identifier)
        eq(sorted(r.get("scope", "").split()), ["read:charts", "write:charts"], "granted scopes")

    step("GetToken.client_credentials (the new API)", app_token, soft=True)

    # -- users ---------------------------------------------------------------------------------
    emails = [f"{PREFIX}-{n}@sdk.example.com" for n in ("alice", "bob", "carol")]

    def create_user(email: str) -> Any:
        u = mgmt.users.create(
            connection="Username-Password-Authentication",
            email=email,
            password=PASSWORD,
            name=email.split("@")[0],
            user_metadata={"theme": "light"},
            app_metadata={"plan": "free"},
        )
        check(bool(u.user_id), "user_id", u)
        eq(u.email, email, "email")
        eq(u.user_metadata, {"theme": "light"}, "user_metadata")
        return u

    users = [step(f"users.create {e}", lambda e=e: create_user(e)) for e in emails]
    alice, bob = users[0], users[1]

    def get_user() -> None:
        u = mgmt.users.get(alice.user_id)
        eq(u.user_id, alice.user_id, "user_id")
        eq(u.email, emails[0], "email")
        eq(u.app_metadata, {"plan": "free"}, "app_metadata")

    step("users.get", get_user)

    def update_user() -> None:
        u = mgmt.users.update(
            alice.user_id,
            app_metadata={"plan": "gold", "region": "eu"},
            user_metadata={"theme": "dark"},
        )
        eq(u.app_metadata, {"plan": "gold", "region": "eu"}, "app_metadata")
        eq(u.user_metadata, {"theme": "dark"}, "user_metadata")
        eq(mgmt.users.get(alice.user_id).app_metadata, {"plan": "gold", "region": "eu"}, "after get")

    step("users.update (metadata)", update_user)

    def search_users() -> None:
        page = mgmt.users.list(q=f'email:"{emails[1]}"', search_engine="v3")
        eq([u.user_id for u in page.items or []], [bob.user_id], "search by email")
        eq(page.response.total, 1, "total")

    step('users.list q=email:"…"', search_users)

    def page_users() -> None:
        q = f"email:{PREFIX}-*"
        first = mgmt.users.list(q=q, page=0, per_page=2, include_totals=True, sort="email:1")
        eq(first.response.total, 3, "total")
        eq(first.response.start, 0, "start")
        eq(first.response.limit, 2, "limit")
        eq([u.email for u in first.items or []], emails[:2], "first page")
        check(first.has_next, "a next page after a full page")
        second = first.next_page()
        check(second is not None, "a second page")
        eq([u.email for u in second.items or []], emails[2:], "second page")
        everyone = [u.email for u in mgmt.users.list(q=q, per_page=1, sort="email:1")]
        eq(everyone, emails, "iterating every page")

    step("users.list paging (page, per_page, include_totals)", page_users)

    def by_email() -> None:
        found = mgmt.users.list_users_by_email(email=emails[0])
        eq([u.user_id for u in found], [alice.user_id], "users with that email")

    step("users.list_users_by_email", by_email, soft=True)

    # -- roles and permissions -----------------------------------------------------------------
    def create_role(name: str, description: str) -> Any:
        r = mgmt.roles.create(name=name, description=description)
        check(bool(r.id), "role id", r)
        eq(r.name, name, "name")
        return r

    reader = step("roles.create", lambda: create_role(f"{PREFIX}-chart-reader", "Reads charts"))
    editor = step(
        "roles.create (second)", lambda: create_role(f"{PREFIX}-chart-editor", "Edits charts")
    )

    def update_role() -> None:
        r = mgmt.roles.update(reader.id, description="Reads every chart")
        eq(r.description, "Reads every chart", "description")

    step("roles.update", update_role)

    def get_role() -> None:
        r = mgmt.roles.get(reader.id)
        eq(
            (r.id, r.name, r.description),
            (reader.id, f"{PREFIX}-chart-reader", "Reads every chart"),
            "role",
        )

    step("roles.get", get_role)

    def list_roles() -> None:
        page = mgmt.roles.list(name_filter=f"{PREFIX}-chart", include_totals=True)
        eq(sorted(r.id for r in page.items or []), sorted([reader.id, editor.id]), "roles")
        eq(page.response.total, 2, "total")

    step("roles.list name_filter", list_roles)

    read = {"resource_server_identifier": identifier, "permission_name": "read:charts"}
    write = {"resource_server_identifier": identifier, "permission_name": "write:charts"}
    delete = {"resource_server_identifier": identifier, "permission_name": "delete:charts"}

    def names(*perms: dict[str, str]) -> list[str]:
        return sorted(f"{p['resource_server_identifier']} {p['permission_name']}" for p in perms)

    def add_role_permissions() -> None:
        mgmt.roles.permissions.add(reader.id, permissions=[read])
        mgmt.roles.permissions.add(editor.id, permissions=[read, write])

    step("roles.permissions.add", add_role_permissions)

    def list_role_permissions() -> None:
        items = list(mgmt.roles.permissions.list(editor.id))
        eq(perm_names(items), names(read, write), "editor permissions")
        check(
            all(p.resource_server_name == f"{PREFIX} charts v2" for p in items),
            "resource_server_name",
            items,
        )

    step("roles.permissions.list", list_role_permissions)
    step("users.roles.assign", lambda: mgmt.users.roles.assign(alice.user_id, roles=[reader.id]))
    step(
        "roles.users.assign",
        lambda: mgmt.roles.users.assign(editor.id, users=[bob.user_id, users[2].user_id]),
    )

    def list_user_roles() -> None:
        eq([r.id for r in mgmt.users.roles.list(alice.user_id)], [reader.id], "alice's roles")

    step("users.roles.list", list_user_roles)

    def list_role_users() -> None:
        found = sorted(u.user_id for u in mgmt.roles.users.list(editor.id))
        eq(found, sorted([bob.user_id, users[2].user_id]), "editor's users")

    step("roles.users.list", list_role_users)

    # Auth0 pages a role's users by checkpoint (`from`/`take`, `next`), not by page number.
    def checkpoint_role_users() -> None:
        first = mgmt.roles.users.list(editor.id, take=1)
        eq(len(first.items or []), 1, "one user per page")
        check(first.has_next, "a next page (`next` in the answer)", first.response)
        second = first.next_page()
        both = sorted(u.user_id for u in (first.items or []) + ((second and second.items) or []))
        eq(both, sorted([bob.user_id, users[2].user_id]), "both pages")

    step("roles.users.list take=1 (checkpoint paging)", checkpoint_role_users, soft=True)
    step(
        "users.permissions.create",
        lambda: mgmt.users.permissions.create(alice.user_id, permissions=[delete]),
    )

    def list_user_permissions() -> None:
        items = list(mgmt.users.permissions.list(alice.user_id))
        eq(perm_names(items), names(delete, read), "alice's permissions (direct and from her role)")

    step("users.permissions.list", list_user_permissions)

    def delete_user_permissions() -> None:
        mgmt.users.permissions.delete(alice.user_id, permissions=[delete])
        items = list(mgmt.users.permissions.list(alice.user_id))
        eq(perm_names(items), names(read), "alice's permissions after removal")

    step("users.permissions.delete", delete_user_permissions)

    def delete_role_permissions() -> None:
        mgmt.roles.permissions.delete(editor.id, permissions=[write])
        items = list(mgmt.roles.permissions.list(editor.id))
        eq(perm_names(items), names(read), "editor permissions after removal")

    step("roles.permissions.delete", delete_role_permissions)

    def unassign_roles() -> None:
        mgmt.users.roles.delete(alice.user_id, roles=[reader.id])
        eq(list(mgmt.users.roles.list(alice.user_id)), [], "alice's roles after removal")

    step("users.roles.delete", unassign_roles)

    # -- clean-up ------------------------------------------------------------------------------
    def delete_grant() -> None:
        mgmt.client_grants.delete(grant.id)
        eq(list(mgmt.client_grants.list(client_id=app.client_id)), [], "grants after delete")

    step("client_grants.delete", delete_grant)

    def delete_roles() -> None:
        for r in (reader, editor):
            mgmt.roles.delete(r.id)
            expect_status(404, lambda r=r: mgmt.roles.get(r.id), "deleted role")

    step("roles.delete", delete_roles)

    def delete_users() -> None:
        for u in users:
            mgmt.users.delete(u.user_id)
            expect_status(404, lambda u=u: mgmt.users.get(u.user_id), "deleted user")

    step("users.delete", delete_users)

    def delete_client() -> None:
        mgmt.clients.delete(app.client_id)
        expect_status(404, lambda: mgmt.clients.get(app.client_id), "deleted client")

    step("clients.delete", delete_client)

    def delete_api() -> None:
        mgmt.resource_servers.delete(api.id)
        expect_status(404, lambda: mgmt.resource_servers.get(api.id), "deleted API")

    step("resource_servers.delete", delete_api)
    finish()


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001
        print(f"{LABEL}: {describe(err)}", file=sys.stderr)
        sys.exit(1)
