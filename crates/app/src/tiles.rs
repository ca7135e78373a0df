//! The tile grid (virtualised: only visible rows are laid out and only their textures exist),
//! its toolbar and legend, the inspector window and the exports.

use egui::{Color32, RichText, Sense, Stroke, TextureOptions, pos2, vec2};
use featurescope_maps::{Colormap, GridOptions, Resample, SortKey};
use featurescope_net::{Catalogue, LayerKind};

use crate::app::{FeaturescopeApp, Inspector, InspectorView};
use crate::atlas_view::SELECTIVITY_SORT;
use crate::files::{ExportWrite, FileRequest};
use crate::settings::NormMode;
use crate::worker::Job;
use featurescope_maps::{Overwrite, save_image};

const LABEL_H: f32 = 14.0;

impl FeaturescopeApp {
    fn toolbar_ui(&mut self, ui: &mut egui::Ui) {
        let mut changed = false;
        let is_conv = Catalogue::inception_v3()
            .get(&self.selected)
            .is_some_and(|l| l.kind == LayerKind::Conv);
        ui.horizontal_wrapped(|ui| {
            let pre = self.showing_pre_relu();
            let current = self.settings.colormap(pre);
            egui::ComboBox::from_label("colormap")
                .selected_text(current.name())
                .show_ui(ui, |ui| {
                    for c in Colormap::ALL {
                        if ui.selectable_label(c == current, c.name()).clicked() {
                            if pre {
                                self.settings.pre_relu_colormap = c.name().into();
                            } else {
                                self.settings.colormap = c.name().into();
                            }
                            changed = true;
                        }
                    }
                });
            ui.separator();
            for (mode, label) in [
                (NormMode::PerTile, "per tile"),
                (NormMode::PerLayer, "per layer"),
                (NormMode::Fixed, "fixed"),
            ] {
                changed |= ui
                    .selectable_value(&mut self.settings.norm, mode, label)
                    .changed();
            }
            if self.settings.norm == NormMode::Fixed {
                changed |= ui
                    .add(
                        egui::DragValue::new(&mut self.settings.fixed_lo)
                            .speed(0.05)
                            .prefix("lo "),
                    )
                    .changed();
                changed |= ui
                    .add(
                        egui::DragValue::new(&mut self.settings.fixed_hi)
                            .speed(0.05)
                            .prefix("hi "),
                    )
                    .changed();
            }
            let mut clip = self.settings.clip_percentile.is_some();
            if ui
                .checkbox(&mut clip, "clip")
                .on_hover_text("Clip to percentiles")
                .changed()
            {
                self.settings.clip_percentile = clip.then_some(1.0);
                changed = true;
            }
            if let Some(p) = &mut self.settings.clip_percentile {
                changed |= ui
                    .add(
                        egui::DragValue::new(p)
                            .range(0.0..=49.0)
                            .speed(0.1)
                            .suffix(" %"),
                    )
                    .changed();
            }
            ui.separator();
            let key = self.settings.sort_key();
            let by_selectivity = self.settings.sort == SELECTIVITY_SORT;
            let atlas_has_layer = self
                .atlas
                .as_ref()
                .is_some_and(|a| a.loaded.atlas.layer(&self.selected).is_some());
            egui::ComboBox::from_label("sort by")
                .selected_text(if by_selectivity {
                    SELECTIVITY_SORT
                } else {
                    key.name()
                })
                .show_ui(ui, |ui| {
                    for k in SortKey::ALL {
                        if ui
                            .selectable_label(!by_selectivity && k == key, k.name())
                            .clicked()
                        {
                            self.settings.sort = k.name().into();
                            changed = true;
                        }
                    }
                    if atlas_has_layer
                        && ui
                            .selectable_label(by_selectivity, SELECTIVITY_SORT)
                            .on_hover_text(
                                "Most selective across the atlas first: how far the best \
                                 image's maximum stands above the filter's usual maximum \
                                 (z-score)",
                            )
                            .clicked()
                    {
                        self.settings.sort = SELECTIVITY_SORT.into();
                        changed = true;
                    }
                });
            changed |= ui
                .checkbox(&mut self.settings.hide_dead, "hide dead")
                .changed();
            if is_conv {
                changed |= ui
                    .checkbox(&mut self.settings.pre_relu, "pre-ReLU")
                    .on_hover_text("Show the conv's values before its ReLU (diverging colormap)")
                    .changed();
            }
            ui.separator();
            ui.add(
                egui::Slider::new(&mut self.settings.tile_px, 24.0..=320.0)
                    .logarithmic(true)
                    .text("tile px"),
            )
            .on_hover_text("Ctrl + mouse wheel over the grid also zooms");
        });
        if changed {
            self.rebuild_view();
        }
    }

    fn legend_ui(&mut self, ui: &mut egui::Ui) {
        let Some(view) = &self.view else { return };
        let key = view.colormap.name().to_string();
        if self.colorbar.as_ref().is_none_or(|(k, _)| *k != key) {
            let pixels: Vec<u8> = (0..256)
                .flat_map(|i| {
                    let [r, g, b] = view.colormap.lut()[i];
                    [r, g, b, 255]
                })
                .collect();
            let img = egui::ColorImage::from_rgba_unmultiplied([256, 1], &pixels);
            let tex = ui
                .ctx()
                .load_texture("colorbar", img, TextureOptions::LINEAR);
            self.colorbar = Some((key, tex));
        }
        let Some((_, bar)) = &self.colorbar else {
            return;
        };
        ui.horizontal(|ui| {
            let per_tile = self.settings.norm == NormMode::PerTile;
            let (lo, hi) = if per_tile {
                ("tile min".to_string(), "tile max".to_string())
            } else {
                let r = view.range(0);
                (format!("{:.3}", r.lo), format!("{:.3}", r.hi))
            };
            ui.label(RichText::new(lo).monospace());
            ui.image((bar.id(), vec2(220.0, 12.0)));
            ui.label(RichText::new(hi).monospace());
            let what = if view.pre_relu {
                "pre-ReLU"
            } else {
                "post-ReLU"
            };
            let [_, c, h, w] = [1, view.maps.channels, view.maps.height, view.maps.width];
            ui.label(
                RichText::new(format!(
                    "{} · {what} · {c} filters of {h}x{w} · {} shown · {} dead",
                    view.id,
                    view.order.len(),
                    view.dead
                ))
                .weak(),
            );
        });
    }

    pub(crate) fn tiles_ui(&mut self, ui: &mut egui::Ui) {
        if self.selected == "head" {
            ui.heading("Predictions");
            self.predictions_ui(ui);
            return;
        }
        // The grid's width, taken before the toolbar can widen the panel's content.
        let grid_width = ui.available_width();
        self.toolbar_ui(ui);
        self.legend_ui(ui);
        ui.separator();
        let ctx = ui.ctx().clone();
        let Some(view) = self.view.take() else {
            let reading = self.reading.contains(&self.selected);
            if self.analysis.is_none() || self.showing_pre_relu() || reading {
                let what = if self.weights.is_none() {
                    "Loading Inception-V3…".to_string()
                } else if reading {
                    format!("Reading {} back from the GPU…", self.selected)
                } else {
                    "Analysing…".to_string()
                };
                ui.vertical_centered(|ui| {
                    ui.add_space(ui.available_height() * 0.4);
                    ui.spinner();
                    ui.label(RichText::new(what).weak());
                });
            } else {
                ui.label("no data for this layer");
            }
            return;
        };
        // Ctrl + wheel over the grid resizes tiles.
        if ui.rect_contains_pointer(ui.max_rect()) {
            let zoom = ui.input(|i| i.zoom_delta());
            if (zoom - 1.0).abs() > f32::EPSILON {
                self.settings.tile_px = (self.settings.tile_px * zoom).clamp(24.0, 320.0);
            }
        }
        let tile = self.settings.tile_px.round();
        let spacing = 4.0;
        let scrollbar = ui.spacing().scroll.bar_width + ui.spacing().scroll.bar_outer_margin;
        let cols = ((grid_width - scrollbar + spacing) / (tile + spacing))
            .floor()
            .max(1.0) as usize;
        let rows = view.order.len().div_ceil(cols);
        let factor = view.tile_factor(tile * ctx.pixels_per_point());
        let row_h = tile + LABEL_H;
        let mut clicked = None;
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .id_salt(("tiles", &view.id))
            .show_rows(ui, row_h, rows, |ui, range| {
                let visible: Vec<usize> = view
                    .order
                    .iter()
                    .skip(range.start * cols)
                    .take(range.len() * cols)
                    .copied()
                    .collect();
                self.tiles.prefetch(&ctx, &view, &visible, factor);
                for row in range {
                    ui.horizontal(|ui| {
                        ui.spacing_mut().item_spacing.x = spacing;
                        for col in 0..cols {
                            let Some(&c) = view.order.get(row * cols + col) else {
                                break;
                            };
                            let (rect, response) =
                                ui.allocate_exact_size(vec2(tile, row_h), Sense::click());
                            if !ui.is_rect_visible(rect) {
                                continue;
                            }
                            let tex = self.tiles.get(&ctx, &view, c, factor);
                            let img_rect = egui::Rect::from_min_size(
                                rect.min + vec2(0.0, LABEL_H),
                                vec2(tile, tile),
                            );
                            let painter = ui.painter();
                            painter.image(
                                tex.id(),
                                img_rect,
                                egui::Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
                                Color32::WHITE,
                            );
                            let stats = view.stats[c];
                            let label_color = if stats.dead {
                                Color32::from_rgb(255, 110, 110)
                            } else {
                                ui.visuals().weak_text_color()
                            };
                            painter.text(
                                rect.min,
                                egui::Align2::LEFT_TOP,
                                if stats.dead {
                                    format!("{c} dead")
                                } else {
                                    c.to_string()
                                },
                                egui::FontId::monospace(11.0),
                                label_color,
                            );
                            if stats.dead {
                                let s = Stroke::new(2.0, Color32::from_rgb(230, 60, 60));
                                painter.rect_stroke(img_rect, 0.0, s, egui::StrokeKind::Inside);
                                painter.line_segment(
                                    [img_rect.left_top(), img_rect.right_bottom()],
                                    s,
                                );
                            }
                            if response.hovered() {
                                painter.rect_stroke(
                                    img_rect,
                                    0.0,
                                    Stroke::new(2.0, Color32::WHITE),
                                    egui::StrokeKind::Inside,
                                );
                            }
                            response.widget_info(|| {
                                egui::WidgetInfo::labeled(
                                    egui::Role::Button,
                                    true,
                                    format!("filter {c}"),
                                )
                            });
                            let response = response.on_hover_text(format!(
                                "filter {c}{}{}\nmin {:.4}\nmax {:.4}\nmean {:.4}\nactive {:.1}%",
                                if stats.dead { " (dead: constant)" } else { "" },
                                branch_of(&view.id, c)
                                    .map(|(s, k)| format!("\nfrom {s} channel {k}"))
                                    .unwrap_or_default(),
                                stats.min,
                                stats.max,
                                stats.mean,
                                stats.active_fraction * 100.0
                            ));
                            if response.clicked() {
                                clicked = Some(c);
                            }
                        }
                    });
                }
            });
        let tile_bytes = view.maps.width * view.maps.height * 4;
        self.tiles.end_frame(tile_bytes);
        self.view = Some(view);
        if let Some(c) = clicked {
            self.inspector = Some(Inspector {
                channel: c,
                view: InspectorView::Map,
                map_texture: None,
                overlay_texture: None,
            });
        }
    }

    pub(crate) fn inspector_window(&mut self, ctx: &egui::Context) {
        let Some(mut insp) = self.inspector.take() else {
            return;
        };
        // The view is taken for the window's lifetime so its views can use `self` (the atlas'
        // crops load through tasks); it is put back below.
        let Some(view) = self.view.take() else {
            return;
        };
        let c = insp.channel;
        if c >= view.maps.channels {
            self.view = Some(view);
            return;
        }
        let mut open = true;
        let stats = view.stats[c];
        let range = view.range(c);
        let title = format!("{} · filter {c}", view.id);
        let mut export_tile = false;
        egui::Window::new(title)
            .id(egui::Id::unique("featurescope-inspector"))
            .open(&mut open)
            .default_width(420.0)
            .resizable(true)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut insp.view, InspectorView::Map, "Map");
                    ui.selectable_value(&mut insp.view, InspectorView::Overlay, "Overlay on photo");
                    if self.atlas.is_some() {
                        ui.selectable_value(&mut insp.view, InspectorView::Atlas, "Top images");
                    }
                    ui.separator();
                    if ui.button("< prev").clicked() {
                        insp.channel = c.saturating_sub(1);
                    }
                    if ui.button("next >").clicked() {
                        insp.channel = (c + 1).min(view.maps.channels - 1);
                    }
                    if ui.button("Export PNG…").clicked() {
                        export_tile = true;
                    }
                });
                ui.horizontal_wrapped(|ui| {
                    ui.label(RichText::new("explain:").weak());
                    for v in crate::explain::VIEWS {
                        let m = v.method();
                        ui.selectable_value(&mut insp.view, InspectorView::Explain(m), m.title());
                    }
                    ui.selectable_value(&mut insp.view, InspectorView::Visualize, "Feature visualization");
                });
                if let Some((src, k)) = branch_of(&view.id, c) {
                    ui.label(RichText::new(format!("channel {c} of this concat is {src} channel {k}")).weak());
                }
                ui.label(
                    RichText::new(format!(
                        "min {:.4} · max {:.4} · mean {:.4} · active {:.1}% · colours {:.3} … {:.3}{}",
                        stats.min,
                        stats.max,
                        stats.mean,
                        stats.active_fraction * 100.0,
                        range.lo,
                        range.hi,
                        if stats.dead { " · dead (constant)" } else { "" }
                    ))
                    .monospace(),
                );
                let side = ui.available_width().clamp(200.0, 640.0);
                match insp.view {
                    InspectorView::Map => {
                        ui.checkbox(&mut self.settings.smooth, "bilinear");
                        let key = (view.version, c, self.settings.smooth);
                        if insp.map_texture.as_ref().is_none_or(|(k, _)| *k != key) {
                            let opts = if self.settings.smooth {
                                TextureOptions::LINEAR
                            } else {
                                TextureOptions::NEAREST
                            };
                            let tex = ctx.load_texture("inspector-map", view.image(c), opts);
                            insp.map_texture = Some((key, tex));
                        }
                        if let Some((_, tex)) = &insp.map_texture {
                            let (w, h) = (view.maps.width, view.maps.height);
                            let size = vec2(side, side * h as f32 / w as f32);
                            let r = ui.add(egui::Image::new((tex.id(), size)).sense(Sense::hover()));
                            if let Some(p) = r.hover_pos() {
                                let x = (((p.x - r.rect.left()) / r.rect.width()) * w as f32)
                                    .floor()
                                    .clamp(0.0, (w - 1) as f32) as usize;
                                let y = (((p.y - r.rect.top()) / r.rect.height()) * h as f32)
                                    .floor()
                                    .clamp(0.0, (h - 1) as f32) as usize;
                                let v = view.maps.channel(c).get(y * w + x).copied().unwrap_or(0.0);
                                ui.label(RichText::new(format!("({x}, {y}) = {v:.5}")).monospace());
                            } else {
                                ui.label(RichText::new("hover for values").weak());
                            }
                        }
                    }
                    InspectorView::Overlay => {
                        ui.add(
                            egui::Slider::new(&mut self.settings.overlay_opacity, 0.0..=1.0)
                                .text("opacity"),
                        );
                        let key = (view.version, c, self.settings.overlay_opacity.to_bits());
                        if insp.overlay_texture.as_ref().is_none_or(|(k, _)| *k != key)
                            && let Some(a) = &self.analysis
                        {
                            {
                                let img = overlay(&view, c, &a.input.crop, self.settings.overlay_opacity);
                                let tex = ctx.load_texture("inspector-overlay", img, TextureOptions::LINEAR);
                                insp.overlay_texture = Some((key, tex));
                            }
                        }
                        if let Some((_, tex)) = &insp.overlay_texture {
                            ui.image((tex.id(), vec2(side, side)));
                        }
                    }
                    InspectorView::Atlas => {
                        let columns = ((side / (crate::atlas_view::THUMB_PX as f32 + 8.0)) as usize).max(1);
                        self.crops_ui(ui, c, columns);
                    }
                    InspectorView::Explain(method) => self.explain_ui(ui, &view, c, method),
                    InspectorView::Visualize => {
                        let job = crate::explain::visualize::ui(&mut self.visual, ui, self.weights_serial, &view.id, c);
                        if let Some((key, cancel)) = job
                            && let Err(e) = self.worker.send(Job::Visualize { key, cancel })
                        {
                            self.notify_error(e);
                        }
                    }
                }
            });
        self.view = Some(view);
        if export_tile {
            self.export_tile(c);
        }
        if open {
            self.inspector = Some(insp);
        }
    }

    pub(crate) fn export_grid(&mut self) {
        let Some(view) = &self.view else { return };
        let maps = view.maps.clone();
        let opts = GridOptions {
            tile_px: (self.settings.tile_px.round() as u32).clamp(16, 256),
            colormap: view.colormap,
            norm: self.settings.norm_settings(view.pre_relu),
            order: Some(view.order.clone()),
            title: Some(format!(
                "{}  {}x{}x{}{}  {}",
                view.id,
                maps.channels,
                maps.height,
                maps.width,
                if view.pre_relu { " pre-ReLU" } else { "" },
                view.colormap.name()
            )),
            ..GridOptions::default()
        };
        let name = format!("{}.png", view.id);
        let write: ExportWrite = Box::new(move |path| {
            let img = featurescope_maps::render_grid(&maps, &opts).map_err(|e| e.to_string())?;
            save_image(path, &img.into(), Overwrite::Replace).map_err(|e| e.to_string())
        });
        self.export("Export grid", name, "png", write);
    }

    /// Choose where to save an export, then write it on a task thread.
    fn export(
        &mut self,
        title: &'static str,
        default_name: String,
        extension: &'static str,
        write: ExportWrite,
    ) {
        self.choose_file(FileRequest::Export {
            title,
            default_name,
            extension,
            write,
        });
    }

    pub(crate) fn export_npy(&mut self) {
        let Some(view) = &self.view else { return };
        let maps = view.maps.clone();
        let name = format!("{}.npy", view.id);
        let write: ExportWrite = Box::new(move |path| {
            let shape = [
                1,
                maps.channels as u64,
                maps.height as u64,
                maps.width as u64,
            ];
            // Replacing an existing file was agreed to in the dialog.
            featurescope_maps::write_npy(path, &shape, &maps.data, Overwrite::Replace)
                .map_err(|e| e.to_string())
        });
        self.export("Export activations", name, "npy", write);
    }

    fn export_tile(&mut self, c: usize) {
        let Some(view) = &self.view else { return };
        let img = view.image(c);
        let (w, h) = (img.size[0] as u32, img.size[1] as u32);
        let scale = (512 / w.max(h)).max(1);
        let rgba: Vec<u8> = img.pixels.iter().flat_map(|p| p.to_array()).collect();
        let name = format!("{}_{c}.png", view.id);
        let write: ExportWrite = Box::new(move |path| {
            let small = image::RgbaImage::from_raw(w, h, rgba)
                .ok_or_else(|| "tile has an inconsistent size".to_string())?;
            let big = image::imageops::resize(
                &small,
                w * scale,
                h * scale,
                image::imageops::FilterType::Nearest,
            );
            save_image(path, &big.into(), Overwrite::Replace).map_err(|e| e.to_string())
        });
        self.export("Export tile", name, "png", write);
    }
}

/// The filter's map upsampled to the crop's size, colormapped, blended over the photo.
fn overlay(
    view: &crate::view::LayerView,
    c: usize,
    crop: &image::RgbImage,
    opacity: f32,
) -> egui::ColorImage {
    let (w, h) = (crop.width() as usize, crop.height() as usize);
    let up = featurescope_maps::resample(
        view.maps.channel(c),
        view.maps.width,
        view.maps.height,
        w,
        h,
        Resample::Bilinear,
    );
    let range = view.range(c);
    let mut out = Vec::with_capacity(w * h * 4);
    for (i, p) in crop.pixels().enumerate() {
        let t = range.normalize(up.get(i).copied().unwrap_or(0.0));
        let [r, g, b] = view.colormap.map(t);
        let a = opacity;
        let mix = |photo: u8, heat: u8| (f32::from(photo) * (1.0 - a) + f32::from(heat) * a) as u8;
        out.extend_from_slice(&[mix(p[0], r), mix(p[1], g), mix(p[2], b), 255]);
    }
    egui::ColorImage::from_rgba_unmultiplied([w, h], &out)
}

/// For a concat layer's channel: the branch layer and channel it comes from.
fn branch_of(layer: &str, c: usize) -> Option<(String, usize)> {
    let cat = featurescope_net::Catalogue::inception_v3();
    if cat.get(layer)?.kind != featurescope_net::LayerKind::Concat {
        return None;
    }
    featurescope_net::attribution::channel_source(layer, c)
}

impl crate::app::FeaturescopeApp {
    /// An attribution method's view of filter `c` of the current layer.
    fn explain_ui(
        &mut self,
        ui: &mut egui::Ui,
        view: &crate::view::LayerView,
        c: usize,
        method: featurescope_net::attribution::Method,
    ) {
        let Some(analysis) = &self.analysis else {
            ui.label("no image yet");
            return;
        };
        let map = view.maps.channel(c);
        let best = (0..map.len())
            .max_by(|&a, &b| map[a].total_cmp(&map[b]))
            .unwrap_or(0);
        let strongest = [best / view.maps.width.max(1), best % view.maps.width.max(1)];
        let top_class = analysis
            .activations
            .head
            .as_ref()
            .and_then(|h| h.top_k(1).first().map(|t| t.0));
        let (generation, weights) = (analysis.generation, self.weights_serial);
        let key = |target, options: &featurescope_net::attribution::Options, sanity| {
            crate::explain::ExplainKey {
                generation,
                weights,
                target,
                method,
                options: format!("{options:?}"),
                sanity,
            }
        };
        let request = crate::explain::ui(
            &mut self.explain,
            ui,
            method,
            key,
            &view.id,
            c,
            strongest,
            top_class,
            !self.hide_machine_details,
        );
        if let Some(r) = request {
            let job = Job::Explain {
                key: r.key.clone(),
                options: r.options,
                cancel: r.cancel,
            };
            if let Err(e) = self.worker.send(job) {
                self.explain.finished(r.key, Err(e));
            }
        }
    }
}
