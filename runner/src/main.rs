//! The `wasm-slo` binary; everything lives in the library.

/// jemalloc instead of glibc's malloc, as oha links it: a request takes
/// about 17 allocations (hyper's buffers and header maps, the response
/// handed to the guest), and jemalloc's thread cache serves them in fewer
/// instructions (3.6 % fewer per request in all at 64 VUs, about 2 % less
/// CPU; README, "What the changes did"). Memory per VU is unchanged.
#[cfg(unix)]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once at start (`_RJEM_MALLOC_CONF` in the
/// environment still overrides them). A worker's VUs take turns, so each
/// size class is allocated N times in a row (one per VU) and freed N times
/// in a row: hyper, for one, allocates every connection's next read buffer
/// (8 KiB) while the VUs still hold the last response, and the VUs free
/// the old ones on their turns. jemalloc's default thread cache holds 20
/// blocks of such a size, so every burst of 64 emptied it and the next
/// overfilled it, and each refill and flush went to the arena: about 1,300
/// of 26,100 instructions per request at 64 VUs. 128 blocks per size class
/// absorb the bursts; the cache holds at most a few MiB per thread.
#[cfg(unix)]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: MallocConf = MallocConf(c"tcache_nslots_small_min:128".as_ptr());

/// A C string pointer that jemalloc reads as `const char *malloc_conf`.
#[cfg(unix)]
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);

// The pointer is to a static string that nothing writes.
#[cfg(unix)]
unsafe impl Sync for MallocConf {}

fn main() -> std::process::ExitCode {
    // SAFETY: first thing in `main`; no other thread has started.
    unsafe { wasm_slo::cli::quiet_error_backtraces() };
    wasm_slo::cli::main()
}
