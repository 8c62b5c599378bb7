//! Module-definition (`.def`) files: which functions a kernel module may be imported from.
//!
//! The project keeps one `.def` per kernel module (`LIBRARY ntoskrnl.exe`, then `EXPORTS` and the
//! names the driver uses). They make the import libraries for the cross-build and double as the
//! allowlist of kernel functions, so only the parts that name a module and its exports matter here:
//! - `LIBRARY name` (quotes allowed, `BASE=...` and other trailing words ignored);
//! - `EXPORTS`, then one entry per line: `name[=internal] [@ordinal [NONAME]] [PRIVATE] [DATA]`;
//!   the imported (external) name is the part before `=`. `DATA` entries are kept: data is
//!   imported by name too.
//! - `;` starts a comment; other statements (`NAME`, `VERSION`, `HEAPSIZE`, ...) are skipped.

/// One parsed `.def` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefFile {
    /// The module named by `LIBRARY`, as written (compare it case-insensitively).
    pub library: String,
    /// The exported names, in file order.
    pub exports: Vec<String>,
}

/// Statements that end an `EXPORTS` list.
const STATEMENTS: &[&str] = &[
    "LIBRARY",
    "NAME",
    "EXPORTS",
    "IMPORTS",
    "DESCRIPTION",
    "HEAPSIZE",
    "STACKSIZE",
    "SECTIONS",
    "SEGMENTS",
    "STUB",
    "VERSION",
];

fn statement_of(word: &str) -> Option<&'static str> {
    STATEMENTS
        .iter()
        .copied()
        .find(|s| s.eq_ignore_ascii_case(word))
}

fn unquote(word: &str) -> &str {
    word.strip_prefix('"')
        .and_then(|w| w.strip_suffix('"'))
        .unwrap_or(word)
}

/// Parses the text of a `.def` file. Errors name the line.
pub fn parse_def(text: &str) -> Result<DefFile, String> {
    let mut library: Option<String> = None;
    let mut exports = Vec::new();
    let mut in_exports = false;

    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");

        match statement_of(first) {
            Some("LIBRARY") => {
                if library.is_some() {
                    return Err(format!("line {line_no}: a second LIBRARY statement"));
                }
                let Some(name) = words.next().map(unquote).filter(|n| !n.is_empty()) else {
                    return Err(format!("line {line_no}: LIBRARY without a module name"));
                };
                library = Some(name.to_string());
                in_exports = false;
            }
            Some("EXPORTS") => {
                if library.is_none() {
                    return Err(format!("line {line_no}: EXPORTS before LIBRARY"));
                }
                in_exports = true;
                // `EXPORTS name` on one line is legal: treat the rest as the first entry.
                let rest: Vec<&str> = words.collect();
                if !rest.is_empty() {
                    exports.push(export_name(&rest.join(" "), line_no)?);
                }
            }
            Some(_) => in_exports = false,
            None if in_exports => exports.push(export_name(line, line_no)?),
            None => {
                return Err(format!(
                    "line {line_no}: unexpected `{first}` outside EXPORTS"
                ));
            }
        }
    }

    let Some(library) = library else {
        return Err("no LIBRARY statement".to_string());
    };
    Ok(DefFile { library, exports })
}

/// The external name of one `EXPORTS` entry.
fn export_name(entry: &str, line_no: usize) -> Result<String, String> {
    let first = entry.split_whitespace().next().unwrap_or("");
    if first.starts_with('@') {
        return Err(format!(
            "line {line_no}: export entry without a name: `{entry}`"
        ));
    }
    let name = unquote(first.split('=').next().unwrap_or(""));
    if name.is_empty() {
        return Err(format!(
            "line {line_no}: export entry without a name: `{entry}`"
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_library_and_plain_exports() {
        let def = parse_def("LIBRARY ntoskrnl.exe\nEXPORTS\n  ExAllocatePool2\n  ExFreePool\n")
            .expect("valid def");
        assert_eq!(def.library, "ntoskrnl.exe");
        assert_eq!(def.exports, ["ExAllocatePool2", "ExFreePool"]);
    }

    #[test]
    fn ignores_comments_ordinals_data_and_aliases() {
        let text = "\
; kernel imports
LIBRARY \"portcls.sys\" BASE=0x10000 ; trailing comment
EXPORTS ; the list
    PcNewPort @1
    PcRegisterSubdevice=internal_name @2 NONAME
    KeTickCount DATA
    \"Quoted\" PRIVATE
    ; a commented-out entry
";
        let def = parse_def(text).expect("valid def");
        assert_eq!(def.library, "portcls.sys");
        assert_eq!(
            def.exports,
            ["PcNewPort", "PcRegisterSubdevice", "KeTickCount", "Quoted"]
        );
    }

    #[test]
    fn keywords_are_case_insensitive_and_other_statements_end_exports() {
        let def = parse_def("library HAL.dll\nexports\n  KeStallExecutionProcessor\nVERSION 1.0\n")
            .expect("valid def");
        assert_eq!(def.library, "HAL.dll");
        assert_eq!(def.exports, ["KeStallExecutionProcessor"]);
    }

    #[test]
    fn exports_on_the_statement_line() {
        let def =
            parse_def("LIBRARY ks.sys\nEXPORTS KsGetDevice\n  KsAcquireDevice\n").expect("valid");
        assert_eq!(def.exports, ["KsGetDevice", "KsAcquireDevice"]);
    }

    #[test]
    fn rejects_malformed_files() {
        assert!(
            parse_def("EXPORTS\n  Foo\n").is_err(),
            "EXPORTS before LIBRARY"
        );
        assert!(parse_def("; nothing\n").is_err(), "no LIBRARY");
        assert!(parse_def("LIBRARY\n").is_err(), "LIBRARY without a name");
        assert!(
            parse_def("LIBRARY a.sys\nLIBRARY b.sys\n").is_err(),
            "two LIBRARY"
        );
        assert!(
            parse_def("LIBRARY a.sys\nFoo\n").is_err(),
            "entry outside EXPORTS"
        );
        assert!(
            parse_def("LIBRARY a.sys\nEXPORTS\n  @3\n").is_err(),
            "ordinal without name"
        );
    }
}
