//! The one error type of the server crate, and its classification into
//! PostgreSQL SQLSTATE codes — and from the SQLSTATE the HTTP status and
//! REST error code ([`VoidxError::http_status`]). The wire front ends convert
//! it in exactly one place each (`serve::pg::errors` for pgwire,
//! `From<VoidxError> for ApiError` in the REST shim). The ML crate's
//! [`MlError`] is classified here too, nowhere else.
//!
//! DataFusion and Delta errors are classified by variant; text is matched
//! only where the versions we build on carry no variant for the case (each
//! such arm says why).
//!
//! Messages say what to do next:
//! `relation "shop.orderz" does not exist. Help: SELECT * FROM voidx.tables lists the tables`.

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use deltalake::DeltaTableError;
use voidx_udfs::ml::MlError;

pub type Result<T, E = VoidxError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum VoidxError {
    #[error("configuration error: {0}")]
    Config(String),
    /// 42P01
    #[error("{0}")]
    UndefinedTable(String),
    /// 3F000
    #[error("{0}")]
    UndefinedSchema(String),
    /// 42P07 (relation) / 42P06 (schema)
    #[error("{0}")]
    DuplicateTable(String),
    #[error("{0}")]
    DuplicateSchema(String),
    /// 2BP01: DROP without CASCADE while other objects depend on it
    #[error("{0}")]
    DependentObjects(String),
    /// 42601
    #[error("{0}")]
    Syntax(String),
    /// 0A000
    #[error("{0}")]
    Unsupported(String),
    /// 22023: a well-formed statement with an argument that makes no sense
    #[error("{0}")]
    InvalidArgument(String),
    /// 42809: DROP TABLE on a view and the like
    #[error("{0}")]
    WrongObjectType(String),
    /// 42501: writing to a read-only object (system tables)
    #[error("{0}")]
    ReadOnly(String),
    /// 23514: rows violate a CHECK constraint
    #[error("{0}")]
    CheckViolation(String),
    /// 42704: an object (constraint) that does not exist
    #[error("{0}")]
    UndefinedObject(String),
    /// 55006: the object is busy (a job that is running); retry later
    #[error("{0}")]
    ObjectInUse(String),
    /// 42703: a column the relation does not have (`COMMENT ON COLUMN`)
    #[error("{0}")]
    UndefinedColumn(String),
    /// 42501: a location outside the ingest allowlist
    #[error("{0}")]
    NotAllowed(String),
    /// 54000: a source is larger than a configured limit (`max_pages`,
    /// `max_rows`); reading part of it would look like reading all of it
    #[error("{0}")]
    LimitExceeded(String),
    /// 57014
    #[error(
        "canceling statement due to statement timeout ({0} ms). Help: SET statement_timeout = '0' to disable it, or narrow the query"
    )]
    Timeout(u128),
    /// The ML crate's error; its SQLSTATE by kind (`ml_sqlstate`).
    #[error(transparent)]
    Ml(#[from] MlError),
    /// 42704: the model exists but nothing serves it (no production version)
    #[error("{0}")]
    NotDeployed(String),
    /// XX001: a registered model version whose stored artifact cannot be
    /// loaded — a fault of the server's data, not of the request
    #[error("{0}")]
    ModelUnavailable(String),
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    #[error("storage error: {0}")]
    Delta(#[from] DeltaTableError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<arrow::error::ArrowError> for VoidxError {
    fn from(e: arrow::error::ArrowError) -> Self {
        VoidxError::DataFusion(DataFusionError::ArrowError(Box::new(e), None))
    }
}

impl From<VoidxError> for DataFusionError {
    fn from(e: VoidxError) -> Self {
        match e {
            VoidxError::DataFusion(inner) => inner,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

impl VoidxError {
    /// The SQLSTATE a PostgreSQL client should see for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            VoidxError::Config(_) => "F0000",
            VoidxError::UndefinedTable(_) => "42P01",
            VoidxError::UndefinedSchema(_) => "3F000",
            VoidxError::DuplicateTable(_) => "42P07",
            VoidxError::DuplicateSchema(_) => "42P06",
            VoidxError::DependentObjects(_) => "2BP01",
            VoidxError::Syntax(_) => "42601",
            VoidxError::Unsupported(_) => "0A000",
            VoidxError::InvalidArgument(_) => "22023",
            VoidxError::ReadOnly(_) | VoidxError::NotAllowed(_) => "42501",
            VoidxError::CheckViolation(_) => "23514",
            VoidxError::UndefinedObject(_) => "42704",
            VoidxError::ObjectInUse(_) => "55006",
            VoidxError::UndefinedColumn(_) => "42703",
            VoidxError::WrongObjectType(_) => "42809",
            VoidxError::LimitExceeded(_) => "54000",
            VoidxError::Timeout(_) => "57014",
            VoidxError::Ml(e) => ml_sqlstate(e),
            VoidxError::NotDeployed(_) => "42704",
            VoidxError::ModelUnavailable(_) => "XX001",
            VoidxError::DataFusion(e) => datafusion_sqlstate(e),
            VoidxError::Delta(e) => delta_sqlstate(e),
            VoidxError::Io(_) => "58030",
            VoidxError::Internal(_) => "XX000",
        }
    }

    /// The HTTP status and REST error code for this error, derived from its
    /// SQLSTATE class so pgwire and REST never disagree about what happened;
    /// model errors keep the more specific codes docs/rest.md documents.
    pub fn http_status(&self) -> (u16, &'static str) {
        let (status, class_code) = http_status_of(self.sqlstate());
        (status, self.model_rest_code().unwrap_or(class_code))
    }

    /// The REST codes of docs/rest.md that say more than the SQLSTATE class:
    /// which model problem a 404 or 500 is.
    fn model_rest_code(&self) -> Option<&'static str> {
        match self {
            VoidxError::NotDeployed(_) => Some("no_production_version"),
            VoidxError::ModelUnavailable(_) => Some("model_unavailable"),
            _ => match self.ml_error() {
                Some(MlError::UnknownModel(_)) => Some("model_not_found"),
                _ => None,
            },
        }
    }

    /// The ML crate's error inside, directly or through DataFusion's wrappers.
    pub fn ml_error(&self) -> Option<&MlError> {
        match self {
            VoidxError::Ml(e) => Some(e),
            VoidxError::DataFusion(e) => external_ml(e).or_else(|| match external_voidx(e) {
                Some(VoidxError::Ml(m)) => Some(m),
                _ => None,
            }),
            _ => None,
        }
    }

    /// An [`MlError`] met while loading a version the registry lists (the
    /// REST serving path): an unknown model stays one; anything else means
    /// the stored artifact is unreadable, a server-side fault (500), not bad
    /// input (the 22P02 an `import_model` of a malformed file gets).
    pub fn loading_model(e: MlError) -> VoidxError {
        match e {
            MlError::UnknownModel(_) => VoidxError::Ml(e),
            other => VoidxError::ModelUnavailable(format!(
                "{other}. Help: the stored artifact of this version cannot be read; \
                 SELECT * FROM deploy(...) another version while the storage is checked"
            )),
        }
    }

    /// The message without DataFusion's internal prefixes ("Error during planning: ").
    pub fn client_message(&self) -> String {
        match self {
            VoidxError::DataFusion(e) => datafusion_message(e),
            VoidxError::Delta(d) if commit_race(d).is_some() => format!(
                "could not serialize access due to a concurrent commit ({d}). {SERIALIZATION_HELP}"
            ),
            other => other.to_string(),
        }
    }
}

/// SQLSTATE → (HTTP status, REST error code), by class.
pub fn http_status_of(sqlstate: &str) -> (u16, &'static str) {
    match sqlstate {
        "42501" => (403, "not_allowed"),
        "42P01" | "42704" | "3F000" | "42883" => (404, "not_found"),
        "42P07" | "42P06" | "2BP01" => (409, "already_exists"),
        "40001" | "55006" => (409, "conflict"),
        "57014" => (504, "timeout"),
        "0A000" => (501, "unsupported"),
        s if s.starts_with("28") => (401, "unauthorized"),
        s if s.starts_with("53") => (503, "resources_exhausted"),
        s if s.starts_with("54") => (413, "limit_exceeded"),
        s if s.starts_with("22") || s.starts_with("23") => (422, "invalid_input"),
        s if s.starts_with("42") => (400, "invalid_statement"),
        _ => (500, "internal"),
    }
}

/// Walk through DataFusion's wrappers (context, shared, external) to the
/// error that actually happened.
fn root(e: &DataFusionError) -> &DataFusionError {
    match e {
        DataFusionError::Context(_, inner) => root(inner),
        DataFusionError::Shared(inner) => root(inner),
        DataFusionError::Diagnostic(_, inner) => root(inner),
        DataFusionError::Collection(errors) => errors.first().map(root).unwrap_or(e),
        _ => e,
    }
}

fn external_voidx(e: &DataFusionError) -> Option<&VoidxError> {
    match root(e) {
        DataFusionError::External(inner) => inner.downcast_ref::<VoidxError>(),
        _ => None,
    }
}

fn external_delta(e: &DataFusionError) -> Option<&DeltaTableError> {
    match root(e) {
        DataFusionError::External(inner) => inner.downcast_ref::<DeltaTableError>(),
        _ => None,
    }
}

fn external_ml(e: &DataFusionError) -> Option<&MlError> {
    match root(e) {
        DataFusionError::External(inner) => inner.downcast_ref::<MlError>(),
        _ => None,
    }
}

fn ml_sqlstate(e: &MlError) -> &'static str {
    match e {
        MlError::UnknownModel(_) => "42704",
        MlError::Unsupported(_) => "0A000",
        MlError::InvalidInput(_) | MlError::InvalidOption(_) => "22023",
        MlError::InvalidModel(_) => "22P02",
    }
}

fn datafusion_sqlstate(e: &DataFusionError) -> &'static str {
    if let Some(v) = external_voidx(e) {
        return v.sqlstate();
    }
    if let Some(m) = external_ml(e) {
        return ml_sqlstate(m);
    }
    if let Some(d) = external_delta(e) {
        return delta_sqlstate(d);
    }
    let e = root(e);
    let text = e.to_string();
    match e {
        DataFusionError::SQL(..) => "42601",
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::ResourcesExhausted(_) => "53200",
        DataFusionError::SchemaError(inner, _) => match inner.as_ref() {
            SchemaError::FieldNotFound { .. } => "42703",
            SchemaError::AmbiguousReference { .. } => "42702",
            SchemaError::DuplicateQualifiedField { .. }
            | SchemaError::DuplicateUnqualifiedField { .. } => "42701",
        },
        DataFusionError::ArrowError(inner, _) => match inner.as_ref() {
            arrow::error::ArrowError::DivideByZero => "22012",
            arrow::error::ArrowError::CastError(_) | arrow::error::ArrowError::ParseError(_) => {
                "22P02"
            }
            arrow::error::ArrowError::ArithmeticOverflow(_) => "22003",
            // Some kernels still report overflow as a ComputeError message.
            arrow::error::ArrowError::ComputeError(m) if m.contains("Overflow") => "22003",
            _ => "XX000",
        },
        // DataFusion 55 reports these planning failures as `Plan(String)`
        // (from `plan_err!`), with no variant of their own: text is all there is.
        DataFusionError::Plan(_) if text.contains("table") && text.contains("not found") => "42P01",
        DataFusionError::Plan(_) if text.contains("Invalid function") => "42883",
        DataFusionError::Plan(_) if text.contains("already exists") => "42P07",
        DataFusionError::Plan(_) if text.contains("No function matches") => "42883",
        DataFusionError::Plan(_) if text.contains("Cannot cast") => "22P02",
        DataFusionError::Plan(_) => "42000",
        // Kernels that wrap arrow's errors with `exec_err!` leave only text.
        DataFusionError::Execution(_) if text.contains("Divide by zero") => "22012",
        DataFusionError::Execution(_)
            if text.contains("Cannot cast") || text.contains("Cast error") =>
        {
            "22P02"
        }
        DataFusionError::Execution(_) if text.contains("ResourcesExhausted") => "53200",
        DataFusionError::Execution(_) => "22000",
        _ => "XX000",
    }
}

/// Why a Delta commit lost a race with another writer, by variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitRace {
    /// Another writer took the version; nothing logical conflicts (Delta's
    /// own retries ran out, or the version file was taken): re-running the
    /// statement on the newer snapshot is always correct.
    Lost,
    /// Delta's conflict checker found a real conflict (the other commit
    /// touched what this one read or removed).
    Conflict,
}

/// Classify a Delta error as a lost commit race, if it is one.
pub fn commit_race(e: &DeltaTableError) -> Option<CommitRace> {
    use deltalake::kernel::transaction::TransactionError;
    match e {
        DeltaTableError::VersionAlreadyExists(_) => Some(CommitRace::Lost),
        DeltaTableError::Transaction { source } => match source {
            TransactionError::VersionAlreadyExists(_) | TransactionError::MaxCommitAttempts(_) => {
                Some(CommitRace::Lost)
            }
            TransactionError::CommitConflict(_) => Some(CommitRace::Conflict),
            _ => None,
        },
        _ => None,
    }
}

impl VoidxError {
    /// The Delta error inside, through DataFusion's wrappers.
    pub fn delta_error(&self) -> Option<&DeltaTableError> {
        match self {
            VoidxError::Delta(e) => Some(e),
            VoidxError::DataFusion(e) => external_delta(e).or_else(|| match external_voidx(e) {
                Some(VoidxError::Delta(d)) => Some(d),
                _ => None,
            }),
            _ => None,
        }
    }

    /// Whether this error is a Delta commit that lost a race, and how.
    pub fn commit_race(&self) -> Option<CommitRace> {
        self.delta_error().and_then(commit_race)
    }
}

const SERIALIZATION_HELP: &str = "Help: another statement committed to the same table at the same time; run the statement again (PostgreSQL clients treat SQLSTATE 40001 as retryable)";

fn delta_sqlstate(e: &DeltaTableError) -> &'static str {
    if commit_race(e).is_some() {
        return "40001";
    }
    match e {
        // delta-rs' checker (`delta_datafusion::data_validation`) reports
        // rows failing a CHECK constraint or an invariant as InvalidData.
        DeltaTableError::InvalidData { .. } => "23514",
        DeltaTableError::NotATable(_) => "42P01",
        // `add_constraint` runs the same checker, but its `?` turns the
        // DataFusion error around InvalidData into `Generic(text)`
        // (`From<DataFusionError> for DeltaTableError`): no variant survives.
        DeltaTableError::Generic(m) if m.contains("Invalid data found") => "23514",
        DeltaTableError::Generic(m) if m.contains("Not a Delta table") => "42P01",
        _ => "58000",
    }
}

fn datafusion_message(e: &DataFusionError) -> String {
    if let Some(v) = external_voidx(e) {
        return v.client_message();
    }
    if let Some(m) = external_ml(e) {
        return m.to_string();
    }
    if let Some(d) = external_delta(e)
        && commit_race(d).is_some()
    {
        return format!(
            "could not serialize access due to a concurrent commit ({d}). {SERIALIZATION_HELP}"
        );
    }
    let e = root(e);
    let msg = match e {
        DataFusionError::SQL(inner, _) => format!("syntax error: {inner}"),
        DataFusionError::Plan(m)
        | DataFusionError::Execution(m)
        | DataFusionError::NotImplemented(m) => m.clone(),
        DataFusionError::ResourcesExhausted(m) => format!(
            "out of memory for this query: {m}. Help: add filters or LIMIT, or raise limits.memory_mb"
        ),
        DataFusionError::ArrowError(inner, _) => arrow_message(inner),
        other => other.to_string(),
    };
    add_help(msg.trim_start_matches("Schema error: ").to_string())
}

fn arrow_message(e: &arrow::error::ArrowError) -> String {
    match e {
        arrow::error::ArrowError::DivideByZero => "division by zero".to_string(),
        arrow::error::ArrowError::CastError(m) | arrow::error::ArrowError::ParseError(m) => {
            format!("invalid input: {m}")
        }
        other => other.to_string(),
    }
}

/// Attach a next step to the DataFusion messages users meet most.
fn add_help(msg: String) -> String {
    if msg.contains("table '") && msg.contains("not found") {
        format!(
            "{msg}. Help: SELECT schema, name FROM voidx.tables lists the tables (schema-qualify, e.g. shop.orders)"
        )
    } else if msg.contains("No field named") {
        format!("{msg}. Help: \\d table_name in psql shows its columns")
    } else if msg.contains("Invalid function") {
        format!("{msg}. Help: SHOW FUNCTIONS lists what is available")
    } else {
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_errors_keep_their_code() {
        let inner = VoidxError::UndefinedTable("relation \"x\" does not exist".into());
        let wrapped = VoidxError::DataFusion(DataFusionError::Context(
            "while planning".into(),
            Box::new(DataFusionError::from(inner)),
        ));
        assert_eq!(wrapped.sqlstate(), "42P01");
        assert_eq!(wrapped.client_message(), "relation \"x\" does not exist");
    }

    #[test]
    fn schema_errors_by_variant() {
        let missing = DataFusionError::SchemaError(
            Box::new(SchemaError::FieldNotFound {
                field: Box::new(datafusion::common::Column::from_name("nope")),
                valid_fields: vec![],
            }),
            Box::new(None),
        );
        assert_eq!(VoidxError::DataFusion(missing).sqlstate(), "42703");
        let dup = DataFusionError::SchemaError(
            Box::new(SchemaError::DuplicateUnqualifiedField { name: "a".into() }),
            Box::new(None),
        );
        assert_eq!(VoidxError::DataFusion(dup).sqlstate(), "42701");
    }

    #[test]
    fn http_status_follows_the_sqlstate_class() {
        assert_eq!(
            VoidxError::NotAllowed("x".into()).http_status(),
            (403, "not_allowed")
        );
        assert_eq!(VoidxError::UndefinedTable("x".into()).http_status().0, 404);
        assert_eq!(VoidxError::InvalidArgument("x".into()).http_status().0, 422);
        assert_eq!(VoidxError::Timeout(5).http_status().0, 504);
        assert_eq!(VoidxError::Internal("x".into()).http_status().0, 500);
    }

    #[test]
    fn commit_races_are_40001_by_variant() {
        use deltalake::kernel::transaction::TransactionError;
        let lost = DeltaTableError::Transaction {
            source: TransactionError::MaxCommitAttempts(15),
        };
        let wrapped = VoidxError::DataFusion(DataFusionError::Context(
            "insert".into(),
            Box::new(DataFusionError::External(Box::new(lost))),
        ));
        assert_eq!(wrapped.commit_race(), Some(CommitRace::Lost));
        assert_eq!(wrapped.sqlstate(), "40001");
        assert!(wrapped.client_message().contains("Help:"));
        let taken = VoidxError::Delta(DeltaTableError::VersionAlreadyExists(3));
        assert_eq!(taken.sqlstate(), "40001");
        let other = VoidxError::Delta(DeltaTableError::Generic("conflict in text only".into()));
        assert_eq!(other.commit_race(), None);
        assert_ne!(other.sqlstate(), "40001");
    }

    #[test]
    fn delta_errors_by_variant() {
        let bad = VoidxError::Delta(DeltaTableError::InvalidData {
            message: "Invalid data found: 1 rows failed validation check".into(),
        });
        assert_eq!(bad.sqlstate(), "23514");
        let through_datafusion = VoidxError::DataFusion(DataFusionError::External(Box::new(
            DeltaTableError::InvalidData {
                message: "x".into(),
            },
        )));
        assert_eq!(through_datafusion.sqlstate(), "23514");
        let not_a_table = VoidxError::Delta(DeltaTableError::NotATable("/tmp/x".into()));
        assert_eq!(not_a_table.sqlstate(), "42P01");
        // Text naming a constraint in some other error is not a violation.
        let other = VoidxError::Delta(DeltaTableError::MetadataError("constraint x".into()));
        assert_eq!(other.sqlstate(), "58000");
    }

    #[test]
    fn model_errors_map_once_for_sql_and_rest() {
        let unknown = MlError::UnknownModel("model 'm' does not exist".into());
        let direct = VoidxError::from(MlError::UnknownModel("model 'm' does not exist".into()));
        let wrapped = VoidxError::DataFusion(DataFusionError::External(Box::new(unknown)));
        for e in [&direct, &wrapped] {
            assert_eq!(e.sqlstate(), "42704");
            assert_eq!(e.http_status(), (404, "model_not_found"));
        }
        let inside_voidx = VoidxError::DataFusion(DataFusionError::from(direct));
        assert_eq!(inside_voidx.http_status(), (404, "model_not_found"));
        assert_eq!(
            VoidxError::NotDeployed("m".into()).http_status(),
            (404, "no_production_version")
        );
        let unreadable = VoidxError::loading_model(MlError::InvalidModel("truncated".into()));
        assert_eq!(unreadable.http_status(), (500, "model_unavailable"));
        assert_eq!(
            VoidxError::from(MlError::InvalidModel("x".into())).sqlstate(),
            "22P02"
        );
        assert_eq!(
            VoidxError::loading_model(MlError::UnknownModel("gone".into())).http_status(),
            (404, "model_not_found")
        );
        // Other errors keep the class code.
        assert_eq!(
            VoidxError::UndefinedObject("x".into()).http_status(),
            (404, "not_found")
        );
    }

    #[test]
    fn resource_errors_are_53200() {
        let e = VoidxError::DataFusion(DataFusionError::ResourcesExhausted("pool".into()));
        assert_eq!(e.sqlstate(), "53200");
        assert!(e.client_message().contains("limits.memory_mb"));
    }
}
