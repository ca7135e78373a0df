//! The network worker: one thread that owns the model and its device. The UI sends it jobs over
//! a bounded channel and never waits; results come back as events, each followed by a repaint
//! request. Analyses carry a generation number so results a newer image superseded are dropped,
//! and queued analyses older than the newest are skipped without running.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use featurescope_atlas::{BuildEvent, BuildOptions, BuildSummary};
use featurescope_net::attribution::Pass;
use featurescope_net::{
    Activations, Backend, BackendChoice, ComputeDevice, InputImage, LayerData, Network,
    ResidentTaps, TapRequest, WeightsInfo, WeightsSource, preprocess,
};
use image::{DynamicImage, RgbImage};

use super::attribution::{ExplainKey, Explained, VisKey, Visualization};
use super::gpu_tiles::{GpuQueue, GpuTiles, TileColourer, TileParams};
use super::icons::IconKey;
use super::layer_views::{SpatialDrawn, SpatialKey};

mod classes;
mod pin;
#[cfg(test)]
mod tests;
mod tiles;

pub use pin::PinnedAnalysis;

/// Where an image comes from.
#[derive(Clone, Debug)]
pub enum ImageSource {
    /// A file on disk.
    File(PathBuf),
    /// Encoded bytes (a dropped file without a path).
    Bytes {
        /// Display name.
        name: String,
        /// The encoded file.
        bytes: Arc<[u8]>,
    },
    /// Already decoded pixels (the clipboard).
    Decoded {
        /// Display name.
        name: String,
        /// The image.
        image: Arc<DynamicImage>,
    },
}

impl ImageSource {
    /// Name shown in the UI.
    pub fn name(&self) -> String {
        match self {
            Self::File(p) => p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            Self::Bytes { name, .. } | Self::Decoded { name, .. } => name.clone(),
        }
    }

    fn decode(&self) -> Result<DynamicImage, String> {
        match self {
            Self::File(p) => preprocess::load_image(p).map_err(|e| e.to_string()),
            Self::Bytes { name, bytes } => {
                preprocess::decode_image(bytes, name).map_err(|e| e.to_string())
            }
            Self::Decoded { image, .. } => Ok((**image).clone()),
        }
    }
}

/// Work for the worker.
#[derive(Debug)]
pub enum Job {
    /// Replace the model (the current one stays if this fails).
    LoadWeights(WeightsSource),
    /// Run the network on an image, every layer tapped.
    Analyse {
        /// Increases with each image the user asks for.
        generation: u64,
        /// The image.
        source: ImageSource,
        /// The layer on screen: on a GPU the only tap read back with the analysis (the others
        /// stay on the device until [`Job::ReadLayer`] asks for them).
        layer: String,
    },
    /// Colour a layer's tiles on the GPU from its resident tap ([`Event::TilesColoured`]).
    ColourTiles {
        /// The analysis it belongs to.
        generation: u64,
        /// Which layer, how.
        params: TileParams,
    },
    /// Read one more layer of the current analysis back from the GPU.
    ReadLayer {
        /// The analysis it belongs to.
        generation: u64,
        /// Layer id.
        layer: String,
    },
    /// Pre-ReLU values of one conv for the current image (a subset pass that stops early).
    PreRelu {
        /// The analysis these belong to.
        generation: u64,
        /// Conv id.
        layer: String,
    },
    /// Explain a filter (or a class) with an attribution method, on the current image.
    Explain {
        /// What, how (the method's parameters), for which image and weights.
        key: ExplainKey,
        /// Set to cancel.
        cancel: Arc<AtomicBool>,
    },
    /// Feature visualisation of a filter.
    Visualize {
        /// What.
        key: VisKey,
        /// Set to cancel.
        cancel: Arc<AtomicBool>,
    },
    /// Spatial attribution to one or two classes at a layer, on the current image.
    Spatial {
        /// What.
        key: SpatialKey,
        /// Set to cancel.
        cancel: Arc<AtomicBool>,
    },
    /// A channel's icon (a small feature visualisation), kept at `path` when given. The core
    /// sends one at a time, when nothing else waits: background work.
    Icon {
        /// Which.
        key: IconKey,
        /// Where the cache keeps it.
        path: Option<PathBuf>,
        /// Set to cancel (the core does when a person asks for something).
        cancel: Arc<AtomicBool>,
    },
    /// Fault injection: the next job that uses the device fails as a lost GPU does (a panic
    /// inside burn's backend). Also armed at start by `FEATURESCOPE_SIMULATE_DEVICE_LOSS`.
    SimulateDeviceLoss,
    /// Build (or continue) a filter atlas over a folder with the current weights.
    BuildAtlas {
        /// What to build.
        options: BuildOptions,
        /// Set to stop early (what was done is kept).
        stop: Arc<AtomicBool>,
    },
    /// Pin the current analysis as side A of a comparison ([`Event::Pinned`]): on a GPU every
    /// layer is read back first; its input stays for explanations, and its network too when
    /// other weights are loaded.
    Pin {
        /// The analysis to pin (the current one).
        generation: u64,
    },
    /// Forget the pinned analysis.
    Unpin,
    /// Compare the current weights (A) with other weights (B) over a folder: a report.
    BuildReport {
        /// What to build.
        options: featurescope_compare::CompareOptions,
        /// Model B.
        weights_b: WeightsSource,
        /// Set to stop early (the batches done are kept).
        stop: Arc<AtomicBool>,
    },
    /// Build (or continue) a class summary over a folder with the current weights.
    BuildClasses {
        /// What to build.
        options: featurescope_atlas::classes::ClassOptions,
        /// Set to stop early (what was done is kept).
        stop: Arc<AtomicBool>,
    },
}

/// Whether a job runs the network (and so can meet a lost device).
fn job_uses_device(job: &Job) -> bool {
    matches!(
        job,
        Job::Analyse { .. }
            | Job::ReadLayer { .. }
            | Job::PreRelu { .. }
            | Job::Explain { .. }
            | Job::Visualize { .. }
            | Job::Spatial { .. }
            | Job::Icon { .. }
            | Job::Pin { .. }
    )
}

/// The job to redo on the CPU after the GPU was lost during `job`: analyses and pre-ReLU
/// requests are cheap to redo; explanations and atlas builds are left for the person to retry.
/// A layer read needs no redo: reloading the weights on the CPU analyses the current image
/// again, every layer read back.
fn job_redo(job: &Job) -> Option<Job> {
    match job {
        Job::Analyse {
            generation,
            source,
            layer,
        } => Some(Job::Analyse {
            generation: *generation,
            source: source.clone(),
            layer: layer.clone(),
        }),
        Job::PreRelu { generation, layer } => Some(Job::PreRelu {
            generation: *generation,
            layer: layer.clone(),
        }),
        _ => None,
    }
}

/// Stage of an analysis, for the progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Decoding and cropping the image.
    Decoding,
    /// Forward pass and reading taps back.
    Running,
}

/// What the worker reports.
#[derive(Debug)]
pub enum Event {
    /// The model is ready.
    WeightsLoaded {
        /// What was loaded.
        info: WeightsInfo,
        /// Where it runs.
        device: RunsOn,
        /// Load time.
        millis: f64,
    },
    /// Loading weights failed; the previous model (if any) is still in place.
    WeightsFailed(String),
    /// A job failed in a way it did not foresee (a panic caught on the CPU); nothing changed.
    JobFailed(String),
    /// Something the person should know about the device: no GPU (running on the CPU), or the
    /// GPU lost mid-run (the worker has moved to the CPU and is redoing the work there).
    DeviceNotice(String),
    /// Progress of an analysis.
    Progress {
        /// Which analysis.
        generation: u64,
        /// Stage.
        stage: Stage,
        /// Steps done.
        done: usize,
        /// Steps in all.
        total: usize,
    },
    /// An analysis finished.
    Analysed(Box<Analysis>),
    /// An analysis failed (bad image); the previous one stays on screen.
    AnalyseFailed {
        /// Which analysis.
        generation: u64,
        /// Why.
        message: String,
    },
    /// A layer of the current analysis, read back from the GPU on request ([`Job::ReadLayer`]).
    LayerRead {
        /// Which analysis.
        generation: u64,
        /// Layer id.
        layer: String,
        /// The values, or why they could not be read.
        result: Result<LayerData, String>,
    },
    /// A layer's tiles, coloured on the GPU ([`Job::ColourTiles`]), or why not.
    TilesColoured {
        /// Which analysis.
        generation: u64,
        /// What was asked.
        params: TileParams,
        /// The texture (its work submitted, not waited for), or why there is none.
        result: Result<Arc<GpuTiles>, String>,
    },
    /// Pre-ReLU values arrived.
    PreRelu {
        /// Which analysis.
        generation: u64,
        /// The values.
        data: LayerData,
    },
    /// Progress of an atlas build: files handled, files to handle.
    AtlasProgress {
        /// Handled so far.
        done: usize,
        /// In all.
        total: usize,
    },
    /// Progress of an explanation.
    ExplainProgress {
        /// Which.
        key: ExplainKey,
        /// Steps done.
        done: usize,
        /// Steps in all.
        total: usize,
    },
    /// An explanation finished (or failed, or was cancelled).
    Explained {
        /// Which.
        key: ExplainKey,
        /// The drawn result, or why not.
        result: Result<Box<Explained>, String>,
    },
    /// Progress of a feature visualisation.
    VisualizeProgress {
        /// Which.
        key: VisKey,
        /// Steps done.
        done: usize,
        /// Steps in all.
        total: usize,
    },
    /// A feature visualisation finished.
    Visualized {
        /// Which.
        key: VisKey,
        /// The image and a summary, or why not.
        result: Result<Visualization, String>,
    },
    /// A spatial attribution finished (or failed, or was cancelled).
    Spatial {
        /// Which.
        key: SpatialKey,
        /// The maps, drawn, or why not.
        result: Result<Arc<SpatialDrawn>, String>,
    },
    /// A channel's icon finished (or failed, or was cancelled).
    Icon {
        /// Which.
        key: IconKey,
        /// The image, or why not.
        result: Result<Arc<RgbImage>, String>,
    },
    /// An atlas build ended: its directory and how it went, or why it failed.
    AtlasBuilt(Result<(PathBuf, BuildSummary), String>),
    /// The current analysis, pinned (or why not).
    Pinned(Result<Box<PinnedAnalysis>, String>),
    /// Progress of a report build: files handled, files to handle.
    ReportProgress {
        /// Handled so far.
        done: usize,
        /// In all.
        total: usize,
    },
    /// A report build ended: its file and how it went, or why it failed.
    ReportBuilt(Result<(PathBuf, featurescope_compare::CompareSummary), String>),
    /// Progress of a class summary's build: files handled, files to handle, in which pass.
    ClassProgress {
        /// Handled so far (in this pass).
        done: usize,
        /// In all (in this pass).
        total: usize,
        /// The second pass: the graph's edges.
        graphs: bool,
    },
    /// A class summary's build ended: its file and how it went, or why it failed.
    ClassesBuilt(Result<(PathBuf, BuildSummary), String>),
}

/// A finished analysis.
#[derive(Debug)]
pub struct Analysis {
    /// Which request it answers.
    pub generation: u64,
    /// Where the image came from.
    pub source: ImageSource,
    /// The original and the 299x299 crop.
    pub input: InputImage,
    /// The original scaled to at most [`PREVIEW_SIDE`] and the crop, ready for textures
    /// (made here so the UI thread never resizes a large photo).
    pub previews: Arc<(RgbImage, RgbImage)>,
    /// The head and the layers read back so far: every layer on the CPU; on a GPU the layer
    /// on screen when the analysis was asked for (the rest come by [`Job::ReadLayer`]).
    pub activations: Arc<Activations>,
    /// Whether the layers not in `activations` wait on the GPU ([`Job::ReadLayer`] reads them).
    pub resident: bool,
    /// Forward pass + readback time.
    pub forward_ms: f64,
}

/// The original scaled for the screen and the 299x299 crop.
pub type Previews = Arc<(RgbImage, RgbImage)>;

/// Largest side of the input preview shown in the UI.
pub const PREVIEW_SIDE: u32 = 1024;

fn preview(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    if w.max(h) <= PREVIEW_SIDE {
        return img.clone();
    }
    let scale = f64::from(PREVIEW_SIDE) / f64::from(w.max(h));
    let (pw, ph) = (
        ((f64::from(w) * scale).round() as u32).max(1),
        ((f64::from(h) * scale).round() as u32).max(1),
    );
    image::imageops::thumbnail(img, pw, ph)
}

/// Where the network runs, as the status line names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunsOn {
    /// Which backend.
    pub backend: Backend,
    /// The adapter or CPU (", shared with the window" when the window draws with it).
    pub name: String,
}

impl std::fmt::Display for RunsOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} · {}", self.backend, self.name)
    }
}

/// The UI's handle on the worker thread. Dropping it stops the worker ([`Worker::stop`]).
pub struct Worker {
    jobs: SyncSender<Job>,
    events: Receiver<Event>,
    /// Disconnected once the thread has ended and its state (model, device, the window's
    /// context it repaints) is dropped; `None` once waited for, or when there is no thread.
    ended: Option<Receiver<()>>,
    /// Set by [`Worker::stop`]: the jobs still queued are not run.
    stopping: Arc<AtomicBool>,
}

/// How long closing the window waits for the worker to end (the job it is running told to stop
/// first). A pass cannot stop midway; one is well within this, even on lavapipe.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// Capacity of the job queue; the UI reports "busy" beyond it rather than blocking.
const JOB_QUEUE: usize = 32;
/// Capacity of the event queue (the UI drains it every frame).
const EVENT_QUEUE: usize = 256;

impl Worker {
    /// Start the worker: it picks the device (`shared`, the window's own GPU device, when there
    /// is one) and loads `weights` first; `repaint` is called after every event.
    pub fn spawn(
        weights: WeightsSource,
        backend: BackendChoice,
        shared: Option<ComputeDevice>,
        repaint: impl Fn() + Send + 'static,
    ) -> Self {
        Self::spawn_on(weights, backend, (shared, None), repaint)
    }

    /// [`Worker::spawn`] with the shared device's wgpu handles too, so tiles are coloured on
    /// the GPU from the taps kept there.
    pub fn spawn_on(
        weights: WeightsSource,
        backend: BackendChoice,
        (shared, gpu): (Option<ComputeDevice>, Option<GpuQueue>),
        repaint: impl Fn() + Send + 'static,
    ) -> Self {
        let (jobs, job_rx) = sync_channel(JOB_QUEUE);
        let (event_tx, events) = sync_channel(EVENT_QUEUE);
        let (ended_tx, ended) = sync_channel::<()>(0);
        let stopping = Arc::new(AtomicBool::new(false));
        let stop_flag = stopping.clone();
        let spawned = std::thread::Builder::new()
            .name("featurescope-network".into())
            .spawn(move || {
                // Dropped last, after the state: `ended` then says everything is let go.
                let _ended = ended_tx;
                let mut state = WorkerState {
                    network: None,
                    weights_source: None,
                    simulate_loss: std::env::var_os("FEATURESCOPE_SIMULATE_DEVICE_LOSS").is_some(),
                    told_fallback: false,
                    weights_serial: 0,
                    backend,
                    shared,
                    gpu,
                    colourer: None,
                    input: None,
                    source: None,
                    resident: None,
                    last: None,
                    analysed: None,
                    pinned: None,
                    shown_layer: String::new(),
                    generation: 0,
                    events: event_tx,
                    repaint: Box::new(repaint),
                };
                state.load(weights);
                state.serve(&job_rx, &stop_flag);
            });
        if let Err(e) = spawned {
            // Without a thread there is no network; the UI shows this as the weights error.
            let (tx, rx) = sync_channel(1);
            let _ = tx.try_send(Event::WeightsFailed(format!("cannot start worker: {e}")));
            return Self {
                jobs,
                events: rx,
                ended: None,
                stopping,
            };
        }
        Self {
            jobs,
            events,
            ended: Some(ended),
            stopping,
        }
    }

    /// Stop the worker: its queue closes (jobs queued and not started are dropped, and every
    /// later one is refused), events it still sends are dropped rather than queued (a full
    /// queue cannot hold it up), and this waits up to `wait` for its thread to end, with its
    /// model, device and buffers let go. The caller first tells the running job to stop
    /// ([`crate::AppState::cancel_all`]). Returns whether the thread ended in time; one still
    /// busy is left to end on its own. Stopping again returns at once.
    ///
    /// The window stops it on close so that nothing runs on the network's thread while the
    /// process exits: the graphics drivers' exit handlers raced with it there (a crash at exit
    /// in 4 of 56 runs under load, when that thread let go of the window's renderer).
    pub fn stop(&mut self, wait: Duration) -> bool {
        self.stopping.store(true, Ordering::SeqCst);
        let (refused, _) = sync_channel(0);
        drop(std::mem::replace(&mut self.jobs, refused));
        let (_, nothing) = sync_channel(0);
        drop(std::mem::replace(&mut self.events, nothing));
        match self.ended.take() {
            Some(ended) => matches!(
                ended.recv_timeout(wait),
                Err(RecvTimeoutError::Disconnected)
            ),
            None => true,
        }
    }

    /// Queue a job without waiting; `Err` if the queue is full or the worker is gone.
    pub fn send(&self, job: Job) -> Result<(), String> {
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => "the network is busy; try again in a moment".to_string(),
            TrySendError::Disconnected(_) => "the network worker has stopped".to_string(),
        })
    }

    /// Events that arrived since the last call.
    pub fn poll(&self) -> Vec<Event> {
        self.events.try_iter().collect()
    }

    /// A worker whose thread is gone: every job is refused with "the network worker has
    /// stopped" (tests of what the app does when a job cannot be sent).
    pub fn stopped() -> Self {
        let (jobs, job_rx) = sync_channel(1);
        let (_, events) = sync_channel(1);
        drop(job_rx);
        Self {
            jobs,
            events,
            ended: None,
            stopping: Arc::default(),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop(SHUTDOWN_WAIT);
    }
}

struct WorkerState {
    network: Option<Network>,
    /// Where the loaded weights came from (reloaded on the CPU if the GPU is lost).
    weights_source: Option<WeightsSource>,
    /// The next job that uses the device fails as a lost GPU would (fault injection).
    simulate_loss: bool,
    /// The "running on the CPU" notice was shown.
    told_fallback: bool,
    /// Counts successful weight loads (the UI counts `WeightsLoaded` events the same way).
    weights_serial: u64,
    backend: BackendChoice,
    /// The window's GPU device, used while `backend` is not the CPU (a lost GPU switches it).
    shared: Option<ComputeDevice>,
    /// The shared device's wgpu handles, to colour tiles with (`None`: tiles on the CPU).
    gpu: Option<GpuQueue>,
    /// The tile shader, made on first use (or why it could not be).
    colourer: Option<Result<TileColourer, String>>,
    input: Option<InputImage>,
    source: Option<ImageSource>,
    /// The current analysis' taps, kept on the GPU (None on the CPU, where all are read back).
    resident: Option<ResidentTaps>,
    /// What the last analysis sent: its layers read back and its previews.
    last: Option<(Arc<Activations>, Previews)>,
    /// The `(generation, weights)` whose pass `resident` and `last` hold; `None` when the last
    /// pass failed (`last` is then an older pass, kept on screen, not one to explain from).
    analysed: Option<(u64, u64)>,
    /// The pinned analysis' input and network, for its explanations.
    pinned: Option<pin::PinnedSide>,
    /// The layer on screen, read back first.
    shown_layer: String,
    generation: u64,
    events: SyncSender<Event>,
    repaint: Box<dyn Fn() + Send>,
}

impl WorkerState {
    fn emit(&self, e: Event) {
        // The UI drains the queue every frame; if it has gone away there is nobody to tell.
        let _ = self.events.send(e);
        (self.repaint)();
    }

    /// Run jobs as they come until the queue closes or `stopping` is set.
    fn serve(&mut self, jobs: &Receiver<Job>, stopping: &AtomicBool) {
        while let Ok(mut job) = jobs.recv() {
            if stopping.load(Ordering::SeqCst) {
                return;
            }
            // Skip analyses that a newer queued one supersedes.
            while let Job::Analyse { .. } = job {
                match jobs.try_recv() {
                    Ok(next @ Job::Analyse { .. }) => job = next,
                    Ok(other) => {
                        self.run_guarded(job);
                        job = other;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.run_guarded(job);
        }
    }

    fn run(&mut self, job: Job) {
        match job {
            Job::LoadWeights(source) => self.load(source),
            Job::Analyse {
                generation,
                source,
                layer,
            } => {
                self.shown_layer = layer;
                self.analyse(generation, source);
            }
            Job::ReadLayer { generation, layer } => self.read_layer(generation, layer),
            Job::ColourTiles { generation, params } => self.colour_tiles(generation, params),
            Job::PreRelu { generation, layer } => self.pre_relu(generation, &layer),
            Job::BuildAtlas { options, stop } => self.build_atlas(&options, &stop),
            Job::Explain { key, cancel } => self.explain(key, &cancel),
            Job::Visualize { key, cancel } => self.visualize(key, &cancel),
            Job::Spatial { key, cancel } => self.spatial(key, &cancel),
            Job::Icon { key, path, cancel } => self.icon(key, path.as_deref(), &cancel),
            Job::SimulateDeviceLoss => self.simulate_loss = true,
            Job::Pin { generation } => self.pin(generation),
            Job::Unpin => self.pinned = None,
            Job::BuildReport {
                options,
                weights_b,
                stop,
            } => self.build_report(&options, &weights_b, &stop),
            Job::BuildClasses { options, stop } => self.build_classes(&options, &stop),
        }
    }

    /// Run a job; a panic inside it (burn's wgpu backend panics when its device is lost) is
    /// caught here. On the GPU it means the device is gone: switch to the CPU, reload the
    /// weights there and redo the current image. On the CPU it is reported and the worker
    /// carries on. The job's own state (the last good image, the weights) is kept either way.
    fn run_guarded(&mut self, job: Job) {
        let redo = job_redo(&job);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if self.simulate_loss && job_uses_device(&job) {
                self.simulate_loss = false;
                panic!("simulated GPU device loss (FEATURESCOPE_SIMULATE_DEVICE_LOSS)");
            }
            self.run(job)
        }));
        let Err(panic) = outcome else { return };
        let what = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown error")
            .to_string();
        let on_gpu = self
            .network
            .as_ref()
            .is_some_and(|n| n.device().backend == Backend::Wgpu)
            || self.backend == BackendChoice::Wgpu;
        if on_gpu {
            self.emit(Event::DeviceNotice(format!(
                "the GPU stopped working ({what}): switched to the CPU and redoing the last step"
            )));
            self.backend = BackendChoice::Cpu;
            self.network = None;
            self.resident = None;
            self.analysed = None;
            // The pinned network was on the lost device too.
            self.pinned = None;
            if matches!(redo, Some(Job::Analyse { .. })) {
                // The redo analyses the new image; reloading need not redo the old one first.
                self.input = None;
            }
            if let Some(source) = self.weights_source.clone() {
                self.load(source);
            }
            if let Some(job) = redo {
                self.run(job);
            }
        } else {
            self.emit(Event::JobFailed(format!("internal error: {what}")));
        }
    }

    fn load(&mut self, source: WeightsSource) {
        let t = Instant::now();
        let (device, notice) = match &self.shared {
            Some(shared) if self.backend != BackendChoice::Cpu => (shared.clone(), None),
            _ => featurescope_net::device::select_or_cpu(self.backend),
        };
        let runs_on = RunsOn {
            backend: device.backend,
            name: device.name.clone(),
        };
        match Network::load_source(&source, device) {
            Ok(net) => {
                let info = net.weights().clone();
                self.keep_pinned_network();
                self.network = Some(net);
                self.weights_source = Some(source);
                if let Some(n) = notice.filter(|_| !self.told_fallback) {
                    self.told_fallback = true;
                    self.emit(Event::DeviceNotice(n));
                }
                self.weights_serial += 1;
                self.emit(Event::WeightsLoaded {
                    info,
                    device: runs_on,
                    millis: t.elapsed().as_secs_f64() * 1e3,
                });
                // Re-run the current image on the new weights.
                if let Some(input) = self.input.clone() {
                    self.run_input(self.generation, self.source.clone(), input);
                }
            }
            Err(e) => self.emit(Event::WeightsFailed(e.to_string())),
        }
    }

    fn build_atlas(&mut self, options: &BuildOptions, stop: &AtomicBool) {
        let Some(net) = &self.network else {
            return self.emit(Event::AtlasBuilt(Err("no weights loaded".into())));
        };
        let source = net.weights().source.clone();
        let (events, repaint) = (self.events.clone(), &self.repaint);
        let (mut done, mut total) = (0, 0);
        let mut last_sent = Instant::now();
        let result = featurescope_atlas::build(net, &source, options, stop, &mut |e| {
            match e {
                BuildEvent::Started { todo, .. } => total = todo,
                BuildEvent::Advanced => done += 1,
                BuildEvent::Skipped(..) => return,
            }
            if done == total || last_sent.elapsed().as_millis() >= 50 {
                last_sent = Instant::now();
                let _ = events.try_send(Event::AtlasProgress { done, total });
                repaint();
            }
        });
        self.emit(Event::AtlasBuilt(
            result
                .map(|s| (options.out.clone(), s))
                .map_err(|e| format!("atlas: {e:#}")),
        ));
    }

    /// A progress callback that reports at most every 50 ms and answers the cancel flag.
    fn reporter<'a>(
        &'a self,
        cancel: &'a AtomicBool,
        event: impl Fn(usize, usize) -> Event + 'a,
    ) -> impl FnMut(usize, usize) -> bool + 'a {
        let mut last = Instant::now();
        move |done, total| {
            if done == total || last.elapsed().as_millis() >= 50 {
                last = Instant::now();
                let _ = self.events.try_send(event(done, total));
                (self.repaint)();
            }
            !cancel.load(Ordering::Relaxed)
        }
    }

    fn explain(&mut self, key: ExplainKey, cancel: &AtomicBool) {
        let side = self.side_for(key.generation, key.weights);
        let result = match side {
            _ if cancel.load(Ordering::Relaxed) => Err("cancelled".to_string()),
            None if self.network.is_none() || self.input.is_none() => {
                Err("no image or no weights yet".to_string())
            }
            None => Err("the image or the weights changed; ask again".to_string()),
            Some((net, input)) => {
                let k = key.clone();
                let mut progress =
                    self.reporter(cancel, move |done, total| Event::ExplainProgress {
                        key: k.clone(),
                        done,
                        total,
                    });
                let pass = self.pass_of(key.generation, key.weights);
                super::attribution::explain(net, input, pass, &key, &mut progress).map(Box::new)
            }
        };
        self.emit(Event::Explained { key, result });
    }

    /// The pass of `(generation, weights)` when the last analysis ran it: its taps on the
    /// GPU, or every tap read back on the CPU. An explanation walks back from it without
    /// running the forward again.
    fn pass_of(&self, generation: u64, weights: u64) -> Option<Pass<'_>> {
        if self.analysed != Some((generation, weights)) {
            return None;
        }
        match (&self.resident, &self.last) {
            (Some(taps), _) => Some(Pass::Device(taps)),
            (None, Some((acts, _))) => Some(Pass::Host(acts)),
            (None, None) => None,
        }
    }

    fn visualize(&mut self, key: VisKey, cancel: &AtomicBool) {
        let result = match &self.network {
            _ if cancel.load(Ordering::Relaxed) => Err("cancelled".to_string()),
            _ if key.weights != self.weights_serial => {
                Err("the weights changed; ask again".to_string())
            }
            Some(net) => {
                let k = key.clone();
                let mut progress =
                    self.reporter(cancel, move |done, total| Event::VisualizeProgress {
                        key: k.clone(),
                        done,
                        total,
                    });
                super::attribution::visualize(net, &key, &mut progress)
            }
            None => Err("no weights yet".to_string()),
        };
        self.emit(Event::Visualized { key, result });
    }

    fn spatial(&mut self, key: SpatialKey, cancel: &AtomicBool) {
        let result = match (&self.network, &self.input) {
            _ if cancel.load(Ordering::Relaxed) => Err("cancelled".to_string()),
            _ if key.generation != self.generation || key.weights != self.weights_serial => {
                Err("the image or the weights changed; ask again".to_string())
            }
            (Some(net), Some(input)) => {
                let mut progress = |_: usize, _: usize| !cancel.load(Ordering::Relaxed);
                super::layer_views::compute_spatial(net, input, &key, &mut progress).map(Arc::new)
            }
            _ => Err("no image or no weights yet".to_string()),
        };
        self.emit(Event::Spatial { key, result });
    }

    fn icon(&mut self, key: IconKey, path: Option<&std::path::Path>, cancel: &AtomicBool) {
        let result = match &self.network {
            _ if cancel.load(Ordering::Relaxed) => Err("cancelled".to_string()),
            _ if key.weights != self.weights_serial => {
                Err("the weights changed; ask again".to_string())
            }
            Some(net) => {
                let mut progress = |_: usize, _: usize| !cancel.load(Ordering::Relaxed);
                super::icons::compute(net, &key.layer, key.channel, path, &mut progress)
                    .map(Arc::new)
            }
            None => Err("no weights yet".to_string()),
        };
        self.emit(Event::Icon { key, result });
    }

    fn analyse(&mut self, generation: u64, source: ImageSource) {
        self.emit(Event::Progress {
            generation,
            stage: Stage::Decoding,
            done: 0,
            total: 1,
        });
        let input = match source.decode() {
            Ok(img) => preprocess::prepare(&img),
            Err(message) => {
                return self.emit(Event::AnalyseFailed {
                    generation,
                    message,
                });
            }
        };
        self.run_input(generation, Some(source), input);
    }

    fn run_input(&mut self, generation: u64, source: Option<ImageSource>, input: InputImage) {
        // A new pass replaces the old one's taps: free them first.
        self.resident = None;
        self.analysed = None;
        let Some(net) = &self.network else {
            return self.emit(Event::AnalyseFailed {
                generation,
                message: "no weights loaded".into(),
            });
        };
        let t = Instant::now();
        let result = if net.device().backend == Backend::Wgpu {
            self.run_resident(net, generation, &input)
        } else {
            self.run_read_all(net, generation, &input)
        };
        let forward_ms = t.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok((acts, resident)) => {
                let on_device = resident.is_some();
                self.resident = resident;
                self.input = Some(input.clone());
                self.source = source.clone();
                self.generation = generation;
                let source = source.unwrap_or_else(|| ImageSource::Decoded {
                    name: "current image".into(),
                    image: Arc::new(DynamicImage::ImageRgb8(input.original.clone())),
                });
                let previews = Arc::new((preview(&input.original), input.crop.clone()));
                let activations = Arc::new(acts);
                self.last = Some((activations.clone(), previews.clone()));
                self.analysed = Some((generation, self.weights_serial));
                self.emit(Event::Analysed(Box::new(Analysis {
                    generation,
                    source,
                    previews,
                    input,
                    activations,
                    resident: on_device,
                    forward_ms,
                })));
            }
            Err(e) => self.emit(Event::AnalyseFailed {
                generation,
                message: e.to_string(),
            }),
        }
    }

    /// The GPU pass: every tap stays on the device; the head and the layer on screen are read
    /// back.
    fn run_resident(
        &self,
        net: &Network,
        generation: u64,
        input: &InputImage,
    ) -> Result<(Activations, Option<ResidentTaps>), featurescope_net::NetError> {
        let _ = self.events.try_send(Event::Progress {
            generation,
            stage: Stage::Running,
            done: 0,
            total: 1,
        });
        (self.repaint)();
        let taps = net.run_resident(input, &TapRequest::all())?;
        let shown: Vec<&str> = taps.ids().filter(|id| *id == self.shown_layer).collect();
        let acts = taps.read_some(&shown)?;
        Ok((acts, Some(taps)))
    }

    /// The CPU pass: the taps are in host memory already; every one is copied out, so any
    /// layer is shown at once.
    fn run_read_all(
        &self,
        net: &Network,
        generation: u64,
        input: &InputImage,
    ) -> Result<(Activations, Option<ResidentTaps>), featurescope_net::NetError> {
        let events = self.events.clone();
        let repaint = &self.repaint;
        let mut last_sent = Instant::now();
        let result = net.run_with_progress(input, &TapRequest::all(), &mut |done, total| {
            // At most ~60 progress events a second.
            if done == total || last_sent.elapsed().as_millis() >= 16 {
                last_sent = Instant::now();
                let _ = events.try_send(Event::Progress {
                    generation,
                    stage: Stage::Running,
                    done,
                    total,
                });
                repaint();
            }
        });
        result.map(|acts| (acts, None))
    }

    fn read_layer(&mut self, generation: u64, layer: String) {
        if generation != self.generation {
            return;
        }
        let result = match &self.resident {
            Some(taps) => taps.read(&layer).map_err(|e| e.to_string()),
            None => Err(format!(
                "`{layer}` is no longer on the GPU (the last pass failed): open the image again"
            )),
        };
        self.emit(Event::LayerRead {
            generation,
            layer,
            result,
        });
    }

    fn pre_relu(&mut self, generation: u64, layer: &str) {
        let (Some(net), Some(input)) = (&self.network, &self.input) else {
            return;
        };
        let request = TapRequest::layers([layer]).and_then(|r| r.with_pre_relu([layer]));
        let result = request.and_then(|r| net.run(input, &r));
        match result {
            Ok(mut acts) => {
                if let Some(data) = acts.pre_relu.pop() {
                    self.emit(Event::PreRelu { generation, data });
                }
            }
            Err(e) => self.emit(Event::AnalyseFailed {
                generation,
                message: e.to_string(),
            }),
        }
    }
}
