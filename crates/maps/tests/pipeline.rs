//! End-to-end use of the public API, the way the app and CLI call it.
#![allow(clippy::unwrap_used)]

use featurescope_maps::{
    Colormap, GridOptions, LayerMaps, NormSettings, Normalization, Resample, SortKey, colorize,
    read_npy, render_grid, resample, tile_order, write_npy,
};

fn sample_layer() -> LayerMaps {
    // 6 channels of 5x5: channel c is a ramp times (c - 2), so 2 is dead and 0, 1 are negative.
    let data = (0..6)
        .flat_map(|c| (0..25).map(move |i| i as f32 * (c as f32 - 2.0)))
        .collect();
    LayerMaps::new(6, 5, 5, data).unwrap()
}

#[test]
fn stats_order_render_and_save() {
    let maps = sample_layer();
    let stats = maps.stats();
    assert!(stats[2].dead);
    let order = tile_order(&stats, SortKey::Max, true, None);
    // Channels 0 and 1 tie at max 0 and keep index order.
    assert_eq!(order, vec![5, 4, 3, 0, 1]);

    let opts = GridOptions {
        tile_px: 24,
        colormap: Colormap::Diverging,
        norm: NormSettings {
            mode: Normalization::PerLayer,
            clip_percentile: Some(1.0),
            symmetric: true,
        },
        order: Some(order),
        title: Some("layer3  6x5x5  diverging  per-layer".into()),
        ..Default::default()
    };
    let img = render_grid(&maps, &opts).unwrap();
    let dir = std::env::temp_dir().join(format!("featurescope-maps-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("grid.png");
    img.save(&png).unwrap();
    let back = image::open(&png).unwrap().to_rgba8();
    assert_eq!(back.dimensions(), img.dimensions());

    let npy = dir.join("maps.npy");
    write_npy(
        &npy,
        &[1, 6, 5, 5],
        &maps.data,
        featurescope_maps::Overwrite::Refuse,
    )
    .unwrap();
    let (shape, data) = read_npy(&npy).unwrap();
    assert_eq!(LayerMaps::from_shape(&shape, data).unwrap(), maps);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn inspector_path_prepared_norm_and_upsample() {
    let maps = sample_layer();
    let prepared = NormSettings::default().prepare(&maps);
    let range = prepared.range(&maps, 4);
    let big = resample(maps.channel(4), 5, 5, 40, 40, Resample::Bilinear);
    let mut rgba = Vec::new();
    colorize(&big, range, Colormap::Magma, &mut rgba);
    assert_eq!(rgba.len(), 40 * 40 * 4);
    assert!(rgba.chunks(4).all(|p| p[3] == 255));
}
