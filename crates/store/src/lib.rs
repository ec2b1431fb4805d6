//! Storage for Passage: one [`Db`] over SQLite (embedded default) or PostgreSQL (national
//! deployments), the same numbered migrations for both, and plain-SQL repositories that run
//! unchanged on either. The store keeps data; it never decides who may see it.

mod db;
mod document_files;
mod error;
mod group;

pub mod activity;
pub mod audit;
pub mod auth;
pub mod break_glass;
pub mod cases;
pub mod collection;
pub mod consent;
pub mod facts;
pub mod forms;
pub mod frameworks;
pub mod keys;
pub mod orgs;
pub mod persons;
pub mod places;
pub mod reports;
pub mod retention;
pub mod screening;
pub mod second_factor;
pub mod sso;
pub mod users;
pub mod workflow;

#[cfg(feature = "test-support")]
pub mod test_support;

pub use db::{Backend, Conn, Db, DbTarget, Pooled, Tx};
pub use document_files::{BodyAt, DocumentFiles};
pub use error::StoreError;
pub use group::{Write, WriteFuture};
