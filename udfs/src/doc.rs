//! Every SQL function of VOIDX as one value: its user documentation and its
//! implementation. Each layer's folder exports one `functions()` list of
//! [`SqlFunction`]s; the engine registers that list, `voidx docs` renders the
//! SQL reference from it (a test fails when `docs/sql-reference.md` is stale),
//! and the same entries fill `information_schema.routines` and psql's `\df`.
//!
//! ```
//! # use voidx_udfs::{Documented, SqlDoc, SqlFunction};
//! # #[derive(Debug)] struct Hello;
//! # impl datafusion::catalog::TableFunctionImpl for Hello {
//! #   fn call_with_args(&self, _: datafusion::catalog::TableFunctionArgs)
//! #     -> datafusion::error::Result<std::sync::Arc<dyn datafusion::catalog::TableProvider>> { unimplemented!() } }
//! impl Documented for Hello {
//!     const DOC: SqlDoc = SqlDoc { name: "hello", kind: "table", syntax: "hello()",
//!         description: "Says hello.", arguments: &[], example: "SELECT * FROM hello();" };
//! }
//! let f = SqlFunction::table(Hello);
//! assert_eq!(f.doc.name, "hello");
//! ```

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;
use datafusion::logical_expr::{
    AggregateUDF, AggregateUDFImpl, DocSection, Documentation, ScalarUDF, ScalarUDFImpl,
};
use datafusion::prelude::SessionContext;

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

/// A function that carries its documentation. `name()` of a UDF comes from
/// `DOC.name`, so the registered name and the documented one cannot differ.
pub trait Documented {
    const DOC: SqlDoc;
}

const SECTION: DocSection = DocSection {
    include: true,
    label: "VOIDX",
    description: Some("VOIDX machine-learning and lakehouse functions"),
};

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

    /// DataFusion's form, returned by `documentation()` of scalar and
    /// aggregate UDFs (it feeds `information_schema.routines`).
    pub fn to_documentation(&self) -> Documentation {
        let mut builder = Documentation::builder(SECTION, self.description, self.syntax)
            .with_sql_example(self.example);
        for (arg, meaning) in self.arguments {
            builder = builder.with_argument(*arg, *meaning);
        }
        builder.build()
    }
}

/// How a function is called.
#[derive(Clone)]
pub enum Implementation {
    Scalar(Arc<ScalarUDF>),
    Aggregate(Arc<AggregateUDF>),
    Table(Arc<dyn TableFunctionImpl>),
}

/// One SQL function: what users read about it and what runs.
#[derive(Clone)]
pub struct SqlFunction {
    pub doc: SqlDoc,
    pub implementation: Implementation,
}

impl std::fmt::Debug for SqlFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqlFunction({} {})", self.doc.kind, self.doc.name)
    }
}

impl SqlFunction {
    pub fn scalar<F: ScalarUDFImpl + Documented + 'static>(function: F) -> SqlFunction {
        SqlFunction {
            doc: F::DOC,
            implementation: Implementation::Scalar(Arc::new(ScalarUDF::new_from_impl(function))),
        }
    }

    pub fn aggregate<F: AggregateUDFImpl + Documented + 'static>(function: F) -> SqlFunction {
        SqlFunction {
            doc: F::DOC,
            implementation: Implementation::Aggregate(Arc::new(AggregateUDF::new_from_impl(
                function,
            ))),
        }
    }

    pub fn table<F: TableFunctionImpl + Documented + 'static>(function: F) -> SqlFunction {
        SqlFunction {
            doc: F::DOC,
            implementation: Implementation::Table(Arc::new(function)),
        }
    }

    /// Registers the function on `ctx` under its documented name.
    pub fn register(&self, ctx: &SessionContext) {
        match &self.implementation {
            Implementation::Scalar(udf) => ctx.register_udf(udf.as_ref().clone()),
            Implementation::Aggregate(udaf) => ctx.register_udaf(udaf.as_ref().clone()),
            Implementation::Table(udtf) => ctx.register_udtf(self.doc.name, Arc::clone(udtf)),
        }
    }
}

/// `documentation()` for a UDF: built once per function type from its `DOC`.
#[macro_export]
macro_rules! documentation {
    ($ty:ty) => {{
        static DOC: std::sync::LazyLock<datafusion::logical_expr::Documentation> =
            std::sync::LazyLock::new(|| <$ty as $crate::Documented>::DOC.to_documentation());
        Some(&*DOC)
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documentation_keeps_every_part() {
        let doc = SqlDoc {
            name: "f",
            kind: "scalar",
            syntax: "f(x)",
            description: "Does f.",
            arguments: &[("x", "the input")],
            example: "SELECT f(1);",
        };
        let d = doc.to_documentation();
        assert_eq!(d.description, "Does f.");
        assert_eq!(d.syntax_example, "f(x)");
        assert_eq!(d.sql_example.as_deref(), Some("SELECT f(1);"));
        assert_eq!(
            d.arguments,
            Some(vec![("x".to_string(), "the input".to_string())])
        );
    }
}
