//! Reading and writing float32 `.npy` files (C order, little-endian `<f4`).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use npyz::WriterBuilder;

use crate::error::MapsError;
use crate::save::{Overwrite, write_atomic};

/// Writes `data` with the given `shape` as a C-order little-endian float32 (`<f4`) `.npy` file.
/// Fails if the shape's element count differs from `data.len()`. Written atomically; an
/// existing file is replaced only under [`Overwrite::Replace`].
pub fn write_npy(
    path: &Path,
    shape: &[u64],
    data: &[f32],
    overwrite: Overwrite,
) -> Result<(), MapsError> {
    let count = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    if count != Some(data.len() as u64) {
        return Err(MapsError::Npy {
            path: path.to_path_buf(),
            message: format!("shape {shape:?} does not hold {} values", data.len()),
        });
    }
    let dtype: npyz::TypeStr = "<f4".parse().map_err(|e| MapsError::Npy {
        path: path.to_path_buf(),
        message: format!("internal dtype error: {e}"),
    })?;
    write_atomic(path, overwrite, |file| {
        let mut writer = npyz::WriteOptions::new()
            .dtype(npyz::DType::Plain(dtype))
            .shape(shape)
            .writer(file)
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()
    })
}

/// Reads a C-order float `.npy` file, returning `(shape, values)`. Float32 data of either
/// byte order is read as is; float64 is converted to float32. Anything else is an error.
pub fn read_npy(path: &Path) -> Result<(Vec<u64>, Vec<f32>), MapsError> {
    let bad = |message: String| MapsError::Npy {
        path: path.to_path_buf(),
        message,
    };
    let file = File::open(path).map_err(|e| MapsError::io(path, e))?;
    let npy = npyz::NpyFile::new(BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
    if npy.order() != npyz::Order::C {
        return Err(bad("Fortran-order arrays are not supported".into()));
    }
    let shape = npy.shape().to_vec();
    let npyz::DType::Plain(ts) = npy.dtype() else {
        return Err(bad("structured arrays are not supported".into()));
    };
    let is_float = ts.type_char() == npyz::TypeChar::Float;
    let data = match (is_float, ts.size_field()) {
        (true, 4) => npy.into_vec::<f32>(),
        (true, 8) => npy
            .into_vec::<f64>()
            .map(|v| v.into_iter().map(|x| x as f32).collect()),
        _ => return Err(bad(format!("dtype '{ts}' is not float32 or float64"))),
    }
    .map_err(|e| bad(e.to_string()))?;
    Ok((shape, data))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn temp_path(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("featurescope-maps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn round_trip_and_header() {
        let path = temp_path("round.npy");
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();
        write_npy(&path, &[2, 3, 4], &data, Overwrite::Refuse).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"\x93NUMPY"));
        let header = String::from_utf8_lossy(&bytes[..128.min(bytes.len())]);
        assert!(header.contains("'descr': '<f4'"), "{header}");
        assert!(header.contains("'fortran_order': False"), "{header}");
        // npyz writes `(2, 3, 4, )`, which numpy reads the same as `(2, 3, 4)`.
        assert!(header.contains("'shape': (2, 3, 4"), "{header}");
        assert_eq!(&bytes[bytes.len() - 4..], &data[23].to_le_bytes());
        let (shape, back) = read_npy(&path).unwrap();
        assert_eq!(shape, vec![2, 3, 4]);
        assert_eq!(back, data);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn errors_name_the_path() {
        let path = temp_path("bad-shape.npy");
        let err = write_npy(&path, &[2, 2], &[1.0], Overwrite::Refuse).unwrap_err();
        assert!(err.to_string().contains("bad-shape.npy"));
        let missing = temp_path("missing.npy");
        let err = read_npy(&missing).unwrap_err();
        assert!(matches!(err, MapsError::Io { .. }));
        assert!(err.to_string().contains("missing.npy"));
        let junk = temp_path("junk.npy");
        std::fs::write(&junk, b"not numpy").unwrap();
        assert!(matches!(read_npy(&junk), Err(MapsError::Npy { .. })));
        std::fs::remove_file(&junk).unwrap();
    }
}
