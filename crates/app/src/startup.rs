//! Start-up timings (`featurescope --startup-report`): process start → first frame of the
//! window, → weights ready, → first tiles on screen; printed to stderr, after which the window
//! closes. How docs/INSTALL.md's "first seconds" figures are measured.

use std::time::{Duration, Instant};

/// Timings taken since the process started.
#[derive(Clone, Debug)]
pub struct StartupReport {
    started: Instant,
    window: Option<Duration>,
    weights: Option<Duration>,
    tiles: Option<Duration>,
    image: String,
}

impl StartupReport {
    /// Start timing from `started` (the process's start).
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            window: None,
            weights: None,
            tiles: None,
            image: String::new(),
        }
    }

    /// A frame is being drawn: the first one is the window appearing.
    pub fn frame(&mut self) {
        self.window.get_or_insert_with(|| self.started.elapsed());
    }

    /// The network is loaded.
    pub fn weights_ready(&mut self) {
        self.weights.get_or_insert_with(|| self.started.elapsed());
    }

    /// A frame drew `tiles` tile textures of `image`; true once, when the first tiles are on
    /// screen and the report was printed.
    pub fn tiles_drawn(&mut self, tiles: usize, image: &str) -> bool {
        if tiles == 0 || self.tiles.is_some() {
            return false;
        }
        self.tiles = Some(self.started.elapsed());
        self.image = image.to_string();
        eprintln!("{}", self.line());
        true
    }

    /// The report in one line.
    pub fn line(&self) -> String {
        let ms = |d: Option<Duration>| {
            d.map_or_else(
                || "-".to_string(),
                |d| format!("{:.0} ms", d.as_secs_f64() * 1e3),
            )
        };
        format!(
            "startup: window {}, weights ready {}, first tiles {} ({})",
            ms(self.window),
            ms(self.weights),
            ms(self.tiles),
            self.image
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_once_when_tiles_appear() {
        let mut r = StartupReport::new(Instant::now());
        r.frame();
        assert!(!r.tiles_drawn(0, "cat.png"));
        r.weights_ready();
        assert!(r.tiles_drawn(12, "cat.png"));
        assert!(!r.tiles_drawn(12, "cat.png"));
        let line = r.line();
        assert!(line.starts_with("startup: window "), "{line}");
        assert!(!line.contains(" - "), "{line}");
        assert!(line.ends_with("(cat.png)"), "{line}");
    }
}
