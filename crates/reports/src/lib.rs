//! A report is a title and a flow of headings, paragraphs and tables, built once by the
//! service and rendered three ways: HTML (the server's template), XLSX (here) and PDF (Typst
//! markup here, compiled by the optional `passage-pdf` crate). Keeping one model means the
//! three never disagree.

use rust_xlsxwriter::{Format, Workbook};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub title: String,
    pub subtitle: String,
    /// File name without extension, e.g. `gcm-review-2026`.
    pub file_stem: String,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Level 1 is a part of the report, level 2 a section inside it.
    Heading {
        level: u8,
        text: String,
        anchor: String,
    },
    Paragraph(String),
    /// Smaller, muted text (sources, suppression and data notes).
    Note(String),
    Table(Table),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the spreadsheet could not be written: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
}

impl Report {
    pub fn headings(&self, level: u8) -> impl Iterator<Item = &str> {
        self.blocks.iter().filter_map(move |b| match b {
            Block::Heading { level: l, text, .. } if *l == level => Some(text.as_str()),
            _ => None,
        })
    }
}

/// The report as one worksheet, read top to bottom like the PDF: headings in bold, each
/// table with a bold header row, columns sized for reading.
pub fn xlsx(report: &Report) -> Result<Vec<u8>, ReportError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Report")?;
    let title = Format::new().set_bold().set_font_size(16);
    let heading = Format::new().set_bold().set_font_size(13);
    let bold = Format::new()
        .set_bold()
        .set_background_color("#E8EEF4")
        .set_text_wrap();
    let wrap = Format::new().set_text_wrap();
    let note = Format::new()
        .set_italic()
        .set_font_color("#555555")
        .set_text_wrap();
    sheet.set_column_width(0, 48)?;
    for c in 1..8 {
        sheet.set_column_width(c, 16)?;
    }
    let mut row = 0u32;
    sheet.write_string_with_format(row, 0, &report.title, &title)?;
    row += 1;
    sheet.write_string_with_format(row, 0, &report.subtitle, &note)?;
    row += 2;
    for block in &report.blocks {
        match block {
            Block::Heading { text, .. } => {
                row += 1;
                sheet.write_string_with_format(row, 0, text, &heading)?;
                row += 1;
            }
            Block::Paragraph(text) => {
                sheet.write_string_with_format(row, 0, text, &wrap)?;
                row += 1;
            }
            Block::Note(text) => {
                sheet.write_string_with_format(row, 0, text, &note)?;
                row += 1;
            }
            Block::Table(t) => {
                for (c, h) in t.header.iter().enumerate() {
                    sheet.write_string_with_format(row, c as u16, h, &bold)?;
                }
                row += 1;
                for r in &t.rows {
                    for (c, v) in r.iter().enumerate() {
                        // Figures stay numbers where they are plain numbers, so that the
                        // sheet can be summed; "<5", "n/a" and labels stay text.
                        match v.replace(',', "").parse::<f64>() {
                            Ok(n) if c > 0 && !v.is_empty() => sheet.write_number(row, c as u16, n)?,
                            _ => sheet.write_string_with_format(row, c as u16, v, &wrap)?,
                        };
                    }
                    row += 1;
                }
                row += 1;
            }
        }
    }
    Ok(book.save_to_buffer()?)
}

/// Text for Typst markup: every character that could start markup is escaped.
fn typst_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '#'
                | '*'
                | '_'
                | '`'
                | '$'
                | '<'
                | '>'
                | '@'
                | '='
                | '-'
                | '+'
                | '/'
                | '['
                | ']'
                | '~'
                | '"'
                | '\''
        ) {
            out.push('\\');
        }
        if c == '\n' {
            out.push_str(" \\\n");
            continue;
        }
        out.push(c);
    }
    out
}

/// The report as Typst markup: A4, numbered pages, an outline, tables that break across
/// pages with their header repeated. The document carries a title and language so the PDF
/// is tagged for screen readers.
pub fn typst(report: &Report) -> String {
    let mut m = String::new();
    m.push_str(&format!(
        "#set document(title: [{}])\n#set text(lang: \"en\", size: 10pt)\n\
         #set page(paper: \"a4\", margin: 2cm, numbering: \"1 / 1\")\n\
         #set heading(numbering: none)\n#show heading.where(level: 1): set text(size: 15pt)\n\
         #show heading.where(level: 2): set text(size: 12pt)\n\
         #set table(stroke: 0.5pt + luma(180), inset: 4pt)\n\n",
        typst_text(&report.title)
    ));
    m.push_str(&format!(
        "#text(size: 18pt, weight: \"bold\")[{}]\n\n",
        typst_text(&report.title)
    ));
    m.push_str(&format!(
        "#text(fill: luma(90))[{}]\n\n",
        typst_text(&report.subtitle)
    ));
    m.push_str("#outline(depth: 2)\n\n");
    for block in &report.blocks {
        match block {
            Block::Heading { level, text, .. } => {
                m.push_str(&"=".repeat(usize::from((*level).clamp(1, 3))));
                m.push(' ');
                m.push_str(&typst_text(text));
                m.push_str("\n\n");
            }
            Block::Paragraph(text) => {
                m.push_str(&typst_text(text));
                m.push_str("\n\n");
            }
            Block::Note(text) => {
                m.push_str(&format!(
                    "#text(size: 8.5pt, fill: luma(90))[{}]\n\n",
                    typst_text(text)
                ));
            }
            Block::Table(t) => {
                let n = t.header.len().max(1);
                let columns = std::iter::once("2fr".to_owned())
                    .chain((1..n).map(|_| "1fr".to_owned()))
                    .collect::<Vec<_>>()
                    .join(", ");
                m.push_str(&format!("#table(columns: ({columns},), table.header("));
                for h in &t.header {
                    m.push_str(&format!("[*{}*], ", typst_text(h)));
                }
                m.push_str("),\n");
                for r in &t.rows {
                    for c in 0..n {
                        m.push_str(&format!(
                            "[{}], ",
                            typst_text(r.get(c).map_or("", String::as_str))
                        ));
                    }
                    m.push('\n');
                }
                m.push_str(")\n\n");
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> Report {
        Report {
            title: "Review #1 <draft>".into(),
            subtitle: "Fictional".into(),
            file_stem: "review".into(),
            blocks: vec![
                Block::Heading {
                    level: 1,
                    text: "Objective 1: Data".into(),
                    anchor: "o1".into(),
                },
                Block::Paragraph("Said: \"*bold*\" = [x] $5 @me".into()),
                Block::Table(Table {
                    header: vec!["Indicator".into(), "2026".into()],
                    rows: vec![
                        vec!["Returnees".into(), "1,234".into()],
                        vec!["Small".into(), "<5".into()],
                    ],
                }),
                Block::Note("Cells under 5 are hidden.".into()),
            ],
        }
    }

    #[test]
    fn markup_escapes_what_users_write() {
        let m = typst(&sample());
        assert!(m.contains("Review \\#1 \\<draft\\>"));
        assert!(m.contains("Said: \\\"\\*bold\\*\\\" \\= \\[x\\] \\$5 \\@me"));
        assert!(m.contains("= Objective 1: Data"));
        assert!(m.contains("table.header([*Indicator*], [*2026*], )"));
        assert_eq!(sample().headings(1).collect::<Vec<_>>(), ["Objective 1: Data"]);
    }

    #[test]
    fn the_workbook_opens_as_a_zip_with_the_sheet() {
        let bytes = xlsx(&sample()).unwrap();
        assert_eq!(&bytes[..2], b"PK");
        assert!(bytes.len() > 1000);
    }
}
