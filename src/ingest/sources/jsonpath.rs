//! The small JSONPath subset REST options use to point into a response:
//! `$`, `.key`, `['key']` / `["key"]` and `[n]` (negative counts from the end).
//!
//! ```
//! # use voidx::ingest::sources::jsonpath::JsonPath;
//! let p = JsonPath::parse("$.result.items[0].id").unwrap();
//! let v = serde_json::json!({"result": {"items": [{"id": 7}]}});
//! assert_eq!(p.select(&v), Some(&serde_json::json!(7)));
//! ```

use serde_json::Value;

use crate::error::{Result, VoidxError};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(i64),
}

/// A parsed path; `select` never fails, a path that leads nowhere is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    steps: Vec<Step>,
}

fn invalid(path: &str, why: &str) -> VoidxError {
    VoidxError::InvalidArgument(format!(
        "'{path}' is not a supported JSONPath: {why}. Help: use $ for the whole response, \
         $.data, $.result.items, $.a[0].b or $['odd key']"
    ))
}

impl JsonPath {
    /// The whole document (`$`).
    pub fn root() -> JsonPath {
        JsonPath {
            text: "$".into(),
            steps: Vec::new(),
        }
    }

    /// Parse `$.a.b[0]['c d']`; a leading `$` is optional (`data.items` = `$.data.items`).
    pub fn parse(path: &str) -> Result<JsonPath> {
        let text = path.trim();
        let rooted = text.starts_with('$');
        let mut rest = text.strip_prefix('$').unwrap_or(text);
        let mut steps = Vec::new();
        if !rooted && !rest.is_empty() && !rest.starts_with(['.', '[']) {
            // `data.items` without `$.`
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            steps.push(Step::Key(rest[..end].to_string()));
            rest = &rest[end..];
        }
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let key = &after[..end];
                if key.is_empty() {
                    return Err(invalid(text, "empty key after '.'"));
                }
                if key == "*" {
                    return Err(invalid(text, "wildcards are not supported"));
                }
                steps.push(Step::Key(key.to_string()));
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let (step, remaining) = parse_bracket(text, after)?;
                steps.push(step);
                rest = remaining;
            } else {
                return Err(invalid(text, &format!("unexpected '{rest}'")));
            }
        }
        Ok(JsonPath {
            text: text.to_string(),
            steps,
        })
    }

    pub fn select<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        let mut current = value;
        for step in &self.steps {
            current = match (step, current) {
                (Step::Key(k), Value::Object(map)) => map.get(k)?,
                (Step::Index(i), Value::Array(items)) => {
                    let len = items.len() as i64;
                    let at = if *i < 0 { len + i } else { *i };
                    if at < 0 {
                        return None;
                    }
                    items.get(at as usize)?
                }
                _ => return None,
            };
        }
        Some(current)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `'key']…`, `"key"]…` or `12]…` → the step and what follows `]`.
fn parse_bracket<'a>(path: &str, after: &'a str) -> Result<(Step, &'a str)> {
    if let Some(quote) = after.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let body = &after[1..];
        let close = body
            .find(quote)
            .ok_or_else(|| invalid(path, "unterminated quoted key"))?;
        let remaining = body[close + 1..]
            .strip_prefix(']')
            .ok_or_else(|| invalid(path, "expected ']' after a quoted key"))?;
        return Ok((Step::Key(body[..close].to_string()), remaining));
    }
    let close = after
        .find(']')
        .ok_or_else(|| invalid(path, "missing ']'"))?;
    let index: i64 = after[..close].trim().parse().map_err(|_| {
        invalid(
            path,
            &format!("'{}' is not an array index", &after[..close]),
        )
    })?;
    Ok((Step::Index(index), &after[close + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_select_values() {
        let doc = json!({
            "data": [1, 2],
            "result": {"items": [{"id": 1}, {"id": 2}]},
            "a": [{"b": "x"}, {"b": "y"}],
            "odd key": {"n": null},
        });
        let get = |p: &str| JsonPath::parse(p).unwrap().select(&doc).cloned();
        assert_eq!(get("$"), Some(doc.clone()));
        assert_eq!(get("$.data"), Some(json!([1, 2])));
        assert_eq!(get("data"), Some(json!([1, 2])));
        assert_eq!(get("$.result.items[1].id"), Some(json!(2)));
        assert_eq!(get("$.a[0].b"), Some(json!("x")));
        assert_eq!(get("$.a[-1].b"), Some(json!("y")));
        assert_eq!(get("$['odd key'].n"), Some(json!(null)));
        assert_eq!(get("$[\"result\"]['items'][0]"), Some(json!({"id": 1})));
        assert_eq!(get("$.missing"), None);
        assert_eq!(get("$.a[5]"), None);
        assert_eq!(get("$.a[-3]"), None);
        assert_eq!(get("$.data.x"), None);
    }

    #[test]
    fn bad_paths_say_what_is_supported() {
        for bad in ["$.", "$.a[", "$.a[x]", "$['a'", "$.*", "$a"] {
            let e = JsonPath::parse(bad).unwrap_err().to_string();
            assert!(e.contains("Help:"), "{bad}: {e}");
        }
    }
}
