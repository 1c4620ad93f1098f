//! Result column names as PostgreSQL gives them. DataFusion names an
//! unnamed expression after its whole text (`count(*)`, `Int64(1)`,
//! `round(t.x,Int64(2))`); PostgreSQL names it by `FigureColname`
//! (src/backend/parser/parse_target.c): a column's own name, a function's
//! name, a cast's type name, `case`, `array`, `exists`, … and else
//! `?column?`. Clients show these names and pandas / BI tools key columns by
//! them, so the pgwire layer reports PostgreSQL's name for every unnamed
//! item of the outermost `SELECT` (for a set operation, of its first
//! branch), and views are stored with those names as aliases.
//!
//! The names are applied to the *output* only, never written into the query
//! as aliases: PostgreSQL allows two result columns of one name
//! (`SELECT count(*), count(x)`), DataFusion's projection does not.
//!
//! ```
//! # use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
//! use voidx::engine::column_names::output_names;
//! let sql = "SELECT count(*), 1, x::text AS t FROM v";
//! let stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
//! let names = output_names(&stmt).unwrap();
//! assert_eq!(
//!     names.for_fields(3).unwrap(),
//!     [Some("count".to_string()), Some("?column?".to_string()), None]
//! );
//! ```

use datafusion::sql::sqlparser::ast::{
    DataType as SqlType, Expr, Function, Ident, ObjectName, Query, Select, SelectItem, SetExpr,
    Statement, TrimWhereField,
};

/// The alias datafusion-postgres' rewrite gives a column that a wildcard of
/// the same projection would repeat (`SELECT n.oid, n.*`); the client still
/// sees the column's own name.
const DUPLICATE_ALIAS_PREFIX: &str = "__alias_";

/// The internal alias of a column DataFusion would otherwise name like
/// another (`SELECT x, x::text`): `__pg_<position>__<PostgreSQL's name>`.
const DISTINCT_ALIAS_PREFIX: &str = "__pg_";

/// PostgreSQL's name for a column nothing names.
pub const UNNAMED: &str = "?column?";

/// One item of the outermost projection.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    /// PostgreSQL's name for it (DataFusion's differs or may).
    Named(String),
    /// Named by an alias: DataFusion's name is PostgreSQL's.
    Aliased,
    /// `*` or `t.*`: as many columns as the relation has, named by it.
    Wildcard,
}

/// What the outermost projection of a query names its columns.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputNames {
    items: Vec<Item>,
    /// Per item: whether it passes a column's type through unchanged
    /// (a column reference, a wildcard or an explicit cast), so a type
    /// modifier (`numeric(10,2)`) describes it as it does the column.
    typed: Vec<bool>,
}

impl OutputNames {
    /// The PostgreSQL name of each of `n` output fields (`None`: keep the
    /// name the plan has), or `None` when the projection cannot be lined up
    /// with `n` fields (more than one wildcard, a count that does not fit).
    pub fn for_fields(&self, n: usize) -> Option<Vec<Option<String>>> {
        self.expand(n, |item, _| match item {
            Item::Named(name) => Some(name.clone()),
            Item::Aliased | Item::Wildcard => None,
        })
    }

    /// Per output field, whether its type modifier is the column's (see
    /// [`OutputNames::typed`]); `None` as in [`OutputNames::for_fields`].
    pub fn typed_fields(&self, n: usize) -> Option<Vec<bool>> {
        self.expand(n, |_, typed| typed)
    }

    fn expand<T: Clone>(&self, n: usize, f: impl Fn(&Item, bool) -> T) -> Option<Vec<T>> {
        let wildcards = self.items.iter().filter(|i| **i == Item::Wildcard).count();
        let fixed = self.items.len() - wildcards;
        let spread = match wildcards {
            0 if fixed == n => 0,
            1 if n >= fixed => n - fixed,
            _ => return None,
        };
        let mut out = Vec::with_capacity(n);
        for (item, typed) in self.items.iter().zip(&self.typed) {
            let value = f(item, *typed);
            let times = if *item == Item::Wildcard { spread } else { 1 };
            out.extend(std::iter::repeat_n(value, times));
        }
        Some(out)
    }
}

/// The names of a query's result columns; `None` for statements that are
/// not queries (or whose first branch is a `VALUES` list, which DataFusion
/// already names `column1`, … as PostgreSQL does).
pub fn output_names(stmt: &Statement) -> Option<OutputNames> {
    match stmt {
        Statement::Query(query) => query_names(query),
        _ => None,
    }
}

fn query_names(query: &Query) -> Option<OutputNames> {
    select_of(&query.body).map(select_names)
}

/// The `SELECT` that names a set expression's columns: the first branch.
fn select_of(body: &SetExpr) -> Option<&Select> {
    match body {
        SetExpr::Select(select) => Some(select),
        SetExpr::Query(query) => select_of(&query.body),
        SetExpr::SetOperation { left, .. } => select_of(left),
        _ => None,
    }
}

fn select_names(select: &Select) -> OutputNames {
    let mut items = Vec::with_capacity(select.projection.len());
    let mut typed = Vec::with_capacity(select.projection.len());
    for item in &select.projection {
        let (name, keeps_type) = match item {
            SelectItem::UnnamedExpr(expr) => (
                Item::Named(figure(expr).map(|(n, _)| n).unwrap_or(UNNAMED.into())),
                passes_type(expr),
            ),
            SelectItem::ExprWithAlias { expr, alias } => {
                let name = match internal_alias_name(&alias.value) {
                    Some(own) => Item::Named(own.to_string()),
                    None => Item::Aliased,
                };
                (name, passes_type(expr))
            }
            SelectItem::ExprWithAliases { expr, .. } => (Item::Aliased, passes_type(expr)),
            SelectItem::QualifiedWildcard(..) | SelectItem::Wildcard(_) => (Item::Wildcard, true),
        };
        items.push(name);
        typed.push(keeps_type);
    }
    OutputNames { items, typed }
}

/// The client-facing name behind an alias a rewrite gave: datafusion-postgres'
/// `__alias_x`, or [`distinct_projection`]'s `__pg_3__x`.
fn internal_alias_name(alias: &str) -> Option<&str> {
    if let Some(own) = alias.strip_prefix(DUPLICATE_ALIAS_PREFIX) {
        return Some(own);
    }
    let rest = alias.strip_prefix(DISTINCT_ALIAS_PREFIX)?;
    rest.split_once("__").map(|(_, name)| name)
}

/// DataFusion refuses a projection with two columns of one name, and names
/// a cast after what it casts, so `SELECT x, x::text` or `SELECT 1, 1::int`
/// fail where PostgreSQL answers. Such unnamed items of the outermost
/// `SELECT` (those whose text, casts aside, repeats an earlier item's, and
/// casts next to a wildcard) get an internal alias; the pgwire layer still
/// reports PostgreSQL's name for them ([`output_names`]).
pub fn distinct_projection(stmt: &mut Statement) {
    let Statement::Query(query) = stmt else {
        return;
    };
    let Some(select) = first_select_mut(&mut query.body) else {
        return;
    };
    let has_wildcard = select.projection.iter().any(|i| {
        matches!(
            i,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    });
    let mut seen = std::collections::HashSet::new();
    for (position, item) in select.projection.iter_mut().enumerate() {
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        let key = without_casts(expr).to_string();
        let repeated = !seen.insert(key);
        if repeated || (has_wildcard && is_cast(expr)) {
            let name = figure(expr).map(|(n, _)| n).unwrap_or(UNNAMED.into());
            *item = SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: Ident::with_quote('"', format!("{DISTINCT_ALIAS_PREFIX}{position}__{name}")),
            };
        }
    }
}

fn first_select_mut(body: &mut SetExpr) -> Option<&mut Select> {
    match body {
        SetExpr::Select(select) => Some(select),
        SetExpr::Query(query) => first_select_mut(&mut query.body),
        SetExpr::SetOperation { left, .. } => first_select_mut(left),
        _ => None,
    }
}

fn without_casts(expr: &Expr) -> &Expr {
    match expr {
        Expr::Cast { expr, .. } | Expr::Nested(expr) => without_casts(expr),
        other => other,
    }
}

fn is_cast(expr: &Expr) -> bool {
    match expr {
        Expr::Cast { .. } => true,
        Expr::Nested(e) => is_cast(e),
        _ => false,
    }
}

/// A column reference or a cast to a type with its modifier written out
/// (`x::numeric(10,2)`): its type modifier is meaningful. A bare
/// `numeric` is unconstrained in PostgreSQL (-1), whatever scale DataFusion gives it.
fn passes_type(expr: &Expr) -> bool {
    use datafusion::sql::sqlparser::ast::ExactNumberInfo;
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        Expr::Cast { data_type, .. } => !matches!(
            data_type,
            SqlType::Numeric(ExactNumberInfo::None)
                | SqlType::Decimal(ExactNumberInfo::None)
                | SqlType::Dec(ExactNumberInfo::None)
        ),
        Expr::Nested(e) => passes_type(e),
        _ => false,
    }
}

/// How sure a name is, as in PostgreSQL: a cast's type name (1) gives way
/// to a name found inside it (2).
type Strength = u8;

/// `FigureColnameInternal`: the name and its strength, `None` when the
/// expression gives no name (PostgreSQL's strength 0).
fn figure(expr: &Expr) -> Option<(String, Strength)> {
    let strong = |name: &str| Some((name.to_string(), 2));
    match expr {
        Expr::Identifier(ident) => Some((ident_name(ident), 2)),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| (ident_name(i), 2)),
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => figure(inner),
        Expr::Function(f) => function_name(f).map(|n| (n, 2)),
        Expr::Cast {
            expr, data_type, ..
        } => match figure(expr) {
            Some(found @ (_, 2)) => Some(found),
            _ => Some((type_name(data_type), 1)),
        },
        Expr::TypedString(typed) => Some((type_name(&typed.data_type), 1)),
        Expr::Interval(_) => Some(("interval".into(), 1)),
        Expr::Case { else_result, .. } => match else_result.as_deref().and_then(figure) {
            Some(found @ (_, 2)) => Some(found),
            _ => Some(("case".into(), 1)),
        },
        Expr::Exists { .. } => strong("exists"),
        Expr::Array(_) => strong("array"),
        Expr::Tuple(_) => strong("row"),
        Expr::Subquery(query) => query_first_name(query).map(|n| (n, 2)),
        Expr::Extract { .. } => strong("extract"),
        Expr::Ceil { .. } => strong("ceil"),
        Expr::Floor { .. } => strong("floor"),
        Expr::Position { .. } => strong("position"),
        Expr::Substring { .. } => strong("substring"),
        Expr::Overlay { .. } => strong("overlay"),
        Expr::AtTimeZone { .. } => strong("timezone"),
        Expr::Trim { trim_where, .. } => strong(match trim_where {
            Some(TrimWhereField::Leading) => "ltrim",
            Some(TrimWhereField::Trailing) => "rtrim",
            _ => "btrim",
        }),
        _ => None,
    }
}

/// A scalar subquery is named by its single column (`SELECT (SELECT max(x) FROM t)` → `max`).
fn query_first_name(query: &Query) -> Option<String> {
    let select = select_of(&query.body)?;
    match select.projection.first()? {
        SelectItem::UnnamedExpr(expr) => {
            Some(figure(expr).map(|(n, _)| n).unwrap_or(UNNAMED.into()))
        }
        SelectItem::ExprWithAlias { alias, .. } => Some(ident_name(alias)),
        _ => None,
    }
}

/// A call is named by its function (`pg_catalog.version()` → `version`;
/// `ARRAY(SELECT …)`, a call of `array` here, is `array` in PostgreSQL too).
fn function_name(f: &Function) -> Option<String> {
    last_name(&f.name)
}

fn last_name(name: &ObjectName) -> Option<String> {
    name.0.last().and_then(|p| p.as_ident()).map(ident_name)
}

/// Unquoted identifiers fold to lower case, as PostgreSQL folds them.
fn ident_name(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// The name PostgreSQL's grammar gives a type (`int` → `int4`, `double
/// precision` → `float8`, `varchar(10)` → `varchar`): the last part of the
/// internal type name, which is what a cast column is called.
fn type_name(t: &SqlType) -> String {
    use datafusion::sql::sqlparser::ast::{ExactNumberInfo, TimezoneInfo};
    let name = match t {
        SqlType::SmallInt(_) | SqlType::Int2(_) => "int2",
        SqlType::Int(_) | SqlType::Integer(_) | SqlType::Int4(_) => "int4",
        SqlType::BigInt(_) | SqlType::Int8(_) => "int8",
        SqlType::Real | SqlType::Float4 => "float4",
        SqlType::Float(ExactNumberInfo::Precision(p))
        | SqlType::Float(ExactNumberInfo::PrecisionAndScale(p, _))
            if *p <= 24 =>
        {
            "float4"
        }
        SqlType::Float(_) | SqlType::Double(_) | SqlType::DoublePrecision | SqlType::Float8 => {
            "float8"
        }
        SqlType::Numeric(_) | SqlType::Decimal(_) | SqlType::Dec(_) => "numeric",
        SqlType::Bool | SqlType::Boolean => "bool",
        SqlType::Varchar(_) | SqlType::CharacterVarying(_) | SqlType::CharVarying(_) => "varchar",
        SqlType::Char(_) | SqlType::Character(_) => "bpchar",
        SqlType::Text => "text",
        SqlType::Bytea => "bytea",
        SqlType::Date => "date",
        SqlType::Time(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => "timetz",
        SqlType::Time(..) => "time",
        SqlType::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => "timestamptz",
        SqlType::Timestamp(..) => "timestamp",
        SqlType::Interval { .. } => "interval",
        SqlType::JSON => "json",
        SqlType::JSONB => "jsonb",
        SqlType::Uuid => "uuid",
        SqlType::Regclass => "regclass",
        SqlType::Custom(name, _) => return last_name(name).unwrap_or_else(|| UNNAMED.into()),
        SqlType::Array(_) => return array_type_name(t),
        other => {
            // Anything else: its SQL spelling without modifiers, lower case.
            let text = other.to_string().to_lowercase();
            return text
                .split('(')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
        }
    };
    name.to_string()
}

/// `x::int[]` is named `int4` in PostgreSQL too (the element's name).
fn array_type_name(t: &SqlType) -> String {
    use datafusion::sql::sqlparser::ast::ArrayElemTypeDef;
    match t {
        SqlType::Array(
            ArrayElemTypeDef::AngleBracket(inner)
            | ArrayElemTypeDef::SquareBracket(inner, _)
            | ArrayElemTypeDef::Parenthesis(inner),
        ) => type_name(inner),
        _ => UNNAMED.into(),
    }
}

/// Aliases that make a view's stored columns carry PostgreSQL's names
/// (`CREATE VIEW v AS SELECT count(*) FROM t` has a column `count`), when
/// those names are distinct — PostgreSQL refuses a view with two columns
/// of one name; VOIDX keeps such a view as it was written instead.
/// Returns whether anything changed.
pub fn alias_view_columns(query: &mut Query) -> bool {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return false;
    };
    let names = select_names(select);
    if names.items.contains(&Item::Wildcard) {
        return false;
    }
    let mut seen = std::collections::HashSet::new();
    let mut all_distinct = true;
    for (item, projected) in names.items.iter().zip(&select.projection) {
        let name = match (item, projected) {
            (Item::Named(n), _) => n.clone(),
            (_, SelectItem::ExprWithAlias { alias, .. }) => ident_name(alias),
            _ => return false,
        };
        all_distinct &= seen.insert(name);
    }
    if !all_distinct {
        return false;
    }
    let mut changed = false;
    for (item, projected) in names.items.into_iter().zip(select.projection.iter_mut()) {
        let Item::Named(name) = item else {
            continue;
        };
        let expr = match &*projected {
            // A bare column is already named as PostgreSQL names it.
            SelectItem::UnnamedExpr(Expr::Identifier(_) | Expr::CompoundIdentifier(_)) => {
                continue;
            }
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr.clone(),
            _ => continue,
        };
        *projected = SelectItem::ExprWithAlias {
            expr,
            alias: Ident::with_quote('"', name),
        };
        changed = true;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Vec<Option<String>> {
        let stmts = crate::engine::parse::parse(sql).unwrap();
        let pg = stmts[0].as_pg().unwrap();
        let n = match pg {
            Statement::Query(q) => select_of(&q.body).unwrap().projection.len(),
            _ => 0,
        };
        output_names(pg).unwrap().for_fields(n).unwrap()
    }

    fn one(sql: &str) -> String {
        names(sql)[0].clone().unwrap_or_else(|| "<kept>".into())
    }

    #[test]
    fn names_follow_figure_colname() {
        assert_eq!(one("SELECT count(*) FROM t"), "count");
        assert_eq!(one("SELECT 1"), "?column?");
        assert_eq!(one("SELECT round(x, 2) FROM t"), "round");
        assert_eq!(one("SELECT x::text FROM t"), "x");
        assert_eq!(one("SELECT 1::int"), "int4");
        assert_eq!(one("SELECT CAST(1.5 AS double precision)"), "float8");
        assert_eq!(one("SELECT CASE WHEN true THEN 1 END"), "case");
        assert_eq!(one("SELECT CASE WHEN true THEN 1 ELSE y END FROM t"), "y");
        assert_eq!(one("SELECT a.col FROM t a"), "col");
        assert_eq!(one("SELECT now()"), "now");
        assert_eq!(one("SELECT pg_catalog.upper('a')"), "upper");
        assert_eq!(one("SELECT DATE '2024-01-01'"), "date");
        assert_eq!(one("SELECT TIMESTAMP '2024-01-01 00:00:00'"), "timestamp");
        assert_eq!(one("SELECT INTERVAL '1 day'"), "interval");
        assert_eq!(one("SELECT x + 1 FROM t"), "?column?");
        assert_eq!(one("SELECT (x) FROM t"), "x");
        assert_eq!(one("SELECT EXISTS (SELECT 1)"), "exists");
        assert_eq!(one("SELECT (SELECT max(x) FROM t)"), "max");
        assert_eq!(one("SELECT ARRAY[1, 2]"), "array");
        assert_eq!(one("SELECT coalesce(x, 0) FROM t"), "coalesce");
        assert_eq!(one("SELECT \"Mixed\" FROM t"), "Mixed");
        assert_eq!(one("SELECT Upper(x) FROM t"), "upper");
        assert_eq!(one("SELECT trim(x) FROM t"), "btrim");
        assert_eq!(one("SELECT extract(year FROM d) FROM t"), "extract");
    }

    #[test]
    fn duplicates_and_aliases() {
        assert_eq!(
            names("SELECT count(*), count(x), sum(x) AS s FROM t"),
            [Some("count".into()), Some("count".into()), None]
        );
        assert_eq!(
            names("SELECT 1 UNION ALL SELECT 2"),
            [Some("?column?".into())]
        );
    }

    #[test]
    fn a_wildcard_spreads_over_the_remaining_fields() {
        let stmts = crate::engine::parse::parse("SELECT count(*), t.* FROM t").unwrap();
        let names = output_names(stmts[0].as_pg().unwrap()).unwrap();
        assert_eq!(
            names.for_fields(3).unwrap(),
            [Some("count".into()), None, None]
        );
        assert_eq!(names.typed_fields(3).unwrap(), [false, true, true]);
        assert_eq!(names.for_fields(0), None);
    }

    #[test]
    fn views_get_aliases_only_when_distinct() {
        let alias = |sql: &str| {
            let stmts = crate::engine::parse::parse(sql).unwrap();
            let Some(Statement::Query(q)) = stmts[0].as_pg().cloned() else {
                panic!("not a query")
            };
            let mut q = *q;
            let changed = alias_view_columns(&mut q);
            (changed, q.to_string())
        };
        let (changed, sql) = alias("SELECT count(*), max(x) AS m FROM t");
        assert!(changed);
        assert_eq!(sql, "SELECT count(*) AS \"count\", max(x) AS m FROM t");
        // Bare columns stay as written.
        assert!(!alias("SELECT t.a, b FROM t").0);
        assert!(!alias("SELECT count(*), count(x) FROM t").0);
        assert!(!alias("SELECT * FROM t").0);
        // The internal aliases of repeated columns become PostgreSQL's names.
        let (_, sql) = alias("SELECT x, x::text FROM t");
        assert!(sql.contains("x::TEXT AS \"__pg_1__x\""), "{sql}");
        assert!(
            !alias("SELECT x, x::text FROM t").0,
            "x twice is refused by PostgreSQL too"
        );
    }

    #[test]
    fn repeated_columns_get_internal_aliases_and_keep_their_names() {
        assert_eq!(
            names("SELECT x, x::text, 1, 1::int, count(*), count(*) FROM t"),
            [
                Some("x".into()),
                Some("x".into()),
                Some("?column?".into()),
                Some("int4".into()),
                Some("count".into()),
                Some("count".into())
            ]
        );
        let stmts = crate::engine::parse::parse("SELECT x, x::text, y FROM t").unwrap();
        let text = stmts[0].to_string();
        assert!(
            text.contains("\"__pg_1__x\"") && !text.contains("__pg_0"),
            "{text}"
        );
    }
}
