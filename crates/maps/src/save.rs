//! Writing exports safely: every file is written to a temporary file beside its destination
//! and renamed over it only once complete (a crash, a full disk or a killed process never
//! leaves half a PNG under the real name), and an existing file is replaced only when the
//! caller says the person agreed ([`Overwrite::Replace`]); otherwise the write is refused
//! with a message that says how to allow it. `tempfile` does the temporary file and the
//! no-clobber rename (`renameat2(RENAME_NOREPLACE)` / link + unlink), atomically.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::MapsError;

/// What to do when the destination already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overwrite {
    /// Refuse: the file stays as it was.
    Refuse,
    /// Replace it (the person was asked, or passed `--overwrite`).
    Replace,
}

/// The error for an existing destination under [`Overwrite::Refuse`].
pub fn exists_error(path: &Path) -> MapsError {
    MapsError::Exists {
        path: path.to_path_buf(),
    }
}

/// Write `path` atomically with `write`, honouring `overwrite`.
pub fn write_atomic(
    path: &Path,
    overwrite: Overwrite,
    write: impl FnOnce(&mut BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<(), MapsError> {
    if overwrite == Overwrite::Refuse && path.exists() {
        return Err(exists_error(path));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io = |e| MapsError::io(path, e);
    let tmp = tempfile::Builder::new()
        .prefix(".featurescope-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(io)?;
    let (file, tmp_path) = tmp.into_parts();
    let mut out = BufWriter::new(file);
    write(&mut out).map_err(io)?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    let tmp = tempfile::NamedTempFile::from_parts(file, tmp_path);
    let persisted = match overwrite {
        Overwrite::Replace => tmp.persist(path),
        Overwrite::Refuse => tmp.persist_noclobber(path),
    };
    match persisted {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Err(exists_error(path)),
        Err(e) => Err(io(e.error)),
    }
}

/// Save an image atomically; the format follows the extension (PNG by default).
pub fn save_image(
    path: &Path,
    img: &image::DynamicImage,
    overwrite: Overwrite,
) -> Result<(), MapsError> {
    let format = image::ImageFormat::from_path(path).unwrap_or(image::ImageFormat::Png);
    write_atomic(path, overwrite, |w| {
        img.write_to(&mut *w, format)
            .map_err(std::io::Error::other)?;
        w.flush()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_existing_file_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, "before").unwrap();
        let err = write_atomic(&p, Overwrite::Refuse, |w| w.write_all(b"after")).unwrap_err();
        assert!(err.to_string().contains("--overwrite"), "{err}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "before");
        write_atomic(&p, Overwrite::Replace, |w| w.write_all(b"after")).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "after");
    }

    #[test]
    fn a_failed_write_leaves_no_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.png");
        let err = write_atomic(&p, Overwrite::Refuse, |w| {
            w.write_all(b"half a file")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert!(!p.exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "temporary removed"
        );
    }

    #[test]
    fn saves_a_png_that_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.png");
        let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            3,
            2,
            image::Rgb([1, 2, 3]),
        ));
        save_image(&p, &img, Overwrite::Refuse).unwrap();
        assert_eq!(image::open(&p).unwrap().to_rgb8(), img.to_rgb8());
    }
}
