//! Writing the report file.

use std::path::Path;

use crate::error::{Error, Result};

/// Write `html` to `path` atomically: a temporary file next to it, then a rename, so an
/// interrupted run never leaves half a report where a whole one was.
pub fn write_html(path: &Path, html: &str) -> Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::config("out", format!("{} is not a file path", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, html).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::write_html;

    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.html");
        write_html(&path, "one").unwrap();
        write_html(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn bad_paths_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_html(&dir.path().join("missing/r.html"), "x").is_err());
        assert!(write_html(std::path::Path::new("/"), "x").is_err());
    }
}
