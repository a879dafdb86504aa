//! How much memory an open document takes against its size as stored (its snapshot
//! and chunks): the factor the document cache's byte bound uses to count memory
//! (`linli_core::replica::cache`). A counting allocator measures the heap a loaded
//! document holds, for documents of requests of several sizes, written one request a
//! change as a community writes them, half of them then moved on (a second change).
//!
//! `cargo bench -p linli-benches --bench doc_memory`

use linli_benches::{COMMUNITY, NOW_MS, memory_replica, request_with};
use linli_core::doc::RegistryDoc;
use linli_core::store::Storage;
use linli_core::write::Write;
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator, counting the bytes held.
struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SUMMARIES: [&str; 5] = ["路面鼓包，影响通行", "楼道灯不亮", "垃圾桶满溢未清运", "噪音扰民", "井盖松动"];

fn main() {
    println!("records | stored bytes | heap held | heap / stored | estimate | estimate / heap");
    for records in [10, 100, 1_000, 3_000, 10_000] {
        let mut community = memory_replica(COMMUNITY);
        let mut keys = Vec::with_capacity(records);
        for i in 0..records {
            // Summaries differ, as residents' do: the same text everywhere would
            // compress into nothing on disk and flatter the stored size.
            let summary = json!(format!("{} 第{i}号楼 {}", SUMMARIES[i % SUMMARIES.len()], i * 7919 % 1000));
            let written = community.write(request_with(COMMUNITY, i, summary, NOW_MS as i64), NOW_MS + i as u64);
            keys.push(written.expect("write").key);
        }
        for (i, key) in keys.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
            let moved = Write::set(key.clone(), &[("status", json!("dispatched"))]);
            community.write(moved, NOW_MS + (records + i) as u64).expect("move");
        }
        let doc = keys[0].doc.clone();
        // What a reload reads: the last snapshot and the chunks since.
        let stored = community.store.load_doc(&doc).expect("stored").expect("the document is stored");
        let snapshot = stored.snapshot.as_ref().map(|(_, bytes)| bytes.as_slice());
        let chunks: Vec<&[u8]> = stored.chunks.iter().map(|(_, bytes)| bytes.as_slice()).collect();
        let stored_bytes = snapshot.map_or(0, <[u8]>::len) + chunks.iter().map(|c| c.len()).sum::<usize>();
        let schema = community.replica.registries().get("requests").expect("requests").clone();
        drop(community);
        let before = HELD.load(Ordering::Relaxed);
        let loaded = RegistryDoc::load(doc, schema, "bench", snapshot, &chunks).expect("load");
        let held = HELD.load(Ordering::Relaxed) - before;
        let estimate = loaded.memory_bytes();
        println!(
            "{records:>7} | {stored_bytes:>12} | {held:>9} | {:>13.1} | {estimate:>8} | {:>15.2}",
            held as f64 / stored_bytes.max(1) as f64,
            estimate as f64 / held.max(1) as f64,
        );
        drop(loaded);
    }
}
