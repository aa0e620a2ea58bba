// Interop relying party for Custos, built on the `openid-client` library.
//
// Drives a real authorization-code + PKCE login against a running Custos
// server (discovery, a browser-like login through the HTML form, code
// exchange, userinfo, refresh-token rotation and reuse detection,
// revocation) and exits non-zero at the first deviation, naming the step.
//
// Configuration (environment):
//   CUSTOS_ISSUER   issuer URL with trailing slash, e.g. http://127.0.0.1:43123/
//   CLIENT_ID       client identifier
//   CLIENT_SECRET   optional; unset/empty => public client (auth method "none")
//   REDIRECT_URI    registered redirect URI; never requested, only matched
//   USER_EMAIL      login of an existing user
//   USER_PASSWORD   that user's password
//   AUDIENCE        optional API identifier; the access token must then be a
//                   JWT for it
//
// Tokens, codes and passwords are never printed.

import * as crypto from 'node:crypto';
import * as oidc from 'openid-client';

const LABEL = 'interop node';
const SCOPE = 'openid profile email offline_access';
const HTTP_TIMEOUT_MS = 10_000;
const MAX_REDIRECTS = 10;
const BODY_EXCERPT_CHARS = 500;

// Name of the step in progress, reported when anything fails.
let currentStep = 'configuration';

// An HTTP response that was not what the step expected.
class HttpError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// ---------------------------------------------------------------------------
// Configuration

function readConfig() {
  const env = (name, { required = true } = {}) => {
    const value = process.env[name] ?? '';
    if (required && value === '') {
      throw new Error(`environment variable ${name} is required`);
    }
    return value;
  };
  const issuer = env('CUSTOS_ISSUER');
  if (!issuer.endsWith('/')) {
    throw new Error('CUSTOS_ISSUER must end with "/" (it is compared verbatim with the discovered issuer)');
  }
  return {
    issuer: new URL(issuer),
    clientId: env('CLIENT_ID'),
    clientSecret: env('CLIENT_SECRET', { required: false }),
    redirectUri: new URL(env('REDIRECT_URI')),
    email: env('USER_EMAIL'),
    password: env('USER_PASSWORD'),
    audience: env('AUDIENCE', { required: false }),
  };
}

// ---------------------------------------------------------------------------
// Output helpers

// Masks token-like values in text that is about to be printed.
function redact(text) {
  return text
    .replace(/("(?:access_token|refresh_token|id_token|client_secret|code)"\s*:\s*")[^"]*"/g, '$1[redacted]"')
    .replace(/\b((?:code|access_token|refresh_token|id_token|client_secret|password)=)[^&\s"'<]*/g, '$1[redacted]');
}

function excerpt(text) {
  const clean = redact(text).replace(/\s+/g, ' ').trim();
  return clean.length > BODY_EXCERPT_CHARS ? `${clean.slice(0, BODY_EXCERPT_CHARS)}...` : clean;
}

// Turns any error into a one-line, secret-free description including the
// HTTP status and body where one is known.
async function describeError(err) {
  if (err instanceof HttpError) {
    return `${err.message} (HTTP ${err.status}): ${excerpt(err.body)}`;
  }
  if (err instanceof oidc.ResponseBodyError) {
    const description = err.error_description ? ` (${err.error_description})` : '';
    return `${err.message}: HTTP ${err.status}, error=${err.error}${description}`;
  }
  if (err instanceof oidc.WWWAuthenticateChallengeError) {
    const challenge = err.cause.map((c) => `${c.scheme} error=${c.parameters.error ?? ''}`).join(', ');
    return `${err.message}: HTTP ${err.status}, WWW-Authenticate: ${challenge}`;
  }
  if (err instanceof oidc.AuthorizationResponseError) {
    return `${err.message}: error=${err.error} ${err.error_description ?? ''}`;
  }
  // openid-client wraps protocol violations in ClientError; its cause is
  // either the offending Response or a more specific error.
  if (err instanceof oidc.ClientError) {
    const cause = err.cause;
    if (cause instanceof Response) {
      const body = await cause.text().catch(() => '<body unavailable>');
      return `${err.message} [${err.code}]: HTTP ${cause.status}: ${excerpt(body)}`;
    }
    return `${err.message} [${err.code}]${cause instanceof Error ? `: ${cause.message}` : ''}`;
  }
  // fetch() network failures carry the interesting part (e.g. ECONNREFUSED) in `cause`.
  if (err instanceof TypeError && err.cause) {
    return `${err.message}: ${err.cause.code ?? err.cause.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

// ---------------------------------------------------------------------------
// A minimal browser: cookie jar and manual redirects

// Cookies keyed by host:port, then name. Path, Domain and SameSite are
// ignored (only one server is talked to); Secure cookies are sent over
// loopback http as browsers do for localhost.
class CookieJar {
  #byHost = new Map();

  store(url, response) {
    const cookies = this.#cookiesFor(url);
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((attr) => {
        const [key, val = ''] = attr.split('=').map((s) => s.trim());
        if (key.toLowerCase() === 'max-age') return Number(val) <= 0;
        if (key.toLowerCase() === 'expires') return Date.parse(val) <= Date.now();
        return false;
      });
      if (expired) cookies.delete(name);
      else cookies.set(name, value);
    }
  }

  header(url) {
    return [...this.#cookiesFor(url)].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  #cookiesFor(url) {
    const host = new URL(url).host;
    if (!this.#byHost.has(host)) this.#byHost.set(host, new Map());
    return this.#byHost.get(host);
  }
}

// One HTTP request as a browser would send it, without following redirects.
// Returns the status, the absolute redirect target (if any) and the body.
// A form is submitted with the Origin and Referer of the page it came from.
async function browse(jar, url, { method = 'GET', form, referer } = {}) {
  const headers = { accept: 'text/html,application/xhtml+xml' };
  const cookie = jar.header(url);
  if (cookie) headers.cookie = cookie;
  let body;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers.origin = referer.origin;
    headers.referer = referer.href;
    body = new URLSearchParams(form).toString();
  }
  const response = await fetch(url, {
    method,
    headers,
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  jar.store(url, response);
  const location = response.headers.get('location');
  return {
    url: new URL(url),
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    location: isRedirect(response.status) && location ? new URL(location, url) : null,
    body: await response.text(),
  };
}

function isRedirect(status) {
  return [301, 302, 303, 307, 308].includes(status);
}

// True when `url` is the client's redirect URI (same origin and path),
// whatever its query.
function isRedirectUri(url, redirectUri) {
  return url.origin === redirectUri.origin && url.pathname === redirectUri.pathname;
}

// Fails with the error details if the server redirected to the client with
// an error response instead of continuing the login.
function assertNotErrorRedirect(location, redirectUri) {
  if (isRedirectUri(location, redirectUri) && location.searchParams.has('error')) {
    const { searchParams: q } = location;
    throw new Error(`server redirected to REDIRECT_URI with error=${q.get('error')} ${q.get('error_description') ?? ''}`);
  }
}

// GETs `url` and follows redirects on the server (keeping cookies) until a
// 200 HTML page is reached.
async function getHtmlPage(jar, url, config) {
  let page = await browse(jar, url);
  for (let hops = 0; page.location; hops++) {
    assert(hops < MAX_REDIRECTS, `more than ${MAX_REDIRECTS} redirects starting at ${url}`);
    assertNotErrorRedirect(page.location, config.redirectUri);
    assert(!isRedirectUri(page.location, config.redirectUri),
      'server redirected to REDIRECT_URI without a successful login');
    page = await browse(jar, page.location);
  }
  if (page.status !== 200) throw new HttpError(`GET ${page.url.pathname} did not end on a 200 page`, page.status, page.body);
  if (!page.contentType.includes('text/html')) {
    throw new HttpError(`GET ${page.url.pathname} returned content-type "${page.contentType}", expected text/html`, page.status, page.body);
  }
  return page;
}

// ---------------------------------------------------------------------------
// HTML form parsing (regex based; enough for a server-rendered login form)

const NAMED_ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescapeHtml(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, entity) => {
    if (entity[0] === '#') {
      const hex = entity[1] === 'x' || entity[1] === 'X';
      return String.fromCodePoint(parseInt(entity.slice(hex ? 2 : 1), hex ? 16 : 10));
    }
    return NAMED_ENTITIES[entity.toLowerCase()] ?? whole;
  });
}

// Parses the attributes of one start tag, e.g. `<input type="hidden" name=x>`.
function parseAttributes(tag) {
  const attributes = {};
  const body = tag.replace(/^<\s*[a-z]+/i, '').replace(/\/?>$/, '');
  const re = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  for (const m of body.matchAll(re)) {
    attributes[m[1].toLowerCase()] = unescapeHtml(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attributes;
}

// Returns the first <form> of the page: its absolute action URL, method and
// the [name, value] pairs of all its named <input> elements, in order.
function parseFirstForm(html, pageUrl) {
  const form = /<form\b[^>]*>([\s\S]*?)<\/form\s*>/i.exec(html);
  if (!form) return null;
  const formAttributes = parseAttributes(/<form\b[^>]*>/i.exec(form[0])[0]);
  const fields = [];
  for (const [input] of form[1].matchAll(/<input\b[^>]*>/gi)) {
    const { name, value = '' } = parseAttributes(input);
    if (name) fields.push([name, value]);
  }
  return {
    action: formAttributes.action ? new URL(formAttributes.action, pageUrl) : new URL(pageUrl),
    method: (formAttributes.method || 'get').toUpperCase(),
    fields,
  };
}

// Copies the form's fields, filling in the login and password inputs.
function fillLoginForm(form, email, password) {
  const names = form.fields.map(([name]) => name);
  const loginField = names.includes('username') ? 'username' : names.includes('email') ? 'email' : null;
  assert(loginField, `login form has no "username" or "email" input (inputs: ${names.join(', ')})`);
  assert(names.includes('password'), `login form has no "password" input (inputs: ${names.join(', ')})`);
  assert(form.method === 'POST', `login form method is ${form.method}, expected POST`);
  return form.fields.map(([name, value]) => {
    if (name === loginField) return [name, email];
    if (name === 'password') return [name, password];
    return [name, value];
  });
}

function requireForm(page) {
  const form = parseFirstForm(page.body, page.url);
  if (!form) throw new HttpError(`page ${page.url.pathname} contains no <form>`, page.status, page.body);
  return form;
}

// ---------------------------------------------------------------------------
// Login: steps b-e

// Steps b-e: builds the authorization request with the library, logs in
// through the HTML form like a browser and exchanges the code. Returns the
// library's token response (with ID token claims already validated).
async function login(config, oidcConfig, round) {
  currentStep = `${round}: build authorization URL`;
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const parameters = {
    redirect_uri: config.redirectUri.href,
    scope: SCOPE,
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  };
  if (config.audience) parameters.audience = config.audience;
  const authorizationUrl = oidc.buildAuthorizationUrl(oidcConfig, parameters);

  const jar = new CookieJar();
  currentStep = `${round}: GET authorization URL until the login page`;
  const loginPage = await getHtmlPage(jar, authorizationUrl, config);
  let form = requireForm(loginPage);

  currentStep = `${round}: submit login form with a wrong password`;
  const rejected = await browse(jar, form.action, {
    method: 'POST',
    form: fillLoginForm(form, config.email, `${config.password}-wrong`),
    referer: loginPage.url,
  });
  let formPage;
  if (rejected.location) {
    // Post/redirect/get: follow it like a browser. Reaching REDIRECT_URI on
    // the way means the wrong password was accepted.
    assert(!isRedirectUri(rejected.location, config.redirectUri),
      `wrong password was answered with HTTP ${rejected.status} redirect to REDIRECT_URI`);
    formPage = await getHtmlPage(jar, rejected.location, config);
  } else if (rejected.status === 200 || (rejected.status >= 400 && rejected.status < 500)) {
    // The server may re-issue csrf/state with a re-rendered form; use it if
    // there is one, otherwise load the login page again.
    const reRendered = rejected.status === 200 && rejected.contentType.includes('text/html')
      && parseFirstForm(rejected.body, rejected.url);
    formPage = reRendered ? rejected : await getHtmlPage(jar, loginPage.url, config);
  } else {
    throw new HttpError('wrong password: expected 200 (form re-rendered), 4xx or a redirect to a login page',
      rejected.status, rejected.body);
  }
  form = requireForm(formPage);

  currentStep = `${round}: submit login form with the right password`;
  let response = await browse(jar, form.action, {
    method: 'POST',
    form: fillLoginForm(form, config.email, config.password),
    referer: formPage.url,
  });
  if (!response.location) {
    throw new HttpError('login POST with the right password was not answered by a redirect', response.status, response.body);
  }

  currentStep = `${round}: follow redirects to REDIRECT_URI`;
  for (let hops = 0; !isRedirectUri(response.location, config.redirectUri); hops++) {
    assert(hops < MAX_REDIRECTS, `more than ${MAX_REDIRECTS} redirects after login`);
    assert(response.location.origin === config.issuer.origin,
      `redirected to ${response.location.origin}, which is neither the server nor REDIRECT_URI`);
    response = await browse(jar, response.location);
    if (!response.location) {
      throw new HttpError(`expected a redirect from ${response.url.pathname} (consent page?)`, response.status, response.body);
    }
  }
  const callback = response.location;
  assertNotErrorRedirect(callback, config.redirectUri);
  assert(callback.searchParams.get('code'), 'redirect to REDIRECT_URI carries no "code"');
  assert(callback.searchParams.get('state') === state, 'redirect to REDIRECT_URI carries a different "state"');

  currentStep = `${round}: exchange the authorization code`;
  const tokens = await oidc.authorizationCodeGrant(oidcConfig, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  assert(tokens.access_token, 'token response has no access_token');
  assert(tokens.refresh_token, 'token response has no refresh_token although offline_access was requested');
  if (config.audience) {
    currentStep = `${round}: validate the access token JWT`;
    await checkAccessTokenJwt(tokens.access_token, config, oidcConfig);
  }
  return tokens;
}

// ---------------------------------------------------------------------------
// Access token for an API (AUDIENCE set): verified by hand with node:crypto.

// JWS alg -> arguments of crypto.verify (digest, key options).
const JWS_VERIFY = {
  RS256: ['sha256', {}],
  PS256: ['sha256', { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }],
  ES256: ['sha256', { dsaEncoding: 'ieee-p1363' }],
  EdDSA: [null, {}],
};

async function checkAccessTokenJwt(accessToken, config, oidcConfig) {
  const parts = accessToken.split('.');
  assert(parts.length === 3, 'AUDIENCE is set but the access token is not a JWS compact JWT');
  const [header, claims] = parts.slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url')));
  assert(header.alg in JWS_VERIFY, `access token alg "${header.alg}" is not one of ${Object.keys(JWS_VERIFY)}`);

  const { jwks_uri: jwksUri } = oidcConfig.serverMetadata();
  const response = await fetch(jwksUri, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  if (response.status !== 200) throw new HttpError('GET jwks_uri failed', response.status, await response.text());
  const { keys } = await response.json();
  const jwk = header.kid ? keys.find((k) => k.kid === header.kid) : keys.length === 1 ? keys[0] : undefined;
  assert(jwk, `no key in the JWKS for the access token (kid=${header.kid})`);

  const [digest, keyOptions] = JWS_VERIFY[header.alg];
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const valid = crypto.verify(digest, Buffer.from(`${parts[0]}.${parts[1]}`),
    { key, ...keyOptions }, Buffer.from(parts[2], 'base64url'));
  assert(valid, 'access token JWT signature does not verify against the JWKS');

  const audiences = [claims.aud].flat();
  assert(claims.iss === config.issuer.href, `access token iss is ${claims.iss}, expected ${config.issuer.href}`);
  assert(audiences.includes(config.audience), `access token aud ${JSON.stringify(claims.aud)} lacks AUDIENCE`);
  assert(typeof claims.exp === 'number' && claims.exp > Date.now() / 1000, 'access token is expired or has no exp');
}

// ---------------------------------------------------------------------------
// Negative token-endpoint checks: plain HTTP, so status and body are exact.

async function expectInvalidGrant(config, oidcConfig, refreshToken, what) {
  const body = new URLSearchParams({
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: config.clientId,
  });
  if (config.clientSecret) body.set('client_secret', config.clientSecret);
  const response = await fetch(oidcConfig.serverMetadata().token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body,
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  const text = await response.text();
  let error;
  try {
    error = JSON.parse(text).error;
  } catch {
    error = undefined;
  }
  if (response.status !== 400 || error !== 'invalid_grant') {
    throw new HttpError(`refresh with ${what}: expected HTTP 400 error=invalid_grant`, response.status, text);
  }
}

// ---------------------------------------------------------------------------

async function main() {
  const config = readConfig();

  currentStep = 'discovery';
  const clientAuth = config.clientSecret ? oidc.ClientSecretPost(config.clientSecret) : oidc.None();
  const metadata = {
    token_endpoint_auth_method: config.clientSecret ? 'client_secret_post' : 'none',
  };
  const oidcConfig = await oidc.discovery(config.issuer, config.clientId, metadata, clientAuth,
    // Plain http is only allowed because the test server listens on loopback.
    config.issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : undefined);
  // openid-client skips the ID token signature check for token-endpoint
  // responses by default; we want it verified against the JWKS.
  oidc.enableNonRepudiationChecks(oidcConfig);

  const tokens = await login(config, oidcConfig, 'login 1');
  const idClaims = tokens.claims();

  currentStep = 'userinfo';
  const userinfo = await oidc.fetchUserInfo(oidcConfig, tokens.access_token, idClaims.sub);
  assert(userinfo.sub === idClaims.sub, 'userinfo sub differs from the ID token sub');
  assert(userinfo.email === config.email, 'userinfo email differs from USER_EMAIL');

  currentStep = 'refresh';
  const refreshed = await oidc.refreshTokenGrant(oidcConfig, tokens.refresh_token);
  assert(refreshed.access_token, 'refresh response has no access_token');
  assert(refreshed.access_token !== tokens.access_token, 'refresh returned the same access token');
  assert(refreshed.refresh_token, 'refresh response has no refresh_token (no rotation)');
  assert(refreshed.refresh_token !== tokens.refresh_token, 'refresh token was not rotated');
  if (refreshed.id_token) assert(refreshed.claims().sub === idClaims.sub, 'refreshed ID token has another sub');
  if (config.audience) await checkAccessTokenJwt(refreshed.access_token, config, oidcConfig);

  currentStep = 'refresh token reuse detection';
  await expectInvalidGrant(config, oidcConfig, tokens.refresh_token, 'the old (rotated) refresh token');
  await expectInvalidGrant(config, oidcConfig, refreshed.refresh_token,
    'the new refresh token after reuse of the old one (family must be revoked)');

  const fresh = await login(config, oidcConfig, 'login 2');

  currentStep = 'revocation';
  await oidc.tokenRevocation(oidcConfig, fresh.refresh_token, { token_type_hint: 'refresh_token' });
  currentStep = 'refresh with the revoked token';
  const refusal = await oidc.refreshTokenGrant(oidcConfig, fresh.refresh_token).then(() => null, (err) => err);
  if (!refusal) throw new Error('refresh with a revoked refresh token succeeded');
  const isInvalidGrant = refusal instanceof oidc.ResponseBodyError
    && refusal.status === 400 && refusal.error === 'invalid_grant';
  if (!isInvalidGrant) throw refusal;

  console.log(`${LABEL}: ok`);
}

main().catch(async (err) => {
  console.error(`${LABEL}: FAILED at step "${currentStep}": ${await describeError(err)}`);
  process.exit(1);
});
