//! The only unsafe code in this crate: NVML (`libnvidia-ml.so.1`) loaded at run time, behind
//! a safe [`Session`] whose handles never outlive the library and whose every out-pointer is
//! a local the call fills.

#![allow(unsafe_code)]

use libloading::Library;
use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void, CString};

/// `nvmlReturn_t`: 0 is success, the rest are NVML's error codes.
pub type Code = c_int;
/// `NVML_SUCCESS`.
pub const SUCCESS: Code = 0;
/// `NVML_ERROR_INVALID_ARGUMENT`.
pub const INVALID_ARGUMENT: Code = 2;
/// `NVML_ERROR_NOT_SUPPORTED`, also what a function missing from an old library amounts to.
pub const NOT_SUPPORTED: Code = 3;
/// `NVML_ERROR_NO_PERMISSION`: setting a limit needs root.
pub const NO_PERMISSION: Code = 4;
/// `NVML_ERROR_NOT_FOUND`.
pub const NOT_FOUND: Code = 6;
/// `NVML_ERROR_DRIVER_NOT_LOADED`: the library is there, the driver is not.
pub const DRIVER_NOT_LOADED: Code = 9;
/// `NVML_ERROR_LIBRARY_NOT_FOUND`.
pub const LIBRARY_NOT_FOUND: Code = 12;

/// The most GPUs a session takes handles for; no machine has more, and NVML's count is
/// believed only up to it.
pub const MAX_GPUS: u32 = 64;

/// `nvmlDevice_t`, an opaque pointer NVML owns.
type Device = *mut c_void;
type Init = unsafe extern "C" fn() -> Code;
type Shutdown = unsafe extern "C" fn() -> Code;
type GetCount = unsafe extern "C" fn(*mut c_uint) -> Code;
type GetHandle = unsafe extern "C" fn(c_uint, *mut Device) -> Code;
type GetEnergy = unsafe extern "C" fn(Device, *mut c_ulonglong) -> Code;
type GetPower = unsafe extern "C" fn(Device, *mut c_uint) -> Code;
type GetHandleByPci = unsafe extern "C" fn(*const c_char, *mut Device) -> Code;
type GetLimit = unsafe extern "C" fn(Device, *mut c_uint) -> Code;
type GetLimitRange = unsafe extern "C" fn(Device, *mut c_uint, *mut c_uint) -> Code;
type SetLimit = unsafe extern "C" fn(Device, c_uint) -> Code;

/// The power-limit calls, all or none (a board without a settable limit has none to use).
#[derive(Clone, Copy)]
struct LimitCalls {
    by_pci: GetHandleByPci,
    get: GetLimit,
    range: GetLimitRange,
    set: SetLimit,
}

/// Why a session did not open.
pub enum Failure {
    /// The library could not be loaded (no NVIDIA driver installed): what the loader said.
    NoLibrary(String),
    /// A function this code needs is missing from the library.
    NoSymbol(&'static str),
    /// A call failed: which, and its code.
    Call(&'static str, Code),
}

/// An initialised NVML with a handle for each GPU. Field order matters: the function
/// pointers and handles point into `_library`, which is dropped last, after `Drop` has shut
/// NVML down.
pub struct Session {
    shutdown: Shutdown,
    energy: Option<GetEnergy>,
    power: Option<GetPower>,
    limits: Option<LimitCalls>,
    devices: Vec<Device>,
    _library: Library,
}

/// The function `name` (NUL-terminated) of `library` as a `T`.
///
/// # Safety
/// `T` must be the function's true C signature.
unsafe fn symbol<T: Copy>(library: &Library, name: &'static [u8]) -> Option<T> {
    // SAFETY: the caller vouches for `T`; the pointer is copied out and used only while
    // `library` lives (the `Session` owns both).
    unsafe { library.get::<T>(name).ok().map(|s| *s) }
}

impl Session {
    /// Loads `library` (e.g. `libnvidia-ml.so.1`), initialises NVML and takes a handle for
    /// each GPU (at most [`MAX_GPUS`]).
    pub fn open(library: &str) -> Result<Session, Failure> {
        // SAFETY: loading runs the library's initialisers; NVML's are the vendor's and make
        // no demands on the caller.
        let library =
            unsafe { Library::new(library) }.map_err(|e| Failure::NoLibrary(e.to_string()))?;
        // SAFETY (each `symbol` call): the types above are the signatures in NVIDIA's nvml.h.
        let init: Init = unsafe { symbol(&library, b"nvmlInit_v2\0") }
            .ok_or(Failure::NoSymbol("nvmlInit_v2"))?;
        let shutdown: Shutdown = unsafe { symbol(&library, b"nvmlShutdown\0") }
            .ok_or(Failure::NoSymbol("nvmlShutdown"))?;
        let count: GetCount = unsafe { symbol(&library, b"nvmlDeviceGetCount_v2\0") }
            .ok_or(Failure::NoSymbol("nvmlDeviceGetCount_v2"))?;
        let handle: GetHandle = unsafe { symbol(&library, b"nvmlDeviceGetHandleByIndex_v2\0") }
            .ok_or(Failure::NoSymbol("nvmlDeviceGetHandleByIndex_v2"))?;
        // Older drivers (before Volta) lack the energy counter; power is the fallback.
        let energy: Option<GetEnergy> =
            unsafe { symbol(&library, b"nvmlDeviceGetTotalEnergyConsumption\0") };
        let power: Option<GetPower> = unsafe { symbol(&library, b"nvmlDeviceGetPowerUsage\0") };
        let limits = (|| {
            Some(LimitCalls {
                by_pci: unsafe { symbol(&library, b"nvmlDeviceGetHandleByPciBusId_v2\0") }?,
                get: unsafe { symbol(&library, b"nvmlDeviceGetPowerManagementLimit\0") }?,
                range: unsafe {
                    symbol(&library, b"nvmlDeviceGetPowerManagementLimitConstraints\0")
                }?,
                set: unsafe { symbol(&library, b"nvmlDeviceSetPowerManagementLimit\0") }?,
            })
        })();
        // SAFETY: takes no arguments; may be called more than once (NVML counts them).
        let code = unsafe { init() };
        if code != SUCCESS {
            return Err(Failure::Call("nvmlInit_v2", code));
        }
        // From here on `session` shuts NVML down when dropped, on every path.
        let mut session = Session {
            shutdown,
            energy,
            power,
            limits,
            devices: Vec::new(),
            _library: library,
        };
        let mut n: c_uint = 0;
        // SAFETY: NVML is initialised; `n` is a live local it writes one c_uint to.
        let code = unsafe { count(&mut n) };
        if code != SUCCESS {
            return Err(Failure::Call("nvmlDeviceGetCount_v2", code));
        }
        for index in 0..n.min(MAX_GPUS) {
            let mut device: Device = std::ptr::null_mut();
            // SAFETY: `index` is below the count NVML gave; `device` is a live local.
            let code = unsafe { handle(index, &mut device) };
            if code != SUCCESS {
                return Err(Failure::Call("nvmlDeviceGetHandleByIndex_v2", code));
            }
            session.devices.push(device);
        }
        Ok(session)
    }

    /// How many GPUs the session has handles for.
    pub fn gpus(&self) -> usize {
        self.devices.len()
    }

    /// GPU `index`'s energy in mJ since the driver loaded, or why not.
    pub fn energy_mj(&self, index: usize) -> Result<u64, Code> {
        let (Some(f), Some(&device)) = (self.energy, self.devices.get(index)) else {
            return Err(NOT_SUPPORTED);
        };
        let mut mj: c_ulonglong = 0;
        // SAFETY: `device` is a handle NVML gave this still-initialised session; `mj` is a
        // live local.
        let code = unsafe { f(device, &mut mj) };
        if code == SUCCESS {
            Ok(mj)
        } else {
            Err(code)
        }
    }

    /// GPU `index`'s power draw in mW now, or why not.
    pub fn power_mw(&self, index: usize) -> Result<u32, Code> {
        let (Some(f), Some(&device)) = (self.power, self.devices.get(index)) else {
            return Err(NOT_SUPPORTED);
        };
        let mut mw: c_uint = 0;
        // SAFETY: as in `energy_mj`.
        let code = unsafe { f(device, &mut mw) };
        if code == SUCCESS {
            Ok(mw)
        } else {
            Err(code)
        }
    }
}

impl Session {
    /// The index of the GPU at PCI address `bus_id` (`0000:01:00.0`), `Ok(None)` when NVML
    /// has none there.
    pub fn gpu_at(&self, bus_id: &str) -> Result<Option<usize>, Code> {
        let calls = self.limits.ok_or(NOT_SUPPORTED)?;
        // An address with a NUL in it names no GPU.
        let Ok(text) = CString::new(bus_id) else {
            return Ok(None);
        };
        let mut device: Device = std::ptr::null_mut();
        // SAFETY: `text` is a NUL-terminated string that outlives the call; `device` is a
        // live local NVML writes one handle to.
        let code = unsafe { (calls.by_pci)(text.as_ptr(), &mut device) };
        match code {
            SUCCESS => Ok(self.devices.iter().position(|&d| d == device)),
            NOT_FOUND | INVALID_ARGUMENT => Ok(None),
            code => Err(code),
        }
    }

    /// GPU `index`'s board power limit in mW now.
    pub fn limit_mw(&self, index: usize) -> Result<u32, Code> {
        let (calls, device) = self.limit_target(index)?;
        let mut mw: c_uint = 0;
        // SAFETY: as in `energy_mj`.
        match unsafe { (calls.get)(device, &mut mw) } {
            SUCCESS => Ok(mw),
            code => Err(code),
        }
    }

    /// The lowest and highest limits in mW GPU `index`'s board accepts.
    pub fn limit_range_mw(&self, index: usize) -> Result<(u32, u32), Code> {
        let (calls, device) = self.limit_target(index)?;
        let (mut min, mut max): (c_uint, c_uint) = (0, 0);
        // SAFETY: as in `energy_mj`, with two live locals.
        match unsafe { (calls.range)(device, &mut min, &mut max) } {
            SUCCESS => Ok((min, max)),
            code => Err(code),
        }
    }

    /// Sets GPU `index`'s board power limit to `mw` (root only, within its range).
    pub fn set_limit_mw(&self, index: usize, mw: u32) -> Result<(), Code> {
        let (calls, device) = self.limit_target(index)?;
        // SAFETY: `device` is a handle of this still-initialised session; `mw` is by value.
        match unsafe { (calls.set)(device, mw) } {
            SUCCESS => Ok(()),
            code => Err(code),
        }
    }

    fn limit_target(&self, index: usize) -> Result<(LimitCalls, Device), Code> {
        match (self.limits, self.devices.get(index)) {
            (Some(calls), Some(&device)) => Ok((calls, device)),
            _ => Err(NOT_SUPPORTED),
        }
    }
}

// SAFETY: NVML is thread-safe (nvml.h: "safe to make simultaneous NVML calls from multiple
// threads"), and a session is used from one thread at a time anyway (`&mut` for reads that
// matter, `Drop` last); the handles are NVML's opaque pointers, never dereferenced here.
unsafe impl Send for Session {}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: this session's `nvmlInit_v2` succeeded, and its handles die with it.
        let _ = unsafe { (self.shutdown)() };
    }
}
