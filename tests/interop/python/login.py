"""Interop relying party for Custos, built on Authlib.

Drives a real authorization-code + PKCE login against a running Custos
server (discovery, a browser-like login through the HTML form, code
exchange, ID token validation, userinfo, refresh-token rotation and reuse
detection, revocation) and exits non-zero at the first deviation, naming
the step.

Configuration (environment):
  CUSTOS_ISSUER   issuer URL with trailing slash, e.g. http://127.0.0.1:43123/
  CLIENT_ID       client identifier
  CLIENT_SECRET   optional; set => client_secret_post, unset/empty => public
                  client (auth method "none")
  REDIRECT_URI    registered redirect URI; never requested, only matched
  USER_EMAIL      login of an existing user
  USER_PASSWORD   that user's password
  AUDIENCE        optional API identifier; the access token must then be a
                  JWT for it

Tokens, codes and passwords are never printed.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
import warnings
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oidc.discovery import OpenIDProviderMetadata, get_well_known_url

# authlib.jose still works in Authlib 1.x but warns that it is being replaced
# by joserfc; the import-time warning is noise for this test.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.jose import JoseError, JsonWebKey, JsonWebToken

LABEL = "interop python"
SCOPE = "openid profile email offline_access"
HTTP_TIMEOUT = 10
MAX_REDIRECTS = 10
BODY_EXCERPT_CHARS = 500
CLOCK_LEEWAY = 60

# Name of the step in progress, reported when anything fails.
current_step = "configuration"


class HttpError(Exception):
    """An HTTP response that was not what the step expected."""

    def __init__(self, message: str, status: int, body: str):
        super().__init__(message)
        self.status = status
        self.body = body


class CheckFailed(Exception):
    """An assertion about the server's behaviour did not hold."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# ---------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class Config:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    email: str
    password: str
    audience: str

    @property
    def auth_method(self) -> str:
        return "client_secret_post" if self.client_secret else "none"

    @classmethod
    def from_env(cls) -> Config:
        def env(name: str, required: bool = True) -> str:
            value = os.environ.get(name, "")
            if required and not value:
                raise CheckFailed(f"environment variable {name} is required")
            return value

        issuer = env("CUSTOS_ISSUER")
        check(
            issuer.endswith("/"),
            'CUSTOS_ISSUER must end with "/" (it is compared verbatim with the discovered issuer)',
        )
        return cls(
            issuer=issuer,
            client_id=env("CLIENT_ID"),
            client_secret=env("CLIENT_SECRET", required=False),
            redirect_uri=env("REDIRECT_URI"),
            email=env("USER_EMAIL"),
            password=env("USER_PASSWORD"),
            audience=env("AUDIENCE", required=False),
        )


# ---------------------------------------------------------------------------
# Output helpers

_JSON_SECRET = re.compile(r'("(?:access_token|refresh_token|id_token|client_secret|code)"\s*:\s*")[^"]*"')
_QUERY_SECRET = re.compile(r"\b((?:code|access_token|refresh_token|id_token|client_secret|password)=)[^&\s\"'<]*")


def redact(text: str) -> str:
    """Masks token-like values in text that is about to be printed."""
    return _QUERY_SECRET.sub(r"\1[redacted]", _JSON_SECRET.sub(r'\1[redacted]"', text))


def excerpt(text: str) -> str:
    clean = " ".join(redact(text).split())
    if len(clean) > BODY_EXCERPT_CHARS:
        return clean[:BODY_EXCERPT_CHARS] + "..."
    return clean


def describe_error(err: BaseException) -> str:
    """One secret-free line, with HTTP status and body where one is known."""
    if isinstance(err, HttpError):
        return f"{err} (HTTP {err.status}): {excerpt(err.body)}"
    if isinstance(err, requests.HTTPError) and err.response is not None:
        response = err.response
        where = f"{response.request.method} {urlsplit(response.url).path}"
        return f"{where}: HTTP {response.status_code}: {excerpt(response.text)}"
    if isinstance(err, requests.ConnectionError):
        return f"connection failed: {err.__class__.__name__}: {excerpt(str(err))}"
    if isinstance(err, OAuthError):
        return f"OAuth error response: error={err.error} {err.description or ''}".rstrip()
    if isinstance(err, JoseError):
        return f"JOSE validation failed: {err.error} {err.description or ''}".rstrip()
    if isinstance(err, CheckFailed):
        return str(err)
    return f"{err.__class__.__name__}: {err}"


# ---------------------------------------------------------------------------
# A minimal browser: requests.Session with manual redirects


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_browser() -> requests.Session:
    browser = requests.Session()
    browser.headers["Accept"] = "text/html,application/xhtml+xml"
    return browser


def browse(browser: requests.Session, method: str, url: str, **kwargs) -> requests.Response:
    """One request as a browser would send it, without following redirects."""
    response = browser.request(method, url, allow_redirects=False, timeout=HTTP_TIMEOUT, **kwargs)
    # Browsers send Secure cookies to http://localhost; the stdlib cookie jar
    # only sends them over https, so drop the flag for loopback hosts.
    for cookie in browser.cookies:
        if cookie.secure and is_loopback(cookie.domain.removesuffix(".local")):
            cookie.secure = False
    return response


def location_of(response: requests.Response) -> str | None:
    """Absolute redirect target of a response, or None if it is no redirect."""
    if response.status_code in (301, 302, 303, 307, 308) and "Location" in response.headers:
        return urljoin(response.url, response.headers["Location"])
    return None


def is_redirect_uri(url: str, redirect_uri: str) -> bool:
    """True when `url` is the client's redirect URI (same origin and path)."""
    a, b = urlsplit(url), urlsplit(redirect_uri)
    return (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)


def check_not_error_redirect(location: str, redirect_uri: str) -> None:
    """Fails with the error details if the server sent the browser back to
    the client with an error response instead of continuing the login."""
    query = parse_qs(urlsplit(location).query)
    if is_redirect_uri(location, redirect_uri) and "error" in query:
        description = query.get("error_description", [""])[0]
        raise CheckFailed(f"server redirected to REDIRECT_URI with error={query['error'][0]} {description}")


def get_html_page(browser: requests.Session, url: str, config: Config) -> requests.Response:
    """GETs `url`, following redirects on the server (keeping cookies) until
    a 200 HTML page is reached."""
    page = browse(browser, "GET", url)
    hops = 0
    while (location := location_of(page)) is not None:
        hops += 1
        check(hops <= MAX_REDIRECTS, f"more than {MAX_REDIRECTS} redirects starting at {url}")
        check_not_error_redirect(location, config.redirect_uri)
        check(
            not is_redirect_uri(location, config.redirect_uri),
            "server redirected to REDIRECT_URI without a successful login",
        )
        page = browse(browser, "GET", location)
    path = urlsplit(page.url).path
    if page.status_code != 200:
        raise HttpError(f"GET {path} did not end on a 200 page", page.status_code, page.text)
    content_type = page.headers.get("Content-Type", "")
    if "text/html" not in content_type:
        raise HttpError(
            f'GET {path} returned content-type "{content_type}", expected text/html',
            page.status_code,
            page.text,
        )
    return page


# ---------------------------------------------------------------------------
# HTML form parsing


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]]


class FirstFormParser(HTMLParser):
    """Collects the first <form> and the name/value of its <input>s
    (HTMLParser already unescapes entities in attribute values)."""

    def __init__(self, page_url: str):
        super().__init__()
        self.page_url = page_url
        self.form: Form | None = None
        self._inside = False

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and self.form is None:
            action = attributes.get("action", "")
            self.form = Form(
                action=urljoin(self.page_url, action) if action else self.page_url,
                method=(attributes.get("method") or "get").upper(),
                fields=[],
            )
            self._inside = True
        elif tag == "input" and self._inside and attributes.get("name"):
            self.form.fields.append((attributes["name"], attributes.get("value", "")))

    def handle_endtag(self, tag):
        if tag == "form":
            self._inside = False


def parse_first_form(page: requests.Response) -> Form | None:
    parser = FirstFormParser(page.url)
    parser.feed(page.text)
    parser.close()
    return parser.form


def require_form(page: requests.Response) -> Form:
    form = parse_first_form(page)
    if form is None:
        raise HttpError(f"page {urlsplit(page.url).path} contains no <form>", page.status_code, page.text)
    return form


def fill_login_form(form: Form, email: str, password: str) -> list[tuple[str, str]]:
    """Copies the form's fields, filling in the login and password inputs."""
    names = [name for name, _ in form.fields]
    login_field = "username" if "username" in names else "email" if "email" in names else None
    check(login_field, f'login form has no "username" or "email" input (inputs: {", ".join(names)})')
    check("password" in names, f'login form has no "password" input (inputs: {", ".join(names)})')
    check(form.method == "POST", f"login form method is {form.method}, expected POST")
    filled = {login_field: email, "password": password}
    return [(name, filled.get(name, value)) for name, value in form.fields]


def submit(browser: requests.Session, form: Form, fields, page_url: str) -> requests.Response:
    """POSTs the form found on `page_url`, with the headers a browser adds."""
    page = urlsplit(page_url)
    return browse(
        browser,
        "POST",
        form.action,
        data=fields,
        headers={"Origin": f"{page.scheme}://{page.netloc}", "Referer": page_url},
    )


# ---------------------------------------------------------------------------
# The relying party


class RelyingParty:
    def __init__(self, config: Config):
        self.config = config
        self.metadata: dict = {}
        self.jwks: dict = {}

    def session(self) -> OAuth2Session:
        """A fresh Authlib client session for one login."""
        return OAuth2Session(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret or None,
            token_endpoint_auth_method=self.config.auth_method,
            revocation_endpoint_auth_method=self.config.auth_method,
            scope=SCOPE,
            redirect_uri=self.config.redirect_uri,
            code_challenge_method="S256",
            default_timeout=HTTP_TIMEOUT,
            # Authlib refreshes tokens on its own when they expire within
            # `leeway` seconds; the test must control every refresh itself.
            leeway=0,
        )

    # -- a. discovery ------------------------------------------------------

    def discover(self) -> None:
        url = get_well_known_url(self.config.issuer, external=True)
        response = requests.get(url, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        metadata = OpenIDProviderMetadata(response.json())
        # Authlib's validator checks the required fields and https (loopback
        # http is accepted as secure).
        metadata.validate()
        check(
            metadata["issuer"] == self.config.issuer,
            f"discovered issuer {metadata['issuer']!r} differs from CUSTOS_ISSUER",
        )
        for endpoint in ("token_endpoint", "userinfo_endpoint", "revocation_endpoint"):
            check(metadata.get(endpoint), f"discovery document has no {endpoint}")
        self.metadata = dict(metadata)

        jwks = requests.get(metadata["jwks_uri"], timeout=HTTP_TIMEOUT)
        jwks.raise_for_status()
        self.jwks = jwks.json()

    # -- b-e. login ----------------------------------------------------------

    def login(self, round_name: str) -> tuple[OAuth2Session, dict]:
        """Builds the authorization request with Authlib, logs in through the
        HTML form like a browser, exchanges the code and validates the ID
        token. Returns the client session (holding the tokens) and the ID
        token claims."""
        global current_step
        config = self.config

        current_step = f"{round_name}: build authorization URL"
        client = self.session()
        code_verifier = generate_token(48)
        nonce = generate_token(20)
        extra = {"audience": config.audience} if config.audience else {}
        authorization_url, state = client.create_authorization_url(
            self.metadata["authorization_endpoint"],
            code_verifier=code_verifier,
            nonce=nonce,
            **extra,
        )

        browser = new_browser()
        current_step = f"{round_name}: GET authorization URL until the login page"
        login_page = get_html_page(browser, authorization_url, config)
        form = require_form(login_page)

        current_step = f"{round_name}: submit login form with a wrong password"
        rejected = submit(
            browser, form, fill_login_form(form, config.email, config.password + "-wrong"), login_page.url
        )
        rejected_location = location_of(rejected)
        if rejected_location is not None:
            # Post/redirect/get: follow it like a browser. Reaching
            # REDIRECT_URI on the way means the wrong password was accepted.
            check(
                not is_redirect_uri(rejected_location, config.redirect_uri),
                f"wrong password was answered with HTTP {rejected.status_code} redirect to REDIRECT_URI",
            )
            form_page = get_html_page(browser, rejected_location, config)
        elif rejected.status_code == 200 or 400 <= rejected.status_code < 500:
            # The server may re-issue csrf/state with a re-rendered form; use
            # it if there is one, otherwise load the login page again.
            re_rendered = (
                rejected.status_code == 200
                and "text/html" in rejected.headers.get("Content-Type", "")
                and parse_first_form(rejected) is not None
            )
            form_page = rejected if re_rendered else get_html_page(browser, login_page.url, config)
        else:
            raise HttpError(
                "wrong password: expected 200 (form re-rendered), 4xx or a redirect to a login page",
                rejected.status_code,
                rejected.text,
            )
        form = require_form(form_page)

        current_step = f"{round_name}: submit login form with the right password"
        response = submit(browser, form, fill_login_form(form, config.email, config.password), form_page.url)
        location = location_of(response)
        if location is None:
            raise HttpError(
                "login POST with the right password was not answered by a redirect",
                response.status_code,
                response.text,
            )

        current_step = f"{round_name}: follow redirects to REDIRECT_URI"
        hops = 0
        issuer_origin = urlsplit(config.issuer)[:2]
        while not is_redirect_uri(location, config.redirect_uri):
            hops += 1
            check(hops <= MAX_REDIRECTS, f"more than {MAX_REDIRECTS} redirects after login")
            check(
                urlsplit(location)[:2] == issuer_origin,
                f"redirected to {urlsplit(location).netloc}, which is neither the server nor REDIRECT_URI",
            )
            response = browse(browser, "GET", location)
            location = location_of(response)
            if location is None:
                raise HttpError(
                    f"expected a redirect from {urlsplit(response.url).path} (consent page?)",
                    response.status_code,
                    response.text,
                )
        check_not_error_redirect(location, config.redirect_uri)
        query = parse_qs(urlsplit(location).query)
        check(query.get("code"), 'redirect to REDIRECT_URI carries no "code"')
        check(query.get("state") == [state], 'redirect to REDIRECT_URI carries a different "state"')
        # RFC 9207: an "iss" response parameter, when present or advertised,
        # must be the issuer.
        if "iss" in query or self.metadata.get("authorization_response_iss_parameter_supported"):
            check(query.get("iss") == [config.issuer], 'redirect to REDIRECT_URI has a missing or wrong "iss"')

        current_step = f"{round_name}: exchange the authorization code"
        token = client.fetch_token(
            self.metadata["token_endpoint"],
            authorization_response=location,
            state=state,
            code_verifier=code_verifier,
        )
        check(token.get("access_token"), "token response has no access_token")
        check(token.get("refresh_token"), "token response has no refresh_token although offline_access was requested")
        check(str(token.get("token_type", "")).lower() == "bearer", "token_type is not Bearer")
        check(token.get("id_token"), "token response has no id_token")

        current_step = f"{round_name}: validate the ID token"
        claims = self.validate_id_token(token["id_token"], nonce=nonce)
        if config.audience:
            current_step = f"{round_name}: validate the access token JWT"
            self.check_access_token_jwt(token["access_token"])
        return client, claims

    # -- JWT validation with authlib.jose against the discovered JWKS ------

    def decode_jwt(self, value: str, algorithms: list[str], claims_options: dict) -> dict:
        keys = JsonWebKey.import_key_set(self.jwks)
        claims = JsonWebToken(algorithms).decode(value, keys, claims_options=claims_options)
        claims.validate(leeway=CLOCK_LEEWAY)
        return dict(claims)

    def validate_id_token(self, id_token: str, nonce: str | None) -> dict:
        """Signature (JWKS), iss, aud, exp, iat, sub, and nonce if given."""
        options = {
            "iss": {"essential": True, "value": self.config.issuer},
            "aud": {"essential": True, "value": self.config.client_id},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "sub": {"essential": True},
        }
        if nonce is not None:
            options["nonce"] = {"essential": True, "value": nonce}
        algorithms = self.metadata["id_token_signing_alg_values_supported"]
        return self.decode_jwt(id_token, algorithms, options)

    def check_access_token_jwt(self, access_token: str) -> None:
        """With AUDIENCE set the access token must be a JWT for that API."""
        check(access_token.count(".") == 2, "AUDIENCE is set but the access token is not a JWS compact JWT")
        options = {
            "iss": {"essential": True, "value": self.config.issuer},
            "aud": {"essential": True, "value": self.config.audience},
            "exp": {"essential": True},
        }
        self.decode_jwt(access_token, ["RS256", "PS256", "ES256", "EdDSA"], options)

    # -- f. userinfo ---------------------------------------------------------

    def check_userinfo(self, client: OAuth2Session, claims: dict) -> None:
        response = client.get(self.metadata["userinfo_endpoint"])
        response.raise_for_status()
        check(
            response.headers.get("Content-Type", "").startswith("application/json"),
            "userinfo response is not application/json",
        )
        userinfo = response.json()
        check(userinfo.get("sub") == claims["sub"], "userinfo sub differs from the ID token sub")
        check(userinfo.get("email") == self.config.email, "userinfo email differs from USER_EMAIL")

    # -- g, h. refresh, reuse detection, revocation ----------------------------

    def refresh(self, client: OAuth2Session, claims: dict) -> tuple[str, str]:
        """Refreshes with Authlib; returns (old, new) refresh tokens."""
        old_access, old_refresh = client.token["access_token"], client.token["refresh_token"]
        token = client.refresh_token(self.metadata["token_endpoint"], refresh_token=old_refresh)
        check(token.get("access_token"), "refresh response has no access_token")
        check(token["access_token"] != old_access, "refresh returned the same access token")
        # Authlib keeps the old refresh token when the response has none.
        check(token.get("refresh_token") != old_refresh, "refresh token was not rotated")
        if token.get("id_token"):
            refreshed = self.validate_id_token(token["id_token"], nonce=None)
            check(refreshed["sub"] == claims["sub"], "refreshed ID token has another sub")
        if self.config.audience:
            self.check_access_token_jwt(token["access_token"])
        return old_refresh, token["refresh_token"]

    def expect_invalid_grant(self, refresh_token: str, what: str) -> None:
        """Plain HTTP refresh that must fail with 400 invalid_grant."""
        data = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.config.client_id,
        }
        if self.config.client_secret:
            data["client_secret"] = self.config.client_secret
        response = requests.post(
            self.metadata["token_endpoint"],
            data=data,
            headers={"Accept": "application/json"},
            timeout=HTTP_TIMEOUT,
        )
        try:
            error = response.json().get("error")
        except ValueError:
            error = None
        if response.status_code != 400 or error != "invalid_grant":
            raise HttpError(
                f"refresh with {what}: expected HTTP 400 error=invalid_grant", response.status_code, response.text
            )

    def revoke(self, client: OAuth2Session) -> None:
        """Revokes the session's refresh token (RFC 7009), then checks that
        Authlib's refresh with it is refused with invalid_grant."""
        global current_step
        refresh_token = client.token["refresh_token"]
        response = client.revoke_token(
            self.metadata["revocation_endpoint"],
            token=refresh_token,
            token_type_hint="refresh_token",
        )
        if response.status_code != 200:
            raise HttpError("revocation: expected HTTP 200", response.status_code, response.text)

        current_step = "refresh with the revoked token"
        try:
            client.refresh_token(self.metadata["token_endpoint"], refresh_token=refresh_token)
        except OAuthError as err:
            check(err.error == "invalid_grant", f"expected error=invalid_grant, got error={err.error}")
            return
        raise CheckFailed("refresh with a revoked refresh token succeeded")


def main() -> None:
    global current_step
    rp = RelyingParty(Config.from_env())

    current_step = "discovery"
    rp.discover()

    client, claims = rp.login("login 1")

    current_step = "userinfo"
    rp.check_userinfo(client, claims)

    current_step = "refresh"
    old_refresh, new_refresh = rp.refresh(client, claims)

    current_step = "refresh token reuse detection"
    rp.expect_invalid_grant(old_refresh, "the old (rotated) refresh token")
    rp.expect_invalid_grant(new_refresh, "the new refresh token after reuse of the old one (family must be revoked)")

    client, _ = rp.login("login 2")

    current_step = "revocation"
    rp.revoke(client)

    print(f"{LABEL}: ok")


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # report every failure the same way
        print(f"{LABEL}: FAILED at step {current_step!r}: {describe_error(err)}", file=sys.stderr)
        sys.exit(1)
