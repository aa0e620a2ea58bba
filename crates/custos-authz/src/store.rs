//! The in-memory tuple store: interned strings, dense ids, sorted adjacency lists.
//!
//! Every distinct object string (`type:id`, and `type:*` for wildcards) gets a dense `u32` id;
//! relation names and type names are interned separately. Each object has a forward list of
//! its tuples sorted by (relation, subject relation, subject) and each subject a reverse list
//! sorted by (subject relation, relation, object). A check walks the forward lists with binary
//! searches, never a hash lookup, so its cost depends on fan-out, not on the store's size.
//! List-objects walks the reverse lists.
//!
//! Each object is one 32-byte record (its type, a flag, and the spans of its two lists in the
//! shared [`Arena`]s), so reaching an object's tuples costs one cache miss for the record and
//! one for the data.
//!
//! Interned strings are never freed: removing every tuple of an object keeps its id. Memory
//! grows with the number of distinct strings ever inserted, not with churn of tuples between
//! known strings. Not internally locked: wrap it in a lock to share it.

use crate::arena::{Arena, Span};
use crate::intern::Interner;
use crate::model::NONE;
use crate::tuple::{parse_object, parse_user, TupleKey};
use std::borrow::Borrow;

/// Relation id 0 means "no relation" (the subject is a plain object).
pub(crate) const NO_REL: u32 = 0;
const SETS_BIT: u32 = 1 << 31;

/// A forward edge of object O: `obj#srel` (or plain `obj` when srel is NO_REL) is `rel` of O.
/// Ordered by (rel, srel, obj), compared as one integer (branch-free binary searches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Edge {
    pub(crate) rel: u32,
    pub(crate) srel: u32,
    pub(crate) obj: u32,
}

impl Edge {
    #[inline]
    fn key(&self) -> u128 {
        (u128::from(self.rel) << 64) | (u128::from(self.srel) << 32) | u128::from(self.obj)
    }
}
impl Ord for Edge {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}
impl PartialOrd for Edge {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A reverse edge of subject S: `S#srel` is `rel` of `obj`. Ordered by (srel, rel, obj).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RevEdge {
    pub(crate) srel: u32,
    pub(crate) rel: u32,
    pub(crate) obj: u32,
}

impl RevEdge {
    #[inline]
    fn key(&self) -> u128 {
        (u128::from(self.srel) << 64) | (u128::from(self.rel) << 32) | u128::from(self.obj)
    }
}
impl Ord for RevEdge {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}
impl PartialOrd for RevEdge {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Whether sorted `s` holds `x`: a linear scan for short lists (predictable, prefetch
/// friendly, vectorizable), a binary search otherwise.
#[inline]
pub(crate) fn sorted_contains<T: Ord + Eq>(s: &[T], x: &T) -> bool {
    if s.len() <= 8 {
        s.iter().any(|e| e == x)
    } else {
        s.binary_search(x).is_ok()
    }
}

/// One object: everything a check reads about it before its edges, in one cache line.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(32))]
struct Node {
    /// The type id, and in bit 31 whether any forward edge has a userset subject (so a check
    /// can skip the object's forward list, a cache miss, when only direct membership can
    /// match).
    ty: u32,
    fwd: Span,
    rev: Span,
}

/// Tuples sorted and merged at a time by [`TupleStore::extend`].
const EXTEND_BATCH: usize = 1 << 18;

/// Most cache lines of one list a prefetch touches (a binary search of a longer list reads
/// only a few of its lines anyway).
const PREFETCH_LINES: usize = 8;

/// Reads one item per cache line of the head of `s`, so the lines load in parallel rather
/// than one per step of a later binary search.
#[inline]
fn prefetch_lines<T: Copy>(s: &[T]) {
    let step = (64 / std::mem::size_of::<T>().max(1)).max(1);
    for x in s.iter().step_by(step).take(PREFETCH_LINES) {
        std::hint::black_box(*x);
    }
}

/// Relationship tuples, indexed both ways. See the module docs.
#[derive(Clone)]
pub struct TupleStore {
    objects: Interner,
    nodes: Vec<Node>,
    types: Interner,
    type_wildcard: Vec<u32>,
    type_objects: Vec<Vec<u32>>,
    rels: Interner,
    fwd: Arena<Edge>,
    rev: Arena<RevEdge>,
    len: usize,
}

impl Default for TupleStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TupleStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TupleStore")
            .field("tuples", &self.len)
            .field("objects", &self.objects.len())
            .finish()
    }
}

/// The part of `rel`'s sorted slice whose `key` equals `k`.
#[inline]
pub(crate) fn range_by<T, K: Ord + Copy>(s: &[T], k: K, key: impl Fn(&T) -> K) -> &[T] {
    let lo = s.partition_point(|e| key(e) < k);
    let rest = s.get(lo..).unwrap_or(&[]);
    let hi = rest.partition_point(|e| key(e) <= k);
    rest.get(..hi).unwrap_or(&[])
}

impl TupleStore {
    pub fn new() -> Self {
        let mut rels = Interner::default();
        // Id 0 is NO_REL; "" is never a valid relation name.
        let _ = rels.intern("");
        TupleStore {
            objects: Interner::default(),
            nodes: Vec::new(),
            types: Interner::default(),
            type_wildcard: Vec::new(),
            type_objects: Vec::new(),
            rels,
            fwd: Arena::default(),
            rev: Arena::default(),
            len: 0,
        }
    }

    /// Number of tuples.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of distinct objects (and users) ever seen.
    pub fn object_count(&self) -> usize {
        self.objects.len()
    }

    fn intern_object(&mut self, object: &str, ty: &str, wildcard: bool) -> Option<u32> {
        if let Some(id) = self.objects.get(object) {
            return Some(id);
        }
        let t = self.types.intern(ty).filter(|&t| t < SETS_BIT)?;
        if t as usize >= self.type_wildcard.len() {
            self.type_wildcard.resize(t as usize + 1, NONE);
            self.type_objects.resize_with(t as usize + 1, Vec::new);
        }
        let id = self.objects.intern(object)?;
        self.nodes.push(Node {
            ty: t,
            ..Node::default()
        });
        if wildcard {
            self.type_wildcard[t as usize] = id;
        }
        self.type_objects[t as usize].push(id);
        Some(id)
    }

    /// Ids for a tuple, interning new strings. `None` when the tuple is malformed.
    fn resolve_mut(&mut self, t: &TupleKey) -> Option<(u32, Edge)> {
        let (oty, _) = parse_object(&t.object)?;
        let user = parse_user(&t.user)?;
        if !crate::model::valid_name(&t.relation) {
            return None;
        }
        let rel = self.rels.intern(&t.relation)?;
        let srel = match user.relation() {
            Some(r) => self.rels.intern(r)?,
            None => NO_REL,
        };
        let o = self.intern_object(&t.object, oty, false)?;
        let wildcard = matches!(user, crate::tuple::UserRef::Wildcard { .. });
        let s = self.intern_object(user.object(), user.ty(), wildcard)?;
        Some((o, Edge { rel, srel, obj: s }))
    }

    /// Ids for a tuple without interning; `None` when any string is unknown (so the tuple is
    /// not stored).
    fn resolve(&self, t: &TupleKey) -> Option<(u32, Edge)> {
        let user = parse_user(&t.user)?;
        let rel = self.rels.get(&t.relation)?;
        let srel = match user.relation() {
            Some(r) => self.rels.get(r)?,
            None => NO_REL,
        };
        let o = self.objects.get(&t.object)?;
        let s = self.objects.get(user.object())?;
        Some((o, Edge { rel, srel, obj: s }))
    }

    /// Adds a tuple; `true` if it was not there. A malformed tuple (see [`crate::validate_tuple`])
    /// is not stored and returns `false`.
    pub fn insert(&mut self, t: &TupleKey) -> bool {
        let Some((o, e)) = self.resolve_mut(t) else {
            return false;
        };
        let (Some(on), Some(sn)) = (self.nodes.get(o as usize), self.nodes.get(e.obj as usize))
        else {
            return false;
        };
        let (mut fwd, mut rev) = (on.fwd, sn.rev);
        // Both lists must be able to grow before either changes.
        if !self.fwd.has_room(fwd.len() * 2 + 2) || !self.rev.has_room(rev.len() * 2 + 2) {
            return false;
        }
        if !self.fwd.insert(&mut fwd, e) {
            return false;
        }
        let r = RevEdge {
            srel: e.srel,
            rel: e.rel,
            obj: o,
        };
        self.rev.insert(&mut rev, r);
        if let Some(n) = self.nodes.get_mut(o as usize) {
            n.fwd = fwd;
        }
        if let Some(n) = self.nodes.get_mut(e.obj as usize) {
            n.rev = rev;
        }
        if e.srel != NO_REL {
            self.set_sets_flag(o, true);
        }
        self.len += 1;
        self.maybe_compact();
        true
    }

    fn maybe_compact(&mut self) {
        if self.fwd.should_compact() {
            self.fwd.compact(self.nodes.iter_mut().map(|n| &mut n.fwd));
        }
        if self.rev.should_compact() {
            self.rev.compact(self.nodes.iter_mut().map(|n| &mut n.rev));
        }
    }

    /// Removes a tuple; `true` if it was there.
    pub fn remove(&mut self, t: &TupleKey) -> bool {
        let Some((o, e)) = self.resolve(t) else {
            return false;
        };
        let Some(n) = self.nodes.get_mut(o as usize) else {
            return false;
        };
        if !self.fwd.remove(&mut n.fwd, &e) {
            return false;
        }
        if e.srel != NO_REL {
            let any = self.fwd.get(n.fwd).iter().any(|x| x.srel != NO_REL);
            self.set_sets_flag(o, any);
        }
        let r = RevEdge {
            srel: e.srel,
            rel: e.rel,
            obj: o,
        };
        if let Some(n) = self.nodes.get_mut(e.obj as usize) {
            self.rev.remove(&mut n.rev, &r);
        }
        self.len -= 1;
        true
    }

    pub fn contains(&self, t: &TupleKey) -> bool {
        self.resolve(t)
            .is_some_and(|(o, e)| self.fwd(o).binary_search(&e).is_ok())
    }

    /// Bulk load: sorts the tuples by object and merges each touched list once per batch of
    /// [`EXTEND_BATCH`] tuples, which is much faster than [`insert`](Self::insert) for objects
    /// with many tuples. Returns how many were new. Malformed tuples are skipped. Batching
    /// bounds the temporary memory (a few MiB) whatever the input size.
    pub fn extend<T: Borrow<TupleKey>>(&mut self, tuples: impl IntoIterator<Item = T>) -> usize {
        let mut it = tuples.into_iter();
        let mut fwd: Vec<(u32, Edge)> = Vec::with_capacity(EXTEND_BATCH);
        let mut rev: Vec<(u32, RevEdge)> = Vec::with_capacity(EXTEND_BATCH);
        let mut total = 0;
        loop {
            fwd.clear();
            rev.clear();
            for t in it.by_ref() {
                let Some((o, e)) = self.resolve_mut(t.borrow()) else {
                    continue;
                };
                fwd.push((o, e));
                let r = RevEdge {
                    srel: e.srel,
                    rel: e.rel,
                    obj: o,
                };
                rev.push((e.obj, r));
                if fwd.len() == EXTEND_BATCH {
                    break;
                }
            }
            if fwd.is_empty() {
                return total;
            }
            let (n, full) = self.merge_batch(&mut fwd, &mut rev);
            total += n;
            if full {
                return total;
            }
        }
    }

    /// Merges one batch of `extend` into the lists. Returns how many tuples were new, and
    /// whether an arena filled up (then the rest of the batch was dropped).
    fn merge_batch(
        &mut self,
        fwd: &mut [(u32, Edge)],
        rev: &mut [(u32, RevEdge)],
    ) -> (usize, bool) {
        fwd.sort_unstable();
        rev.sort_unstable();
        let (mut added, mut full) = (0, false);
        let mut batch: Vec<Edge> = Vec::new();
        for group in fwd.chunk_by(|a, b| a.0 == b.0) {
            let o = group.first().map_or(0, |x| x.0);
            batch.clear();
            batch.extend(group.iter().map(|x| x.1));
            batch.dedup();
            let Some(n) = self.nodes.get_mut(o as usize) else {
                continue;
            };
            // A full arena (4G edges) drops the rest of the batch, as malformed tuples are.
            let Some(k) = self.fwd.merge(&mut n.fwd, &batch) else {
                full = true;
                break;
            };
            added += k;
            if batch.iter().any(|e| e.srel != NO_REL) {
                n.ty |= SETS_BIT;
            }
        }
        let mut rbatch: Vec<RevEdge> = Vec::new();
        for group in rev.chunk_by(|a, b| a.0 == b.0) {
            let s = group.first().map_or(0, |x| x.0);
            rbatch.clear();
            // Only edges whose forward half made it in (all of them unless the arena filled).
            rbatch.extend(
                group
                    .iter()
                    .map(|x| x.1)
                    .filter(|r| !full || self.fwd_has(r.obj, s, r)),
            );
            rbatch.dedup();
            let Some(n) = self.nodes.get_mut(s as usize) else {
                continue;
            };
            if self.rev.merge(&mut n.rev, &rbatch).is_none() {
                break;
            }
        }
        self.len += added;
        self.maybe_compact();
        (added, full)
    }

    /// Whether the forward half of reverse edge `r` of subject `s` is stored.
    fn fwd_has(&self, o: u32, s: u32, r: &RevEdge) -> bool {
        let e = Edge {
            rel: r.rel,
            srel: r.srel,
            obj: s,
        };
        self.fwd(o).binary_search(&e).is_ok()
    }

    /// Releases spare capacity after a bulk load.
    pub fn shrink_to_fit(&mut self) {
        self.objects.shrink_to_fit();
        self.nodes.shrink_to_fit();
        self.fwd.compact(self.nodes.iter_mut().map(|n| &mut n.fwd));
        self.rev.compact(self.nodes.iter_mut().map(|n| &mut n.rev));
        self.type_objects.iter_mut().for_each(Vec::shrink_to_fit);
    }

    /// Tuples matching the filters, at most `limit`, in a deterministic order (by object, then
    /// relation and user, in interning order). `object` is `type:id`, or `type:` for every
    /// object of a type; `user` is any user form and matches exactly.
    pub fn read(
        &self,
        object: Option<&str>,
        relation: Option<&str>,
        user: Option<&str>,
        limit: usize,
    ) -> Vec<TupleKey> {
        let mut out = Vec::new();
        if limit == 0 {
            return out;
        }
        let rel = match relation {
            Some(r) => match self.rels.get(r) {
                Some(id) if id != NO_REL => Some(id),
                _ => return out,
            },
            None => None,
        };
        let subject = match user {
            Some(u) => {
                let Some(p) = parse_user(u) else { return out };
                let Some(s) = self.objects.get(p.object()) else {
                    return out;
                };
                let srel = match p.relation() {
                    Some(r) => match self.rels.get(r) {
                        Some(id) => id,
                        None => return out,
                    },
                    None => NO_REL,
                };
                Some((s, srel))
            }
            None => None,
        };
        enum Scope {
            All,
            Type(u32),
            Object(u32),
        }
        let scope = match object {
            None => Scope::All,
            Some(o) => match o.strip_suffix(':') {
                Some(ty) if !ty.contains(':') => match self.types.get(ty) {
                    Some(t) => Scope::Type(t),
                    None => return out,
                },
                _ => match self.objects.get(o) {
                    Some(id) => Scope::Object(id),
                    None => return out,
                },
            },
        };
        let keep_edge = |e: &Edge| {
            rel.is_none_or(|r| e.rel == r)
                && subject.is_none_or(|(s, sr)| e.obj == s && e.srel == sr)
        };
        let emit = |o: u32, e: &Edge, out: &mut Vec<TupleKey>| {
            out.push(self.tuple_key(o, e));
            out.len() >= limit
        };
        // With a subject and no single object, the reverse list is the short way.
        if let (Some((s, srel)), Scope::All | Scope::Type(_)) = (subject, &scope) {
            for r in range_by(self.rev(s), srel, |r| r.srel) {
                if rel.is_some_and(|x| r.rel != x) {
                    continue;
                }
                if let Scope::Type(t) = scope {
                    if self.object_type(r.obj) != t {
                        continue;
                    }
                }
                let e = Edge {
                    rel: r.rel,
                    srel,
                    obj: s,
                };
                if emit(r.obj, &e, &mut out) {
                    break;
                }
            }
            return out;
        }
        let scan = |o: u32, out: &mut Vec<TupleKey>| -> bool {
            let list = self.fwd(o);
            let list = match rel {
                Some(r) => range_by(list, r, |e| e.rel),
                None => list,
            };
            for e in list.iter().filter(|e| keep_edge(e)) {
                if emit(o, e, out) {
                    return true;
                }
            }
            false
        };
        match scope {
            Scope::Object(o) => {
                scan(o, &mut out);
            }
            Scope::Type(t) => {
                for &o in self.type_objects.get(t as usize).map_or(&[][..], |v| v) {
                    if scan(o, &mut out) {
                        break;
                    }
                }
            }
            Scope::All => {
                for o in 0..self.nodes.len() as u32 {
                    if scan(o, &mut out) {
                        break;
                    }
                }
            }
        }
        out
    }

    fn tuple_key(&self, o: u32, e: &Edge) -> TupleKey {
        let mut user = self.objects.name(e.obj).to_string();
        if e.srel != NO_REL {
            user.push('#');
            user.push_str(self.rels.name(e.srel));
        }
        TupleKey {
            user,
            relation: self.rels.name(e.rel).to_string(),
            object: self.objects.name(o).to_string(),
        }
    }

    // ---- crate-internal access for the evaluator -------------------------------------------

    #[inline]
    pub(crate) fn object_id(&self, s: &str) -> Option<u32> {
        self.objects.get(s)
    }
    #[inline]
    pub(crate) fn object_name(&self, id: u32) -> &str {
        self.objects.name(id)
    }
    #[inline]
    pub(crate) fn object_type(&self, id: u32) -> u32 {
        self.nodes
            .get(id as usize)
            .map_or(NONE, |n| n.ty & !SETS_BIT)
    }
    #[inline]
    pub(crate) fn rel_id(&self, s: &str) -> Option<u32> {
        self.rels.get(s)
    }
    pub(crate) fn rel_name(&self, id: u32) -> &str {
        self.rels.name(id)
    }
    pub(crate) fn rel_count(&self) -> u32 {
        self.rels.len() as u32
    }
    pub(crate) fn type_id(&self, s: &str) -> Option<u32> {
        self.types.get(s)
    }
    pub(crate) fn type_name(&self, id: u32) -> &str {
        self.types.name(id)
    }
    pub(crate) fn type_count(&self) -> u32 {
        self.types.len() as u32
    }
    pub(crate) fn object_count_u32(&self) -> u32 {
        self.objects.len() as u32
    }
    #[inline]
    pub(crate) fn wildcard_of(&self, ty: u32) -> u32 {
        self.type_wildcard.get(ty as usize).copied().unwrap_or(NONE)
    }
    #[inline]
    pub(crate) fn fwd(&self, o: u32) -> &[Edge] {
        self.nodes
            .get(o as usize)
            .map_or(&[], |n| self.fwd.get(n.fwd))
    }
    fn set_sets_flag(&mut self, o: u32, on: bool) {
        if let Some(n) = self.nodes.get_mut(o as usize) {
            n.ty = if on {
                n.ty | SETS_BIT
            } else {
                n.ty & !SETS_BIT
            };
        }
    }
    #[inline]
    pub(crate) fn has_usersets(&self, o: u32) -> bool {
        self.nodes
            .get(o as usize)
            .is_some_and(|n| n.ty & SETS_BIT != 0)
    }
    /// Starts loading object `o`'s record and returns nothing: a software prefetch. The loads
    /// are independent, so issuing several before using any overlaps their cache misses
    /// instead of paying them one after another.
    #[inline]
    pub(crate) fn prefetch_node(&self, o: u32) {
        if let Some(n) = self.nodes.get(o as usize) {
            std::hint::black_box(n.ty);
        }
    }

    /// Starts loading the first [`PREFETCH_LINES`] cache lines of `o`'s forward list.
    #[inline]
    pub(crate) fn prefetch_fwd(&self, o: u32) {
        prefetch_lines(self.fwd(o));
    }

    /// Starts loading the first [`PREFETCH_LINES`] cache lines of `s`'s reverse list.
    #[inline]
    pub(crate) fn prefetch_rev(&self, s: u32) {
        prefetch_lines(self.rev(s));
    }

    #[inline]
    pub(crate) fn rev(&self, s: u32) -> &[RevEdge] {
        self.nodes
            .get(s as usize)
            .map_or(&[], |n| self.rev.get(n.rev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(u: &str, r: &str, o: &str) -> TupleKey {
        TupleKey::new(u, r, o)
    }

    #[test]
    fn insert_remove_contains_len() {
        let mut s = TupleStore::new();
        assert!(s.insert(&t("user:a", "member", "group:1")));
        assert!(!s.insert(&t("user:a", "member", "group:1")));
        assert!(s.insert(&t("group:2#member", "member", "group:1")));
        assert!(s.insert(&t("user:*", "member", "group:1")));
        assert!(!s.insert(&t("bad", "member", "group:1")));
        assert_eq!(s.len(), 3);
        assert!(s.contains(&t("group:2#member", "member", "group:1")));
        assert!(!s.contains(&t("group:2#owner", "member", "group:1")));
        assert!(s.remove(&t("user:a", "member", "group:1")));
        assert!(!s.remove(&t("user:a", "member", "group:1")));
        assert!(!s.contains(&t("user:a", "member", "group:1")));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn extend_matches_insert() {
        let tuples: Vec<TupleKey> = (0..50)
            .map(|i| {
                t(
                    &format!("user:u{}", (i * 7) % 13),
                    if i % 2 == 0 { "member" } else { "owner" },
                    &format!("group:{}", i % 3),
                )
            })
            .collect();
        let mut a = TupleStore::new();
        let n = tuples.iter().filter(|x| a.insert(x)).count();
        let mut b = TupleStore::new();
        assert_eq!(b.extend(&tuples), n);
        assert_eq!(b.extend(&tuples), 0);
        assert_eq!(a.len(), b.len());
        let (ra, rb) = (
            a.read(None, None, None, 1000),
            b.read(None, None, None, 1000),
        );
        assert_eq!(ra.len(), n);
        let set = |v: Vec<TupleKey>| v.into_iter().collect::<std::collections::HashSet<_>>();
        assert_eq!(set(ra), set(rb));
        for x in &tuples {
            assert!(b.contains(x));
        }
    }

    #[test]
    fn read_filters() {
        let mut s = TupleStore::new();
        for x in [
            t("user:a", "member", "group:1"),
            t("user:b", "member", "group:1"),
            t("user:a", "owner", "group:2"),
            t("group:1#member", "viewer", "doc:1"),
            t("user:a", "viewer", "doc:2"),
        ] {
            s.insert(&x);
        }
        assert_eq!(s.read(Some("group:1"), None, None, 10).len(), 2);
        assert_eq!(s.read(Some("group:"), None, None, 10).len(), 3);
        assert_eq!(s.read(Some("group:"), None, None, 2).len(), 2);
        assert_eq!(s.read(None, None, Some("user:a"), 10).len(), 3);
        assert_eq!(
            s.read(Some("doc:"), None, Some("user:a"), 10),
            vec![t("user:a", "viewer", "doc:2")]
        );
        assert_eq!(
            s.read(None, Some("viewer"), Some("group:1#member"), 10),
            vec![t("group:1#member", "viewer", "doc:1")]
        );
        assert_eq!(
            s.read(Some("group:1"), Some("member"), Some("user:b"), 10),
            vec![t("user:b", "member", "group:1")]
        );
        assert!(s.read(Some("nope:"), None, None, 10).is_empty());
        assert!(s.read(None, Some("nope"), None, 10).is_empty());
        assert_eq!(s.read(None, None, None, 100).len(), 5);
    }
}
