//! Option values that name a secret instead of holding it: `env:VAR`.
//!
//! ```sql
//! OPTIONS ('password' 'env:SHOP_PG_PASSWORD', 'aws.secret_access_key' 'env:AWS_SECRET')
//! ```
//!
//! The DDL text (and so the catalog) keeps the variable's name; the value is
//! read from the server's environment each time the source is opened, and
//! never appears in an error message.

use crate::error::{Result, VoidxError};

/// The value of an option: the variable's value for `env:VAR`, else the text itself.
pub fn resolve_secret(value: &str, option: &str) -> Result<String> {
    match value.strip_prefix("env:") {
        Some(var) => std::env::var(var).map_err(|_| {
            VoidxError::InvalidArgument(format!(
                "option '{option}' names the environment variable {var}, which the server does not have. \
                 Help: set {var} in the environment of the voidx process and restart it"
            ))
        }),
        None => Ok(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_are_resolved_and_missing_ones_named() {
        assert_eq!(resolve_secret("plain", "x").unwrap(), "plain");
        assert_eq!(
            resolve_secret("env:PATH", "x").unwrap(),
            std::env::var("PATH").unwrap()
        );
        let err = resolve_secret("env:VOIDX_SURELY_UNSET_42", "password").unwrap_err();
        assert!(err.to_string().contains("VOIDX_SURELY_UNSET_42"));
    }
}
