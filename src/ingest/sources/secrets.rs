//! Option values that name a secret instead of holding it: `env:VAR`.
//!
//! ```sql
//! OPTIONS ('password' 'env:SHOP_PG_PASSWORD', 'aws.secret_access_key' 'env:AWS_SECRET')
//! ```
//!
//! The DDL text (and so the catalog) keeps the variable's name; the value is
//! read from the server's environment each time the source is opened, and
//! never appears in an error message. Only variables the operator allowed
//! with `ingest.secret_env` (globs such as `SHOP_*`; empty = none) can be
//! read, and never `VOIDX_*` (users' passwords, API keys), whatever the
//! globs say: an `env:` reference must not turn a source into a way to send
//! the server's environment to a host.

use std::sync::RwLock;

use crate::error::{Result, VoidxError};

/// The operator's `ingest.secret_env`, set once by `App::open`.
static ALLOWED: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Install `ingest.secret_env` (called at start).
pub fn set_allowed_env(globs: &[String]) {
    let mut allowed = ALLOWED.write().unwrap_or_else(|p| p.into_inner());
    *allowed = globs
        .iter()
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect();
}

/// May `env:var` be read under `globs`?
pub fn env_allowed(var: &str, globs: &[String]) -> bool {
    !var.to_ascii_uppercase().starts_with("VOIDX_") && globs.iter().any(|g| glob_match(g, var))
}

/// `*` matches any run of characters, `?` one; everything else literally.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The value of an option: the variable's value for `env:VAR`, else the text itself.
pub fn resolve_secret(value: &str, option: &str) -> Result<String> {
    match value.strip_prefix("env:") {
        Some(var) => {
            let var = var.trim();
            let allowed = ALLOWED.read().unwrap_or_else(|p| p.into_inner());
            if !env_allowed(var, &allowed) {
                return Err(VoidxError::NotAllowed(format!(
                    "option '{option}' names the environment variable {var}, which the server may not read for SQL users. \
                     Help: the operator allows variables with ingest.secret_env (e.g. VOIDX_INGEST__SECRET_ENV='SHOP_*'); \
                     VOIDX_* variables are never readable"
                )));
            }
            std::env::var(var).map_err(|_| {
                VoidxError::InvalidArgument(format!(
                    "option '{option}' names the environment variable {var}, which the server does not have. \
                     Help: set {var} in the environment of the voidx process and restart it"
                ))
            })
        }
        None => Ok(value.to_string()),
    }
}

/// Is the option `key` one whose literal value is a secret?
pub fn is_secret_option(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("header.")
        || [
            "password",
            "secret",
            "token",
            "credential",
            "sas",
            "private_key",
            "access_key",
            "session_key",
            "api_key",
            "apikey",
            "client_key",
        ]
        .iter()
        .any(|s| k.contains(s))
}

/// `postgres://user:pw@host/db` → `postgres://user:***@host/db`; other text unchanged.
pub fn redact_url(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_string();
    };
    let rest = &text[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return text.to_string();
    };
    let Some(colon) = authority[..at].find(':') else {
        return text.to_string();
    };
    format!(
        "{}{}:***{}",
        &text[..scheme_end + 3],
        &authority[..colon],
        &text[scheme_end + 3 + at..]
    )
}

/// A stored `CREATE EXTERNAL TABLE …` with the values of secret options
/// (and passwords inside URLs) replaced by `***`; `env:NAME` references
/// are kept, since they name a secret rather than hold it.
pub fn redact_definition(sql: &str) -> String {
    // Quoted literals in order; after OPTIONS they alternate key, value.
    let options_at = sql.find(" OPTIONS (");
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.char_indices().peekable();
    let mut literal_index = 0usize;
    let mut last_key = String::new();
    while let Some((i, c)) = chars.next() {
        if c != '\'' {
            out.push(c);
            continue;
        }
        let mut value = String::new();
        while let Some((_, c)) = chars.next() {
            if c == '\'' {
                if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                    chars.next();
                    value.push('\'');
                    continue;
                }
                break;
            }
            value.push(c);
        }
        let in_options = options_at.is_some_and(|at| i > at);
        let shown = if in_options {
            literal_index += 1;
            if literal_index % 2 == 1 {
                last_key = value.clone();
                value
            } else if is_secret_option(&last_key) && !value.starts_with("env:") {
                "***".to_string()
            } else {
                redact_url(&value)
            }
        } else {
            redact_url(&value)
        };
        out.push('\'');
        out.push_str(&shown.replace('\'', "''"));
        out.push('\'');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_allow_names_but_never_voidx() {
        let g = vec!["SHOP_*".to_string(), "AWS_SECRET_ACCESS_KEY".to_string()];
        assert!(env_allowed("SHOP_TOKEN", &g));
        assert!(env_allowed("AWS_SECRET_ACCESS_KEY", &g));
        assert!(!env_allowed("AWS_SECRET_ACCESS_KEYX", &g));
        assert!(!env_allowed("PATH", &g));
        assert!(!env_allowed("SHOP", &g));
        let all = vec!["*".to_string()];
        assert!(env_allowed("HOME", &all));
        assert!(!env_allowed("VOIDX_USERS__ADMIN", &all));
        assert!(!env_allowed("voidx_serve__api_keys", &all));
        assert!(!env_allowed("HOME", &[]));
        assert!(glob_match("A?C*", "ABCDEF"));
        assert!(!glob_match("A?C", "AC"));
    }

    #[test]
    fn env_values_are_resolved_only_when_allowed() {
        assert_eq!(resolve_secret("plain", "x").unwrap(), "plain");
        // Nothing is allowed until the operator says so (the default).
        let e = resolve_secret("env:VOIDX_USERS__ADMIN", "header.x").unwrap_err();
        assert_eq!(e.sqlstate(), "42501");
        assert!(e.to_string().contains("ingest.secret_env"), "{e}");
    }

    #[test]
    fn definitions_hide_secret_values_but_keep_references() {
        let sql = "CREATE EXTERNAL TABLE \"s\".\"t\" STORED AS REST LOCATION 'https://u:pw@api.example/x' \
                   OPTIONS ('header.x-api-key' 'hunter2', 'header.authorization' 'env:SHOP_TOKEN', \
                   'password' 'it''s secret', 'records' '$.data', 'aws.secret_access_key' 'abc')";
        let shown = redact_definition(sql);
        assert!(
            !shown.contains("hunter2") && !shown.contains("secret'") && !shown.contains("abc"),
            "{shown}"
        );
        assert!(!shown.contains(":pw@"), "{shown}");
        assert!(shown.contains("'env:SHOP_TOKEN'"), "{shown}");
        assert!(shown.contains("'records' '$.data'"), "{shown}");
        assert!(shown.contains("'header.x-api-key' '***'"), "{shown}");
        assert_eq!(
            redact_url("postgres://reader:pw@db:5432/shop"),
            "postgres://reader:***@db:5432/shop"
        );
        assert_eq!(
            redact_url("postgres://reader@db/shop"),
            "postgres://reader@db/shop"
        );
        assert_eq!(redact_url("/srv/a@b:c"), "/srv/a@b:c");
    }
}
