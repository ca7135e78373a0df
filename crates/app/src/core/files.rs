//! Choosing files (the system's dialog on a task thread, else the in-app browser) and what a
//! chosen file is for: images, weights, class names, atlases, exports.

use std::path::PathBuf;

use featurescope_maps::{GridOptions, Overwrite, save_image};
use featurescope_net::WeightsSource;

use super::Core;
use crate::action::{Choose, Export};
use crate::services::dialogs::{Dialog, ExportWrite, FileRequest, ReplaceQuestion, dialog_for};
use crate::services::worker::{ImageSource, Job};
use crate::state::BrowserRequest;
use crate::view::LayerView;

impl Core {
    /// Ask for a file for `what`.
    pub(super) fn choose(&mut self, what: Choose) {
        let request = match what {
            Choose::Image => FileRequest::OpenImage,
            Choose::Weights => FileRequest::OpenWeights,
            Choose::ClassNames => FileRequest::OpenLabels,
            Choose::Atlas => FileRequest::OpenAtlas,
            Choose::AtlasFolder => FileRequest::AtlasFolder,
            Choose::Report => FileRequest::OpenReport,
            Choose::ReportFolder => FileRequest::ReportFolder,
            Choose::Classes => FileRequest::OpenClasses,
            Choose::ClassesFolder => FileRequest::ClassesFolder,
            Choose::ExportTo(export) => match self.export_request(export) {
                Some(r) => r,
                None => return self.state.notify_error("nothing to export yet"),
            },
        };
        self.request_file(request);
    }

    /// Serve a request with the system's dialog where there is one, else the in-app browser.
    fn request_file(&mut self, request: FileRequest) {
        let files = &self.state.files;
        match dialog_for(self.state.settings.file_dialog, files.system_dialog_failed) {
            Dialog::System => self.tasks.system_dialog(request, self.state.recent_dir()),
            Dialog::BuiltIn => self.open_browser(request),
        }
    }

    fn open_browser(&mut self, request: FileRequest) {
        self.state.files.requests += 1;
        self.state.files.browser = Some(BrowserRequest {
            request,
            start: self.state.recent_dir(),
            serial: self.state.files.requests,
        });
    }

    /// The system dialog did not appear: say so once, and use the in-app browser from now on.
    pub(super) fn system_dialog_unavailable(&mut self, request: FileRequest) {
        if !self.state.files.system_dialog_failed {
            self.state.files.system_dialog_failed = true;
            self.state.notify(
                "the system file dialog did not open (no XDG desktop portal or zenity?): \
                 using featurescope's own file browser",
            );
        }
        self.open_browser(request);
    }

    /// The in-app browser chose `path`. An export over an existing file asks first (system
    /// dialogs ask by themselves: GTK, the portal and zenity's `--confirm-overwrite` all do).
    pub(super) fn browser_chose(&mut self, path: PathBuf) {
        let Some(browser) = self.state.files.browser.take() else {
            return;
        };
        match browser.request {
            request @ FileRequest::Export { .. } if path.exists() => {
                self.state.files.replace = Some(ReplaceQuestion { request, path });
            }
            request => self.file_chosen(request, path),
        }
    }

    /// The answer to "replace the existing file?".
    pub(super) fn replace(&mut self, yes: bool) {
        let Some(q) = self.state.files.replace.take() else {
            return;
        };
        if yes {
            self.file_chosen(q.request, q.path);
        } else {
            let name = q.path.file_name().map_or_else(
                || q.path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            self.state
                .notify(format!("not saved: {name} left as it was"));
        }
    }

    /// Act on a chosen file.
    pub(super) fn file_chosen(&mut self, request: FileRequest, path: PathBuf) {
        match request {
            FileRequest::OpenImage => self.analyse(ImageSource::File(path)),
            FileRequest::OpenWeights => self.send(Job::LoadWeights(WeightsSource::File(path))),
            FileRequest::OpenLabels => self.tasks.read_labels(path),
            FileRequest::Export { write, .. } => self.tasks.write_export(path, write),
            FileRequest::OpenAtlas => self.tasks.load_atlas(path),
            FileRequest::AtlasFolder => self.build_atlas(path, None),
            FileRequest::OpenReport => self.tasks.load_report(path),
            FileRequest::ReportFolder => self.report_folder_chosen(path),
            FileRequest::ReportWeights { root } => {
                self.build_report(root, WeightsSource::File(path), None);
            }
            FileRequest::OpenClasses => self.tasks.load_classes(path),
            FileRequest::ClassesFolder => self.classes_folder_chosen(path),
        }
    }

    /// The folder to compare over was chosen: now model B's weights.
    pub(super) fn report_folder_chosen(&mut self, root: PathBuf) {
        self.state
            .notify("now choose model B's weights (model A: the weights loaded now)");
        self.request_file(FileRequest::ReportWeights { root });
    }

    /// The request that saves `export` of the view on screen (None without a view).
    fn export_request(&self, export: Export) -> Option<FileRequest> {
        let view = self.state.view.as_ref()?;
        let (title, name, extension, write) = match export {
            Export::Grid => (
                "Export grid",
                format!("{}.png", view.id),
                "png",
                self.grid_writer(view),
            ),
            Export::Layer => (
                "Export activations",
                format!("{}.npy", view.id),
                "npy",
                npy_writer(view),
            ),
            Export::Tile(c) => (
                "Export tile",
                format!("{}_{c}.png", view.id),
                "png",
                tile_writer(view, c),
            ),
            Export::Dictionary => (
                "Export dictionary",
                format!("{}_dictionary.png", view.id),
                "png",
                self.dictionary_writer(view)?,
            ),
            Export::Figure => (
                "Export comparison figure",
                format!("{}_compare.png", view.id),
                "png",
                self.figure_writer()?,
            ),
        };
        Some(FileRequest::Export {
            title,
            default_name: name,
            extension,
            write,
        })
    }

    /// Writes the dictionary figure: each channel as its icon when at hand, else as a colour of its
    /// own (as `featurescope dictionary` draws it).
    fn dictionary_writer(&self, view: &LayerView) -> Option<ExportWrite> {
        let photo = self.state.analysis.as_ref()?.input.crop.clone();
        let maps = view.maps.clone();
        let k = self.state.layer_views.k;
        let icons: std::collections::HashMap<usize, std::sync::Arc<image::RgbImage>> = (0..maps
            .channels)
            .filter_map(|c| {
                let icon = self.state.layer_views.icons.get(&view.id, c)?;
                Some((c, icon.clone()))
            })
            .collect();
        Some(Box::new(move |path| {
            let img = crate::services::layer_views::dictionary_figure(&maps, k, &photo, &icons);
            save_image(path, &img.into(), Overwrite::Replace).map_err(|e| e.to_string())
        }))
    }

    /// Writes the grid as the tiles show it: colormap, normalisation, order, tile size.
    fn grid_writer(&self, view: &LayerView) -> ExportWrite {
        let settings = &self.state.settings;
        let maps = view.maps.clone();
        let opts = GridOptions {
            tile_px: (settings.tile_px.round() as u32).clamp(16, 256),
            colormap: view.colormap,
            norm: settings.norm_settings(view.pre_relu),
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
        // Replacing an existing file was agreed to in the dialog.
        Box::new(move |path| {
            let img = featurescope_maps::render_grid(&maps, &opts).map_err(|e| e.to_string())?;
            save_image(path, &img.into(), Overwrite::Replace).map_err(|e| e.to_string())
        })
    }
}

/// Writes the layer's values as `.npy`, float32 `[1, C, H, W]`.
fn npy_writer(view: &LayerView) -> ExportWrite {
    let maps = view.maps.clone();
    Box::new(move |path| {
        let shape = [
            1,
            maps.channels as u64,
            maps.height as u64,
            maps.width as u64,
        ];
        featurescope_maps::write_npy(path, &shape, &maps.data, Overwrite::Replace)
            .map_err(|e| e.to_string())
    })
}

/// Writes one filter's map as the tiles colour it, enlarged to about 512 px (nearest).
fn tile_writer(view: &LayerView, c: usize) -> ExportWrite {
    let ([w, h], rgba) = view.rgba(c.min(view.maps.channels.saturating_sub(1)));
    let (w, h) = (w as u32, h as u32);
    let scale = (512 / w.max(h).max(1)).max(1);
    Box::new(move |path| {
        let small = image::RgbaImage::from_raw(w, h, rgba)
            .ok_or_else(|| "tile has an inconsistent size".to_string())?;
        let big = image::imageops::resize(
            &small,
            w * scale,
            h * scale,
            image::imageops::FilterType::Nearest,
        );
        save_image(path, &big.into(), Overwrite::Replace).map_err(|e| e.to_string())
    })
}
