//! The process's allocator, tuned once for passes that allocate and free the same large
//! buffers every time.
//!
//! A forward with every tap allocates ~45 MB of feature maps in blocks of 0.1–6 MB and frees
//! them when the taps are read. glibc serves blocks above its mmap threshold (128 KiB, raised
//! adaptively) with fresh `mmap`s and returns freed memory at the top of the heap to the kernel
//! above its trim threshold, so every pass could fault all of its pages in again: ~10 600 page
//! faults per forward, measured with `perf stat` (docs/PERFORMANCE.md). Fixed thresholds keep
//! the blocks in the heap and the heap's pages mapped between passes.

/// Blocks up to this size come from the heap (glibc's largest allowed threshold on 64-bit).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;
/// One arena for every thread: the passes allocate on rayon's threads (they run inside its
/// pool), and glibc's default of an arena per thread made each keep its own freed feature maps
/// (an atlas in batches of 8 peaked at 1.19 GB instead of 0.75 GB; the forward's speed is the
/// same with one).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 1;
/// Freed memory at the heap's top is returned to the kernel only above this.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 512 << 20;

/// Keep freed feature maps mapped for the next pass (glibc's `mallopt`; elsewhere nothing).
/// Call once, early in `main`. Returns whether the allocator took the settings.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only sets the allocator's parameters; glibc serialises it with
        // allocation, and both values are within its documented ranges.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
                && libc::mallopt(libc::M_ARENA_MAX, ARENAS) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
