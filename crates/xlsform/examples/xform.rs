//! `cargo run -p passage-xlsform --example xform -- forms xform FILE.xlsx`: the XForm ODK
//! clients receive, as `passage forms xform FILE` prints it, without building the server.
//! The problems go to stderr with exit status 1.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [forms, xform, file] = args.as_slice() else {
        eprintln!("usage: xform forms xform FILE.xlsx");
        return ExitCode::from(2);
    };
    if forms != "forms" || xform != "xform" {
        eprintln!("usage: xform forms xform FILE.xlsx");
        return ExitCode::from(2);
    }
    let path = std::path::Path::new(file);
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("form");
    match passage_xlsform::read_xlsform(&bytes, stem) {
        Ok(form) => match passage_xlsform::xform::to_xform(&form) {
            Ok(xml) => {
                println!("{xml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Err(problems) => {
            eprintln!("{}: refused\n{problems}", path.display());
            ExitCode::FAILURE
        }
    }
}
