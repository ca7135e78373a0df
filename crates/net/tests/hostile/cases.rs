//! The hostile-input table: every image and weight file issue 9 names, built in a temporary
//! folder (or committed, where a real encoder made it: see `make_fixtures.py`), each with the
//! outcome it must have. Shared by the library's, the CLI's and the app's table tests
//! (`#[path]`-included), so all three are held to the same list.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// What must happen to a case: every row names one outcome.
#[derive(Clone, Debug)]
pub enum Expect {
    /// Analysed; when given, the crop's centre pixel is within 12 of this colour per channel.
    Analysed(Option<[u8; 3]>),
    /// Refused with a one-line message that names the file and contains these words (never
    /// empty: [`checked`] refuses a row that says nothing).
    Refused(&'static str),
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: &'static str,
    pub path: PathBuf,
    pub expect: Expect,
}

impl Case {
    /// The file's own name, as messages show it.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Whether the case must be refused.
    pub fn refused(&self) -> bool {
        matches!(self.expect, Expect::Refused(_))
    }

    /// The words a refusal's message must contain (`None` for a case to be analysed).
    pub fn says(&self) -> Option<&'static str> {
        match self.expect {
            Expect::Refused(words) => Some(words),
            Expect::Analysed(_) => None,
        }
    }
}

/// The table as built, after checking that every refusal names the words its message must
/// contain.
fn checked(cases: Vec<Case>) -> Vec<Case> {
    for case in &cases {
        assert!(
            case.says().is_none_or(|w| !w.trim().is_empty()),
            "{}: a refusal must name the words its message contains",
            case.name
        );
    }
    cases
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn committed(name: &str) -> PathBuf {
    repo().join("crates/net/tests/hostile").join(name)
}

fn sample(name: &str) -> PathBuf {
    repo().join("assets/samples").join(name)
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn photo() -> DynamicImage {
    image::open(sample("chelsea_299.png")).unwrap()
}

fn half(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len() / 2]
}

/// A two-frame animated GIF: red, then blue.
fn animated_gif() -> Vec<u8> {
    use image::codecs::gif::{GifEncoder, Repeat};
    use image::{Delay, Frame};
    let mut out = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut out);
        enc.set_repeat(Repeat::Infinite).unwrap();
        for colour in [[220, 20, 20, 255], [20, 20, 220, 255]] {
            let frame = Frame::from_parts(
                RgbaImage::from_pixel(40, 30, Rgba(colour)),
                0,
                0,
                Delay::from_numer_denom_ms(100, 1),
            );
            enc.encode_frame(frame).unwrap();
        }
    }
    out
}

/// Transparent on the left half (black underneath), opaque green on the right.
fn transparent_png() -> Vec<u8> {
    let img = RgbaImage::from_fn(64, 64, |x, _| {
        if x < 40 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([0, 200, 0, 255])
        }
    });
    encode(&DynamicImage::ImageRgba8(img), ImageFormat::Png)
}

/// A linear-light float image of constant value 1.0: tone-mapped to sRGB(0.5) = 188.
fn float_image() -> DynamicImage {
    DynamicImage::ImageRgb32F(image::Rgb32FImage::from_pixel(48, 32, Rgb([1.0, 1.0, 1.0])))
}

/// Every image case of the table, built in `dir`.
pub fn image_cases(dir: &Path) -> Vec<Case> {
    use Expect::*;
    let png = std::fs::read(sample("coffee_299.png")).unwrap();
    let jpeg = encode(
        &DynamicImage::ImageRgb8(photo().to_rgb8()),
        ImageFormat::Jpeg,
    );
    let webp = encode(&photo(), ImageFormat::WebP);
    let tiff = encode(&photo(), ImageFormat::Tiff);
    let gif = animated_gif();
    let mut cases = vec![
        Case {
            name: "empty file",
            path: write(dir, "empty.png", b""),
            expect: Refused("empty"),
        },
        Case {
            name: "truncated PNG",
            path: write(dir, "cut.png", half(&png)),
            expect: Refused("unexpected end of file"),
        },
        Case {
            name: "truncated JPEG",
            path: write(dir, "cut.jpg", half(&jpeg)),
            // The decoder returns the rows it could read, as a browser shows a partial JPEG.
            expect: Analysed(None),
        },
        Case {
            name: "truncated WebP",
            path: write(dir, "cut.webp", half(&webp)),
            expect: Refused("Corrupt bitstream"),
        },
        Case {
            name: "truncated GIF",
            path: write(dir, "cut.gif", half(&gif)),
            expect: Refused("Unexpected End of File"),
        },
        Case {
            name: "truncated TIFF",
            path: write(dir, "cut.tiff", half(&tiff)),
            expect: Refused("failed to fill whole buffer"),
        },
        Case {
            name: "text file named .png",
            path: write(dir, "notes.png", b"Shopping list:\n- milk\n- bread\n"),
            expect: Refused("Invalid PNG signature"),
        },
        Case {
            name: "1x1",
            path: write(
                dir,
                "one.png",
                &encode(
                    &DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([200, 40, 90]))),
                    ImageFormat::Png,
                ),
            ),
            expect: Analysed(Some([200, 40, 90])),
        },
        Case {
            name: "2x2",
            path: write(
                dir,
                "two.bmp",
                &encode(
                    &DynamicImage::ImageRgb8(RgbImage::from_pixel(2, 2, Rgb([10, 120, 250]))),
                    ImageFormat::Bmp,
                ),
            ),
            expect: Analysed(Some([10, 120, 250])),
        },
        Case {
            name: "30000x30000 PNG",
            path: committed("huge_30000.png"),
            expect: Refused("30000x30000"),
        },
        Case {
            name: "JPEG claiming 65535x65535",
            path: committed("claims_65535.jpg"),
            expect: Refused("65535x65535"),
        },
        Case {
            name: "16-bit RGBA PNG",
            path: committed("rgba_16bit.png"),
            expect: Analysed(Some([40, 160, 220])),
        },
        Case {
            name: "16-bit grayscale PNG",
            path: write(
                dir,
                "gray16.png",
                &encode(
                    &DynamicImage::ImageLuma16(image::ImageBuffer::from_pixel(
                        30,
                        20,
                        image::Luma([0x8000u16]),
                    )),
                    ImageFormat::Png,
                ),
            ),
            expect: Analysed(Some([128, 128, 128])),
        },
        Case {
            name: "grayscale PNG",
            path: write(
                dir,
                "gray.png",
                &encode(
                    &DynamicImage::ImageLuma8(image::GrayImage::from_pixel(
                        30,
                        20,
                        image::Luma([77]),
                    )),
                    ImageFormat::Png,
                ),
            ),
            expect: Analysed(Some([77, 77, 77])),
        },
        Case {
            name: "grayscale + alpha PNG (half transparent)",
            path: write(
                dir,
                "gray_alpha.png",
                &encode(
                    &DynamicImage::ImageLumaA8(image::GrayAlphaImage::from_pixel(
                        30,
                        20,
                        image::LumaA([0, 128]),
                    )),
                    ImageFormat::Png,
                ),
            ),
            // Black at alpha 128 over white: 127.
            expect: Analysed(Some([127, 127, 127])),
        },
        Case {
            name: "CMYK JPEG",
            path: committed("cmyk.jpg"),
            // The gradient's centre (x=48, y=32): (96, 96, 128).
            expect: Analysed(Some([96, 96, 128])),
        },
        Case {
            name: "RGBA with transparency, composited on white",
            path: write(dir, "transparent.png", &transparent_png()),
            expect: Analysed(Some([255, 255, 255])),
        },
        Case {
            name: "animated GIF: first frame",
            path: write(dir, "anim.gif", &gif),
            expect: Analysed(Some([220, 20, 20])),
        },
        Case {
            name: "Radiance HDR, tone-mapped",
            path: write(dir, "float.hdr", &encode(&float_image(), ImageFormat::Hdr)),
            expect: Analysed(Some([188, 188, 188])),
        },
        Case {
            name: "OpenEXR float, tone-mapped",
            path: write(
                dir,
                "float.exr",
                &encode(&float_image(), ImageFormat::OpenExr),
            ),
            expect: Analysed(Some([188, 188, 188])),
        },
        Case {
            name: "broken EXIF",
            path: committed("broken_exif.jpg"),
            expect: Analysed(Some([96, 96, 128])),
        },
        Case {
            name: "a directory",
            path: {
                let d = dir.join("folder.png");
                std::fs::create_dir_all(&d).unwrap();
                d
            },
            expect: Refused("folder"),
        },
        Case {
            name: "missing file",
            path: dir.join("absent.png"),
            expect: Refused("No such file or directory"),
        },
    ];
    // A file without read permission: refused for a normal user; root reads it anyway, and
    // whether this process can is asked of the system, not guessed.
    let locked = write(dir, "locked.png", &png);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let readable = std::fs::File::open(&locked).is_ok();
    cases.push(Case {
        name: if readable {
            "unreadable file, read by root"
        } else {
            "unreadable file"
        },
        path: locked,
        expect: if readable {
            Analysed(None)
        } else {
            Refused("Permission denied")
        },
    });
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9 \xff.png");
        let p = dir.join(name);
        std::fs::write(&p, &png).unwrap();
        cases.push(Case {
            name: "non-UTF-8 path",
            path: p,
            expect: Analysed(None),
        });
    }
    checked(cases)
}

/// A file rewritten over and over (a whole photo, then half of it, then garbage) by a thread,
/// until the returned guard is dropped.
pub struct Churn {
    pub path: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Churn {
    pub fn start(dir: &Path) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let path = dir.join("changing.png");
        let png = std::fs::read(sample("coffee_299.png")).unwrap();
        std::fs::write(&path, &png).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (p, s) = (path.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let versions: [&[u8]; 3] = [&png, half(&png), b"garbage garbage"];
            let mut i = 0;
            while !s.load(Ordering::Relaxed) {
                // In place (no rename): readers see the file change under them.
                let _ = std::fs::write(&p, versions[i % 3]);
                i += 1;
            }
        });
        Self {
            path,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Churn {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Weights.

fn bundled_dir() -> PathBuf {
    repo().join("weights/inception_v3_nsfwjs")
}

/// A copy of the bundled TF.js model in `dir/name/`, its `model.json` edited by `edit`.
fn tfjs_copy(dir: &Path, name: &str, edit: impl FnOnce(&mut serde_json::Value, &Path)) -> PathBuf {
    let to = dir.join(name);
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(bundled_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    let json = to.join("model.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    edit(&mut v, &to);
    std::fs::write(&json, serde_json::to_vec(&v).unwrap()).unwrap();
    json
}

fn first_weight(v: &mut serde_json::Value) -> &mut serde_json::Value {
    &mut v["weightsManifest"][0]["weights"][0]
}

/// The first 4-d kernel in the manifest (`conv2d_1/kernel`, Conv2d_1a_3x3's).
fn first_kernel(v: &mut serde_json::Value) -> &mut serde_json::Value {
    v["weightsManifest"][0]["weights"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|w| w["shape"].as_array().is_some_and(|s| s.len() == 4))
        .unwrap()
}

/// The bundled model's conv/BN tensors under torchvision's names, as safetensors.
fn torch_tensors() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let import = featurescope_net::weights::bundled::import().unwrap();
    import
        .tensors
        .into_iter()
        .filter(|t| !t.name.starts_with("dense_head"))
        .map(|t| {
            let name = t
                .name
                .replace(".gamma", ".weight")
                .replace(".beta", ".bias");
            (name, t.shape, t.data)
        })
        .collect()
}

fn safetensors_file(dir: &Path, name: &str, tensors: &[(String, Vec<usize>, Vec<f32>)]) -> PathBuf {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(n, s, d)| {
            (
                n.clone(),
                d.iter().flat_map(|v| v.to_le_bytes()).collect(),
                s.clone(),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(n, b, s)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    let data = safetensors::serialize(views, None).unwrap();
    write(dir, name, &data)
}

/// A pickle that asks the unpickler to call `os.system("touch <marker>")`.
fn evil_pickle(marker: &Path) -> Vec<u8> {
    let cmd = format!("touch {}", marker.display());
    let mut p = Vec::new();
    p.extend_from_slice(b"\x80\x02cposix\nsystem\nq\x00X");
    p.extend_from_slice(&(cmd.len() as u32).to_le_bytes());
    p.extend_from_slice(cmd.as_bytes());
    p.extend_from_slice(b"q\x01\x85q\x02Rq\x03.");
    p
}

/// The same pickle as `archive/data.pkl` in a zip, as `torch.save` lays a file out.
fn evil_zip(marker: &Path) -> Vec<u8> {
    stored_zip(&[("archive/data.pkl", &evil_pickle(marker))])
}

/// A `torch.save`-layout file whose one tensor claims `numel` elements in its storage and
/// `shape`, while the storage file holds 16 bytes: a crafted length, never to be allocated.
fn lying_torch_zip(name: &str, shape: [i32; 4], numel: i32) -> Vec<u8> {
    let mut p = Vec::new();
    let global = |p: &mut Vec<u8>, module: &str, attr: &str| {
        p.push(b'c');
        p.extend_from_slice(format!("{module}\n{attr}\n").as_bytes());
    };
    let unicode = |p: &mut Vec<u8>, s: &str| {
        p.push(b'X');
        p.extend_from_slice(&(s.len() as u32).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    };
    let int = |p: &mut Vec<u8>, v: i32| {
        p.push(b'J');
        p.extend_from_slice(&v.to_le_bytes());
    };
    p.extend_from_slice(b"\x80\x02");
    global(&mut p, "collections", "OrderedDict");
    p.extend_from_slice(b")R");
    unicode(&mut p, name);
    global(&mut p, "torch._utils", "_rebuild_tensor_v2");
    p.extend_from_slice(b"((");
    unicode(&mut p, "storage");
    global(&mut p, "torch", "FloatStorage");
    unicode(&mut p, "0");
    unicode(&mut p, "cpu");
    int(&mut p, numel);
    p.extend_from_slice(b"tQ");
    int(&mut p, 0);
    p.push(b'(');
    for d in shape {
        int(&mut p, d);
    }
    p.extend_from_slice(b"t(");
    let mut stride = 1i32;
    let mut strides = [0i32; 4];
    for i in (0..4).rev() {
        strides[i] = stride;
        stride = stride.wrapping_mul(shape[i]);
    }
    for s in strides {
        int(&mut p, s);
    }
    p.extend_from_slice(b"t\x89");
    global(&mut p, "collections", "OrderedDict");
    p.extend_from_slice(b")RtRs.");
    stored_zip(&[
        ("archive/data.pkl", &p),
        ("archive/version", b"3\n"),
        ("archive/data/0", &[0u8; 16]),
    ])
}

/// A zip of stored (uncompressed) entries, written by hand: no zip crate in the tests.
fn stored_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let local = z.len() as u32;
        let crc = crc32(data);
        let sizes = |out: &mut Vec<u8>| {
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        };
        z.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        sizes(&mut z);
        z.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(name.as_bytes());
        z.extend_from_slice(data);
        central.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        sizes(&mut central);
        central.extend_from_slice(&[0u8; 12]);
        central.extend_from_slice(&local.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let start = z.len() as u32;
    z.extend_from_slice(&central);
    z.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    z.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    z.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    z.extend_from_slice(&(central.len() as u32).to_le_bytes());
    z.extend_from_slice(&start.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The file a code-running pickle would create if it ever ran.
pub fn pickle_marker(dir: &Path) -> PathBuf {
    dir.join("PICKLE-CODE-RAN")
}

/// Every weight-file case of the table, built in `dir`.
pub fn weight_cases(dir: &Path) -> Vec<Case> {
    use Expect::*;
    let tensors = torch_tensors();
    let mut missing = tensors.clone();
    let dropped = missing.remove(10);
    assert!(dropped.0.contains("conv") || dropped.0.contains("bn"));
    let mut extra = tensors.clone();
    extra.push(("layer4.2.conv3.weight".into(), vec![2], vec![0.5, 0.5]));
    let mut nan = tensors.clone();
    nan[20].2[3] = f32::NAN;
    let mut inf = tensors.clone();
    inf[7].2[0] = f32::INFINITY;
    let mut misshapen = tensors.clone();
    let kernel = misshapen.iter_mut().find(|t| t.1.len() == 4).unwrap();
    kernel.1 = vec![kernel.2.len()];
    let resnet = vec![
        (
            "conv1.weight".to_string(),
            vec![64, 3, 7, 7],
            vec![0.01; 64 * 3 * 49],
        ),
        ("bn1.weight".to_string(), vec![64], vec![1.0; 64]),
        (
            "layer1.0.conv1.weight".to_string(),
            vec![64, 64, 1, 1],
            vec![0.01; 64 * 64],
        ),
        ("fc.weight".to_string(), vec![1000, 512], vec![0.0; 512_000]),
    ];
    let good = safetensors_file(dir, "good.safetensors", &tensors);
    let good_bytes = std::fs::read(&good).unwrap();
    let marker = pickle_marker(dir);
    let mut absurd = (u64::MAX / 2).to_le_bytes().to_vec();
    absurd.extend_from_slice(b"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
    checked(vec![
        Case {
            name: "safetensors, complete",
            path: good,
            expect: Analysed(None),
        },
        Case {
            name: "TF.js: truncated shard",
            path: tfjs_copy(dir, "tfjs_cut", |_, d| {
                let shard = d.join("group1-shard6of6.bin");
                let bytes = std::fs::read(&shard).unwrap();
                std::fs::write(&shard, half(&bytes)).unwrap();
            }),
            expect: Refused("truncated"),
        },
        Case {
            name: "TF.js: missing shard",
            path: tfjs_copy(dir, "tfjs_missing", |_, d| {
                std::fs::remove_file(d.join("group1-shard3of6.bin")).unwrap()
            }),
            expect: Refused("group1-shard3of6.bin"),
        },
        Case {
            name: "TF.js: wrong shape",
            path: tfjs_copy(dir, "tfjs_shape", |v, _| {
                let w = first_kernel(v);
                let shape = w["shape"].as_array().unwrap().clone();
                let mut s: Vec<u64> = shape.iter().map(|x| x.as_u64().unwrap()).collect();
                s.swap(2, 3);
                w["shape"] = serde_json::json!(s);
            }),
            expect: Refused("Conv2d_1a_3x3"),
        },
        Case {
            name: "TF.js: absurd shape (no huge allocation)",
            path: tfjs_copy(dir, "tfjs_absurd", |v, _| {
                first_weight(v)["shape"] = serde_json::json!([4294967296u64, 4294967296u64, 3, 32]);
            }),
            expect: Refused("claims shape"),
        },
        Case {
            name: "TF.js: one shard listed a thousand times",
            path: tfjs_copy(dir, "tfjs_repeat", |v, _| {
                let paths = &mut v["weightsManifest"][0]["paths"];
                let first = paths[0].clone();
                *paths = serde_json::Value::Array(vec![first; 1000]);
            }),
            expect: Refused("MiB"),
        },
        Case {
            name: "TF.js: dequantises to infinity",
            path: tfjs_copy(dir, "tfjs_inf", |v, _| {
                let w = first_weight(v);
                if let Some(q) = w.get_mut("quantization") {
                    q["min"] = serde_json::json!(1e39);
                } else {
                    panic!("the bundled model is expected to be quantized");
                }
            }),
            expect: Refused("infinite"),
        },
        Case {
            name: "TF.js: another architecture",
            path: tfjs_copy(dir, "tfjs_other", |v, _| {
                let layers = v["modelTopology"]["model_config"]["config"]["layers"]
                    .as_array_mut()
                    .unwrap();
                layers.truncate(12);
            }),
            expect: Refused("Inception-V3 has 94"),
        },
        Case {
            name: "safetensors: missing tensor",
            path: safetensors_file(dir, "missing.safetensors", &missing),
            expect: Refused("missing"),
        },
        Case {
            name: "safetensors: extra tensor",
            path: safetensors_file(dir, "extra.safetensors", &extra),
            expect: Refused("layer4.2.conv3.weight"),
        },
        Case {
            name: "safetensors: NaN",
            path: safetensors_file(dir, "nan.safetensors", &nan),
            expect: Refused("NaN"),
        },
        Case {
            name: "safetensors: infinity",
            path: safetensors_file(dir, "inf.safetensors", &inf),
            expect: Refused("infinite"),
        },
        Case {
            name: "safetensors: wrong shape",
            path: safetensors_file(dir, "shape.safetensors", &misshapen),
            expect: Refused("Conv2d_1a_3x3"),
        },
        Case {
            name: "safetensors: truncated",
            path: write(dir, "cut.safetensors", half(&good_bytes)),
            expect: Refused("incomplete metadata"),
        },
        Case {
            name: "safetensors: absurd header length",
            path: write(dir, "absurd.safetensors", &absurd),
            expect: Refused("header too large"),
        },
        Case {
            name: "safetensors: a ResNet",
            path: safetensors_file(dir, "resnet.safetensors", &resnet),
            expect: Refused("tensor `fc.weight` has shape [1000, 512], expected [1000, 2048]"),
        },
        Case {
            name: "pth: pickle that runs code",
            path: write(dir, "evil.pth", &evil_pickle(&marker)),
            expect: Refused("found posix.system"),
        },
        Case {
            name: "pth: zip whose pickle runs code",
            path: write(dir, "evil_zip.pth", &evil_zip(&marker)),
            expect: Refused("found posix.system"),
        },
        Case {
            name: "pth: storage claiming 2^31 elements",
            path: write(
                dir,
                "lying.pth",
                &lying_torch_zip("Conv2d_1a_3x3.conv.weight", [32, 3, 3, 3], i32::MAX),
            ),
            expect: Refused("requires 864 elements from storage '0', but only 4 are available"),
        },
        Case {
            name: "pth: shape claiming 2^62 elements",
            path: write(
                dir,
                "lying_shape.pth",
                &lying_torch_zip("Conv2d_1a_3x3.conv.weight", [i32::MAX, i32::MAX, 3, 3], 864),
            ),
            expect: Refused("element count overflows"),
        },
        Case {
            name: "pth: truncated zip",
            path: write(dir, "cut.pth", half(&evil_zip(&marker))),
            expect: Refused("invalid Zip archive"),
        },
        Case {
            name: "pth: garbage",
            path: write(dir, "garbage.pth", &[0x80, 0x02, 0xff, 0x00, 0x13, 0x37]),
            expect: Refused("invalid pickle opcode"),
        },
        Case {
            name: "empty weight file",
            path: write(dir, "empty.safetensors", b""),
            expect: Refused("header too small"),
        },
    ])
}
