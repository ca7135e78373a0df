//! The comparison figure for a paper: the two inputs, one layer's tiles under both on one scale
//! and their difference on a diverging colormap, with labels and colour bars, drawn at a scale
//! factor (2 for print: every length doubled, text drawn with 2x2 pixels per font pixel).

use image::imageops::FilterType;
use image::{RgbImage, Rgba, RgbaImage};

use crate::colormap::{Colormap, colorize};
use crate::error::MapsError;
use crate::grid::{MAX_GRID_SIDE, draw_tile, fmt_num};
use crate::norm::{NormSettings, Normalization, ValueRange};
use crate::pair::LayerPair;
use crate::text::{GLYPH, draw_text_scaled, fill_rect};

const BACKGROUND: [u8; 3] = [255, 255, 255];
const CELL_BG: [u8; 3] = [220, 220, 220];
const TEXT: [u8; 3] = [20, 20, 20];
const MARGIN: u32 = 10;
const LINE: u32 = 12;
const BAR_H: u32 = 10;
/// The widest a tile grid gets, in logical pixels.
const GRID_MAX_W: u32 = 360;
/// Largest input thumbnail side, in logical pixels.
const INPUT_MAX: u32 = 180;

/// One side of the figure: its network input (the 299x299 crop) and a label.
#[derive(Clone, Debug)]
pub struct FigureSide {
    /// The input the network saw.
    pub input: RgbImage,
    /// What it is, e.g. `"chelsea.png · bundled model"`.
    pub label: String,
}

/// How the figure is drawn.
#[derive(Clone, Debug)]
pub struct FigureOptions {
    /// Colormap of A and B (the difference is always [`Colormap::Diverging`]).
    pub colormap: Colormap,
    /// Normalisation, shared by A and B.
    pub norm: NormSettings,
    /// The heading, e.g. the layer and the normalisation.
    pub title: String,
    /// Channels in this order (`None`: by index).
    pub order: Option<Vec<usize>>,
    /// Scale factor: 2 draws every length twice as long.
    pub scale: u32,
}

/// Geometry in logical pixels.
struct Layout {
    columns: u32,
    tile: u32,
    panel: u32,
    input: u32,
    inputs_y: u32,
    grids_y: u32,
    bars_y: u32,
    width: u32,
    height: u32,
}

fn layout(n: usize) -> Layout {
    let columns = ((n.max(1) as f64).sqrt().ceil() as u32).max(1);
    let rows = (n.max(1) as u32).div_ceil(columns);
    let tile = ((GRID_MAX_W - columns - 1) / columns).clamp(2, 48);
    let grid_w = columns * tile + columns + 1;
    let grid_h = rows * tile + rows + 1;
    let panel = grid_w.max(160);
    let input = panel.min(INPUT_MAX);
    let inputs_y = MARGIN + LINE + 6;
    let grids_y = inputs_y + input + 2 * LINE + 6 + LINE;
    let bars_y = grids_y + grid_h + 8;
    Layout {
        columns,
        tile,
        panel,
        input,
        inputs_y,
        grids_y,
        bars_y,
        width: 2 * MARGIN + 3 * panel + 2 * MARGIN,
        height: bars_y + BAR_H + 4 + GLYPH + LINE + MARGIN,
    }
}

/// Draws the figure of `pair` with its two sides' inputs and labels.
pub fn render_figure(
    pair: &LayerPair,
    a: &FigureSide,
    b: &FigureSide,
    opts: &FigureOptions,
) -> Result<RgbaImage, MapsError> {
    let order: Vec<usize> = opts
        .order
        .clone()
        .unwrap_or_else(|| (0..pair.channels()).collect());
    if let Some(&bad) = order.iter().find(|&&c| c >= pair.channels()) {
        return Err(MapsError::ChannelOutOfRange {
            channel: bad,
            channels: pair.channels(),
        });
    }
    let l = layout(order.len());
    let s = opts.scale.clamp(1, 4);
    let (w, h) = (u64::from(l.width * s), u64::from(l.height * s));
    if w > u64::from(MAX_GRID_SIDE) || h > u64::from(MAX_GRID_SIDE) {
        return Err(MapsError::TooLarge {
            width: w,
            height: h,
            max: MAX_GRID_SIDE,
        });
    }
    let [r, g, bl] = BACKGROUND;
    let mut img = RgbaImage::from_pixel(w as u32, h as u32, Rgba([r, g, bl, 255]));
    let mut canvas = Canvas { img: &mut img, s };
    canvas.text(MARGIN, MARGIN, &opts.title, l.width - 2 * MARGIN);
    draw_inputs(&mut canvas, &l, a, b);
    let shared = pair.shared_ranges(&opts.norm);
    let diff = pair.diff_ranges(&opts.norm);
    let grids: [(&str, &crate::LayerMaps, &[ValueRange], Colormap); 3] = [
        ("A", &pair.a, &shared, opts.colormap),
        ("B", &pair.b, &shared, opts.colormap),
        ("A - B", &pair.diff, &diff, Colormap::Diverging),
    ];
    for (k, (name, maps, ranges, cmap)) in grids.into_iter().enumerate() {
        let x = column_x(&l, k as u32);
        canvas.text(x, l.grids_y - LINE, name, l.panel);
        draw_grid(&mut canvas, &l, x, maps, &order, ranges, cmap);
    }
    draw_bars(&mut canvas, &l, opts, &shared, &diff);
    Ok(img)
}

fn column_x(l: &Layout, k: u32) -> u32 {
    MARGIN + k * (l.panel + MARGIN)
}

/// An image drawn in logical pixels, `s` device pixels each.
struct Canvas<'a> {
    img: &'a mut RgbaImage,
    s: u32,
}

impl Canvas<'_> {
    /// Text at a logical position, cut to `max_w` logical pixels.
    fn text(&mut self, x: u32, y: u32, text: &str, max_w: u32) {
        let fits = (max_w / GLYPH) as usize;
        let shown: String = if text.chars().count() > fits {
            let mut t: String = text.chars().take(fits.saturating_sub(2)).collect();
            t.push_str("..");
            t
        } else {
            text.to_string()
        };
        draw_text_scaled(self.img, (x * self.s, y * self.s), &shown, TEXT, self.s);
    }

    fn rect(&mut self, x: u32, y: u32, w: u32, h: u32, rgb: [u8; 3]) {
        let s = self.s;
        fill_rect(self.img, x * s, y * s, w * s, h * s, rgb);
    }
}

/// The inputs above A and B, each with its label; above the difference, what it shows.
fn draw_inputs(c: &mut Canvas<'_>, l: &Layout, a: &FigureSide, b: &FigureSide) {
    for (k, side) in [a, b].into_iter().enumerate() {
        let x = column_x(l, k as u32);
        let px = l.input * c.s;
        let thumb = image::imageops::resize(&side.input, px, px, FilterType::Triangle);
        for (tx, ty, p) in thumb.enumerate_pixels() {
            let (ix, iy) = (x * c.s + tx, l.inputs_y * c.s + ty);
            if ix < c.img.width() && iy < c.img.height() {
                c.img.put_pixel(ix, iy, Rgba([p[0], p[1], p[2], 255]));
            }
        }
        let y = l.inputs_y + l.input + 4;
        let name = if k == 0 { "A" } else { "B" };
        c.text(x, y, &format!("{name}: {}", side.label), l.panel);
    }
    let x = column_x(l, 2);
    c.text(x, l.inputs_y, "A - B: where A is", l.panel);
    c.text(x, l.inputs_y + LINE, "higher (red) or lower", l.panel);
    c.text(x, l.inputs_y + 2 * LINE, "(blue) than B", l.panel);
}

fn draw_grid(
    c: &mut Canvas<'_>,
    l: &Layout,
    x: u32,
    maps: &crate::LayerMaps,
    order: &[usize],
    ranges: &[ValueRange],
    cmap: Colormap,
) {
    let mut rgba = Vec::new();
    let s = c.s;
    for (slot, &ch) in order.iter().enumerate() {
        let slot = slot as u32;
        let tx = x + 1 + (slot % l.columns) * (l.tile + 1);
        let ty = l.grids_y + 1 + (slot / l.columns) * (l.tile + 1);
        c.rect(tx, ty, l.tile, l.tile, CELL_BG);
        let range = ranges
            .get(ch)
            .copied()
            .unwrap_or(ValueRange { lo: 0.0, hi: 1.0 });
        colorize(maps.channel(ch), range, cmap, &mut rgba);
        draw_tile(
            c.img,
            (tx * s, ty * s),
            l.tile * s,
            maps.width,
            maps.height,
            &rgba,
        );
    }
}

/// The shared colour bar under A and B, the diverging one under the difference.
fn draw_bars(
    c: &mut Canvas<'_>,
    l: &Layout,
    opts: &FigureOptions,
    shared: &[ValueRange],
    diff: &[ValueRange],
) {
    let per_tile = opts.norm.mode == Normalization::PerTile;
    let pick = |r: &[ValueRange]| (!per_tile).then(|| r.first().copied()).flatten();
    let ab_w = 2 * l.panel + MARGIN;
    let note = "per-tile range, shared by A and B";
    bar(
        c,
        (column_x(l, 0), l.bars_y, ab_w),
        opts.colormap,
        pick(shared),
        note,
    );
    let note = "per-tile +-max |A - B|";
    bar(
        c,
        (column_x(l, 2), l.bars_y, l.panel),
        Colormap::Diverging,
        pick(diff),
        note,
    );
}

/// A colour bar at `(x, y)`, `w` wide, with its range's ends (and 0) under it, or `note`.
fn bar(
    c: &mut Canvas<'_>,
    at: (u32, u32, u32),
    cmap: Colormap,
    range: Option<ValueRange>,
    note: &str,
) {
    let (x, y, w) = at;
    let s = c.s;
    let span = (w * s).max(2);
    for i in 0..span {
        let t = i as f32 / (span - 1) as f32;
        fill_rect(c.img, x * s + i, y * s, 1, BAR_H * s, cmap.map(t));
    }
    let ty = y + BAR_H + 4;
    let Some(range) = range else {
        c.text(x, ty, note, w);
        return;
    };
    let (lo, hi) = (fmt_num(range.lo), fmt_num(range.hi));
    c.text(x, ty, &lo, w);
    let hi_w = GLYPH * hi.chars().count() as u32;
    c.text((x + w).saturating_sub(hi_w), ty, &hi, w);
    if range.lo < 0.0 && range.hi > 0.0 {
        let zx = x + (range.normalize(0.0) * (w - 1) as f32).round() as u32;
        c.rect(zx, y + BAR_H, 1, 3, TEXT);
        c.text(zx.saturating_sub(GLYPH / 2), ty, "0", GLYPH);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::LayerMaps;

    fn side(v: u8) -> FigureSide {
        FigureSide {
            input: RgbImage::from_pixel(299, 299, image::Rgb([v, v, v])),
            label: "test".into(),
        }
    }

    fn opts(mode: Normalization) -> FigureOptions {
        FigureOptions {
            colormap: Colormap::Viridis,
            norm: NormSettings {
                mode,
                clip_percentile: None,
                symmetric: false,
            },
            title: "layer".into(),
            order: None,
            scale: 2,
        }
    }

    /// The grid of column `k` as pixels, from the layout.
    fn grid_pixels(img: &RgbaImage, n: usize, k: u32) -> Vec<[u8; 4]> {
        let l = layout(n);
        let rows = (n as u32).div_ceil(l.columns);
        let (x0, y0) = (column_x(&l, k) * 2, l.grids_y * 2);
        let (w, h) = (
            (l.columns * (l.tile + 1) + 1) * 2,
            (rows * (l.tile + 1) + 1) * 2,
        );
        (y0..y0 + h)
            .flat_map(|y| (x0..x0 + w).map(move |x| (x, y)))
            .map(|(x, y)| img.get_pixel(x, y).0)
            .collect()
    }

    #[test]
    fn the_same_image_twice_draws_identical_halves_and_a_white_difference() {
        let maps = LayerMaps::new(5, 3, 3, (0..45).map(|i| (i % 7) as f32).collect()).unwrap();
        let pair = LayerPair::new(maps.clone(), maps).unwrap();
        for mode in [Normalization::PerLayer, Normalization::PerTile] {
            let img = render_figure(&pair, &side(10), &side(10), &opts(mode)).unwrap();
            let l = layout(5);
            assert_eq!(img.dimensions(), (l.width * 2, l.height * 2));
            assert_eq!(grid_pixels(&img, 5, 0), grid_pixels(&img, 5, 1));
            // Zero difference: the diverging map's centre (white) in every tile's pixels.
            let centre = Colormap::Diverging.map(0.5);
            let white = [centre[0], centre[1], centre[2], 255];
            let diff = grid_pixels(&img, 5, 2);
            let cells = diff.iter().filter(|p| **p == white).count();
            assert!(cells >= 5 * 9 * 4, "{cells} centre-coloured pixels");
        }
    }

    #[test]
    fn channels_out_of_range_fail() {
        let maps = LayerMaps::new(1, 1, 1, vec![1.0]).unwrap();
        let pair = LayerPair::new(maps.clone(), maps).unwrap();
        let bad = FigureOptions {
            order: Some(vec![3]),
            ..opts(Normalization::PerLayer)
        };
        assert!(render_figure(&pair, &side(0), &side(0), &bad).is_err());
    }
}
