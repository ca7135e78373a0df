//! Labelled tile grids: the image `featurescope render` writes.

use image::{Rgba, RgbaImage};

use crate::colormap::{Colormap, colorize};
use crate::error::MapsError;
use crate::layer::LayerMaps;
use crate::norm::{NormSettings, ValueRange};
use crate::resample::nearest_indices;
use crate::stats::ChannelStats;
use crate::text::{GLYPH, blend_rect, draw_text, fill_rect, text_width};

/// Largest grid image side, in pixels; [`render_grid`] refuses anything bigger.
pub const MAX_GRID_SIDE: u32 = 16384;

const BACKGROUND: [u8; 3] = [24, 24, 24];
const HEADER_BG: [u8; 3] = [40, 40, 40];
const CELL_BG: [u8; 3] = [48, 48, 48];
const TEXT: [u8; 3] = [235, 235, 235];
const LABEL_BOX: [u8; 4] = [0, 0, 0, 170];
const DEAD_RED: [u8; 3] = [220, 40, 40];
/// Horizontal padding of header and legend text.
const PAD: u32 = 6;
const HEADER_H: u32 = 20;
const BAR_H: u32 = 10;
/// Legend strip: 4 px, bar, 4 px, text, 4 px.
const LEGEND_H: u32 = 4 + BAR_H + 4 + GLYPH + 4;
/// The legend needs room for two numbers side by side.
const LEGEND_MIN_W: u32 = 200;
/// Titles longer than this are cut (with `..`).
const TITLE_MAX_CHARS: usize = 200;
/// Tiles smaller than this get no labels (the label would cover the tile).
const LABEL_MIN_TILE: u32 = 12;

/// How [`render_grid`] lays out and decorates the tiles.
#[derive(Clone, Debug)]
pub struct GridOptions {
    /// Each tile is scaled (nearest) to fit a `tile_px` square, keeping the map's aspect ratio.
    pub tile_px: u32,
    /// Tiles per row; `None` means `ceil(sqrt(number of tiles))`.
    pub columns: Option<u32>,
    /// Colormap for the tiles and the legend bar.
    pub colormap: Colormap,
    /// How values map to colours.
    pub norm: NormSettings,
    /// Which channels in which order; `None` means `0..C`.
    pub order: Option<Vec<usize>>,
    /// Draw the channel index in each tile's top-left corner (white on a dark translucent box).
    pub labels: bool,
    /// Pixels between tiles and around the grid.
    pub gap_px: u32,
    /// Text for a header strip above the grid, e.g. `"Mixed_6e  768x17x17  viridis  per-layer"`.
    pub title: Option<String>,
    /// A colorbar strip at the bottom with the lo/hi values (per-layer and fixed modes)
    /// or the words "per-tile range".
    pub legend: bool,
}

impl Default for GridOptions {
    fn default() -> Self {
        Self {
            tile_px: 96,
            columns: None,
            colormap: Colormap::Viridis,
            norm: NormSettings::default(),
            order: None,
            labels: true,
            gap_px: 2,
            title: None,
            legend: true,
        }
    }
}

/// Computed geometry of a grid image.
#[derive(Clone, Copy, Debug)]
struct Layout {
    width: u32,
    height: u32,
    columns: u32,
    /// Left edge of the tile area (the grid is centred when the image is wider).
    grid_x: u32,
    /// Top edge of the tile area.
    grid_y: u32,
    /// Top edge of the legend strip.
    legend_y: u32,
}

impl GridOptions {
    fn title_text(&self) -> Option<String> {
        let t = self.title.as_deref()?;
        if t.chars().count() <= TITLE_MAX_CHARS {
            return Some(t.to_owned());
        }
        let mut cut: String = t.chars().take(TITLE_MAX_CHARS - 2).collect();
        cut.push_str("..");
        Some(cut)
    }

    fn layout(&self, n_tiles: usize) -> Result<Layout, MapsError> {
        if self.tile_px == 0 {
            return Err(MapsError::InvalidOptions(
                "tile_px must be at least 1".into(),
            ));
        }
        let slots = n_tiles.max(1) as u64;
        let columns = match self.columns {
            Some(0) => {
                return Err(MapsError::InvalidOptions(
                    "columns must be at least 1".into(),
                ));
            }
            Some(c) => u64::from(c).min(slots),
            None => (slots as f64).sqrt().ceil() as u64,
        }
        .max(1);
        let rows = slots.div_ceil(columns);
        let (tile, gap) = (u64::from(self.tile_px), u64::from(self.gap_px));
        let grid_w = columns * tile + (columns + 1) * gap;
        let grid_h = rows * tile + (rows + 1) * gap;
        let title_w = self
            .title_text()
            .map_or(0, |t| u64::from(text_width(&t)) + 2 * u64::from(PAD));
        let legend_w = if self.legend {
            u64::from(LEGEND_MIN_W)
        } else {
            0
        };
        let width = grid_w.max(title_w).max(legend_w);
        let header = if self.title.is_some() {
            u64::from(HEADER_H)
        } else {
            0
        };
        let legend = if self.legend { u64::from(LEGEND_H) } else { 0 };
        let height = header + grid_h + legend;
        let max = u64::from(MAX_GRID_SIDE);
        if width > max || height > max {
            return Err(MapsError::TooLarge {
                width,
                height,
                max: MAX_GRID_SIDE,
            });
        }
        // Everything is <= MAX_GRID_SIDE now, so the narrowing casts below are lossless.
        Ok(Layout {
            width: width as u32,
            height: height as u32,
            columns: columns as u32,
            grid_x: ((width - grid_w) / 2) as u32,
            grid_y: header as u32,
            legend_y: (header + grid_h) as u32,
        })
    }
}

/// Size in pixels `(width, height)` of the grid [`render_grid`] would draw for `n_tiles` tiles,
/// or [`MapsError::TooLarge`] / [`MapsError::InvalidOptions`]. Lets callers pick a `tile_px` that fits.
pub fn grid_dimensions(n_tiles: usize, opts: &GridOptions) -> Result<(u32, u32), MapsError> {
    let l = opts.layout(n_tiles)?;
    Ok((l.width, l.height))
}

/// Draws the layer as a labelled grid of colormapped tiles. Dead (constant) channels get a red
/// border and the label `"<index> dead"`. Fails with [`MapsError::TooLarge`] when the image would
/// exceed [`MAX_GRID_SIDE`] pixels on a side (pass a smaller `tile_px`), and with
/// [`MapsError::ChannelOutOfRange`] when `order` names a channel the layer does not have.
pub fn render_grid(maps: &LayerMaps, opts: &GridOptions) -> Result<RgbaImage, MapsError> {
    let order: Vec<usize> = match &opts.order {
        Some(o) => o.clone(),
        None => (0..maps.channels).collect(),
    };
    if let Some(&bad) = order.iter().find(|&&c| c >= maps.channels) {
        return Err(MapsError::ChannelOutOfRange {
            channel: bad,
            channels: maps.channels,
        });
    }
    let layout = opts.layout(order.len())?;
    let [r, g, b] = BACKGROUND;
    let mut img = RgbaImage::from_pixel(layout.width, layout.height, Rgba([r, g, b, 255]));

    if let Some(title) = opts.title_text() {
        fill_rect(&mut img, 0, 0, layout.width, HEADER_H, HEADER_BG);
        let y = (HEADER_H - GLYPH) / 2;
        draw_text(
            &mut img,
            PAD,
            y,
            &title,
            TEXT,
            (0, 0, layout.width, HEADER_H),
        );
    }

    let prepared = opts.norm.prepare(maps);
    let mut rgba = Vec::new();
    let tile = opts.tile_px;
    let step = tile + opts.gap_px;
    if order.is_empty() {
        let (x, y) = (layout.grid_x + opts.gap_px, layout.grid_y + opts.gap_px);
        fill_rect(&mut img, x, y, tile, tile, CELL_BG);
        draw_text(
            &mut img,
            x + 1,
            y + 1,
            "none",
            TEXT,
            (x, y, x + tile, y + tile),
        );
    }
    for (slot, &c) in order.iter().enumerate() {
        let slot = slot as u32;
        let x = layout.grid_x + opts.gap_px + (slot % layout.columns) * step;
        let y = layout.grid_y + opts.gap_px + (slot / layout.columns) * step;
        let values = maps.channel(c);
        colorize(values, prepared.range(maps, c), opts.colormap, &mut rgba);
        draw_tile(&mut img, (x, y), tile, maps.width, maps.height, &rgba);
        let dead = ChannelStats::of(values).dead;
        let inset = if dead {
            let t = (tile / 24).clamp(1, 3);
            draw_border(&mut img, x, y, tile, t, DEAD_RED);
            t
        } else {
            0
        };
        if opts.labels && tile >= LABEL_MIN_TILE {
            draw_label(&mut img, (x, y), tile, inset, c, dead);
        }
    }

    if opts.legend {
        let range = if prepared.is_shared() {
            Some(prepared.range(maps, 0))
        } else {
            None
        };
        draw_legend(&mut img, layout.legend_y, opts.colormap, range);
    }
    Ok(img)
}

/// Draws the channel label in the cell's top-left corner, inside the dead border if any:
/// `"12"`, or `"12 dead"` (on two lines when one does not fit the tile, and just `"12"` when
/// even `"dead"` does not fit).
fn draw_label(
    img: &mut RgbaImage,
    origin: (u32, u32),
    tile: u32,
    inset: u32,
    c: usize,
    dead: bool,
) {
    let (x, y) = (origin.0 + inset, origin.1 + inset);
    let room = tile.saturating_sub(2 * inset);
    let one_line = if dead {
        format!("{c} dead")
    } else {
        c.to_string()
    };
    let fits = |s: &str| text_width(s) + 2 <= room;
    let lines = if !dead || fits(&one_line) {
        vec![one_line]
    } else if fits("dead") {
        vec![c.to_string(), "dead".to_owned()]
    } else {
        // Too narrow for the word: the red border alone marks the tile.
        vec![c.to_string()]
    };
    let widest = lines.iter().map(|l| text_width(l)).max().unwrap_or(0);
    let line_h = GLYPH + 1;
    let box_h = line_h * lines.len() as u32 + 1;
    blend_rect(
        img,
        x,
        y,
        (widest + 2).min(room),
        box_h.min(room),
        LABEL_BOX,
    );
    let clip = (x, y, x + room, y + room);
    for (i, line) in lines.iter().enumerate() {
        draw_text(img, x + 1, y + 1 + line_h * i as u32, line, TEXT, clip);
    }
}

/// Copies a colourised `w x h` map into the `tile x tile` cell at `origin`, scaled (nearest)
/// to fit while keeping its aspect ratio, centred on a neutral cell background.
pub(crate) fn draw_tile(
    img: &mut RgbaImage,
    origin: (u32, u32),
    tile: u32,
    w: usize,
    h: usize,
    rgba: &[u8],
) {
    let (x, y) = origin;
    fill_rect(img, x, y, tile, tile, CELL_BG);
    if w == 0 || h == 0 || rgba.len() < w * h * 4 {
        return;
    }
    let (fw, fh) = if w >= h {
        (
            tile,
            ((u64::from(tile) * h as u64) as f64 / w as f64)
                .round()
                .max(1.0) as u32,
        )
    } else {
        (
            ((u64::from(tile) * w as u64) as f64 / h as f64)
                .round()
                .max(1.0) as u32,
            tile,
        )
    };
    let (ox, oy) = (x + (tile - fw) / 2, y + (tile - fh) / 2);
    let xs = nearest_indices(w, fw as usize);
    let ys = nearest_indices(h, fh as usize);
    for (dy, &sy) in ys.iter().enumerate() {
        for (dx, &sx) in xs.iter().enumerate() {
            let i = (sy * w + sx) * 4;
            if let Some(p) = rgba.get(i..i + 4) {
                img.put_pixel(
                    ox + dx as u32,
                    oy + dy as u32,
                    Rgba([p[0], p[1], p[2], p[3]]),
                );
            }
        }
    }
}

/// Draws a `t`-pixel frame just inside the `size x size` square at `(x, y)`.
fn draw_border(img: &mut RgbaImage, x: u32, y: u32, size: u32, t: u32, rgb: [u8; 3]) {
    fill_rect(img, x, y, size, t, rgb);
    fill_rect(img, x, y + size - t, size, t, rgb);
    fill_rect(img, x, y, t, size, rgb);
    fill_rect(img, x + size - t, y, t, size, rgb);
}

/// The colorbar strip: the colormap left to right, then `lo` under the left end and `hi` under
/// the right end (with a tick and `0` where zero falls inside), or "per-tile range".
fn draw_legend(img: &mut RgbaImage, top: u32, cmap: Colormap, range: Option<ValueRange>) {
    let width = img.width();
    let (x0, x1) = (PAD, width.saturating_sub(PAD));
    let bar_y = top + 4;
    let span = x1.saturating_sub(x0).max(2);
    for x in x0..x1 {
        let t = (x - x0) as f32 / (span - 1) as f32;
        fill_rect(img, x, bar_y, 1, BAR_H, cmap.map(t));
    }
    let text_y = bar_y + BAR_H + 4;
    let clip = (0, top, width, img.height());
    let Some(range) = range else {
        draw_text(img, x0, text_y, "per-tile range", TEXT, clip);
        return;
    };
    let lo = fmt_num(range.lo);
    let hi = fmt_num(range.hi);
    let lo_end = x0 + text_width(&lo);
    let hi_start = x1.saturating_sub(text_width(&hi));
    draw_text(img, x0, text_y, &lo, TEXT, clip);
    draw_text(img, hi_start, text_y, &hi, TEXT, clip);
    if range.lo < 0.0 && range.hi > 0.0 {
        let zx = x0 + (range.normalize(0.0) * (span - 1) as f32).round() as u32;
        fill_rect(img, zx, bar_y + BAR_H, 1, 3, TEXT);
        let half = GLYPH / 2;
        if zx >= lo_end + GLYPH + half && zx + half + GLYPH <= hi_start {
            draw_text(img, zx - half, text_y, "0", TEXT, clip);
        }
    }
}

/// Short human-readable number: plain with up to 3 decimals, or scientific when tiny or huge.
pub(crate) fn fmt_num(v: f32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-2..1e4).contains(&a) {
        return format!("{v:.2e}");
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// C channels of 4x4; channel `c` is a ramp scaled by `c + 1`, except the listed dead ones.
    fn layer(c: usize, dead: &[usize]) -> LayerMaps {
        let mut data = Vec::new();
        for ch in 0..c {
            for i in 0..16 {
                data.push(if dead.contains(&ch) {
                    0.0
                } else {
                    (i as f32) * (ch + 1) as f32
                });
            }
        }
        LayerMaps::new(c, 4, 4, data).unwrap()
    }

    fn bare() -> GridOptions {
        GridOptions {
            tile_px: 32,
            labels: false,
            legend: false,
            ..Default::default()
        }
    }

    #[test]
    fn size_for_ten_channels_auto_columns() {
        let img = render_grid(&layer(10, &[]), &bare()).unwrap();
        // 4 columns x 3 rows of 32 px with 2 px gaps around and between.
        assert_eq!(img.dimensions(), (4 * 32 + 5 * 2, 3 * 32 + 4 * 2));
        let full = GridOptions {
            tile_px: 32,
            title: Some("conv1  10x4x4  viridis  per-layer".into()),
            ..Default::default()
        };
        let img = render_grid(&layer(10, &[]), &full).unwrap();
        let title_w = text_width(full.title.as_deref().unwrap()) + 2 * PAD;
        assert_eq!(img.width(), LEGEND_MIN_W.max(title_w));
        assert_eq!(img.height(), HEADER_H + 3 * 32 + 4 * 2 + LEGEND_H);
        assert_eq!(grid_dimensions(10, &full).unwrap(), img.dimensions());
        let three_cols = GridOptions {
            columns: Some(3),
            ..bare()
        };
        let img = render_grid(&layer(10, &[]), &three_cols).unwrap();
        assert_eq!(img.dimensions(), (3 * 32 + 4 * 2, 4 * 32 + 5 * 2));
    }

    #[test]
    fn labels_change_the_corner() {
        let maps = layer(4, &[]);
        let plain = render_grid(&maps, &bare()).unwrap();
        let labelled = render_grid(
            &maps,
            &GridOptions {
                labels: true,
                ..bare()
            },
        )
        .unwrap();
        let corner = |img: &RgbaImage, c: u32| {
            let (x0, y0) = (2 + (c % 2) * 34, 2 + (c / 2) * 34);
            (0..10)
                .flat_map(|y| (0..10).map(move |x| (x0 + x, y0 + y)))
                .filter(|&(x, y)| img.get_pixel(x, y) != plain.get_pixel(x, y))
                .count()
        };
        for c in 0..4 {
            assert!(corner(&labelled, c) > 20, "tile {c}");
        }
        // Away from the label the tile is untouched.
        assert_eq!(
            labelled.get_pixel(2 + 30, 2 + 30),
            plain.get_pixel(2 + 30, 2 + 30)
        );
    }

    #[test]
    fn dead_tile_is_marked() {
        let maps = layer(4, &[2]);
        let img = render_grid(&maps, &bare()).unwrap();
        let (x, y) = (2, 2 + 34); // tile slot 2: column 0, row 1
        let red = Rgba([DEAD_RED[0], DEAD_RED[1], DEAD_RED[2], 255]);
        assert_eq!(*img.get_pixel(x + 16, y + 31), red);
        assert_eq!(*img.get_pixel(x + 31, y + 16), red);
        assert_ne!(
            *img.get_pixel(2 + 34 + 16, 2 + 31),
            red,
            "live tile has no border"
        );
        // At 40 px the label reads "2" / "dead" on two lines (one line does not fit).
        let narrow = GridOptions {
            tile_px: 40,
            ..bare()
        };
        let img = render_grid(&maps, &narrow).unwrap();
        let labelled = render_grid(
            &maps,
            &GridOptions {
                labels: true,
                ..narrow
            },
        )
        .unwrap();
        let (x, y) = (2, 2 + 42);
        let second_line_changed = (0..34)
            .flat_map(|dx| (11..19).map(move |dy| (x + 1 + dx, y + 1 + dy)))
            .filter(|&(px, py)| labelled.get_pixel(px, py) != img.get_pixel(px, py))
            .count();
        assert!(second_line_changed > 100, "{second_line_changed}");
        // A live tile's label is one line.
        let (lx, ly) = (2 + 42, 2);
        assert_eq!(
            labelled.get_pixel(lx + 5, ly + 15),
            img.get_pixel(lx + 5, ly + 15)
        );
        // Wide tiles fit "2 dead" on one line.
        let wide = GridOptions {
            tile_px: 64,
            labels: true,
            ..bare()
        };
        let wide_img = render_grid(&maps, &wide).unwrap();
        let (wx, wy) = (2, 2 + 66);
        let plain_wide = render_grid(
            &maps,
            &GridOptions {
                labels: false,
                ..wide.clone()
            },
        )
        .unwrap();
        assert_ne!(
            wide_img.get_pixel(wx + 2 + 45, wy + 6),
            plain_wide.get_pixel(wx + 2 + 45, wy + 6)
        );
    }

    #[test]
    fn order_selects_channels_and_is_validated() {
        let maps = layer(4, &[]);
        let opts = GridOptions {
            order: Some(vec![3, 1]),
            ..bare()
        };
        let img = render_grid(&maps, &opts).unwrap();
        assert_eq!(img.dimensions(), (2 * 32 + 3 * 2, 32 + 2 * 2));
        let bad = GridOptions {
            order: Some(vec![0, 4]),
            ..bare()
        };
        assert!(matches!(
            render_grid(&maps, &bad),
            Err(MapsError::ChannelOutOfRange { channel: 4, .. })
        ));
        let empty = GridOptions {
            order: Some(vec![]),
            ..Default::default()
        };
        assert!(render_grid(&maps, &empty).is_ok());
    }

    #[test]
    fn too_large_and_invalid_options() {
        let maps = layer(4, &[]);
        let huge = GridOptions {
            tile_px: 9000,
            ..bare()
        };
        let err = render_grid(&maps, &huge).unwrap_err();
        assert!(matches!(
            err,
            MapsError::TooLarge {
                max: MAX_GRID_SIDE,
                ..
            }
        ));
        assert!(err.to_string().contains("smaller tile"));
        let zero = GridOptions {
            tile_px: 0,
            ..bare()
        };
        assert!(matches!(
            render_grid(&maps, &zero),
            Err(MapsError::InvalidOptions(_))
        ));
        let no_cols = GridOptions {
            columns: Some(0),
            ..bare()
        };
        assert!(render_grid(&maps, &no_cols).is_err());
    }

    #[test]
    fn legend_and_non_square_maps() {
        let maps = LayerMaps::new(2, 2, 4, (0..16).map(|i| i as f32 - 8.0).collect()).unwrap();
        let opts = GridOptions {
            tile_px: 16,
            colormap: Colormap::Diverging,
            norm: NormSettings {
                symmetric: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let img = render_grid(&maps, &opts).unwrap();
        assert_eq!(img.width(), LEGEND_MIN_W);
        // Legend bar starts blue and ends red.
        let bar_y = img.height() - LEGEND_H + 4 + 2;
        let left = img.get_pixel(PAD, bar_y).0;
        let right = img.get_pixel(img.width() - PAD - 1, bar_y).0;
        assert!(left[2] > left[0] && right[0] > right[2]);
        assert_eq!(fmt_num(2.5), "2.5");
        assert_eq!(fmt_num(-8.0), "-8");
        assert_eq!(fmt_num(123456.0), "1.23e5");
        assert_eq!(fmt_num(0.0), "0");
    }
}
