//! Choosing where the network runs: burn's wgpu backend on a GPU adapter, or burn's pure-Rust
//! `flex` backend on the CPU.

use burn::tensor::wgpu::wgpu;
use burn::tensor::{Device, DeviceKind};

use crate::error::NetError;

/// The user's choice of backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendChoice {
    /// wgpu on a hardware GPU if one exists, else the CPU (`flex`).
    #[default]
    Auto,
    /// wgpu, on a hardware GPU, or on a software adapter (lavapipe) when there is none.
    Wgpu,
    /// burn's `flex` backend on the CPU.
    Cpu,
}

impl BackendChoice {
    /// Parse `auto`, `wgpu`, `gpu`, `cpu`, `flex`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Some(Self::Auto),
            "wgpu" | "gpu" => Some(Self::Wgpu),
            "cpu" | "flex" => Some(Self::Cpu),
            _ => None,
        }
    }
}

/// Which of burn's backends a device runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// burn's wgpu backend (a GPU, or a software adapter such as lavapipe).
    Wgpu,
    /// burn's pure-Rust `flex` backend on the CPU.
    Cpu,
}

impl Backend {
    /// `wgpu` or `cpu`, as the command line and the reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Wgpu => "wgpu",
            Self::Cpu => "cpu",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A device the network can run on, and what it is in words.
#[derive(Clone, Debug)]
pub struct ComputeDevice {
    /// The burn device.
    pub device: Device,
    /// Which backend.
    pub backend: Backend,
    /// The adapter or CPU, as the system names it.
    pub name: String,
}

/// A wgpu adapter seen on this machine.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    /// Name as the driver reports it.
    pub name: String,
    /// Whether it is a software (CPU) adapter such as lavapipe or llvmpipe.
    pub is_cpu: bool,
    /// Graphics API (Vulkan, Metal, Dx12, Gl).
    pub api: String,
}

/// The graphics APIs burn's compute runs on: Vulkan, Metal, DX12 (`WGPU_BACKEND` narrows them).
/// OpenGL is left out: it cannot run the network's compute shaders, and probing it would open
/// EGL and a display connection for nothing.
fn compute_backends() -> wgpu::Backends {
    wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY) & wgpu::Backends::PRIMARY
}

/// The wgpu adapters visible to this process (compute-capable APIs only).
pub fn adapters() -> Vec<AdapterSummary> {
    let backends = compute_backends();
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends,
        ..wgpu::InstanceDescriptor::new_without_display_handle_from_env()
    });
    pollster::block_on(instance.enumerate_adapters(backends))
        .into_iter()
        .map(|a| {
            let info = a.get_info();
            AdapterSummary {
                name: info.name,
                is_cpu: info.device_type == wgpu::DeviceType::Cpu,
                api: format!("{:?}", info.backend),
            }
        })
        .collect()
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn cpu() -> ComputeDevice {
    ComputeDevice {
        device: Device::flex(),
        backend: Backend::Cpu,
        name: format!("flex on {} ({} threads)", cpu_name(), rayon_threads()),
    }
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn kind_of(adapter: &AdapterSummary) -> DeviceKind {
    if adapter.is_cpu {
        DeviceKind::Cpu
    } else {
        DeviceKind::DefaultDevice
    }
}

fn wgpu_on(adapter: &AdapterSummary) -> Result<ComputeDevice, NetError> {
    let kind = kind_of(adapter);
    let device = Device::wgpu_options()
        .device_kind(kind)
        .init()
        .or_else(|e| {
            // Already initialised by an earlier call in this process: reuse it.
            if e.to_string().contains("already") {
                Ok(Device::wgpu(match adapter.is_cpu {
                    true => DeviceKind::Cpu,
                    false => DeviceKind::DefaultDevice,
                }))
            } else {
                Err(e)
            }
        })
        .map_err(|e| NetError::Device(format!("wgpu on {}: {e}", adapter.name)))?;
    Ok(ComputeDevice {
        device,
        backend: Backend::Wgpu,
        name: format!("{} ({})", adapter.name, adapter.api),
    })
}

/// A wgpu device for the network together with the handles it runs on, so that a window can
/// draw with the very same device and queue (one device for the network and the UI: tensors
/// and textures live side by side, and there is one driver context, not two).
#[derive(Clone, Debug)]
pub struct SharedDevice {
    /// The network's device: burn's wgpu runtime for this adapter kind, running on `setup`.
    pub compute: ComputeDevice,
    /// The instance, adapter, device and queue burn acquired, with the features its compute
    /// kernels need; hand them to the window's renderer.
    pub setup: burn::tensor::wgpu::WgpuSetup,
}

/// The GPU adapter `choice` would run on, if it runs on one: `Auto` takes a hardware GPU only;
/// `Wgpu` a hardware GPU, else a software adapter (lavapipe).
fn adapter_for(choice: BackendChoice) -> Option<AdapterSummary> {
    if choice == BackendChoice::Cpu {
        return None;
    }
    let all = adapters();
    match choice {
        BackendChoice::Cpu => None,
        BackendChoice::Auto => all.into_iter().find(|a| !a.is_cpu),
        BackendChoice::Wgpu => all.iter().find(|a| !a.is_cpu).or(all.first()).cloned(),
    }
}

/// Acquire the GPU device `choice` runs on and return it with its wgpu handles, for a window
/// to share. `Ok(None)` when the choice runs on the CPU (`Cpu`, or `Auto` without a hardware
/// GPU); `Err` when the GPU could not be started (the caller then lets [`select_or_cpu`]
/// decide, which says why). Call it once, before anything else initialises that adapter kind.
pub fn select_shared(choice: BackendChoice) -> Result<Option<SharedDevice>, NetError> {
    let Some(adapter) = adapter_for(choice) else {
        return Ok(None);
    };
    let (device, setup) = Device::wgpu_options()
        .device_kind(kind_of(&adapter))
        .init_with_setup()
        .map_err(|e| NetError::Device(format!("wgpu on {}: {e}", adapter.name)))?;
    Ok(Some(SharedDevice {
        compute: ComputeDevice {
            device,
            backend: Backend::Wgpu,
            name: format!("{} ({}), shared with the window", adapter.name, adapter.api),
        },
        setup,
    }))
}

/// Why `device` is the CPU although `choice` asked for the GPU where there is one: the notice
/// the app shows (None when the choice was met).
pub fn fallback_notice(choice: BackendChoice, device: &ComputeDevice) -> Option<String> {
    (choice == BackendChoice::Auto && device.backend == Backend::Cpu).then(|| {
        "no usable GPU adapter found: the network runs on the CPU (slower; install a Vulkan \
         driver to use the GPU)"
            .to_string()
    })
}

/// Pick the device for a choice, never failing: when the GPU asked for cannot be used (no
/// adapter, a driver that will not start), the CPU, with the notice to show.
pub fn select_or_cpu(choice: BackendChoice) -> (ComputeDevice, Option<String>) {
    match select(choice) {
        Ok(device) => {
            let notice = fallback_notice(choice, &device);
            (device, notice)
        }
        Err(e) => (cpu(), Some(format!("{e}: running on the CPU instead"))),
    }
}

/// Pick the device for a choice. `Auto` never fails: without a usable GPU it falls back to the CPU.
pub fn select(choice: BackendChoice) -> Result<ComputeDevice, NetError> {
    match (choice, adapter_for(choice)) {
        (BackendChoice::Cpu, _) | (BackendChoice::Auto, None) => Ok(cpu()),
        (BackendChoice::Auto, Some(gpu)) => Ok(wgpu_on(&gpu).unwrap_or_else(|_| cpu())),
        (BackendChoice::Wgpu, Some(adapter)) => wgpu_on(&adapter),
        (BackendChoice::Wgpu, None) => Err(NetError::Device(
            "no wgpu adapter found (install a GPU driver, or Mesa's lavapipe: \
             `apt-get install mesa-vulkan-drivers`), or use --backend cpu"
                .into(),
        )),
    }
}
