//! Image decoding and preprocessing from arbitrary bytes: `decode_image` (every format the
//! `image` crate reads, within featurescope's limits) then `prepare` (flatten, crop, resize,
//! scale). The first byte picks the file-name extension, which names signature-less formats.
#![no_main]

use featurescope_net::preprocess;
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 8] = [
    "x", "x.tga", "x.png", "x.jpg", "x.ico", "x.pnm", "x.hdr", "x.dds",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    if let Ok(img) = preprocess::decode_image(bytes, name) {
        let input = preprocess::prepare(&img);
        assert_eq!(input.tensor.len(), 3 * 299 * 299);
        assert!(input.tensor.iter().all(|v| (-1.0..=1.0).contains(v)));
    }
});
