//! Measures the memory a cached token identity takes in the introspection cache.
//!
//! Fills a [`CredentialCache`] with N active identities built from introspection
//! responses shaped like Okta's (a 26-byte login as `sub`, `username` and `email`, a
//! 20-byte client id, five scopes, one audience), once without groups and once with ten
//! 20-byte group names. It reports heap bytes per entry counted by a wrapping global
//! allocator (keys, identities, prepared header values and moka's per-entry bookkeeping)
//! and the resident-set growth per entry from `/proc/self/statm`.
//!
//! Run: `cargo run --release --example cache_memory -- [ENTRIES [GROUPS]]` (default
//! 100000 entries, measured with 0 and with 10 groups, each in a fresh process).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use portcullis::auth::{CredentialCache, Identity, Validated};
use portcullis::metrics::Metrics;
use portcullis::okta::Introspection;

/// The system allocator, counting the bytes currently allocated.
struct CountingAllocator;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter only
// records sizes.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let entries: u64 = match args.next() {
        Some(value) => value
            .parse()
            .map_err(|_| anyhow::anyhow!("ENTRIES must be a positive integer, not {value:?}"))?,
        None => 100_000,
    };
    let Some(groups) = args.next() else {
        // One fresh process per group count, so each resident-set reading starts clean.
        println!("entries: {entries}");
        for groups in [0, 10] {
            let status = std::process::Command::new(std::env::current_exe()?)
                .args([entries.to_string(), groups.to_string()])
                .status()?;
            anyhow::ensure!(
                status.success(),
                "the measurement with {groups} groups failed"
            );
        }
        return Ok(());
    };
    let groups: usize = groups
        .parse()
        .map_err(|_| anyhow::anyhow!("GROUPS must be a non-negative integer, not {groups:?}"))?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (heap, rss) = runtime.block_on(measure(entries, groups));
    let identity_heap = measure_identities(entries, groups);
    println!(
        "groups: {groups:2}  heap bytes per entry: {heap:5.0} (identity alone {identity_heap:5.0})  \
         RSS growth per entry: {rss:5.0}"
    );
    Ok(())
}

/// Returns heap bytes and resident bytes per entry for a cache of `entries` identities
/// with `groups` groups each.
async fn measure(entries: u64, groups: usize) -> (f64, f64) {
    let cache = CredentialCache::new(
        "https://example.okta.com/oauth2/default",
        "0oaoesxtxmPf08QHk0h7",
        entries,
        Duration::from_secs(3600),
        Duration::from_secs(10),
        Metrics::new(),
    );
    let heap_before = LIVE_BYTES.load(Ordering::Relaxed);
    let rss_before = resident_bytes();

    for index in 0..entries {
        let token = format!("eyJraWQiOiJ0ZXN0In0.token-{index:012}");
        let key = cache.key(&token);
        let identity = identity(index, groups);
        let result = cache
            .get_or_validate(key, async move {
                Ok::<_, std::convert::Infallible>(Validated::Active(identity.into()))
            })
            .await;
        assert!(result.is_ok());
    }
    // Let moka apply its pending writes so its bookkeeping is counted too.
    while cache.entry_count() < entries {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let _ = cache.get(&cache.key("flush")).await;
    }

    let heap = (LIVE_BYTES.load(Ordering::Relaxed) - heap_before) as f64 / entries as f64;
    let rss = (resident_bytes() as f64 - rss_before as f64) / entries as f64;
    drop(cache);
    (heap, rss)
}

/// Returns heap bytes per `Arc<Identity>` without the cache around it.
fn measure_identities(entries: u64, groups: usize) -> f64 {
    let mut identities = Vec::with_capacity(entries as usize);
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    for index in 0..entries {
        identities.push(Arc::new(identity(index, groups)));
    }
    let bytes = (LIVE_BYTES.load(Ordering::Relaxed) - before) as f64 / entries as f64;
    drop(identities);
    bytes
}

fn identity(index: u64, groups: usize) -> Identity {
    let login = format!("user{index:06}@example-corp.com");
    let introspection = Introspection {
        active: true,
        scope: Some("openid profile email phone offline_access".into()),
        client_id: Some("0oaoesxtxmPf08QHk0h7".into()),
        username: Some(login.clone()),
        email: Some(login.clone()),
        sub: Some(login),
        exp: Some(4_000_000_000),
        aud: Some(portcullis::okta::Audience::One("api://default".into())),
        groups: Some(
            (0..groups)
                .map(|group| format!("engineering-team-{group:03}"))
                .collect(),
        ),
        ..Introspection::default()
    };
    Identity::from_introspection(introspection).expect("the introspection has sub and exp")
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
