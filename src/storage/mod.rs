//! Storage layer: the persistent catalog and Delta tables under the data
//! directory, and how DataFusion sees them.

pub mod catalog;
pub mod compaction;
pub mod data_dir;
pub mod delta;
pub mod dictionary;
pub mod functions;
pub mod lazy;
pub mod local_store;
pub mod managed_table;
pub mod merge;
pub mod provider;
pub mod relations;
pub mod stores;
pub mod system;
pub mod system_table;
pub mod table_memory;
