//! `image-check [--def FILE]... [--map FILE] IMAGE`
//!
//! Exit status: 0 when every check passes, 1 when any fails (one `FAIL:` line each),
//! 2 for a usage error or an input file that cannot be read or parsed.

use std::path::Path;
use std::process::ExitCode;

use image_check::check::check_image;
use image_check::def::{DefFile, parse_def};
use image_check::image::read_image;
use image_check::map::{LinkMap, parse_map};
use image_check::summary;

const USAGE: &str = "\
usage: image-check [--def FILE]... [--map FILE] IMAGE

Checks a kernel-mode driver image (PE32+ .sys/.dll).
  --def FILE   a module-definition file (LIBRARY + EXPORTS): the functions the image may
               import from that module; repeat for each kernel module
  --map FILE   the linker map (lld-link/link.exe /MAP): names DriverEntry when it is not
               exported, lets the __chkstk checks see symbols, and names the function
               holding a refused privileged instruction";

struct Args {
    defs: Vec<String>,
    map: Option<String>,
    image: String,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut defs = Vec::new();
    let mut map = None;
    let mut image = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a file name"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--def" => defs.push(value("--def")?),
            "--map" if map.is_some() => return Err("--map given twice".into()),
            "--map" => map = Some(value("--map")?),
            f if f.starts_with('-') && f.len() > 1 => return Err(format!("unknown option {f}")),
            _ if image.is_some() => return Err(format!("more than one IMAGE: {arg}")),
            _ => image = Some(arg),
        }
    }
    let image = image.ok_or("no IMAGE given")?;
    Ok(Args { defs, map, image })
}

fn read_text(path: &str, what: &str) -> Result<String, String> {
    std::fs::read_to_string(Path::new(path)).map_err(|e| format!("cannot read {what} {path}: {e}"))
}

fn load_defs(paths: &[String]) -> Result<Vec<DefFile>, String> {
    paths
        .iter()
        .map(|path| parse_def(&read_text(path, "--def")?).map_err(|e| format!("{path}: {e}")))
        .collect()
}

fn load_map(path: Option<&String>) -> Result<Option<LinkMap>, String> {
    path.map(|path| parse_map(&read_text(path, "--map")?).map_err(|e| format!("{path}: {e}")))
        .transpose()
}

fn run(args: Args) -> Result<bool, String> {
    let defs = load_defs(&args.defs)?;
    let map = load_map(args.map.as_ref())?;
    let data =
        std::fs::read(&args.image).map_err(|e| format!("cannot read IMAGE {}: {e}", args.image))?;
    let image = match read_image(&data) {
        Ok(image) => image,
        Err(e) => {
            println!("FAIL: {}: {e}", args.image);
            println!("image-check: FAIL (1 problem)");
            return Ok(false);
        }
    };
    let report = check_image(&image, &defs, map.as_ref());
    for failure in &report.failures {
        println!("FAIL: {failure}");
    }
    print!("{}", summary(&args.image, &image, &report));
    match report.failures.len() {
        0 => println!("image-check: PASS"),
        1 => println!("image-check: FAIL (1 problem)"),
        n => println!("image-check: FAIL ({n} problems)"),
    }
    Ok(report.failures.is_empty())
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("image-check: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("image-check: error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_repeated_defs_map_and_image() {
        let args = parse(&["--def", "a.def", "--def=b.def", "--map", "x.map", "x.sys"]).unwrap();
        assert_eq!(args.defs, ["a.def", "b.def"]);
        assert_eq!(args.map.as_deref(), Some("x.map"));
        assert_eq!(args.image, "x.sys");
    }

    #[test]
    fn rejects_bad_command_lines() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--def"]).is_err());
        assert!(parse(&["--map", "a", "--map", "b", "x.sys"]).is_err());
        assert!(parse(&["--frobnicate", "x.sys"]).is_err());
        assert!(parse(&["a.sys", "b.sys"]).is_err());
        assert_eq!(parse(&["--help"]).err().as_deref(), Some(""));
    }
}
