//! Two models compared over a collection of images: which layers changed (linear CKA per layer,
//! by the minibatch estimator with the unbiased HSIC of Nguyen, Raghu & Kornblith 2021) and which
//! filters (per channel, the correlation of its maximum under both models across the images,
//! and the overlap of its top-K images under each).
//!
//! The network, the folder walk and the Gram matrices live elsewhere (`crates/compare`); this
//! module holds the data model, the estimator and the file. Everything merges exactly: HSIC
//! values and channel sums are kept as exact fixed-point integers and rankings break ties by
//! image path, so one run, a resumed one and shards merged in any order give the same bytes.

mod channels;
pub mod hsic;
mod report;
mod store;

pub use channels::{Peak, Side};
pub use hsic::{MIN_BATCH, cka, unbiased_hsic};
pub use report::{
    Batch, BatchLayer, ChannelChange, LayerCompare, MAX_BATCH, MAX_LAYERS, MAX_TOP, Report,
    Settings,
};
pub use store::{FORMAT_VERSION, MAX_FILE_BYTES};
