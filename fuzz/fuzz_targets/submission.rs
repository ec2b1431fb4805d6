//! Whatever bytes arrive as `xml_submission_file` (or in a Digest header), Passage answers
//! with an error or a reading of them: never a panic, never unbounded work.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn forms() -> &'static [passage_xlsform::Form] {
    static FORMS: OnceLock<Vec<passage_xlsform::Form>> = OnceLock::new();
    FORMS.get_or_init(|| {
        [
            (include_bytes!("../../forms/avrr_case.xlsx").as_slice(), "avrr_case"),
            (include_bytes!("../../forms/ct_victim_case.xlsx").as_slice(), "ct_victim_case"),
            (include_bytes!("../../forms/border_crossing.xlsx").as_slice(), "border_crossing"),
        ]
        .iter()
        .filter_map(|(bytes, id)| passage_xlsform::read_xlsform(bytes, id).ok())
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok((envelope, root)) = passage_openrosa::Envelope::read(data) {
        for form in forms() {
            let answers = passage_openrosa::answers(&root, form);
            // What was read can be written back and read again the same way.
            let again = passage_openrosa::to_xml(form, &answers.instance, &envelope.instance_id, None);
            let (_, root2) = passage_openrosa::Envelope::read(again.as_bytes()).expect("our own XML reads back");
            assert_eq!(passage_openrosa::answers(&root2, form).instance, answers.instance);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = passage_openrosa::digest::parse_authorization(text);
    }
});
