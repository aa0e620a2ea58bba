//! The view an evaluation reads: the tuple store plus the request's contextual tuples.
//!
//! Contextual tuples are resolved once per request into an [`Overlay`] that extends the store's
//! id spaces (objects, types and relations unknown to the store get ids past the store's
//! ranges) and holds its own sorted forward and reverse edges. Without contextual tuples the
//! overlay is absent and every accessor reads the store alone.

use crate::check::CheckError;
use crate::model::NONE;
use crate::store::{range_by, sorted_contains, Edge, RevEdge, TupleStore, NO_REL};
use crate::tuple::{parse_object, parse_user, TupleKey, UserRef};

#[derive(Default)]
pub(crate) struct Overlay<'a> {
    base_objs: u32,
    base_types: u32,
    base_rels: u32,
    /// Objects unknown to the store: (name, graph type id).
    objs: Vec<(&'a str, u32)>,
    types: Vec<&'a str>,
    rels: Vec<&'a str>,
    /// Wildcard objects by graph type id, for wildcards the store does not have.
    wild: Vec<(u32, u32)>,
    fwd: Vec<(u32, Edge)>,
    rev: Vec<(u32, RevEdge)>,
}

impl<'a> Overlay<'a> {
    pub(crate) fn build(s: &TupleStore, contextual: &'a [TupleKey]) -> Result<Self, CheckError> {
        let mut o = Overlay {
            base_objs: s.object_count_u32(),
            base_types: s.type_count(),
            base_rels: s.rel_count(),
            ..Overlay::default()
        };
        for t in contextual {
            let bad = || CheckError::InvalidContextualTuple(t.to_string());
            let (oty, _) = parse_object(&t.object).ok_or_else(bad)?;
            let user = parse_user(&t.user).ok_or_else(bad)?;
            if !crate::model::valid_name(&t.relation) {
                return Err(bad());
            }
            let rel = o.rel(s, &t.relation);
            let srel = user.relation().map_or(NO_REL, |r| o.rel(s, r));
            let obj = o.object(s, &t.object, oty, false);
            let sub = o.object(
                s,
                user.object(),
                user.ty(),
                matches!(user, UserRef::Wildcard { .. }),
            );
            let e = Edge {
                rel,
                srel,
                obj: sub,
            };
            o.fwd.push((obj, e));
            o.rev.push((sub, RevEdge { srel, rel, obj }));
        }
        o.fwd.sort_unstable();
        o.fwd.dedup();
        o.rev.sort_unstable();
        o.rev.dedup();
        Ok(o)
    }

    /// Builds the overlay for `contextual` plus `objects` (valid `type:id` strings) that must
    /// have ids even though no tuple mentions them.
    pub(crate) fn with_objects(
        s: &TupleStore,
        contextual: &'a [TupleKey],
        objects: &[&'a str],
    ) -> Result<Self, CheckError> {
        let mut o = Overlay::build(s, contextual)?;
        for &name in objects {
            if let Some((ty, _)) = parse_object(name) {
                o.object(s, name, ty, false);
            }
        }
        Ok(o)
    }

    fn rel(&mut self, s: &TupleStore, name: &'a str) -> u32 {
        if let Some(id) = s.rel_id(name) {
            return id;
        }
        match self.rels.iter().position(|&r| r == name) {
            Some(i) => self.base_rels + i as u32,
            None => {
                self.rels.push(name);
                self.base_rels + self.rels.len() as u32 - 1
            }
        }
    }

    fn ty(&mut self, s: &TupleStore, name: &'a str) -> u32 {
        if let Some(id) = s.type_id(name) {
            return id;
        }
        match self.types.iter().position(|&r| r == name) {
            Some(i) => self.base_types + i as u32,
            None => {
                self.types.push(name);
                self.base_types + self.types.len() as u32 - 1
            }
        }
    }

    fn object(&mut self, s: &TupleStore, name: &'a str, ty: &'a str, wildcard: bool) -> u32 {
        if let Some(id) = s.object_id(name) {
            return id;
        }
        if let Some(i) = self.objs.iter().position(|&(n, _)| n == name) {
            return self.base_objs + i as u32;
        }
        let t = self.ty(s, ty);
        self.objs.push((name, t));
        let id = self.base_objs + self.objs.len() as u32 - 1;
        if wildcard && s.wildcard_of(t) == NONE {
            self.wild.push((t, id));
        }
        id
    }
}

/// Store plus optional overlay. `Copy`, so evaluators hold it by value.
#[derive(Clone, Copy)]
pub(crate) struct Graph<'a> {
    pub(crate) s: &'a TupleStore,
    pub(crate) o: Option<&'a Overlay<'a>>,
}

impl<'a> Graph<'a> {
    pub(crate) fn new(s: &'a TupleStore, o: Option<&'a Overlay<'a>>) -> Self {
        Graph {
            s,
            o: o.filter(|o| !o.fwd.is_empty() || !o.objs.is_empty()),
        }
    }

    #[inline]
    pub(crate) fn obj_id(&self, name: &str) -> Option<u32> {
        if let Some(id) = self.s.object_id(name) {
            return Some(id);
        }
        let o = self.o?;
        o.objs
            .iter()
            .position(|&(n, _)| n == name)
            .map(|i| o.base_objs + i as u32)
    }

    pub(crate) fn obj_name(&self, id: u32) -> &'a str {
        match self.o {
            Some(o) if id >= o.base_objs => {
                o.objs.get((id - o.base_objs) as usize).map_or("", |x| x.0)
            }
            _ => self.s.object_name(id),
        }
    }

    #[inline]
    pub(crate) fn obj_type(&self, id: u32) -> u32 {
        match self.o {
            Some(o) if id >= o.base_objs => o
                .objs
                .get((id - o.base_objs) as usize)
                .map_or(NONE, |x| x.1),
            _ => self.s.object_type(id),
        }
    }

    pub(crate) fn type_id(&self, name: &str) -> Option<u32> {
        if let Some(id) = self.s.type_id(name) {
            return Some(id);
        }
        let o = self.o?;
        o.types
            .iter()
            .position(|&n| n == name)
            .map(|i| o.base_types + i as u32)
    }

    pub(crate) fn type_name(&self, id: u32) -> &'a str {
        match self.o {
            Some(o) if id >= o.base_types => o
                .types
                .get((id - o.base_types) as usize)
                .copied()
                .unwrap_or(""),
            _ => self.s.type_name(id),
        }
    }

    #[inline]
    pub(crate) fn rel_id(&self, name: &str) -> Option<u32> {
        if let Some(id) = self.s.rel_id(name) {
            return Some(id);
        }
        let o = self.o?;
        o.rels
            .iter()
            .position(|&n| n == name)
            .map(|i| o.base_rels + i as u32)
    }

    pub(crate) fn rel_name(&self, id: u32) -> &'a str {
        match self.o {
            Some(o) if id >= o.base_rels => o
                .rels
                .get((id - o.base_rels) as usize)
                .copied()
                .unwrap_or(""),
            _ => self.s.rel_name(id),
        }
    }

    #[inline]
    pub(crate) fn wildcard(&self, ty: u32) -> u32 {
        let w = self.s.wildcard_of(ty);
        if w != NONE {
            return w;
        }
        match self.o {
            Some(o) => o.wild.iter().find(|x| x.0 == ty).map_or(NONE, |x| x.1),
            None => NONE,
        }
    }

    /// Forward edges of `obj` with relation `rel`: from the store and from the overlay.
    #[inline]
    pub(crate) fn fwd(&self, obj: u32, rel: u32) -> (&'a [Edge], &'a [(u32, Edge)]) {
        let a = range_by(self.s.fwd(obj), rel, |e| e.rel);
        let b = match self.o {
            Some(o) => range_by(&o.fwd, (obj, rel), |(x, e)| (*x, e.rel)),
            None => &[],
        };
        (a, b)
    }

    /// Whether tuple `obj#rel@sobj#srel` exists, looked up in the subject's reverse list:
    /// a check asks this for one subject many times, so that list stays in cache while the
    /// objects' forward lists would each cost a miss.
    #[inline]
    pub(crate) fn has_direct(&self, sobj: u32, srel: u32, rel: u32, obj: u32) -> bool {
        let r = RevEdge { srel, rel, obj };
        sorted_contains(self.s.rev(sobj), &r)
            || self
                .o
                .is_some_and(|o| o.rev.binary_search(&(sobj, r)).is_ok())
    }

    /// Whether `obj` may have forward edges with userset subjects.
    #[inline]
    pub(crate) fn may_have_usersets(&self, obj: u32) -> bool {
        self.s.has_usersets(obj)
            || self.o.is_some_and(|o| {
                let lo = o.fwd.partition_point(|(x, _)| *x < obj);
                o.fwd
                    .get(lo..)
                    .unwrap_or(&[])
                    .iter()
                    .take_while(|(x, _)| *x == obj)
                    .any(|(_, e)| e.srel != NO_REL)
            })
    }

    /// Reverse edges of subject `obj#srel` (srel NO_REL: the plain object).
    pub(crate) fn rev(&self, obj: u32, srel: u32) -> (&'a [RevEdge], &'a [(u32, RevEdge)]) {
        let a = range_by(self.s.rev(obj), srel, |e| e.srel);
        let b = match self.o {
            Some(o) => range_by(&o.rev, (obj, srel), |(x, e)| (*x, e.srel)),
            None => &[],
        };
        (a, b)
    }
}
