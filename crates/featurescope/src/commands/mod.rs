//! One file per subcommand: its arguments and its work. What they share is in `common`.

pub(crate) mod atlas;
pub(crate) mod attribute;
pub(crate) mod bench;
pub(crate) mod bench_rows;
pub(crate) mod classes;
pub(crate) mod compare;
pub(crate) mod dictionary;
pub(crate) mod dump;
pub(crate) mod groups;
pub(crate) mod install;
pub(crate) mod layers;
pub(crate) mod render;
pub(crate) mod soak;
pub(crate) mod spatial;
pub(crate) mod visualize;
