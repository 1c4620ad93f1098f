//! Reading a source's `OPTIONS (...)`.
//!
//! DataFusion lower-cases every key and prefixes keys without a dot with
//! `format.` (`'records'` arrives as `format.records`, `'header.X-Key'` as
//! `header.x-key`); values are kept as written. Options are taken one by
//! one and whatever is left at the end is a typo, refused with the list of
//! known options.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use datafusion::logical_expr::CreateExternalTable;

use crate::error::{Result, VoidxError};

/// The one LOCATION a network source reads.
pub fn single_location(cmd: &CreateExternalTable) -> Result<String> {
    match cmd.locations.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(VoidxError::InvalidArgument(format!(
            "STORED AS {} takes exactly one LOCATION. Help: create one table per URL and UNION ALL them",
            cmd.file_type
        ))),
    }
}

pub struct SourceOptions {
    format: &'static str,
    map: BTreeMap<String, String>,
    known: Vec<&'static str>,
}

impl SourceOptions {
    pub fn new(format: &'static str, options: &HashMap<String, String>) -> SourceOptions {
        let map = options
            .iter()
            .map(|(k, v)| {
                let key = k.strip_prefix("format.").unwrap_or(k).to_ascii_lowercase();
                (key, v.clone())
            })
            .collect();
        SourceOptions {
            format,
            map,
            known: Vec::new(),
        }
    }

    pub fn take(&mut self, key: &'static str) -> Option<String> {
        self.known.push(key);
        self.map.remove(key)
    }

    pub fn take_parsed<T: FromStr>(&mut self, key: &'static str, what: &str) -> Result<Option<T>> {
        match self.take(key) {
            None => Ok(None),
            Some(text) => text.trim().parse().map(Some).map_err(|_| {
                VoidxError::InvalidArgument(format!(
                    "option '{key}' of STORED AS {}: '{text}' is not {what}. Help: write e.g. '{key}' '10'",
                    self.format
                ))
            }),
        }
    }

    /// Every `prefix.<rest>` option as `(rest, value)`; `prefix` includes the dot.
    pub fn take_prefixed(&mut self, prefix: &'static str) -> Vec<(String, String)> {
        self.known.push(prefix);
        let keys: Vec<String> = self
            .map
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        keys.into_iter()
            .filter_map(|k| {
                let value = self.map.remove(&k)?;
                Some((k[prefix.len()..].to_string(), value))
            })
            .collect()
    }

    /// Refuse what nobody took.
    pub fn finish(self) -> Result<()> {
        if self.map.is_empty() {
            return Ok(());
        }
        let unknown: Vec<&str> = self.map.keys().map(String::as_str).collect();
        let known: Vec<String> = self
            .known
            .iter()
            .map(|k| {
                if k.ends_with('.') {
                    format!("{k}<name>")
                } else {
                    k.to_string()
                }
            })
            .collect();
        Err(VoidxError::InvalidArgument(format!(
            "unknown option(s) {} for STORED AS {}. Help: the options are {}",
            unknown.join(", "),
            self.format,
            known.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_lose_the_format_prefix_and_leftovers_are_refused() {
        let raw: HashMap<String, String> = [
            ("format.records", "$.data"),
            ("header.x-key", "v"),
            ("format.max_pages", "x"),
            ("format.recods", "typo"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut o = SourceOptions::new("REST", &raw);
        assert_eq!(o.take("records").as_deref(), Some("$.data"));
        assert_eq!(
            o.take_prefixed("header."),
            vec![("x-key".into(), "v".into())]
        );
        assert!(o.take_parsed::<usize>("max_pages", "a number").is_err());
        let e = o.finish().unwrap_err().to_string();
        assert!(e.contains("recods") && e.contains("header.<name>"), "{e}");
    }
}
