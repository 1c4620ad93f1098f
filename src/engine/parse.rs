//! Parsing: PostgreSQL syntax first (with datafusion-postgres' rewrites that
//! make psql's and drivers' catalog queries work), DataFusion's own parser
//! for what only it knows (`CREATE EXTERNAL TABLE … STORED AS …`, `COPY`).
//! `to_regclass(name)` becomes the `name::regclass` lookup those rewrites
//! already answer (a relation's OID, NULL when there is none). Result
//! columns DataFusion would name alike (`SELECT x, x::text`) get internal
//! aliases ([`super::column_names::distinct_projection`]).

use std::ops::ControlFlow;
use std::sync::LazyLock;

use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    CastKind, DataType as SqlType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    Statement as PgStatement, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::datafusion_pg_catalog::sql::rules::{
    RemoveSubqueryFromProjection, RewriteRegCastToSubquery, SqlStatementRewriteRule,
};

use crate::error::{Result, VoidxError};

static PG_PARSER: LazyLock<PostgresCompatibilityParser> =
    LazyLock::new(PostgresCompatibilityParser::new);

/// One parsed statement.
#[derive(Debug, Clone)]
pub enum Stmt {
    Pg(Box<PgStatement>),
    Df(Box<DfStatement>),
}

impl Stmt {
    pub fn to_df(&self) -> DfStatement {
        match self {
            Stmt::Pg(s) => DfStatement::Statement(s.clone()),
            Stmt::Df(s) => s.as_ref().clone(),
        }
    }

    pub fn as_pg(&self) -> Option<&PgStatement> {
        match self {
            Stmt::Pg(s) => Some(s),
            Stmt::Df(s) => match s.as_ref() {
                DfStatement::Statement(s) => Some(s),
                _ => None,
            },
        }
    }
}

impl std::fmt::Display for Stmt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stmt::Pg(s) => write!(f, "{s}"),
            Stmt::Df(s) => write!(f, "{s}"),
        }
    }
}

/// Statements the PostgreSQL parser reads differently from DataFusion.
fn needs_datafusion_parser(s: &PgStatement) -> bool {
    match s {
        PgStatement::CreateTable(ct) => ct.external,
        PgStatement::Copy { .. } => true,
        _ => false,
    }
}

pub fn parse(sql: &str) -> Result<Vec<Stmt>> {
    let sql = super::psql_queries::substitute(sql);
    let sql = rewrite_alter_view_rename(&sql);
    let sql = super::client_queries::system_regclasses(&sql);
    match PG_PARSER.parse(&sql) {
        Ok(statements) if !statements.iter().any(needs_datafusion_parser) => Ok(statements
            .into_iter()
            .map(|s| {
                let mut s = with_regclass_casts(s);
                super::client_queries::rewrite(&mut s);
                super::column_names::distinct_projection(&mut s);
                Stmt::Pg(Box::new(s))
            })
            .collect()),
        pg_result => {
            let df = DFParserBuilder::new(sql.as_ref())
                .with_dialect(&PostgreSqlDialect {})
                .build()
                .and_then(|mut p| p.parse_statements());
            match (df, pg_result) {
                (Ok(statements), _) => Ok(statements
                    .into_iter()
                    .map(|s| Stmt::Df(Box::new(s)))
                    .collect()),
                (Err(_), Err(pg_err)) => Err(syntax_error(&pg_err.to_string())),
                (Err(df_err), Ok(_)) => Err(syntax_error(&df_err.to_string())),
            }
        }
    }
}

/// `to_regclass(x)` → `CAST(x AS regclass)`, resolved by the same rules
/// `PG_PARSER` applies to casts; statements without it are left as they are.
fn with_regclass_casts(mut s: PgStatement) -> PgStatement {
    struct ToCast(bool);
    impl VisitorMut for ToCast {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            let Expr::Function(f) = expr else {
                return ControlFlow::Continue(());
            };
            let named = f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case("to_regclass"));
            let arg = match &f.args {
                FunctionArguments::List(list) if named && list.args.len() == 1 => {
                    match &list.args[0] {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => e.clone(),
                        _ => return ControlFlow::Continue(()),
                    }
                }
                _ => return ControlFlow::Continue(()),
            };
            *expr = Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(arg),
                data_type: SqlType::Regclass,
                array: false,
                format: None,
            };
            self.0 = true;
            ControlFlow::Continue(())
        }
    }
    let mut visitor = ToCast(false);
    let _ = s.visit(&mut visitor);
    if !visitor.0 {
        return s;
    }
    static RULES: LazyLock<(RewriteRegCastToSubquery, RemoveSubqueryFromProjection)> =
        LazyLock::new(|| {
            (
                RewriteRegCastToSubquery::new(),
                RemoveSubqueryFromProjection,
            )
        });
    RULES.1.rewrite(RULES.0.rewrite(s))
}

fn syntax_error(message: &str) -> VoidxError {
    let message = message
        .trim_start_matches("sql parser error: ")
        .trim_start_matches("SQL error: ");
    VoidxError::Syntax(format!("syntax error: {message}"))
}

/// PostgreSQL accepts `ALTER VIEW v RENAME TO w`; sqlparser does not, and
/// `ALTER TABLE … RENAME` means the same for views, so rewrite it.
fn rewrite_alter_view_rename(sql: &str) -> std::borrow::Cow<'_, str> {
    let trimmed = sql.trim_start();
    let upper: String = trimmed
        .chars()
        .take(11)
        .collect::<String>()
        .to_ascii_uppercase();
    if upper.starts_with("ALTER VIEW ") && sql.to_ascii_uppercase().contains(" RENAME ") {
        let offset = sql.len() - trimmed.len();
        return std::borrow::Cow::Owned(format!(
            "{}ALTER TABLE {}",
            &sql[..offset],
            &trimmed[11..]
        ));
    }
    std::borrow::Cow::Borrowed(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_tables_use_datafusion_parser() {
        let s = parse("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/tmp/x.csv' OPTIONS ('format.has_header' 'true')").unwrap();
        assert!(
            matches!(&s[0], Stmt::Df(d) if matches!(d.as_ref(), DfStatement::CreateExternalTable(_)))
        );
    }

    #[test]
    fn postgres_statements_use_postgres_parser() {
        let s = parse("SELECT 1; SELECT 'a'::text").unwrap();
        assert_eq!(s.len(), 2);
        assert!(matches!(&s[0], Stmt::Pg(_)));
    }

    #[test]
    fn syntax_errors_are_reported() {
        let e = parse("SELEC 1").unwrap_err();
        assert_eq!(e.sqlstate(), "42601");
        assert!(e.to_string().starts_with("syntax error"), "{e}");
    }

    #[test]
    fn to_regclass_becomes_a_catalog_lookup() {
        let s = parse("SELECT to_regclass('public.t')").unwrap();
        let text = s[0].to_string();
        assert!(
            text.contains("pg_class") && !text.contains("to_regclass"),
            "{text}"
        );
    }

    #[test]
    fn alter_view_rename_is_rewritten() {
        let s = parse("ALTER VIEW a RENAME TO b").unwrap();
        assert!(matches!(s[0].as_pg(), Some(PgStatement::AlterTable(_))));
    }
}
