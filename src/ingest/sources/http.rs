//! One HTTP GET for the REST and HTML sources: the policy's client, request
//! headers from options (`header.<name>`, values optionally `env:VAR`),
//! a per-request timeout, and retries with exponential backoff.
//!
//! Retried: 429, 5xx, connection failures and timeouts, honouring
//! `Retry-After` (seconds or an HTTP date), capped at [`MAX_WAIT`]. Any
//! other 4xx fails at once with the status and an excerpt of the body.
//! A location the allowlist refuses (first URL, a redirect, a DNS answer)
//! fails at once with SQLSTATE 42501. Header values never appear in errors.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use url::Url;

use crate::error::{Result, VoidxError};
use crate::policy::Policy;

/// The longest a retry waits, whatever `Retry-After` asks for.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
const BASE_BACKOFF: Duration = Duration::from_millis(200);

/// A header from `header.<name>`; `Debug` never shows the value.
#[derive(Clone)]
pub struct HeaderSpec {
    pub name: HeaderName,
    value: HeaderSource,
}

#[derive(Clone)]
enum HeaderSource {
    Literal(String),
    Env(String),
}

impl std::fmt::Debug for HeaderSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            HeaderSource::Literal(_) => write!(f, "{}: <redacted>", self.name),
            HeaderSource::Env(var) => write!(f, "{}: env:{var}", self.name),
        }
    }
}

impl HeaderSpec {
    /// `option` is the full option key (`header.authorization`), for messages.
    pub fn parse(option: &str, name: &str, value: &str) -> Result<HeaderSpec> {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            VoidxError::InvalidArgument(format!(
                "option '{option}': '{name}' is not a valid HTTP header name. \
                 Help: write 'header.x-api-key' 'value'"
            ))
        })?;
        let value = match value.strip_prefix("env:") {
            Some(var) => HeaderSource::Env(var.trim().to_string()),
            None => HeaderSource::Literal(value.to_string()),
        };
        Ok(HeaderSpec { name, value })
    }

    /// The value to send, reading `env:VAR` now (scan time).
    fn resolve(&self) -> Result<HeaderValue> {
        let (text, origin) = match &self.value {
            HeaderSource::Literal(v) => (v.clone(), "its value".to_string()),
            HeaderSource::Env(var) => {
                let option = format!("header.{}", self.name);
                let v = super::secrets::resolve_secret(&format!("env:{var}"), &option)?;
                (v, format!("environment variable {var}"))
            }
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            VoidxError::InvalidArgument(format!(
                "header '{}': {origin} is not a valid HTTP header value (control characters \
                 or non-ASCII). Help: check the value",
                self.name
            ))
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// Per-source request settings (from options, defaults from the policy).
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub timeout: Duration,
    pub retries: u32,
    pub headers: Vec<HeaderSpec>,
}

impl HttpOptions {
    pub fn from_policy(policy: &Policy) -> HttpOptions {
        HttpOptions {
            timeout: policy.http_timeout,
            retries: policy.http_retries,
            headers: Vec::new(),
        }
    }
}

/// GETs with the headers resolved once per scan; cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<Policy>,
    headers: HeaderMap,
    timeout: Duration,
    retries: u32,
}

impl Fetcher {
    pub fn new(
        client: &reqwest::Client,
        policy: &Arc<Policy>,
        options: &HttpOptions,
    ) -> Result<Fetcher> {
        let mut headers = HeaderMap::new();
        for spec in &options.headers {
            headers.insert(spec.name.clone(), spec.resolve()?);
        }
        Ok(Fetcher {
            client: client.clone(),
            policy: Arc::clone(policy),
            headers,
            timeout: options.timeout,
            retries: options.retries,
        })
    }

    /// GET `url` and return its body, retrying what is worth retrying.
    pub async fn get(&self, url: &Url) -> Result<Vec<u8>> {
        let mut attempt: u32 = 0;
        loop {
            self.policy.check_url(url)?;
            let (failure, retry_after) = match self.try_once(url).await {
                Ok(body) => return Ok(body),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retryable(e, retry_after)) => (e, retry_after),
            };
            if attempt >= self.retries {
                return Err(http_error(format!(
                    "{failure} (gave up after {} attempts). Help: raise the source's 'retries' \
                     or 'timeout_ms' option, or try again later",
                    attempt + 1
                )));
            }
            let wait = retry_after
                .unwrap_or_else(|| backoff(attempt))
                .min(MAX_WAIT);
            tracing::debug!(url = %url, attempt, ?wait, "retrying: {failure}");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn try_once(&self, url: &Url) -> Result<Vec<u8>, Attempt> {
        // The client follows same-origin redirects itself and hands back
        // one to another origin; that one is followed here, checked again
        // and without the source's custom headers (they are meant for the
        // host the user named, not for wherever it points).
        let mut current = url.clone();
        let mut headers = self.headers.clone();
        let mut hops = 0;
        let response = loop {
            let response = self
                .client
                .get(current.clone())
                .headers(headers)
                .timeout(self.timeout)
                .send()
                .await
                .map_err(|e| classify(&current, &e))?;
            let next = response
                .status()
                .is_redirection()
                .then(|| response.headers().get(reqwest::header::LOCATION))
                .flatten()
                .and_then(|l| l.to_str().ok())
                .and_then(|l| current.join(l).ok());
            let Some(next) = next else {
                break response;
            };
            hops += 1;
            if hops > 10 {
                return Err(Attempt::Fatal(http_error(format!(
                    "GET {url} failed: more than 10 redirects. Help: check the LOCATION URL"
                ))));
            }
            self.policy.check_url(&next).map_err(Attempt::Fatal)?;
            headers = if next.origin() == url.origin() {
                self.headers.clone()
            } else {
                HeaderMap::new()
            };
            current = next;
        };
        let status = response.status();
        if status.is_success() {
            return read_bounded(response, &current, self.policy.max_response_bytes).await;
        }
        let retry_after = parse_retry_after(response.headers());
        let excerpt = excerpt(&response.text().await.unwrap_or_default());
        let failure = format!("GET {current} answered {status}: {excerpt}");
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Err(Attempt::Retryable(failure, retry_after))
        } else {
            let help = match status.as_u16() {
                401 | 403 => "check the credentials in the header.* options",
                404 => "check the LOCATION URL",
                _ => "check the LOCATION URL and the source's options",
            };
            Err(Attempt::Fatal(http_error(format!(
                "{failure}. Help: {help}"
            ))))
        }
    }
}

/// The body, refused as soon as it passes `ingest.max_response_mb`
/// (by `Content-Length` up front, else while streaming).
async fn read_bounded(
    mut response: reqwest::Response,
    url: &Url,
    limit: u64,
) -> Result<Vec<u8>, Attempt> {
    let too_big = || {
        Attempt::Fatal(VoidxError::InvalidArgument(format!(
            "GET {url}: the response is larger than ingest.max_response_mb ({} MiB). \
             Help: page the source (next_page option) or ask the operator to raise ingest.max_response_mb",
            limit / (1024 * 1024)
        )))
    };
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Attempt::Retryable(format!("reading GET {url} failed: {e}"), None))?
    {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

enum Attempt {
    Retryable(String, Option<Duration>),
    Fatal(VoidxError),
}

fn http_error(message: String) -> VoidxError {
    VoidxError::Io(std::io::Error::other(message))
}

/// A transport error: refused by the policy (fatal), or worth retrying.
fn classify(url: &Url, e: &reqwest::Error) -> Attempt {
    if let Some(message) = policy_refusal(e) {
        return Attempt::Fatal(VoidxError::NotAllowed(message));
    }
    if e.is_redirect() {
        return Attempt::Fatal(http_error(format!(
            "GET {url} failed: {e}. Help: check the LOCATION URL"
        )));
    }
    if e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() {
        return Attempt::Retryable(format!("GET {url} failed: {}", chain(e)), None);
    }
    Attempt::Fatal(http_error(format!("GET {url} failed: {}", chain(e))))
}

/// The allowlist's own message, if a redirect check or the resolver refused.
fn policy_refusal(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(VoidxError::NotAllowed(m)) = err.downcast_ref::<VoidxError>() {
            return Some(m.clone());
        }
        // io::Error::source() skips the error it wraps; look at it too.
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && let Some(m) = policy_refusal(inner)
        {
            return Some(m);
        }
        current = err.source();
    }
    None
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut current = e.source();
    while let Some(err) = current {
        let part = err.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        current = err.source();
    }
    text
}

/// 200 ms, 400 ms, 800 ms … (capped) plus up to 100 ms of jitter.
fn backoff(attempt: u32) -> Duration {
    let exp = BASE_BACKOFF.saturating_mul(1u32 << attempt.min(8));
    exp.min(Duration::from_secs(10)) + Duration::from_millis(rand::rng().random_range(0..=100))
}

/// `Retry-After: 3` or `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let delta = at.signed_duration_since(chrono::Utc::now());
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// The first 200 characters of a body, on one line.
fn excerpt(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None if flat.is_empty() => "(empty body)".into(),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        h.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let wait = parse_retry_after(&h).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(
            backoff(0) >= Duration::from_millis(200) && backoff(0) <= Duration::from_millis(300)
        );
        assert!(backoff(2) >= Duration::from_millis(800));
        assert!(backoff(30) <= Duration::from_millis(10_100));
    }

    #[test]
    fn header_values_stay_out_of_debug_and_errors() {
        let spec =
            HeaderSpec::parse("header.authorization", "authorization", "Bearer hunter2").unwrap();
        assert!(!format!("{spec:?}").contains("hunter2"));
        let spec = HeaderSpec::parse("header.x", "x", "env:VOIDX_TEST_SURELY_UNSET_VAR").unwrap();
        let e = spec.resolve().unwrap_err().to_string();
        assert!(
            e.contains("VOIDX_TEST_SURELY_UNSET_VAR") && e.contains("Help:"),
            "{e}"
        );
        let spec = HeaderSpec::parse("header.x", "x", "bad\nvalue hunter2").unwrap();
        assert!(!spec.resolve().unwrap_err().to_string().contains("hunter2"));
        assert!(HeaderSpec::parse("header.a b", "a b", "v").is_err());
    }

    #[test]
    fn excerpts_are_short_and_flat() {
        assert_eq!(excerpt(""), "(empty body)");
        assert_eq!(excerpt("a\n  b"), "a b");
        assert_eq!(excerpt(&"x".repeat(500)).chars().count(), 201);
    }
}
