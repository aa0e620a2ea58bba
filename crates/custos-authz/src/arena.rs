//! Many short sorted lists in one contiguous buffer, addressed by 12-byte [`Span`]s.
//!
//! The tuple store keeps two sorted edge lists per object. As a `Vec` each, every list costs a
//! 24-byte header in a separate array and a heap block of its own, so reading one object's
//! tuples takes three dependent cache misses (header, then data, plus the object's type in a
//! third array). Here a list is an `(offset, len, cap)` span into one shared buffer; the store
//! keeps both spans next to the object's type in one 32-byte record, so the record costs one
//! miss and the data one more.
//!
//! A list that outgrows its capacity moves to the end of the buffer with twice the room; the
//! space it left is counted as waste, and the buffer is compacted once waste passes half of it,
//! so memory stays within a constant factor of the live items and each insert costs amortized
//! O(list length).

/// Where a list lives in its [`Arena`]: `items[off..off + len]`, with room up to `cap`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    off: u32,
    len: u32,
    cap: u32,
}

impl Span {
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }
}

/// Largest buffer: offsets are `u32`.
const MAX_ITEMS: usize = u32::MAX as usize;
/// Buffers smaller than this are never compacted (the waste is not worth a pass).
const COMPACT_MIN: usize = 4096;

/// The shared buffer of a family of sorted lists. See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Arena<T> {
    items: Vec<T>,
    /// Slots no span covers any more (left behind by moved lists).
    waste: usize,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena {
            items: Vec::new(),
            waste: 0,
        }
    }
}

impl<T: Copy + Ord> Arena<T> {
    #[inline]
    pub(crate) fn get(&self, s: Span) -> &[T] {
        let start = s.off as usize;
        self.items.get(start..start + s.len as usize).unwrap_or(&[])
    }

    /// Whether the buffer can take `extra` more slots without overflowing its offsets.
    pub(crate) fn has_room(&self, extra: usize) -> bool {
        self.items.len().saturating_add(extra) <= MAX_ITEMS
    }

    /// Moves list `s` to the end of the buffer with capacity `cap` (at least its length).
    fn relocate(&mut self, s: &mut Span, cap: u32) {
        let (start, len) = (s.off as usize, s.len as usize);
        let off = self.items.len();
        self.items.extend_from_within(start..start + len);
        if let Some(&fill) = self.items.last() {
            self.items.resize(off + cap.max(s.len) as usize, fill);
        }
        self.waste += s.cap as usize;
        *s = Span {
            off: off as u32,
            len: s.len,
            cap: cap.max(s.len),
        };
    }

    /// Inserts `x` into sorted list `s`; `false` if it was there (or the buffer is full).
    pub(crate) fn insert(&mut self, s: &mut Span, x: T) -> bool {
        let Err(pos) = self.get(*s).binary_search(&x) else {
            return false;
        };
        if s.len == s.cap {
            let cap = s.cap.saturating_mul(2).max(2);
            if !self.has_room(cap as usize) {
                return false;
            }
            if s.len == 0 {
                self.waste += s.cap as usize;
                let off = self.items.len();
                self.items.resize(off + cap as usize, x);
                *s = Span {
                    off: off as u32,
                    len: 0,
                    cap,
                };
            } else {
                self.relocate(s, cap);
            }
        }
        let (start, len) = (s.off as usize, s.len as usize);
        self.items
            .copy_within(start + pos..start + len, start + pos + 1);
        if let Some(slot) = self.items.get_mut(start + pos) {
            *slot = x;
        }
        s.len += 1;
        true
    }

    /// Removes `x` from sorted list `s`; `false` if it was not there.
    pub(crate) fn remove(&mut self, s: &mut Span, x: &T) -> bool {
        let Ok(pos) = self.get(*s).binary_search(x) else {
            return false;
        };
        let (start, len) = (s.off as usize, s.len as usize);
        self.items
            .copy_within(start + pos + 1..start + len, start + pos);
        s.len -= 1;
        true
    }

    /// Replaces list `s` by the sorted, deduplicated union of itself and `add` (sorted and
    /// deduplicated). Returns how many items were new, or `None` when the buffer is full.
    pub(crate) fn merge(&mut self, s: &mut Span, add: &[T]) -> Option<usize> {
        let old = self.get(*s);
        if old.is_empty() && s.cap as usize >= add.len() {
            let start = s.off as usize;
            self.items
                .get_mut(start..start + add.len())?
                .copy_from_slice(add);
            s.len = add.len() as u32;
            return Some(add.len());
        }
        if !self.has_room(old.len() + add.len()) {
            return None;
        }
        let off = self.items.len();
        let (start, len) = (s.off as usize, s.len as usize);
        let (mut i, mut j) = (start, 0);
        while i < start + len || j < add.len() {
            let a = self.items.get(i).copied().filter(|_| i < start + len);
            let b = add.get(j).copied();
            let next = match (a, b) {
                (Some(a), Some(b)) if a == b => {
                    i += 1;
                    j += 1;
                    a
                }
                (Some(a), Some(b)) if a < b => {
                    i += 1;
                    a
                }
                (Some(_) | None, Some(b)) => {
                    j += 1;
                    b
                }
                (Some(a), None) => {
                    i += 1;
                    a
                }
                (None, None) => break,
            };
            self.items.push(next);
        }
        let n = (self.items.len() - off) as u32;
        let added = n as usize - len;
        self.waste += s.cap as usize;
        *s = Span {
            off: off as u32,
            len: n,
            cap: n,
        };
        Some(added)
    }

    /// Whether enough of the buffer is waste that [`compact`](Self::compact) should run.
    pub(crate) fn should_compact(&self) -> bool {
        self.items.len() >= COMPACT_MIN && self.waste * 2 > self.items.len()
    }

    /// Rewrites the buffer with the lists of `spans` packed in order, each with capacity equal
    /// to its length, and releases spare memory.
    pub(crate) fn compact<'s>(&mut self, spans: impl Iterator<Item = &'s mut Span>) {
        let live = self.items.len() - self.waste.min(self.items.len());
        let mut items = Vec::with_capacity(live);
        for s in spans {
            let off = items.len() as u32;
            items.extend_from_slice(self.get(*s));
            *s = Span {
                off,
                len: s.len,
                cap: s.len,
            };
        }
        items.shrink_to_fit();
        self.items = items;
        self.waste = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_stay_sorted_and_independent_across_moves_and_compaction() {
        let mut a: Arena<u32> = Arena::default();
        let mut spans = vec![Span::default(); 50];
        let mut model: Vec<Vec<u32>> = vec![Vec::new(); 50];
        for k in 0..20_000u32 {
            let i = (k.wrapping_mul(2_654_435_761) >> 7) as usize % 50;
            let x = k.wrapping_mul(40_503) % 997;
            if k % 3 == 2 {
                let want = model[i]
                    .binary_search(&x)
                    .map(|p| model[i].remove(p))
                    .is_ok();
                assert_eq!(a.remove(&mut spans[i], &x), want);
            } else {
                let want = match model[i].binary_search(&x) {
                    Ok(_) => false,
                    Err(p) => {
                        model[i].insert(p, x);
                        true
                    }
                };
                assert_eq!(a.insert(&mut spans[i], x), want);
            }
            if a.should_compact() {
                a.compact(spans.iter_mut());
            }
        }
        for i in 0..50 {
            assert_eq!(a.get(spans[i]), &model[i][..]);
        }
        let add = [0, 5, 500, 996, 2000];
        let before = a.get(spans[3]).to_vec();
        let n = a.merge(&mut spans[3], &add);
        let mut want = before.clone();
        want.extend_from_slice(&add);
        want.sort_unstable();
        want.dedup();
        assert_eq!(n, Some(want.len() - before.len()));
        assert_eq!(a.get(spans[3]), &want[..]);
        a.compact(spans.iter_mut());
        assert_eq!(a.get(spans[3]), &want[..]);
        assert_eq!(a.get(spans[4]), &model[4][..]);
    }
}
