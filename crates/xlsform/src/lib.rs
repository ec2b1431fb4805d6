//! XLSForm support for Passage: the workbook reader ([`read_xlsform`]), the form model
//! ([`Form`]) and the XLSForm expression language ([`expr`]). The same parsed form drives the
//! web pages, validation, exports and (later) the XForm sent to ODK Collect.

pub mod check;
pub mod expr;
pub mod fill;
pub mod model;
mod reader;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod xform;

pub use model::{Choice, Field, FieldKind, Form, Group, MediaKind, Metadata, Node, Sensitivity, Text};
pub use reader::{FormError, FormErrors, read_xlsform};
