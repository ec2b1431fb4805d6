//! XLSForm support: the expression language now; the workbook reader and form model next.

pub mod expr;
