//! Typst markup to PDF, with the fonts bundled in `typst-assets` (nothing read from the
//! machine). Kept in its own crate because the engine takes minutes to build: the server and
//! binary use it only with their `pdf` feature.

use std::sync::OnceLock;
use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime};
use typst::layout::PagedDocument;
use typst::syntax::{FileId, Source, VirtualPath};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};

#[derive(Debug, thiserror::Error)]
#[error("the PDF could not be produced: {0}")]
pub struct PdfError(String);

struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

fn fonts() -> &'static Fonts {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    FONTS.get_or_init(|| {
        let fonts: Vec<Font> = typst_assets::fonts()
            .flat_map(|data| Font::iter(Bytes::new(data)))
            .collect();
        Fonts {
            book: LazyHash::new(FontBook::from_fonts(&fonts)),
            fonts,
        }
    })
}

fn library() -> &'static LazyHash<Library> {
    static LIBRARY: OnceLock<LazyHash<Library>> = OnceLock::new();
    LIBRARY.get_or_init(|| LazyHash::new(Library::default()))
}

/// One document in memory: no files, no packages, today's date from the caller.
struct Document {
    source: Source,
    today: time::Date,
}

impl World for Document {
    fn library(&self) -> &LazyHash<Library> {
        library()
    }
    fn book(&self) -> &LazyHash<FontBook> {
        &fonts().book
    }
    fn main(&self) -> FileId {
        self.source.id()
    }
    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.source.id() {
            Ok(self.source.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }
    fn file(&self, _id: FileId) -> FileResult<Bytes> {
        Err(FileError::AccessDenied)
    }
    fn font(&self, index: usize) -> Option<Font> {
        fonts().fonts.get(index).cloned()
    }
    fn today(&self, _offset: Option<i64>) -> Option<Datetime> {
        Datetime::from_ymd(self.today.year(), self.today.month().into(), self.today.day())
    }
}

/// Compile Typst markup to PDF bytes.
pub fn render(markup: &str, today: time::Date) -> Result<Vec<u8>, PdfError> {
    let world = Document {
        source: Source::new(
            FileId::new(None, VirtualPath::new("report.typ")),
            markup.to_owned(),
        ),
        today,
    };
    let describe = |errors: &[typst::diag::SourceDiagnostic]| {
        errors
            .iter()
            .map(|e| e.message.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let document = typst::compile::<PagedDocument>(&world)
        .output
        .map_err(|e| PdfError(describe(&e)))?;
    typst_pdf::pdf(&document, &typst_pdf::PdfOptions::default()).map_err(|e| PdfError(describe(&e)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn markup_becomes_a_pdf_and_broken_markup_a_clear_error() {
        let today = time::macros::date!(2026 - 11 - 28);
        let pdf = render("#set document(title: [Test])\n= Objective 1\nHello.", today).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let err = render("#table(", today).unwrap_err();
        assert!(err.to_string().contains("PDF could not be produced"));
    }
}
