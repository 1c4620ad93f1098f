//! The full text of a `CREATE EXTERNAL TABLE`, for the catalog.
//!
//! DataFusion 55 keeps `statement.to_string()` as the plan's definition, and
//! that Display drops the column list, `PARTITIONED BY` and `OPTIONS`; a
//! table re-opened from it would lose its declared schema and every option
//! (a POSTGRES table its `table`, a CSV its delimiter). This renders the
//! parsed statement completely instead.

use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::sql::parser::{CreateExternalTable, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{Ident, Value};

use super::parse::Stmt;

/// Replace the plan's lossy definition with the complete statement text.
pub fn restore(plan: &mut LogicalPlan, stmt: &Stmt) {
    if let (LogicalPlan::Ddl(DdlStatement::CreateExternalTable(cmd)), Stmt::Df(parsed)) =
        (plan, stmt)
        && let DfStatement::CreateExternalTable(parsed) = parsed.as_ref()
    {
        cmd.definition = Some(render(parsed));
    }
}

fn render(t: &CreateExternalTable) -> String {
    let mut sql = String::from("CREATE ");
    if t.or_replace {
        sql.push_str("OR REPLACE ");
    }
    if t.unbounded {
        sql.push_str("UNBOUNDED ");
    }
    sql.push_str("EXTERNAL TABLE ");
    if t.if_not_exists {
        sql.push_str("IF NOT EXISTS ");
    }
    sql.push_str(&t.name.to_string());
    let mut elements: Vec<String> = t.columns.iter().map(|c| c.to_string()).collect();
    elements.extend(t.constraints.iter().map(|c| c.to_string()));
    if !elements.is_empty() {
        sql.push_str(&format!(" ({})", elements.join(", ")));
    }
    sql.push_str(&format!(" STORED AS {}", t.file_type));
    if !t.table_partition_cols.is_empty() {
        let cols: Vec<String> = t
            .table_partition_cols
            .iter()
            .map(|c| Ident::with_quote('"', c.as_str()).to_string())
            .collect();
        sql.push_str(&format!(" PARTITIONED BY ({})", cols.join(", ")));
    }
    if !t.order_exprs.is_empty() {
        for ordering in &t.order_exprs {
            let exprs: Vec<String> = ordering.iter().map(|e| e.to_string()).collect();
            sql.push_str(&format!(" WITH ORDER ({})", exprs.join(", ")));
        }
    }
    if !t.options.is_empty() {
        let options: Vec<String> = t
            .options
            .iter()
            .map(|(k, v)| format!("{} {v}", Value::SingleQuotedString(k.clone())))
            .collect();
        sql.push_str(&format!(" OPTIONS ({})", options.join(", ")));
    }
    let locations: Vec<String> = t
        .locations
        .iter()
        .map(|l| Value::SingleQuotedString(l.clone()).to_string())
        .collect();
    match locations.as_slice() {
        [one] => sql.push_str(&format!(" LOCATION {one}")),
        many => sql.push_str(&format!(" LOCATION ({})", many.join(", "))),
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParserBuilder;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

    fn parse(sql: &str) -> CreateExternalTable {
        let mut statements = DFParserBuilder::new(sql)
            .with_dialect(&PostgreSqlDialect {})
            .build()
            .unwrap()
            .parse_statements()
            .unwrap();
        match statements.pop_front().unwrap() {
            DfStatement::CreateExternalTable(t) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn round_trips_columns_and_options() {
        let sql = "CREATE EXTERNAL TABLE s.t (id BIGINT NOT NULL, name VARCHAR) STORED AS POSTGRES \
                   OPTIONS ('table' 'public.o''rders', 'password' 'env:PW') LOCATION 'postgres://u@h/db'";
        let text = render(&parse(sql));
        assert_eq!(
            text,
            "CREATE EXTERNAL TABLE s.t (id BIGINT NOT NULL, name VARCHAR) STORED AS POSTGRES \
             OPTIONS ('table' 'public.o''rders', 'password' 'env:PW') LOCATION 'postgres://u@h/db'"
        );
        assert_eq!(render(&parse(&text)), text);
    }
}
