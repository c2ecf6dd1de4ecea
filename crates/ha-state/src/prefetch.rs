//! Asking the CPU for a cache line before it is read: a hint, never a read, so it cannot fault
//! or change what the program computes.

/// Starts loading the cache line that holds `value` into every cache level.
#[cfg(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse"))]
#[inline(always)]
pub(crate) fn line<T>(value: &T) {
    safe_arch::prefetch_t0(value);
}

/// Without a prefetch instruction the hint does nothing.
#[cfg(not(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse")))]
#[inline(always)]
pub(crate) fn line<T>(_value: &T) {}

/// Starts loading the first cache line of `text` (nothing for an empty text).
#[inline(always)]
pub(crate) fn text(text: &str) {
    if let Some(first) = text.as_bytes().first() {
        line(first);
    }
}
