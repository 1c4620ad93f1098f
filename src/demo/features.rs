//! The demo's feature layer, defined once in the dbt project `dbt/` and shipped as plain SQL.
//!
//! Analytics engineers edit `dbt/models/**.sql` and run them with dbt-postgres against the
//! server; `voidx demo` / `serve --demo` must build the same views without Python or dbt. So the
//! models use no Jinja beyond `{{ ref('model') }}` and `{{ source('shop', 'table') }}`, each
//! model's schema is its folder's name (`dbt/macros/generate_schema_name.sql` makes dbt agree),
//! and [`FEATURE_VIEWS_SQL`] is the project rendered to `CREATE OR REPLACE VIEW` statements in
//! dependency order. The test at the bottom re-renders the project and fails when the shipped
//! file is stale; `bash dbt/compile.sh` (or `VOIDX_UPDATE_FEATURES=1 cargo test -p voidx --lib
//! demo::features`) rewrites it.
//!
//! ```no_run
//! # async fn f(engine: &voidx::engine::Engine) -> voidx::error::Result<()> {
//! engine.execute_sql(voidx::demo::FEATURE_VIEWS_SQL).await?; // staging.* and features.*
//! # Ok(()) }
//! ```

/// `features.customer_revenue_v2` and the views it stands on, compiled from `dbt/models`.
pub const FEATURE_VIEWS_SQL: &str = include_str!("../../sql/features/customer_revenue_v2.sql");

/// `COMMENT ON` the feature views, their columns and the staging views
/// (sql/features/comments.sql); the column texts of `customer_revenue_v2` are dbt's.
pub const FEATURE_COMMENTS_SQL: &str = include_str!("../../sql/features/comments.sql");

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    const SHIPPED: &str = "sql/features/customer_revenue_v2.sql";

    /// One dbt model: its schema (the folder under models/) and its SQL with Jinja in it.
    struct Model {
        schema: String,
        file: String,
        body: String,
    }

    /// Every `models/<folder>/<name>.sql` of the project, by name.
    fn read_models(project: &Path) -> BTreeMap<String, Model> {
        let mut models = BTreeMap::new();
        let folders = std::fs::read_dir(project.join("models")).expect("read dbt/models");
        for folder in folders.map(|e| e.expect("dir entry").path()) {
            if !folder.is_dir() {
                continue;
            }
            let schema = folder.file_name().unwrap().to_string_lossy().to_string();
            for file in std::fs::read_dir(&folder).expect("read model folder") {
                let path = file.expect("dir entry").path();
                if path.extension().is_none_or(|x| x != "sql") {
                    continue;
                }
                let name = path.file_stem().unwrap().to_string_lossy().to_string();
                let model = Model {
                    schema: schema.clone(),
                    file: format!("dbt/models/{schema}/{name}.sql"),
                    body: std::fs::read_to_string(&path).expect("read model"),
                };
                assert!(
                    models.insert(name.clone(), model).is_none(),
                    "model {name} is defined twice"
                );
            }
        }
        models
    }

    /// The quoted arguments of `ref('a')` / `source('a', 'b')`, or None for anything else.
    fn call_args<'a>(expr: &'a str, function: &str) -> Option<Vec<&'a str>> {
        let inner = expr.strip_prefix(function)?.trim().strip_prefix('(')?;
        let inner = inner.strip_suffix(')')?;
        inner
            .split(',')
            .map(|a| {
                let a = a.trim();
                a.strip_prefix('\'')?.strip_suffix('\'')
            })
            .collect()
    }

    /// The model's SQL with `ref` and `source` replaced by `schema.name`, and the models it
    /// refers to. Any other Jinja fails: the demo could not reproduce it without dbt.
    fn render(
        name: &str,
        model: &Model,
        schemas: &BTreeMap<&str, &str>,
    ) -> (String, BTreeSet<String>) {
        for tag in ["{%", "{#"] {
            assert!(
                !model.body.contains(tag),
                "{}: uses Jinja beyond ref()/source(); the demo ships plain SQL",
                model.file
            );
        }
        let mut out = String::new();
        let mut deps = BTreeSet::new();
        let mut rest = model.body.as_str();
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find("}}")
                .unwrap_or_else(|| panic!("{}: unclosed {{{{", model.file));
            let expr = rest[start + 2..start + end].trim();
            match (call_args(expr, "ref"), call_args(expr, "source")) {
                (Some(args), _) if args.len() == 1 => {
                    let target = args[0];
                    let schema = schemas
                        .get(target)
                        .unwrap_or_else(|| panic!("{name}: ref('{target}') is not a model"));
                    out.push_str(&format!("{schema}.{target}"));
                    deps.insert(target.to_string());
                }
                (_, Some(args)) if args.len() == 2 => {
                    out.push_str(&format!("{}.{}", args[0], args[1]))
                }
                _ => panic!(
                    "{}: {{{{ {expr} }}}} is neither ref() nor source()",
                    model.file
                ),
            }
            rest = &rest[start + end + 2..];
        }
        out.push_str(rest);
        (out.trim().to_string(), deps)
    }

    /// The whole project as one SQL script: schemas, then every model as a view, each after
    /// the models it refers to (ties broken by name, so the output is deterministic).
    fn render_project(project: &Path) -> String {
        let models = read_models(project);
        let schemas: BTreeMap<&str, &str> = models
            .iter()
            .map(|(n, m)| (n.as_str(), m.schema.as_str()))
            .collect();
        let rendered: BTreeMap<&str, (String, BTreeSet<String>)> = models
            .iter()
            .map(|(n, m)| (n.as_str(), render(n, m, &schemas)))
            .collect();
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut order: Vec<&str> = Vec::new();
        while order.len() < models.len() {
            let next = rendered
                .iter()
                .find(|(n, (_, deps))| {
                    !done.contains(*n) && deps.iter().all(|d| done.contains(d.as_str()))
                })
                .map(|(n, _)| *n)
                .expect("the dbt models refer to each other in a cycle");
            done.insert(next);
            order.push(next);
        }
        let mut out = String::from(
            "-- GENERATED from the dbt project in dbt/ by `bash dbt/compile.sh`; do not edit.\n\
             -- The demo's feature layer: staging views over shop.*, the feature groups, and\n\
             -- features.customer_revenue_v2, the training view of revenue_predictor (one row per\n\
             -- customer who signed up before 2025-10-01, features from history before it, target\n\
             -- revenue_next_90d). Columns: docs/data-dictionary.md. Run with:\n\
             --   voidx sql -f sql/features/customer_revenue_v2.sql\n",
        );
        let mut created = BTreeSet::new();
        for name in &order {
            let schema = schemas[name];
            if created.insert(schema) {
                out.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {schema};\n"));
            }
        }
        for name in order {
            let model = &models[name];
            out.push_str(&format!(
                "\n-- {}\nCREATE OR REPLACE VIEW {}.{name} AS\n{};\n",
                model.file, model.schema, rendered[name].0
            ));
        }
        out
    }

    #[test]
    fn shipped_feature_sql_matches_the_dbt_models() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let generated = render_project(&root.join("dbt"));
        if std::env::var_os("VOIDX_UPDATE_FEATURES").is_some() {
            std::fs::write(root.join(SHIPPED), &generated).expect("write the feature SQL");
            return;
        }
        let shipped = std::fs::read_to_string(root.join(SHIPPED)).unwrap_or_default();
        assert!(
            shipped == generated,
            "{SHIPPED} is stale against dbt/models: run `bash dbt/compile.sh`"
        );
        // include_str! is what the demo runs; cargo rebuilds when the file changes.
        assert!(super::FEATURE_VIEWS_SQL == generated);
    }

    /// The column comments of customer_revenue_v2 are dbt's descriptions, word for word, so
    /// the data dictionary and `dbt docs` say the same.
    #[test]
    fn feature_comments_are_the_dbt_descriptions() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let yml = std::fs::read_to_string(root.join("dbt/models/features/schema.yml"))
            .expect("read schema.yml");
        let mut column = "";
        let mut checked = 0;
        for line in yml.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix("- name: ") {
                column = name;
            }
            let Some(text) = line
                .strip_prefix("description: \"")
                .and_then(|t| t.strip_suffix('"'))
            else {
                continue;
            };
            let statement = format!(
                "COMMENT ON COLUMN features.customer_revenue_v2.{column} IS '{}';",
                text.replace('\'', "''")
            );
            assert!(
                super::FEATURE_COMMENTS_SQL.contains(&statement),
                "sql/features/comments.sql lacks {statement}"
            );
            checked += 1;
        }
        assert_eq!(
            checked, 85,
            "every column of customer_revenue_v2 has a description"
        );
    }

    #[test]
    fn jinja_beyond_ref_and_source_is_refused() {
        let schemas = BTreeMap::from([("a", "staging")]);
        let model = |body: &str| Model {
            schema: "features".into(),
            file: "m.sql".into(),
            body: body.into(),
        };
        let (sql, deps) = render(
            "m",
            &model("SELECT * FROM {{ ref('a') }} JOIN {{ source('shop', 'orders') }}"),
            &schemas,
        );
        assert_eq!(sql, "SELECT * FROM staging.a JOIN shop.orders");
        assert_eq!(deps, BTreeSet::from(["a".to_string()]));
        for body in [
            "SELECT {{ var('cutoff') }}",
            "{% if is_incremental() %}x{% endif %}",
            "SELECT * FROM {{ ref('missing') }}",
        ] {
            let result = std::panic::catch_unwind(|| render("m", &model(body), &schemas));
            assert!(result.is_err(), "{body} rendered");
        }
    }
}
