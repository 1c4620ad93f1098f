//! The `voidx` command: `serve`, `demo`, `sql`, `docs`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use voidx::config::{Config, Overrides};
use voidx::error::{Result, VoidxError};

/// jemalloc, not the system allocator: under glibc malloc the server's RSS
/// grew by gigabytes an hour with every Delta commit and compaction, memory
/// freed but kept in per-thread arenas; jemalloc returns freed pages to the
/// system (benchmarks/README.md, *Soak*; docs/dependencies.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "voidx",
    version,
    about = "SQL-first machine-learning analytics server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Data directory holding Delta tables, the catalog and models: a local
    /// directory or an object-store prefix (s3://bucket/voidx, az://…, gs://…) [default: ./voidx-data]
    #[arg(long)]
    data_dir: Option<String>,
    /// TOML configuration file (then VOIDX_SECTION__KEY variables, then flags)
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the PostgreSQL wire server and the HTTP server
    Serve {
        #[command(flatten)]
        common: Common,
        /// PostgreSQL wire address [default: 127.0.0.1:5433]
        #[arg(long)]
        pg_addr: Option<std::net::SocketAddr>,
        /// HTTP address [default: 127.0.0.1:8080]
        #[arg(long)]
        http_addr: Option<std::net::SocketAddr>,
        /// Write the demo data set first when the data directory is empty
        #[arg(long)]
        demo: bool,
    },
    /// Write the demo e-commerce data set (schema `shop`)
    Demo {
        #[command(flatten)]
        common: Common,
        /// Size multiplier: 1 ≈ 10k customers / 300k order lines
        #[arg(long, default_value_t = 1)]
        scale: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Run SQL embedded (no server) and print the results
    Sql {
        #[command(flatten)]
        common: Common,
        /// SQL text to run
        #[arg(short = 'c', long = "command", conflicts_with = "file")]
        command: Option<String>,
        /// File of SQL statements to run
        #[arg(short = 'f', long = "file")]
        file: Option<PathBuf>,
        /// psql-style variable `name=value`: `:'name'` in the SQL becomes a
        /// quoted literal, `:"name"` a quoted identifier (repeatable)
        #[arg(short = 'v', long = "set", value_name = "NAME=VALUE")]
        vars: Vec<String>,
    },
    /// Print the SQL function reference (docs/sql-reference.md), or a
    /// document generated from a data directory
    Docs {
        #[command(subcommand)]
        what: Option<Docs>,
    },
}

#[derive(Subcommand)]
enum Docs {
    /// Print the model card of a model version, generated from the registry
    ModelCard {
        #[command(flatten)]
        common: Common,
        /// Model name
        name: String,
        /// Version [default: production, else the newest]
        #[arg(long)]
        version: Option<i64>,
    },
    /// Print the data dictionary of a data directory, generated from the
    /// catalog and its COMMENT ON texts
    DataDictionary {
        #[command(flatten)]
        common: Common,
        /// Describe only this schema (repeatable; `voidx` = the system tables)
        #[arg(long = "schema", value_name = "SCHEMA")]
        schemas: Vec<String>,
        /// Write to this file instead of standard output
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn load_config(
    common: &Common,
    pg_addr: Option<std::net::SocketAddr>,
    http_addr: Option<std::net::SocketAddr>,
) -> Result<Config> {
    let overrides = Overrides {
        data_dir: common.data_dir.clone(),
        pg_addr,
        http_addr,
    };
    Config::load(common.config.as_deref(), std::env::vars(), &overrides)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,deltalake=warn,deltalake_core=warn,datafusion=warn,buoyant_kernel=off,delta_kernel=off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("voidx: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ERROR: {} (SQLSTATE {})", e.client_message(), e.sqlstate());
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve {
            common,
            pg_addr,
            http_addr,
            demo,
        } => {
            let config = load_config(&common, pg_addr, http_addr)?;
            voidx::cli::serve(&config, demo).await
        }
        Command::Demo {
            common,
            scale,
            seed,
        } => {
            if scale == 0 {
                return Err(VoidxError::InvalidArgument(
                    "--scale must be at least 1".into(),
                ));
            }
            let config = load_config(&common, None, None)?;
            let app = voidx::app::App::open(&config).await?;
            voidx::cli::write_demo(&app.engine, scale, seed).await
        }
        Command::Sql {
            common,
            command,
            file,
            vars,
        } => {
            let config = load_config(&common, None, None)?;
            let sql = match (command, file) {
                (Some(sql), _) => sql,
                (None, Some(path)) => std::fs::read_to_string(&path).map_err(|e| {
                    VoidxError::InvalidArgument(format!("cannot read {}: {e}", path.display()))
                })?,
                (None, None) => {
                    return Err(VoidxError::InvalidArgument(
                        "give SQL with -c \"…\" or a file with -f".into(),
                    ));
                }
            };
            let sql = voidx::cli::substitute_vars(&sql, &vars)?;
            let app = voidx::app::App::open(&config).await?;
            voidx::cli::run_sql(&app.engine, &sql).await
        }
        Command::Docs { what: None } => {
            let (_dir, app) = voidx::cli::scratch_app().await?;
            print!("{}", voidx::cli::sql_reference(&app));
            Ok(())
        }
        Command::Docs {
            what:
                Some(Docs::ModelCard {
                    common,
                    name,
                    version,
                }),
        } => {
            let config = load_config(&common, None, None)?;
            let app = voidx::app::App::open(&config).await?;
            print!(
                "{}",
                voidx::model::card::render(&app.registry, &name, version).await?
            );
            Ok(())
        }
        Command::Docs {
            what:
                Some(Docs::DataDictionary {
                    common,
                    schemas,
                    out,
                }),
        } => {
            let config = load_config(&common, None, None)?;
            let app = voidx::app::App::open(&config).await?;
            let markdown = voidx::cli::data_dictionary(&app, &schemas).await?;
            match out {
                Some(path) => std::fs::write(&path, markdown).map_err(|e| {
                    VoidxError::InvalidArgument(format!("cannot write {}: {e}", path.display()))
                }),
                None => {
                    print!("{markdown}");
                    Ok(())
                }
            }
        }
    }
}
