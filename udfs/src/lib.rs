//! `voidx-udfs`: the SQL functions of VOIDX and the ML engine behind them.
//! No network code lives here; the server crate wires these into DataFusion.

pub mod doc;

pub use doc::{Documented, Implementation, SqlDoc, SqlFunction};
pub mod ml;
pub mod model;
pub mod monitor;
