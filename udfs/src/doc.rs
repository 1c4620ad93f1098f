//! User documentation that travels with each SQL function. `docs/sql-reference.md`
//! is generated from these entries (`voidx docs`), and a test fails when the
//! generated file is stale.

/// The reference entry of one SQL function.
#[derive(Debug, Clone, Copy)]
pub struct SqlDoc {
    pub name: &'static str,
    /// `table` for table functions, `scalar`, `aggregate`.
    pub kind: &'static str,
    pub syntax: &'static str,
    pub description: &'static str,
    pub arguments: &'static [(&'static str, &'static str)],
    pub example: &'static str,
}

impl SqlDoc {
    /// Markdown section for the SQL reference.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "### `{}` ({} function)\n\n{}\n\n```sql\n{}\n```\n\n",
            self.name, self.kind, self.description, self.syntax
        );
        if !self.arguments.is_empty() {
            out.push_str("| argument | meaning |\n|---|---|\n");
            for (arg, meaning) in self.arguments {
                out.push_str(&format!("| `{arg}` | {meaning} |\n"));
            }
            out.push('\n');
        }
        out.push_str(&format!("Example:\n\n```sql\n{}\n```\n\n", self.example));
        out
    }
}
