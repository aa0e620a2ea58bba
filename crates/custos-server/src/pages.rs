//! Server-rendered pages: plain, accessible HTML with no JavaScript (except the form_post
//! auto-submit, which also offers a button).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use custos_oidc::{LoginPage, OAuthError};

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}label{{display:block;margin-top:1rem;font-weight:600}}input{{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}}button{{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem}}.error{{color:#a00;border:1px solid #a00;padding:.5rem}}</style>\n</head>\n<body>\n<main>\n{}\n</main>\n</body>\n</html>\n",
        escape(title),
        body
    );
    let mut r = (status, page).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

pub fn login(p: &LoginPage) -> Response {
    let error = p
        .error
        .as_deref()
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>\n",
                escape(e)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>Log in</h1>\n<p>to continue to {client}</p>\n{error}<form method=\"post\" action=\"/u/login\">\n<input type=\"hidden\" name=\"state\" value=\"{state}\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n<label for=\"username\">Email address</label>\n<input id=\"username\" name=\"username\" type=\"email\" autocomplete=\"username\" required value=\"{email}\"{described}>\n<label for=\"password\">Password</label>\n<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\n<button type=\"submit\">Continue</button>\n</form>",
        client = escape(&p.client_name),
        state = escape(&p.transaction_id),
        csrf = escape(&p.csrf),
        email = escape(&p.email),
        described = if p.error.is_some() { " aria-describedby=\"login-error\"" } else { "" },
    );
    html(StatusCode::OK, "Log in", &body)
}

pub fn error_page(e: &OAuthError) -> Response {
    let body = format!(
        "<h1>Something went wrong</h1>\n<p role=\"alert\"><strong>{}</strong>: {}</p>",
        escape(e.error),
        escape(&e.description)
    );
    html(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        "Error",
        &body,
    )
}

pub fn logged_out() -> Response {
    html(
        StatusCode::OK,
        "Logged out",
        "<h1>You are logged out</h1>\n<p>You can close this window.</p>",
    )
}

/// OAuth 2.0 Form Post Response Mode: a form that posts the response to the client.
pub fn form_post(action: &str, params: &[(String, String)]) -> Response {
    let inputs: String = params
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape(k),
                escape(v)
            )
        })
        .collect();
    const SCRIPT: &str = "document.getElementById('response').submit()";
    let body = format!(
        "<form method=\"post\" action=\"{}\" id=\"response\">\n{inputs}<noscript><p>Continue to the application.</p></noscript>\n<button type=\"submit\">Continue</button>\n</form>\n<script>{SCRIPT}</script>",
        escape(action)
    );
    let mut r = html(StatusCode::OK, "Continue", &body);
    use base64::Engine as _;
    let hash = base64::engine::general_purpose::STANDARD.encode(custos_crypto::sha256(SCRIPT));
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'; form-action *"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
    }
}
