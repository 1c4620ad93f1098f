//! What each [`Role`] may run, checked on the parsed statement before it is
//! planned (so a table function that writes — `ingest`, `deploy` — is
//! refused before it exists as a plan).
//!
//! * `admin`: everything.
//! * `analyst`: queries, views and tables in non-system schemas, `train`,
//!   the serving and monitoring read functions; no sources (external
//!   tables, `ingest`, `import_model`), no COPY, no model lifecycle, jobs or
//!   alerts (webhooks reach hosts).
//! * `reader`: queries and the serving functions only.
//!
//! ```sql
//! -- as an analyst:
//! SELECT * FROM train('m', 'SELECT * FROM features.c', 'y', '{}');   -- runs
//! SELECT * FROM ingest('raw.t', 'SELECT * FROM api', '{}');          -- 42501
//! ```

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, ObjectName, SchemaName, Statement, visit_expressions, visit_relations,
};

use super::Stmt;
use crate::config::Role;
use crate::error::{Result, VoidxError};
use crate::storage::relations::RESERVED_SCHEMAS;

/// Functions that change state, with the least role that may call them.
const PRIVILEGED_FUNCTIONS: &[(&str, Role)] = &[
    ("train", Role::Analyst),
    ("optimize", Role::Analyst),
    ("vacuum", Role::Analyst),
    ("ingest", Role::Admin),
    ("import_model", Role::Admin),
    ("deploy", Role::Admin),
    ("rollback", Role::Admin),
    ("ab_split", Role::Admin),
    ("create_job", Role::Admin),
    ("drop_job", Role::Admin),
    ("run_job", Role::Admin),
    ("create_alert", Role::Admin),
    ("drop_alert", Role::Admin),
    ("retrain", Role::Admin),
];

pub(super) fn refuse(role: Role, what: &str, needs: Role) -> VoidxError {
    VoidxError::NotAllowed(format!(
        "role '{}' cannot {what}. Help: this needs the '{}' role; ask the operator for a login \
         with it (docs/security.md lists what each role may do)",
        role.as_str(),
        needs.as_str()
    ))
}

/// Refuse `stmt` if `role` may not run it.
pub fn check(role: Role, stmt: &Stmt) -> Result<()> {
    if role == Role::Admin {
        return Ok(());
    }
    match stmt {
        Stmt::Pg(s) => check_pg(role, s),
        Stmt::Df(s) => check_df(role, s),
    }
}

fn check_df(role: Role, stmt: &DfStatement) -> Result<()> {
    match stmt {
        DfStatement::Statement(s) => check_pg(role, s),
        DfStatement::CreateExternalTable(_) => Err(refuse(
            role,
            "create external tables (sources read files and hosts)",
            Role::Admin,
        )),
        DfStatement::CopyTo(_) => Err(refuse(role, "run COPY (it writes files)", Role::Admin)),
        DfStatement::Explain(e) => check_df(role, &e.statement),
        DfStatement::Reset(_) => Ok(()),
    }
}

fn last_part(name: &ObjectName) -> String {
    let text = name.to_string();
    text.rsplit('.')
        .next()
        .unwrap_or_default()
        .trim_matches('"')
        .to_ascii_lowercase()
}

fn schema_of(name: &ObjectName) -> Option<String> {
    let text = name.to_string();
    let parts: Vec<&str> = text.split('.').collect();
    (parts.len() >= 2).then(|| {
        parts[parts.len() - 2]
            .trim_matches('"')
            .to_ascii_lowercase()
    })
}

/// Writes (CREATE/DROP/ALTER) only outside the system schemas.
fn check_target(role: Role, verb: &str, name: &ObjectName) -> Result<()> {
    match schema_of(name) {
        Some(schema) if RESERVED_SCHEMAS.contains(&schema.as_str()) => Err(refuse(
            role,
            &format!("{verb} in the system schema '{schema}'"),
            Role::Admin,
        )),
        _ => Ok(()),
    }
}

fn check_pg(role: Role, stmt: &Statement) -> Result<()> {
    let read_only = matches!(
        stmt,
        Statement::Query(_)
            | Statement::Explain { .. }
            | Statement::ExplainTable { .. }
            | Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowStatus { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowCatalogs { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowViews { .. }
            | Statement::ShowFunctions { .. }
            | Statement::Set(_)
            | Statement::Reset(_)
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Declare { .. }
            | Statement::Fetch { .. }
            | Statement::Close { .. }
            | Statement::Deallocate { .. }
            | Statement::Discard { .. }
    );
    if !read_only {
        let analyst_ok = match stmt {
            Statement::CreateView(v) => {
                check_target(role, "create views", &v.name).map(|_| true)?
            }
            Statement::CreateTable(t) if !t.external => {
                check_target(role, "create tables", &t.name).map(|_| true)?
            }
            Statement::CreateTable(_) => false,
            Statement::Drop { names, .. } => {
                for n in names {
                    check_target(role, "drop objects", n)?;
                }
                true
            }
            Statement::AlterTable(t) => {
                check_target(role, "alter tables", &t.name).map(|_| true)?
            }
            // Whoever may alter a relation may describe it.
            Statement::Comment {
                object_type,
                object_name,
                ..
            } => {
                let relation = super::ddl::commented_relation(object_type, object_name);
                check_target(role, "comment on objects", &relation).map(|_| true)?
            }
            Statement::CreateSchema { schema_name, .. } => match schema_name {
                SchemaName::Simple(n) | SchemaName::NamedAuthorization(n, _) => {
                    let name = last_part(n);
                    if RESERVED_SCHEMAS.contains(&name.as_str()) {
                        return Err(refuse(role, "create a system schema", Role::Admin));
                    }
                    true
                }
                SchemaName::UnnamedAuthorization(_) => true,
            },
            Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_)
            | Statement::Truncate(_)
            | Statement::Merge(_) => true,
            _ => false,
        };
        if role == Role::Reader {
            return Err(refuse(
                role,
                "change data or objects (it may only query and call serving functions)",
                Role::Analyst,
            ));
        }
        if !analyst_ok {
            return Err(refuse(role, &format!("run {}", verb(stmt)), Role::Admin));
        }
    }
    check_functions(role, stmt)
}

/// The first words of a statement, for messages (`COPY`, `CREATE EXTERNAL TABLE`).
fn verb(stmt: &Statement) -> String {
    let text = stmt.to_string();
    let words: Vec<&str> = text.split_whitespace().take(3).collect();
    let n = if words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("create"))
    {
        3
    } else {
        1
    };
    words
        .into_iter()
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// Every function a statement calls (scalar or table), wherever it sits.
fn check_functions(role: Role, stmt: &Statement) -> Result<()> {
    let gate = |name: &ObjectName| -> ControlFlow<VoidxError> {
        let f = last_part(name);
        match PRIVILEGED_FUNCTIONS.iter().find(|(n, _)| *n == f) {
            Some((_, needs)) if role < *needs => {
                ControlFlow::Break(refuse(role, &format!("call {f}()"), *needs))
            }
            _ => ControlFlow::Continue(()),
        }
    };
    if let ControlFlow::Break(e) = visit_relations(stmt, |name| gate(name)) {
        return Err(e);
    }
    if let ControlFlow::Break(e) = visit_expressions(stmt, |expr| match expr {
        Expr::Function(f) => gate(&f.name),
        _ => ControlFlow::Continue(()),
    }) {
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::parse::parse;

    fn allowed(role: Role, sql: &str) -> bool {
        check(role, &parse(sql).unwrap().remove(0)).is_ok()
    }

    #[test]
    fn readers_query_and_serve_only() {
        assert!(allowed(Role::Reader, "SELECT * FROM shop.orders"));
        assert!(allowed(
            Role::Reader,
            "SELECT predict('m', a, b), shap_explain('m', a, b) FROM t"
        ));
        assert!(allowed(
            Role::Reader,
            "SET datafusion.execution.time_zone = 'UTC'"
        ));
        assert!(!allowed(Role::Reader, "CREATE VIEW v AS SELECT 1"));
        assert!(!allowed(Role::Reader, "INSERT INTO t VALUES (1)"));
        assert!(!allowed(
            Role::Reader,
            "SELECT * FROM train('m', 'SELECT 1', 'y', '{}')"
        ));
        assert!(!allowed(
            Role::Reader,
            "SELECT * FROM (SELECT * FROM deploy('m', 1)) AS x"
        ));
        assert!(!allowed(
            Role::Reader,
            "WITH x AS (SELECT * FROM ingest('a.b', 'SELECT 1', '{}')) SELECT * FROM x"
        ));
    }

    #[test]
    fn analysts_build_but_do_not_reach_outside() {
        assert!(allowed(
            Role::Analyst,
            "CREATE VIEW features.c AS SELECT 1 AS x"
        ));
        assert!(allowed(
            Role::Analyst,
            "CREATE TABLE work.t AS SELECT 1 AS x"
        ));
        assert!(allowed(Role::Analyst, "DROP VIEW features.c"));
        assert!(allowed(
            Role::Analyst,
            "SELECT * FROM train('m', 'SELECT 1', 'y', '{}')"
        ));
        assert!(!allowed(Role::Analyst, "CREATE VIEW voidx.c AS SELECT 1"));
        assert!(!allowed(Role::Analyst, "DROP TABLE voidx.models"));
        assert!(!allowed(
            Role::Analyst,
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/tmp/x.csv'"
        ));
        assert!(!allowed(Role::Analyst, "COPY (SELECT 1) TO '/tmp/x.csv'"));
        assert!(!allowed(
            Role::Analyst,
            "SELECT * FROM ingest('a.b', 'SELECT 1', '{}')"
        ));
        assert!(!allowed(
            Role::Analyst,
            "SELECT * FROM IMPORT_MODEL('m', '/x', '{}')"
        ));
        assert!(!allowed(
            Role::Analyst,
            "SELECT * FROM create_alert('a', 'SELECT 1', '{}')"
        ));
        assert!(allowed(Role::Admin, "COPY (SELECT 1) TO '/tmp/x.csv'"));
    }
}
