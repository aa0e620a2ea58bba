use custos_oidc::ProviderError;
use custos_store::StoreError;

/// A Management API error in Auth0's envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub error_code: Option<&'static str>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>, error_code: Option<&'static str>) -> Self {
        Self {
            status,
            message: message.into(),
            error_code,
        }
    }
    pub fn bad_body(message: impl Into<String>) -> Self {
        Self::new(400, message, Some("invalid_body"))
    }
    pub fn bad_query(message: impl Into<String>) -> Self {
        Self::new(400, message, Some("invalid_query_string"))
    }
    pub fn not_found(message: impl Into<String>, code: &'static str) -> Self {
        Self::new(404, message, Some(code))
    }
    pub fn conflict(message: impl Into<String>, code: &'static str) -> Self {
        Self::new(409, message, Some(code))
    }
    pub fn forbidden(message: impl Into<String>, code: &'static str) -> Self {
        Self::new(403, message, Some(code))
    }
    pub fn internal() -> Self {
        Self::new(500, "Internal Server Error", None)
    }

    /// The HTTP reason phrase Auth0 puts in `error`.
    pub fn error(&self) -> &'static str {
        match self.status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            409 => "Conflict",
            413 => "Payload Too Large",
            415 => "Unsupported Media Type",
            429 => "Too Many Requests",
            _ => "Internal Server Error",
        }
    }

    pub fn body(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "statusCode": self.status,
            "error": self.error(),
            "message": self.message,
        });
        if let Some(code) = self.error_code {
            v["errorCode"] = serde_json::json!(code);
        }
        v
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => {
                ApiError::not_found("The resource does not exist.", "inexistent_resource")
            }
            StoreError::Conflict(_) => {
                ApiError::conflict("The resource already exists.", "conflict")
            }
            other => {
                tracing::error!(error = %other, "management store error");
                ApiError::internal()
            }
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "management provider error");
                ApiError::internal()
            }
        }
    }
}

impl From<custos_crypto::CryptoError> for ApiError {
    fn from(e: custos_crypto::CryptoError) -> Self {
        tracing::error!(error = %e, "management crypto error");
        ApiError::internal()
    }
}
