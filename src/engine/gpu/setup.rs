//! Choosing an adapter and opening a device on it, with every wgpu error routed into a
//! [`Faults`] record instead of wgpu's default handler, which panics.

use crate::engine::Options;
use crate::{Error, ErrorKind};
use std::sync::{Arc, Mutex};

/// The first asynchronous failure a device reported: an uncaptured validation error, an
/// out-of-memory, or the device being lost. Checked after every dispatch.
#[derive(Clone, Default)]
pub(super) struct Faults(Arc<Mutex<Option<String>>>);

impl Faults {
    fn record(&self, what: String) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(what);
    }

    /// `Err` once the device has reported a failure; it stays failed.
    pub(super) fn check(&self) -> Result<(), Error> {
        match &*self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(what) => Err(Error::new(ErrorKind::Device, format!("GPU: {what}"))),
            None => Ok(()),
        }
    }
}

/// Where the adapter choice comes from: [`Options`] first, then the environment.
struct Choice {
    backends: wgpu::Backends,
    name: Option<String>,
    allow_software: bool,
}

impl Choice {
    fn new(options: &Options) -> Result<Self, Error> {
        let env = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
        let backends = match env("SHA256D_GPU_BACKEND") {
            Some(list) => {
                let b = wgpu::Backends::from_comma_list(&list);
                if b.is_empty() {
                    return Err(Error::invalid(format!(
                        "SHA256D_GPU_BACKEND={list:?} names no backend; use vulkan, gl, metal \
                         or dx12"
                    )));
                }
                b
            }
            // Also honours WGPU_BACKEND, the variable wgpu users already know.
            None => wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()),
        };
        Ok(Choice {
            backends,
            name: options
                .gpu_adapter
                .clone()
                .or_else(|| env("SHA256D_GPU_ADAPTER")),
            allow_software: options.gpu_allow_software
                || env("SHA256D_GPU_ALLOW_SOFTWARE").is_some_and(|v| v == "1"),
        })
    }

    /// Why `adapter` is not eligible, if it is not.
    fn reject(&self, adapter: &wgpu::Adapter) -> Option<&'static str> {
        let info = adapter.get_info();
        if let Some(want) = &self.name {
            if !info.name.to_lowercase().contains(&want.to_lowercase()) {
                return Some("name does not match SHA256D_GPU_ADAPTER");
            }
        }
        if info.device_type == wgpu::DeviceType::Cpu && !self.allow_software {
            return Some("software adapter; set SHA256D_GPU_ALLOW_SOFTWARE=1 to use it");
        }
        let caps = adapter.get_downlevel_capabilities();
        if !caps.flags.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS) {
            return Some("no compute shaders");
        }
        None
    }
}

/// Real GPUs before software ones, and the native API before GL.
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let device = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let backend = match info.backend {
        wgpu::Backend::Vulkan => 0,
        wgpu::Backend::Metal => 1,
        wgpu::Backend::Dx12 => 2,
        wgpu::Backend::Gl => 3,
        _ => 4,
    };
    (device, backend)
}

/// An open device and what it was opened on.
pub(super) struct Opened {
    pub(super) info: wgpu::AdapterInfo,
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    pub(super) faults: Faults,
}

/// Opens the best eligible adapter, or says what was found and why none would do.
pub(super) fn open(options: &Options) -> Result<Opened, Error> {
    let choice = Choice::new(options)?;
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = choice.backends;
    let instance = wgpu::Instance::new(desc);
    let mut adapters = pollster::block_on(instance.enumerate_adapters(choice.backends));
    adapters.sort_by_key(|a| rank(&a.get_info()));
    let mut rejected = Vec::new();
    let adapter = adapters.into_iter().find(|a| match choice.reject(a) {
        Some(why) => {
            let info = a.get_info();
            rejected.push(format!(
                "{} ({:?}, {:?}): {why}",
                info.name, info.backend, info.device_type
            ));
            false
        }
        None => true,
    });
    let Some(adapter) = adapter else {
        let found = if rejected.is_empty() {
            "no adapters found".to_string()
        } else {
            rejected.join("; ")
        };
        return Err(Error::new(
            ErrorKind::Unavailable,
            format!("no usable GPU adapter ({found})"),
        ));
    };
    let info = adapter.get_info();
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("sha256d"),
        // Everything the adapter offers: the grid and hit buffer size themselves to it.
        required_limits: adapter.limits(),
        ..Default::default()
    }))
    .map_err(|e| {
        Error::new(
            ErrorKind::Unavailable,
            format!("opening {} ({:?}): {e}", info.name, info.backend),
        )
    })?;
    let faults = Faults::default();
    let sink = faults.clone();
    device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| sink.record(e.to_string())));
    let sink = faults.clone();
    device.set_device_lost_callback(move |reason, message| {
        sink.record(format!("device lost ({reason:?}): {message}"))
    });
    Ok(Opened {
        info,
        device,
        queue,
        faults,
    })
}

/// Runs `f` with wgpu's error scopes open, so a validation error, an out-of-memory or an
/// internal (driver) error in it comes back as `Err` naming `what`.
pub(super) fn scoped<T>(
    device: &wgpu::Device,
    what: &str,
    f: impl FnOnce() -> T,
) -> Result<T, Error> {
    let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let out = f();
    // Scopes pop innermost first.
    let errors = [
        pollster::block_on(validation.pop()),
        pollster::block_on(internal.pop()),
        pollster::block_on(oom.pop()),
    ];
    match errors.into_iter().flatten().next() {
        Some(e) => Err(Error::new(ErrorKind::Device, format!("GPU {what}: {e}"))),
        None => Ok(out),
    }
}

/// The kernel module, created without the loop counter wgpu otherwise adds to every loop.
pub(super) fn trusted_module(device: &wgpu::Device, source: &str) -> wgpu::ShaderModule {
    let mut checks = wgpu::ShaderRuntimeChecks::checked();
    checks.force_loop_bounding = false;
    let desc = wgpu::ShaderModuleDescriptor {
        label: Some("sha256d.wgsl"),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    };
    // SAFETY: the only check turned off is loop bounding, which guards against loops that
    // never end. The kernels (generated by build/wgsl.rs, never from outside input) have one
    // loop, `for (var j = 0u; j < NPI; j++)`, whose counter nothing else writes and whose
    // bound is a pipeline constant of at most 2^20 (`GpuEngine::new` checks it), so it ends
    // after NPI steps; everything else is straight-line code. Bounds checks stay on, though
    // the one runtime index (`hits.found[slot]`) is guarded by `slot < arrayLength` anyway and
    // the parameters are read by field, never by index.
    unsafe { device.create_shader_module_trusted(desc, checks) }
}
