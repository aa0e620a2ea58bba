//! Relationship checks: is `user` `relation` of `object` under a model and a tuple store.
//!
//! The evaluator walks the model's rewrite of the requested relation depth-first over the
//! store's forward lists, short-circuiting unions. Results are three-valued plus an error:
//! `True` and `False` are definitive; `Cycle` means a branch was cut because it re-entered a
//! node already on the path (so it cannot prove anything new); `Depth` means the path grew past
//! [`MAX_DEPTH`]. A cycle that decides nothing denies; a depth cut that decides nothing is
//! [`CheckError::DepthExceeded`]. Definitive results never depend on the path, so after a
//! handful of visited nodes they are memoized to keep diamond-shaped data (groups nested many
//! ways) from exploding.
//!
//! [`check_fast`] allocates nothing when the request has no contextual tuples and the walk
//! stays small; [`check`] adds human-readable reasons, computed by a second traced pass only
//! when the answer is "allowed".

use crate::graph::{Graph, Overlay};
use crate::model::{Allowed, AuthorizationModel, RelationDef, Rewrite, NONE};
use crate::store::{range_by, sorted_contains, Edge, RevEdge, TupleStore, NO_REL};
use crate::tuple::{parse_object, parse_user, TupleKey, UserRef};
use rustc_hash::FxHashMap;

/// Longest chain of relations (computed, tuple-to-userset and userset hops) one check follows.
pub const MAX_DEPTH: u32 = 25;

/// Visited nodes before definitive results start being memoized.
const MEMO_AFTER: u32 = 48;
/// Size of the per-check id-translation caches (ids beyond it are translated uncached).
const CACHE: usize = 32;
const UNSET: u32 = NONE - 1;

/// A check request. `contextual` tuples hold for this request only; the caller validates them
/// with [`crate::validate_tuple`].
#[derive(Debug, Clone, Copy)]
pub struct CheckRequest<'a> {
    pub user: &'a str,
    pub relation: &'a str,
    pub object: &'a str,
    pub contextual: &'a [TupleKey],
}

/// The answer to a check, with the chain that proved it (allowed) or a short reason (denied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub allowed: bool,
    pub reasons: Vec<String>,
}

/// Why a check could not be answered. Every error must be treated as "deny".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("type {0:?} is not defined in the authorization model")]
    UnknownType(String),
    #[error("relation {relation:?} is not defined on type {ty:?}")]
    UnknownRelation { ty: String, relation: String },
    #[error("invalid user {0:?}: expected \"type:id\", \"type:*\" or \"type:id#relation\"")]
    InvalidUser(String),
    #[error("invalid object {0:?}: expected \"type:id\"")]
    InvalidObject(String),
    #[error("invalid contextual tuple {0}")]
    InvalidContextualTuple(String),
    #[error("the check needs more than {MAX_DEPTH} hops to resolve")]
    DepthExceeded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Res {
    True,
    False,
    /// A branch re-entered the node at stack index `low` (the lowest such index). `neg`: the
    /// cut went through the `subtract` of a difference, so the branch is not monotone and the
    /// cut must not be read as "false".
    Cycle {
        low: u32,
        neg: bool,
    },
    Depth,
}

/// Joins two results of which at least one is undecided: a depth cut outweighs a cycle cut;
/// cycle cuts keep the lowest node they return to.
#[inline]
fn unknown(a: Res, b: Res) -> Res {
    match (a, b) {
        (Res::Depth, _) | (_, Res::Depth) => Res::Depth,
        (Res::Cycle { low: l1, neg: n1 }, Res::Cycle { low: l2, neg: n2 }) => Res::Cycle {
            low: l1.min(l2),
            neg: n1 || n2,
        },
        (c @ Res::Cycle { .. }, _) | (_, c @ Res::Cycle { .. }) => c,
        _ => a,
    }
}

/// Marks a cycle cut as having gone through a `subtract`.
#[inline]
fn negated(r: Res) -> Res {
    match r {
        Res::Cycle { low, .. } => Res::Cycle { low, neg: true },
        r => r,
    }
}

/// The requesting user, resolved against the model and the graph.
#[derive(Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub(crate) text: &'a str,
    /// Graph object id (the `type:id` or `type:*` part), NONE if unknown to the graph.
    pub(crate) obj: u32,
    /// Model type index.
    pub(crate) mtype: u32,
    /// Userset relation: model name index, or NONE for a plain object.
    pub(crate) name: u32,
    /// Userset relation as a graph relation id (NO_REL plain; NONE if unknown to the graph).
    pub(crate) srel: u32,
    pub(crate) is_wild: bool,
    /// Graph wildcard object of the user's type (NONE if there is none).
    pub(crate) wild: u32,
}

impl Subject<'_> {
    pub(crate) fn is_userset(&self) -> bool {
        self.name != NONE
    }
}

pub(crate) fn resolve_subject<'a>(
    model: &AuthorizationModel,
    g: &Graph<'_>,
    user: &'a str,
) -> Result<Subject<'a>, CheckError> {
    // Fast path: a plain `type:id` (or `type:*`) the graph knows is valid by construction, so
    // the character-level validation is skipped.
    if !user.contains('#') {
        if let Some((ty, id)) = user.split_once(':') {
            if let (Some(mtype), Some(obj)) = (model.type_idx(ty), g.obj_id(user)) {
                let is_wild = id == "*";
                let wild = g.wildcard(g.obj_type(obj));
                return Ok(Subject {
                    text: user,
                    obj,
                    mtype,
                    name: NONE,
                    srel: NO_REL,
                    is_wild,
                    wild,
                });
            }
        }
    }
    let u = parse_user(user).ok_or_else(|| CheckError::InvalidUser(user.into()))?;
    let mtype = model
        .type_idx(u.ty())
        .ok_or_else(|| CheckError::UnknownType(u.ty().into()))?;
    let (name, srel) = match u.relation() {
        Some(r) => {
            let n = model
                .name_idx(r)
                .filter(|&n| model.rel_idx(mtype, n).is_some())
                .ok_or_else(|| CheckError::UnknownRelation {
                    ty: u.ty().into(),
                    relation: r.into(),
                })?;
            (n, g.rel_id(r).unwrap_or(NONE))
        }
        None => (NONE, NO_REL),
    };
    let obj = g.obj_id(u.object()).unwrap_or(NONE);
    let wild = g.type_id(u.ty()).map_or(NONE, |t| g.wildcard(t));
    Ok(Subject {
        text: user,
        obj,
        mtype,
        name,
        srel,
        is_wild: matches!(u, UserRef::Wildcard { .. }),
        wild,
    })
}

/// How [`Eval::usersets_plain`] treats userset edges of one object type and relation.
#[derive(Clone, Copy)]
struct SetPlan {
    /// The relation's index on the type.
    xr: u32,
    /// Its rewrite is plain `this`.
    leaf: bool,
    /// It admits usersets (then an object holding some is not a leaf).
    sets: bool,
    /// It admits the subject's type directly.
    direct: bool,
    /// It admits the subject type's wildcard, and the store has one.
    wild: bool,
}

/// Per-request evaluation state.
pub(crate) struct Eval<'a> {
    pub(crate) m: &'a AuthorizationModel,
    pub(crate) g: Graph<'a>,
    pub(crate) subj: Subject<'a>,
    stack: [u64; MAX_DEPTH as usize],
    depth: usize,
    visits: u32,
    memo: Option<FxHashMap<u64, bool>>,
    /// Model name index → graph relation id.
    rel_of_name: [u32; CACHE],
    /// Graph relation id → model name index.
    name_of_rel: [u32; CACHE],
    /// Graph type id → model type index.
    mtype_of: [u32; CACHE],
    pub(crate) trace: Vec<String>,
}

impl<'a> Eval<'a> {
    pub(crate) fn new(m: &'a AuthorizationModel, g: Graph<'a>, subj: Subject<'a>) -> Self {
        Eval {
            m,
            g,
            subj,
            stack: [0; MAX_DEPTH as usize],
            depth: 0,
            visits: 0,
            memo: None,
            rel_of_name: [UNSET; CACHE],
            name_of_rel: [UNSET; CACHE],
            mtype_of: [UNSET; CACHE],
            trace: Vec::new(),
        }
    }

    /// Resets the path state for another evaluation with the same subject.
    pub(crate) fn reset(&mut self) {
        self.depth = 0;
        self.trace.clear();
    }

    #[inline]
    pub(crate) fn grel(&mut self, name: u32) -> u32 {
        let slow = |s: &Self| {
            s.m.names
                .get(name as usize)
                .and_then(|n| s.g.rel_id(n))
                .unwrap_or(NONE)
        };
        match self.rel_of_name.get_mut(name as usize) {
            Some(c) if *c != UNSET => *c,
            Some(_) => {
                let v = slow(self);
                self.rel_of_name[name as usize] = v;
                v
            }
            None => slow(self),
        }
    }

    #[inline]
    pub(crate) fn name_of(&mut self, grel: u32) -> u32 {
        let slow = |s: &Self| s.m.name_idx(s.g.rel_name(grel)).unwrap_or(NONE);
        match self.name_of_rel.get_mut(grel as usize) {
            Some(c) if *c != UNSET => *c,
            Some(_) => {
                let v = slow(self);
                self.name_of_rel[grel as usize] = v;
                v
            }
            None => slow(self),
        }
    }

    /// Model type index of graph object `obj`.
    #[inline]
    pub(crate) fn mtype(&mut self, obj: u32) -> u32 {
        let gt = self.g.obj_type(obj);
        let slow = |s: &Self| s.m.type_idx(s.g.type_name(gt)).unwrap_or(NONE);
        match self.mtype_of.get_mut(gt as usize) {
            Some(c) if *c != UNSET => *c,
            Some(_) => {
                let v = slow(self);
                self.mtype_of[gt as usize] = v;
                v
            }
            None => slow(self),
        }
    }

    #[inline]
    fn has(&self, a: &[Edge], b: &[(u32, Edge)], e: Edge) -> bool {
        sorted_contains(a, &e) || b.iter().any(|(_, x)| *x == e)
    }

    fn line(&self, obj: u32, mt: u32, ri: u32) -> String {
        let rel = self.m.rel(mt, ri).map_or("", |r| &r.name);
        format!("{}#{}", self.g.obj_name(obj), rel)
    }

    /// Evaluates node `obj#ri` (`mt` is obj's model type).
    pub(crate) fn node<const T: bool>(&mut self, obj: u32, mt: u32, ri: u32) -> Res {
        let m = self.m;
        let Some(rd) = m.rel(mt, ri) else {
            return Res::False;
        };
        if self.subj.is_userset() && obj == self.subj.obj && rd.name_idx == self.subj.name {
            return Res::True;
        }
        let key = (u64::from(obj) << 32) | u64::from(ri);
        if let Some(i) = self.stack[..self.depth].iter().position(|&k| k == key) {
            return Res::Cycle {
                low: i as u32,
                neg: false,
            };
        }
        if self.depth >= MAX_DEPTH as usize {
            return Res::Depth;
        }
        if let Some(memo) = &self.memo {
            match memo.get(&key) {
                Some(true) if !T => return Res::True,
                Some(false) => return Res::False,
                _ => {}
            }
        }
        self.visits += 1;
        if self.visits > MEMO_AFTER && self.memo.is_none() {
            self.memo = Some(FxHashMap::default());
        }
        let here = self.depth as u32;
        self.stack[self.depth] = key;
        self.depth += 1;
        let mut r = self.rewrite::<T>(obj, mt, ri, &rd.rewrite);
        self.depth -= 1;
        // Every cut in this subtree returned to this node or below it, through monotone
        // operators only: assuming those nodes false is consistent, so the least fixpoint
        // (the meaning of the relation) has this node false, whatever path led here.
        if let Res::Cycle { low, neg: false } = r {
            if low >= here {
                r = Res::False;
            }
        }
        if let Some(memo) = &mut self.memo {
            match r {
                Res::True if !T => {
                    memo.insert(key, true);
                }
                Res::False => {
                    memo.insert(key, false);
                }
                _ => {}
            }
        }
        r
    }

    fn rewrite<const T: bool>(&mut self, obj: u32, mt: u32, ri: u32, rw: &'a Rewrite) -> Res {
        match rw {
            Rewrite::This => self.this::<T>(obj, mt, ri),
            Rewrite::Computed(r2) => {
                let mark = self.trace.len();
                if T {
                    let l = format!("{} via {}", self.line(obj, mt, ri), self.line(obj, mt, *r2));
                    self.trace.push(l);
                }
                let r = self.node::<T>(obj, mt, *r2);
                if T && r != Res::True {
                    self.trace.truncate(mark);
                }
                r
            }
            Rewrite::TupleToUserset { tupleset, computed } => {
                self.ttu::<T>(obj, mt, ri, *tupleset, *computed)
            }
            Rewrite::Union(children) => {
                let mut acc = Res::False;
                for c in children.iter() {
                    match self.rewrite::<T>(obj, mt, ri, c) {
                        Res::True => return Res::True,
                        Res::False => {}
                        u => acc = unknown(acc, u),
                    }
                }
                acc
            }
            Rewrite::Intersection(children) => {
                let mark = self.trace.len();
                let mut acc = Res::True;
                for c in children.iter() {
                    match self.rewrite::<T>(obj, mt, ri, c) {
                        Res::True => {}
                        Res::False => {
                            self.trace.truncate(mark);
                            return Res::False;
                        }
                        u => acc = if acc == Res::True { u } else { unknown(acc, u) },
                    }
                }
                if acc != Res::True {
                    self.trace.truncate(mark);
                }
                acc
            }
            Rewrite::Difference(base, sub) => {
                let mark = self.trace.len();
                let b = self.rewrite::<T>(obj, mt, ri, base);
                if b == Res::False {
                    return Res::False;
                }
                let after_base = self.trace.len();
                let s = self.rewrite::<T>(obj, mt, ri, sub);
                self.trace.truncate(after_base);
                let r = match (b, s) {
                    (_, Res::True) => Res::False,
                    (Res::True, Res::False) => Res::True,
                    (Res::True, u) => negated(u),
                    (u, Res::False) => u,
                    (u, v) => unknown(u, negated(v)),
                };
                if r != Res::True {
                    self.trace.truncate(mark);
                }
                r
            }
        }
    }

    fn ttu<const T: bool>(
        &mut self,
        obj: u32,
        mt: u32,
        ri: u32,
        tupleset: u32,
        computed: u32,
    ) -> Res {
        let m = self.m;
        let Some(tsd) = m.rel(mt, tupleset) else {
            return Res::False;
        };
        let grel = self.grel(tsd.name_idx);
        if grel == NONE {
            return Res::False;
        }
        let (a, b) = self.g.fwd(obj, grel);
        // Each object reached is about to be visited: load their records, then their forward
        // lists, all in parallel, before walking the first.
        let direct = a.iter().take_while(|e| e.srel == NO_REL).take(8);
        direct.clone().for_each(|e| self.g.s.prefetch_node(e.obj));
        direct.for_each(|e| self.g.s.prefetch_fwd(e.obj));
        let mut acc = Res::False;
        let direct_a = a.iter().take_while(|e| e.srel == NO_REL).map(|e| e.obj);
        let direct_b = b
            .iter()
            .filter(|(_, e)| e.srel == NO_REL)
            .map(|(_, e)| e.obj);
        for y in direct_a.chain(direct_b) {
            let yt = self.mtype(y);
            if yt == NONE || !tsd.allowed.contains(&Allowed::Type(yt)) {
                continue;
            }
            let Some(yr) = m.rel_idx(yt, computed) else {
                continue;
            };
            let mark = self.trace.len();
            if T {
                let l = format!(
                    "{} via {}#{} -> {}",
                    self.line(obj, mt, ri),
                    self.g.obj_name(obj),
                    tsd.name,
                    self.line(y, yt, yr)
                );
                self.trace.push(l);
            }
            match self.node::<T>(y, yt, yr) {
                Res::True => return Res::True,
                Res::False => {}
                u => acc = unknown(acc, u),
            }
            self.trace.truncate(mark);
        }
        acc
    }

    /// Answers `x#xr` without the node machinery when it is a leaf: a plain `[types]`
    /// relation whose tuples on `x` name no usersets (a group holding only users), asked for a
    /// plain subject. A leaf cannot recurse, so it cannot be on the path or run out of depth;
    /// the answer is its direct membership. `None`: not a leaf, evaluate normally.
    #[inline]
    fn leaf(&mut self, x: u32, xt: u32, xr: u32, xgrel: u32) -> Option<bool> {
        let xd = self.m.rel(xt, xr)?;
        let s = self.subj;
        if !matches!(xd.rewrite, Rewrite::This)
            || s.is_userset()
            || (xd.has_usersets && self.g.may_have_usersets(x))
        {
            return None;
        }
        let want = if s.is_wild {
            Allowed::Wildcard(s.mtype)
        } else {
            Allowed::Type(s.mtype)
        };
        if s.obj != NONE && xd.allowed.contains(&want) && self.g.has_direct(s.obj, NO_REL, xgrel, x)
        {
            return Some(true);
        }
        if !s.is_wild && s.wild != NONE && xd.allowed.contains(&Allowed::Wildcard(s.mtype)) {
            let (a, b) = self.g.fwd(x, xgrel);
            return Some(self.has(
                a,
                b,
                Edge {
                    rel: xgrel,
                    srel: NO_REL,
                    obj: s.wild,
                },
            ));
        }
        Some(false)
    }

    /// The userset edges of `obj#rd` for a plain subject and no contextual tuples (the common
    /// case), answering leaf usersets without the node machinery. The edges are sorted by
    /// (subject relation, object) and the subject's direct memberships by (relation, object),
    /// so the leaf memberships are found by one merge of the two lists rather than a search
    /// per edge; the model is consulted once per run of edges of one type and relation.
    fn usersets_plain(&mut self, obj: u32, rd: &'a RelationDef, grel: u32) -> Res {
        let m = self.m;
        let s = self.subj;
        let (a, _) = self.g.fwd(obj, grel);
        let first = a.partition_point(|e| e.srel == NO_REL);
        let sets = a.get(first..).unwrap_or(&[]);
        let memberships = range_by(self.g.s.rev(s.obj), NO_REL, |r| r.srel);
        let mut acc = Res::False;
        let mut run = (NONE, NONE);
        let mut plan: Option<SetPlan> = None;
        let mut mine: &[RevEdge] = &[];
        for e in sets {
            let xt = self.mtype(e.obj);
            if (e.srel, xt) != run {
                if e.srel != run.0 {
                    mine = range_by(memberships, e.srel, |r| r.rel);
                }
                run = (e.srel, xt);
                let nm = self.name_of(e.srel);
                plan = (xt != NONE && nm != NONE && rd.allowed.contains(&Allowed::Userset(xt, nm)))
                    .then(|| m.rel_idx(xt, nm))
                    .flatten()
                    .and_then(|xr| {
                        let xd = m.rel(xt, xr)?;
                        Some(SetPlan {
                            xr,
                            leaf: matches!(xd.rewrite, Rewrite::This),
                            sets: xd.has_usersets,
                            direct: xd.allowed.contains(&Allowed::Type(s.mtype)),
                            wild: s.wild != NONE
                                && xd.allowed.contains(&Allowed::Wildcard(s.mtype)),
                        })
                    });
            }
            let Some(p) = plan else {
                continue;
            };
            if p.leaf && !(p.sets && self.g.s.has_usersets(e.obj)) {
                // A leaf: its answer is direct membership (see `leaf`).
                if p.direct {
                    let skip = mine.partition_point(|r| r.obj < e.obj);
                    mine = mine.get(skip..).unwrap_or(&[]);
                    if mine.first().is_some_and(|r| r.obj == e.obj) {
                        return Res::True;
                    }
                }
                if p.wild {
                    let w = Edge {
                        rel: e.srel,
                        srel: NO_REL,
                        obj: s.wild,
                    };
                    if sorted_contains(range_by(self.g.s.fwd(e.obj), e.srel, |x| x.rel), &w) {
                        return Res::True;
                    }
                }
                continue;
            }
            match self.node::<false>(e.obj, xt, p.xr) {
                Res::True => return Res::True,
                Res::False => {}
                u => acc = unknown(acc, u),
            }
        }
        acc
    }

    fn this<const T: bool>(&mut self, obj: u32, mt: u32, ri: u32) -> Res {
        let m = self.m;
        let Some(rd) = m.rel(mt, ri) else {
            return Res::False;
        };
        let grel = self.grel(rd.name_idx);
        if grel == NONE {
            return Res::False;
        }
        let s = self.subj;
        // Direct tuples naming the subject: looked up in the subject's reverse list.
        if s.obj != NONE && s.srel == NO_REL {
            let want = if s.is_wild {
                Allowed::Wildcard(s.mtype)
            } else {
                Allowed::Type(s.mtype)
            };
            if rd.allowed.contains(&want) && self.g.has_direct(s.obj, NO_REL, grel, obj) {
                if T {
                    let l = format!("{}@{}", self.line(obj, mt, ri), s.text);
                    self.trace.push(l);
                }
                return Res::True;
            }
        }
        if s.is_userset()
            && s.obj != NONE
            && s.srel != NONE
            && rd.allowed.contains(&Allowed::Userset(s.mtype, s.name))
            && self.g.has_direct(s.obj, s.srel, grel, obj)
        {
            if T {
                let l = format!("{}@{}", self.line(obj, mt, ri), s.text);
                self.trace.push(l);
            }
            return Res::True;
        }
        // The wildcard of the subject's type (its reverse list may be huge: use the object's).
        if !s.is_wild
            && s.wild != NONE
            && !s.is_userset()
            && rd.allowed.contains(&Allowed::Wildcard(s.mtype))
        {
            let (a, b) = self.g.fwd(obj, grel);
            if self.has(
                a,
                b,
                Edge {
                    rel: grel,
                    srel: NO_REL,
                    obj: s.wild,
                },
            ) {
                if T {
                    let l = format!("{}@{}", self.line(obj, mt, ri), self.g.obj_name(s.wild));
                    self.trace.push(l);
                }
                return Res::True;
            }
        }
        if !rd.has_usersets || !self.g.may_have_usersets(obj) {
            return Res::False;
        }
        if !T && self.g.o.is_none() && s.obj != NONE && !s.is_userset() && !s.is_wild {
            return self.usersets_plain(obj, rd, grel);
        }
        let (a, b) = self.g.fwd(obj, grel);
        let mut acc = Res::False;
        let first = a.partition_point(|e| e.srel == NO_REL);
        let sets_a = a.get(first..).unwrap_or(&[]).iter().copied();
        let sets_b = b.iter().filter(|(_, e)| e.srel != NO_REL).map(|(_, e)| *e);
        for e in sets_a.chain(sets_b) {
            let xt = self.mtype(e.obj);
            let nm = self.name_of(e.srel);
            if xt == NONE || nm == NONE || !rd.allowed.contains(&Allowed::Userset(xt, nm)) {
                continue;
            }
            let Some(xr) = m.rel_idx(xt, nm) else {
                continue;
            };
            if !T {
                match self.leaf(e.obj, xt, xr, e.srel) {
                    Some(true) => return Res::True,
                    Some(false) => continue,
                    None => {}
                }
            }
            let mark = self.trace.len();
            if T {
                let l = format!(
                    "{} via {}",
                    self.line(obj, mt, ri),
                    self.line(e.obj, xt, xr)
                );
                self.trace.push(l);
            }
            // node() answers True at once when this userset is the requested subject.
            match self.node::<T>(e.obj, xt, xr) {
                Res::True => return Res::True,
                Res::False => {}
                u => acc = unknown(acc, u),
            }
            self.trace.truncate(mark);
        }
        acc
    }
}

/// The object and relation of a request, resolved against the model.
pub(crate) fn resolve_target(
    model: &AuthorizationModel,
    object: &str,
    relation: &str,
) -> Result<(u32, u32), CheckError> {
    // Cheap split only; the id is validated when the graph does not know the object.
    let oty = match object.split_once(':') {
        Some((t, id)) if !id.is_empty() && id != "*" => t,
        _ => return Err(CheckError::InvalidObject(object.into())),
    };
    let Some(mt) = model.type_idx(oty) else {
        return Err(match parse_object(object) {
            Some(_) => CheckError::UnknownType(oty.into()),
            None => CheckError::InvalidObject(object.into()),
        });
    };
    let ri = model
        .rel_idx_by_str(mt, relation)
        .ok_or_else(|| CheckError::UnknownRelation {
            ty: oty.into(),
            relation: relation.into(),
        })?;
    Ok((mt, ri))
}

fn run<const T: bool>(
    model: &AuthorizationModel,
    g: Graph<'_>,
    req: &CheckRequest<'_>,
    trace: Option<&mut Vec<String>>,
) -> Result<bool, CheckError> {
    let (mt, ri) = resolve_target(model, req.object, req.relation)?;
    // Both string lookups back to back, so their cache misses can overlap.
    let obj = g.obj_id(req.object);
    let subj = resolve_subject(model, &g, req.user)?;
    let Some(obj) = obj else {
        if parse_object(req.object).is_none() {
            return Err(CheckError::InvalidObject(req.object.into()));
        }
        // No tuple mentions the object, so only the object's own relations can lead anywhere:
        // that matters only for a userset of this very object (`group:1#member` is a member
        // of `group:1`). Give the object an id and evaluate.
        if subj.is_userset() && parse_user(req.user).is_some_and(|u| u.object() == req.object) {
            let o = Overlay::with_objects(g.s, req.contextual, &[req.object])?;
            let g2 = Graph::new(g.s, Some(&o));
            if g2.obj_id(req.object).is_some() {
                return run::<T>(model, g2, req, trace);
            }
        }
        return Ok(false);
    };
    // Nearly every walk reads the object's forward list and the subject's reverse list: start
    // both loads now, in parallel (records first, then the lists they point to).
    g.s.prefetch_node(obj);
    if subj.obj != NONE {
        g.s.prefetch_rev(subj.obj);
    }
    g.s.prefetch_fwd(obj);
    let mut ev = Eval::new(model, g, subj);
    let r = ev.node::<T>(obj, mt, ri);
    if let Some(t) = trace {
        *t = std::mem::take(&mut ev.trace);
    }
    match r {
        Res::True => Ok(true),
        Res::False | Res::Cycle { .. } => Ok(false),
        Res::Depth => Err(CheckError::DepthExceeded),
    }
}

/// Allowed or not, without reasons. This is what the benchmark measures. It allocates only to
/// resolve contextual tuples and, on walks of more than a few dozen nodes, for a memo table.
pub fn check_fast(
    model: &AuthorizationModel,
    tuples: &TupleStore,
    req: &CheckRequest<'_>,
) -> Result<bool, CheckError> {
    if req.contextual.is_empty() {
        return run::<false>(model, Graph::new(tuples, None), req, None);
    }
    let overlay = Overlay::build(tuples, req.contextual)?;
    run::<false>(model, Graph::new(tuples, Some(&overlay)), req, None)
}

/// Allowed or not, with reasons: when allowed, the chain of tuples and rewrites that proved
/// it, one hop per line, e.g. `patient:42#viewer via patient:42#care_team -> care_team:7#member`,
/// `care_team:7#member via group:3#member`, `group:3#member@user:auth0|abc`; when denied, one
/// line `no relationship <user> <relation> <object>`.
pub fn check(
    model: &AuthorizationModel,
    tuples: &TupleStore,
    req: &CheckRequest<'_>,
) -> Result<CheckOutcome, CheckError> {
    let overlay = if req.contextual.is_empty() {
        None
    } else {
        Some(Overlay::build(tuples, req.contextual)?)
    };
    let g = Graph::new(tuples, overlay.as_ref());
    let allowed = run::<false>(model, g, req, None)?;
    if !allowed {
        return Ok(CheckOutcome {
            allowed,
            reasons: vec![format!(
                "no relationship {} {} {}",
                req.user, req.relation, req.object
            )],
        });
    }
    let mut reasons = Vec::new();
    // The traced pass follows the same walk; it can only differ if the fast pass answered from
    // its memo, in which case the chain may be shorter than the full proof.
    let _ = run::<true>(model, g, req, Some(&mut reasons));
    if reasons.is_empty() {
        reasons.push(format!("{}#{}@{}", req.object, req.relation, req.user));
    }
    Ok(CheckOutcome { allowed, reasons })
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
