//! Build XLSForm workbooks in tests: sheets as rows of strings (empty strings are empty cells).

/// An .xlsx workbook with the given sheets.
///
/// # Panics
/// If the workbook cannot be written (never with valid sheet names).
#[allow(clippy::expect_used)]
pub fn workbook(sheets: &[(&str, &[&[&str]])]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    for (name, rows) in sheets {
        let ws = wb.add_worksheet();
        ws.set_name(*name).expect("valid sheet name");
        for (r, row) in rows.iter().enumerate() {
            for (c, value) in row.iter().enumerate() {
                if !value.is_empty() {
                    ws.write_string(r as u32, c as u16, *value)
                        .expect("cell within limits");
                }
            }
        }
    }
    wb.save_to_buffer().expect("workbook serialises")
}
