//! Static pools of 4 KiB translation tables: what `aarch64-paging` allocates its tables
//! from, since the hypervisor has no heap.
//!
//! A pool hands out zeroed pages in order and never takes them back: translation tables
//! live as long as the system (the EL2 map and every partition's stage-2 are built once,
//! at boot). Running out is not a panic: the allocator hands out a spare "spill" page,
//! remembers that it did, and the builder reports [`TablePool::exhausted`] instead of
//! activating tables that are incomplete.
//!
//! Addresses: the hypervisor runs identity-mapped, so a table's physical address is its
//! address (also true on the host, where the unit tests walk the tables they built).

use aarch64_paging::descriptor::{PagingAttributes, PhysicalAddress};
use aarch64_paging::paging::{PageTable, Translation};
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Size of one translation table (4 KiB granule).
pub const TABLE_SIZE: usize = 4096;

/// `N` zeroed tables, 8 KiB aligned: the first two can form a concatenated stage-2 root.
#[repr(C, align(8192))]
pub struct TablePool<A: PagingAttributes, const N: usize> {
    pages: UnsafeCell<[PageTable<A>; N]>,
    /// Handed out once the pool is empty; its contents are never used by hardware.
    spill: UnsafeCell<PageTable<A>>,
    next: AtomicUsize,
    exhausted: AtomicBool,
}

// SAFETY: pages are handed out at most once each (the `next` counter is atomic), so two
// users never share a table; the spill page is only ever written, never activated.
unsafe impl<A: PagingAttributes, const N: usize> Sync for TablePool<A, N> {}

impl<A: PagingAttributes, const N: usize> TablePool<A, N> {
    pub const fn new() -> Self {
        TablePool {
            pages: UnsafeCell::new([PageTable::EMPTY; N]),
            spill: UnsafeCell::new(PageTable::EMPTY),
            next: AtomicUsize::new(0),
            exhausted: AtomicBool::new(false),
        }
    }

    /// An allocator handing out this pool's pages (several handles share the pool).
    pub fn allocator(&self) -> PoolAlloc<'_, A> {
        PoolAlloc {
            pages: self.pages.get().cast(),
            len: N,
            spill: self.spill.get(),
            next: &self.next,
            exhausted: &self.exhausted,
        }
    }

    /// Whether an allocation found the pool empty (the tables built from it are incomplete).
    pub fn exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Acquire)
    }

    /// Pages handed out so far.
    pub fn used(&self) -> usize {
        self.next.load(Ordering::Acquire).min(N)
    }

    /// Physical address of page `i` of the pool.
    pub fn page_address(&self, i: usize) -> usize {
        self.pages.get() as usize + i * TABLE_SIZE
    }
}

impl<A: PagingAttributes, const N: usize> Default for TablePool<A, N> {
    fn default() -> Self {
        Self::new()
    }
}

/// A handle allocating from one [`TablePool`] (aarch64-paging's `Translation`).
pub struct PoolAlloc<'a, A: PagingAttributes> {
    pages: *mut PageTable<A>,
    len: usize,
    spill: *mut PageTable<A>,
    next: &'a AtomicUsize,
    exhausted: &'a AtomicBool,
}

impl<A: PagingAttributes> Translation<A> for PoolAlloc<'_, A> {
    fn allocate_table(&mut self) -> (NonNull<PageTable<A>>, PhysicalAddress) {
        let i = self.next.fetch_add(1, Ordering::AcqRel);
        let page = if i < self.len {
            // SAFETY: i < len, so the page lies inside the pool's array.
            unsafe { self.pages.add(i) }
        } else {
            self.exhausted.store(true, Ordering::Release);
            self.spill
        };
        // Pages come zeroed from .bss and are never reused; the spill page may hold
        // garbage, which is harmless: tables built with it are never activated.
        let ptr = NonNull::new(page).unwrap_or(NonNull::dangling());
        (ptr, PhysicalAddress(page as usize))
    }

    unsafe fn deallocate_table(&mut self, _page_table: NonNull<PageTable<A>>) {
        // Never reused: see the module documentation.
    }

    fn physical_to_virtual(&self, pa: PhysicalAddress) -> NonNull<PageTable<A>> {
        // Identity mapping: a table's physical address is its address.
        NonNull::new(pa.0 as *mut PageTable<A>).unwrap_or(NonNull::dangling())
    }
}
