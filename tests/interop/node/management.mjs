// Management API interop for Custos, built on the `auth0` npm package (ManagementClient).
//
// The SDK is used unchanged: it is given a domain and client credentials, fetches its own
// token with client_credentials at https://<domain>/oauth/token (audience
// https://<domain>/api/v2/) and speaks HTTPS only, so Custos must serve TLS with a
// certificate this process trusts (NODE_EXTRA_CA_CERTS).
//
// It manages an API (resource server), a machine-to-machine application and its client
// grant, users (metadata, search, paging, lookup by email), roles and permissions, then
// deletes everything. Each step's results are checked. A step marked `soft` is one whose
// failure does not stop the rest (nothing later depends on it); any failure makes the
// script exit 1 with every failed step named. Success prints "<label>: ok".
//
// Configuration (environment):
//   CUSTOS_DOMAIN   host:port of Custos, e.g. 127.0.0.1:43123 (https is implied)
//   CLIENT_ID       a client allowed the Management API scopes
//   CLIENT_SECRET   its secret
//   NAME_PREFIX     optional; prefixes every name so runs can share one server (default "node")
//
// Secrets and tokens are never printed.

import { ManagementClient, ManagementError } from 'auth0';

const prefix = process.env.NAME_PREFIX || 'node';
const LABEL = `management ${prefix}`;
const failures = [];

function env(name) {
  const v = process.env[name] ?? '';
  if (v === '') {
    throw new Error(`environment variable ${name} is required`);
  }
  return v;
}

function describe(err) {
  if (err instanceof ManagementError) {
    return `HTTP ${err.statusCode}: ${JSON.stringify(err.body)?.slice(0, 500)}`;
  }
  return err?.stack || String(err);
}

// Runs one step; a failure of a hard step stops the script, a soft one is recorded.
async function step(name, fn, { soft = false } = {}) {
  try {
    return await fn();
  } catch (err) {
    const line = `${LABEL}: step "${name}" failed: ${describe(err)}`;
    console.error(line);
    failures.push(name);
    if (!soft) {
      finish();
    }
    return undefined;
  }
}

function finish() {
  if (failures.length > 0) {
    console.error(`${LABEL}: FAILED (${failures.length}): ${failures.join('; ')}`);
    process.exit(1);
  }
  console.log(`${LABEL}: ok`);
  process.exit(0);
}

function check(cond, what, actual) {
  if (!cond) {
    throw new Error(`${what}${actual === undefined ? '' : `; got ${JSON.stringify(actual)}`}`);
  }
}

function eq(actual, expected, what) {
  check(JSON.stringify(actual) === JSON.stringify(expected), `${what}: expected ${JSON.stringify(expected)}`, actual);
}

async function expectStatus(status, fn, what) {
  try {
    await fn();
  } catch (err) {
    if (err instanceof ManagementError && err.statusCode === status) {
      return;
    }
    throw err;
  }
  throw new Error(`${what}: expected HTTP ${status}, the call succeeded`);
}

const sorted = (xs) => [...xs].sort();
const permNames = (ps) => sorted(ps.map((p) => `${p.resource_server_identifier} ${p.permission_name}`));

async function main() {
  const domain = env('CUSTOS_DOMAIN');
  const mgmt = new ManagementClient({
    domain,
    clientId: env('CLIENT_ID'),
    clientSecret: env('CLIENT_SECRET'),
  });

  // -- API (resource server) ---------------------------------------------------------------
  const identifier = `urn:custos:sdk:${prefix}:charts`;
  const api = await step('resourceServers.create', async () => {
    const r = await mgmt.resourceServers.create({
      name: `${prefix} charts`,
      identifier,
      scopes: [
        { value: 'read:charts', description: 'Read charts' },
        { value: 'write:charts', description: 'Write charts' },
      ],
      signing_alg: 'RS256',
      token_lifetime: 3600,
      enforce_policies: true,
      token_dialect: 'access_token_authz',
    });
    check(typeof r.id === 'string' && r.id.length > 0, 'resource server id', r);
    eq(r.identifier, identifier, 'identifier');
    eq(r.enforce_policies, true, 'enforce_policies');
    eq(r.token_dialect, 'access_token_authz', 'token_dialect');
    eq(sorted(r.scopes.map((s) => s.value)), ['read:charts', 'write:charts'], 'scopes');
    return r;
  });
  await step('resourceServers.update', async () => {
    const r = await mgmt.resourceServers.update(api.id, {
      name: `${prefix} charts v2`,
      token_lifetime: 7200,
      scopes: [
        { value: 'read:charts', description: 'Read charts' },
        { value: 'write:charts', description: 'Write charts' },
        { value: 'delete:charts', description: 'Delete charts' },
      ],
    });
    eq(r.name, `${prefix} charts v2`, 'updated name');
    eq(r.token_lifetime, 7200, 'updated token_lifetime');
  });
  await step('resourceServers.get', async () => {
    const r = await mgmt.resourceServers.get(api.id);
    eq(r.id, api.id, 'id');
    eq(r.name, `${prefix} charts v2`, 'name');
    eq(r.enforce_policies, true, 'enforce_policies');
    eq(r.token_dialect, 'access_token_authz', 'token_dialect');
    eq(sorted(r.scopes.map((s) => s.value)), ['delete:charts', 'read:charts', 'write:charts'], 'scopes');
  });
  await step('resourceServers.list', async () => {
    const ids = [];
    for await (const r of await mgmt.resourceServers.list({ per_page: 50 })) {
      ids.push(r.id);
    }
    check(ids.includes(api.id), 'the new API is listed', ids);
  });

  // -- machine-to-machine application and its grant -----------------------------------------
  const app = await step('clients.create', async () => {
    const c = await mgmt.clients.create({
      name: `${prefix} worker`,
      description: 'SDK interop worker',
      app_type: 'non_interactive',
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'client_secret_post',
      client_metadata: { team: 'interop' },
    });
    check(typeof c.client_id === 'string' && c.client_id.length > 0, 'client_id', c.client_id);
    check(typeof c.client_secret === 'string' && c.client_secret.length > 0, 'a client_secret is returned');
    eq(c.app_type, 'non_interactive', 'app_type');
    eq(c.grant_types, ['client_credentials'], 'grant_types');
    return c;
  });
  await step('clients.get', async () => {
    const c = await mgmt.clients.get(app.client_id);
    eq(c.client_id, app.client_id, 'client_id');
    eq(c.name, `${prefix} worker`, 'name');
    eq(c.client_metadata, { team: 'interop' }, 'client_metadata');
  });
  await step('clients.update', async () => {
    const c = await mgmt.clients.update(app.client_id, {
      description: 'SDK interop worker, updated',
      client_metadata: { team: 'interop', tier: 'gold' },
    });
    eq(c.description, 'SDK interop worker, updated', 'description');
    eq(c.client_metadata, { team: 'interop', tier: 'gold' }, 'client_metadata');
  });
  await step('clients.list', async () => {
    const page = await mgmt.clients.list({ per_page: 100, include_totals: true });
    check(page.data.some((c) => c.client_id === app.client_id), 'the new client is listed');
  });

  const grant = await step('clientGrants.create', async () => {
    const g = await mgmt.clientGrants.create({
      client_id: app.client_id,
      audience: identifier,
      scope: ['read:charts'],
    });
    check(typeof g.id === 'string' && g.id.length > 0, 'grant id', g);
    eq(g.client_id, app.client_id, 'client_id');
    eq(g.audience, identifier, 'audience');
    eq(g.scope, ['read:charts'], 'scope');
    return g;
  });
  await step('clientGrants.list (client_id, audience)', async () => {
    const found = [];
    for await (const g of await mgmt.clientGrants.list({ client_id: app.client_id, audience: identifier })) {
      found.push(g);
    }
    eq(found.map((g) => g.id), [grant.id], 'the grant of this client for this API');
  });
  // Auth0 pages client grants by checkpoint: `take` items, then `from` the answer's `next`.
  await step('clientGrants.list take=1 (checkpoint paging)', async () => {
    const first = await mgmt.clientGrants.list({ take: 1 });
    eq(first.data.length, 1, 'one grant per page (there are two: the bootstrap client and this one)');
    check(first.hasNextPage(), 'a next page (`next` in the answer)', first.response);
    const ids = [];
    for await (const g of await mgmt.clientGrants.list({ take: 1 })) {
      ids.push(g.id);
    }
    check(ids.includes(grant.id) && ids.length >= 2 && new Set(ids).size === ids.length, 'every grant once', ids);
  }, { soft: true });
  await step('clientGrants.update', async () => {
    const g = await mgmt.clientGrants.update(grant.id, { scope: ['read:charts', 'write:charts'] });
    eq(g.id, grant.id, 'id');
    eq(sorted(g.scope), ['read:charts', 'write:charts'], 'updated scope');
  });
  await step('clientGrants.get', async () => {
    const g = await mgmt.clientGrants.get(grant.id);
    eq(g.id, grant.id, 'id');
    eq(sorted(g.scope), ['read:charts', 'write:charts'], 'scope');
  }, { soft: true });

  // The application can now get a token for the API with the granted scopes.
  await step('client_credentials token for the API', async () => {
    const r = await fetch(`https://${domain}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: app.client_id,
        client_secret: app.client_secret,
        audience: identifier,
      }),
    });
    const body = await r.json();
    eq(r.status, 200, `token status (${body.error ?? ''} ${body.error_description ?? ''})`);
    eq(sorted((body.scope ?? '').split(' ')), ['read:charts', 'write:charts'], 'granted scopes');
  });

  // -- users ---------------------------------------------------------------------------------
  const emails = ['alice', 'bob', 'carol'].map((n) => `${prefix}-${n}@sdk.example.com`);
  const users = [];
  for (const email of emails) {
    const u = await step(`users.create ${email}`, async () => {
      const u = await mgmt.users.create({
        connection: 'Username-Password-Authentication',
        email,
        password: 'correct horse battery staple',
        name: email.split('@')[0],
        user_metadata: { theme: 'light' },
        app_metadata: { plan: 'free' },
      });
      check(typeof u.user_id === 'string' && u.user_id.length > 0, 'user_id', u);
      eq(u.email, email, 'email');
      eq(u.user_metadata, { theme: 'light' }, 'user_metadata');
      return u;
    });
    users.push(u);
  }
  const [alice, bob] = users;
  await step('users.get', async () => {
    const u = await mgmt.users.get(alice.user_id);
    eq(u.user_id, alice.user_id, 'user_id');
    eq(u.email, emails[0], 'email');
    eq(u.app_metadata, { plan: 'free' }, 'app_metadata');
  });
  await step('users.update (metadata)', async () => {
    const u = await mgmt.users.update(alice.user_id, {
      app_metadata: { plan: 'gold', region: 'eu' },
      user_metadata: { theme: 'dark' },
    });
    eq(u.app_metadata, { plan: 'gold', region: 'eu' }, 'app_metadata');
    eq(u.user_metadata, { theme: 'dark' }, 'user_metadata');
    const again = await mgmt.users.get(alice.user_id);
    eq(again.app_metadata, { plan: 'gold', region: 'eu' }, 'app_metadata after get');
  });
  await step('users.list q=email:"…"', async () => {
    const page = await mgmt.users.list({ q: `email:"${emails[1]}"`, search_engine: 'v3' });
    eq(page.data.map((u) => u.user_id), [bob.user_id], 'search by email');
    eq(page.response.total, 1, 'total');
  });
  await step('users.list paging (page, per_page, include_totals)', async () => {
    const q = `email:${prefix}-*`;
    const first = await mgmt.users.list({ q, page: 0, per_page: 2, include_totals: true, sort: 'email:1' });
    eq(first.response.total, 3, 'total');
    eq(first.response.start, 0, 'start');
    eq(first.response.limit, 2, 'limit');
    eq(first.data.map((u) => u.email), emails.slice(0, 2), 'first page');
    check(first.hasNextPage(), 'a next page after a full page');
    const second = await first.getNextPage();
    eq(second.data.map((u) => u.email), emails.slice(2), 'second page');
    const all = [];
    for await (const u of await mgmt.users.list({ q, per_page: 1, sort: 'email:1' })) {
      all.push(u.email);
    }
    eq(all, emails, 'iterating every page');
  });
  await step('users.listUsersByEmail', async () => {
    const found = await mgmt.users.listUsersByEmail({ email: emails[0] });
    eq(found.map((u) => u.user_id), [alice.user_id], 'users with that email');
  }, { soft: true });

  // -- roles and permissions -----------------------------------------------------------------
  const reader = await step('roles.create', async () => {
    const r = await mgmt.roles.create({ name: `${prefix}-chart-reader`, description: 'Reads charts' });
    check(typeof r.id === 'string' && r.id.length > 0, 'role id', r);
    eq(r.name, `${prefix}-chart-reader`, 'name');
    return r;
  });
  const editor = await step('roles.create (second)', async () => {
    return mgmt.roles.create({ name: `${prefix}-chart-editor`, description: 'Edits charts' });
  });
  await step('roles.update', async () => {
    const r = await mgmt.roles.update(reader.id, { description: 'Reads every chart' });
    eq(r.description, 'Reads every chart', 'description');
  });
  await step('roles.get', async () => {
    const r = await mgmt.roles.get(reader.id);
    eq([r.id, r.name, r.description], [reader.id, `${prefix}-chart-reader`, 'Reads every chart'], 'role');
  });
  await step('roles.list name_filter', async () => {
    const page = await mgmt.roles.list({ name_filter: `${prefix}-chart`, include_totals: true });
    eq(sorted(page.data.map((r) => r.id)), sorted([reader.id, editor.id]), 'roles');
    eq(page.response.total, 2, 'total');
  });
  const read = { resource_server_identifier: identifier, permission_name: 'read:charts' };
  const write = { resource_server_identifier: identifier, permission_name: 'write:charts' };
  const del = { resource_server_identifier: identifier, permission_name: 'delete:charts' };
  await step('roles.permissions.add', async () => {
    await mgmt.roles.permissions.add(reader.id, { permissions: [read] });
    await mgmt.roles.permissions.add(editor.id, { permissions: [read, write] });
  });
  await step('roles.permissions.list', async () => {
    const page = await mgmt.roles.permissions.list(editor.id);
    eq(permNames(page.data), permNames([read, write]), 'editor permissions');
    check(page.data.every((p) => p.resource_server_name === `${prefix} charts v2`), 'resource_server_name', page.data);
  });
  await step('users.roles.assign', async () => {
    await mgmt.users.roles.assign(alice.user_id, { roles: [reader.id] });
  });
  await step('roles.users.assign', async () => {
    await mgmt.roles.users.assign(editor.id, { users: [bob.user_id, users[2].user_id] });
  });
  await step('users.roles.list', async () => {
    const page = await mgmt.users.roles.list(alice.user_id);
    eq(page.data.map((r) => r.id), [reader.id], "alice's roles");
  });
  await step('roles.users.list', async () => {
    const found = [];
    for await (const u of await mgmt.roles.users.list(editor.id)) {
      found.push(u.user_id);
    }
    eq(sorted(found), sorted([bob.user_id, users[2].user_id]), "editor's users");
  });
  // Auth0 pages a role's users by checkpoint (`from`/`take`, `next`), not by page number.
  await step('roles.users.list take=1 (checkpoint paging)', async () => {
    const first = await mgmt.roles.users.list(editor.id, { take: 1 });
    eq(first.data.length, 1, 'one user per page');
    check(first.hasNextPage(), 'a next page (`next` in the answer)', first.response);
    // getNextPage() loads the next page into the same Page object, so keep the first's items.
    const firstIds = first.data.map((u) => u.user_id);
    const second = await first.getNextPage();
    eq(sorted([...firstIds, ...second.data.map((u) => u.user_id)]), sorted([bob.user_id, users[2].user_id]), 'both pages');
    check(!second.hasNextPage(), 'no `next` on the last page', second.response);
  }, { soft: true });
  await step('users.permissions.create', async () => {
    await mgmt.users.permissions.create(alice.user_id, { permissions: [del] });
  });
  await step('users.permissions.list', async () => {
    const page = await mgmt.users.permissions.list(alice.user_id);
    eq(permNames(page.data), permNames([del, read]), "alice's permissions (direct and from her role)");
  });
  await step('users.permissions.delete', async () => {
    await mgmt.users.permissions.delete(alice.user_id, { permissions: [del] });
    const page = await mgmt.users.permissions.list(alice.user_id);
    eq(permNames(page.data), permNames([read]), "alice's permissions after removal");
  });
  await step('roles.permissions.delete', async () => {
    await mgmt.roles.permissions.delete(editor.id, { permissions: [write] });
    const page = await mgmt.roles.permissions.list(editor.id);
    eq(permNames(page.data), permNames([read]), 'editor permissions after removal');
  });
  await step('users.roles.delete', async () => {
    await mgmt.users.roles.delete(alice.user_id, { roles: [reader.id] });
    const page = await mgmt.users.roles.list(alice.user_id);
    eq(page.data, [], "alice's roles after removal");
  });

  // -- clean-up ------------------------------------------------------------------------------
  await step('clientGrants.delete', async () => {
    await mgmt.clientGrants.delete(grant.id);
    const page = await mgmt.clientGrants.list({ client_id: app.client_id });
    eq(page.data, [], 'grants after delete');
  });
  await step('roles.delete', async () => {
    for (const r of [reader, editor]) {
      await mgmt.roles.delete(r.id);
      await expectStatus(404, () => mgmt.roles.get(r.id), 'deleted role');
    }
  });
  await step('users.delete', async () => {
    for (const u of users) {
      await mgmt.users.delete(u.user_id);
      await expectStatus(404, () => mgmt.users.get(u.user_id), 'deleted user');
    }
  });
  await step('clients.delete', async () => {
    await mgmt.clients.delete(app.client_id);
    await expectStatus(404, () => mgmt.clients.get(app.client_id), 'deleted client');
  });
  await step('resourceServers.delete', async () => {
    await mgmt.resourceServers.delete(api.id);
    await expectStatus(404, () => mgmt.resourceServers.get(api.id), 'deleted API');
  });
  finish();
}

main().catch((err) => {
  console.error(`${LABEL}: ${describe(err)}`);
  process.exit(1);
});
