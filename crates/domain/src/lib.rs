//! Passage's domain: the words of DESIGN.md as types, and the rules that decide on them.
//! Nothing here performs I/O, so every rule can be tested in isolation.

pub mod audit;
pub mod clock;
pub mod ids;
pub mod policy;
pub mod values;

pub use audit::{AuditAction, AuditEvent, ChainedEvent, Channel, Outcome};
pub use clock::{Clock, SystemClock, Timestamp};
pub use ids::{OrgId, TokenId, UserId};
pub use policy::{Actor, Denied, Grant, Permission, Role, Scope, TokenScope};
pub use values::{DisplayName, Email, InvalidValue, OrgKind, OrgName, Password, Username};
