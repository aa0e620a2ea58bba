//! List-objects and list-users.
//!
//! List-objects expands *backwards* from the user: the tuples naming the user (or the wildcard
//! of its type), then the usersets, computed relations and tuple-to-userset parents that
//! contain those nodes, over the store's reverse lists. For relations built only from `this`,
//! computed usersets, tuple-to-userset and unions this expansion is exactly the set `check`
//! allows; when an intersection or difference can be reached, the expansion over-approximates
//! (it ignores `subtract` and treats `and` like `or`) and every candidate is confirmed with a
//! check. List-users is the same idea forwards from the object.
//!
//! Neither is depth-limited (the expansions visit each node once), so on data with chains
//! longer than [`crate::MAX_DEPTH`] they may list more than `check` allows.

use crate::check::{resolve_subject, resolve_target, CheckError, Eval, Res};
use crate::graph::{Graph, Overlay};
use crate::model::{Allowed, AuthorizationModel, Rewrite, NONE};
use crate::store::{range_by, TupleStore, NO_REL};
use crate::tuple::{parse_user, TupleKey};
use rustc_hash::FxHashSet;

/// One page of list-objects, in ascending byte order of the object strings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectPage {
    /// `type:id` strings.
    pub objects: Vec<String>,
    /// Pass as `after` to get the next page; `None` when this page ends the list.
    pub next: Option<String>,
}

struct Walk<'a> {
    ev: Eval<'a>,
    seen: FxHashSet<u64>,
    work: Vec<(u32, u32, u32)>,
}

impl Walk<'_> {
    fn push(&mut self, obj: u32, mt: u32, ri: u32) {
        if mt != NONE && self.seen.insert((u64::from(obj) << 32) | u64::from(ri)) {
            self.work.push((obj, mt, ri));
        }
    }
}

/// Objects of `object_type` that `user` has `relation` with, a page at a time: up to
/// `page_size` objects (0 = all) sorted by their string, starting after `after` (a previous
/// page's `next`). A page is never silently truncated: `next` is set whenever more objects
/// follow.
#[allow(clippy::too_many_arguments)]
pub fn list_objects(
    model: &AuthorizationModel,
    tuples: &TupleStore,
    user: &str,
    relation: &str,
    object_type: &str,
    contextual: &[TupleKey],
    page_size: usize,
    after: Option<&str>,
) -> Result<ObjectPage, CheckError> {
    let mt = model
        .type_idx(object_type)
        .ok_or_else(|| CheckError::UnknownType(object_type.into()))?;
    let ri = model
        .rel_idx_by_str(mt, relation)
        .ok_or_else(|| CheckError::UnknownRelation {
            ty: object_type.into(),
            relation: relation.into(),
        })?;
    // A userset subject needs an id for its object even when no tuple mentions it.
    let set_object = parse_user(user)
        .filter(|u| u.relation().is_some())
        .map(|u| u.object());
    let absent: Vec<&str> = set_object
        .into_iter()
        .filter(|o| tuples.object_id(o).is_none())
        .collect();
    let overlay = if contextual.is_empty() && absent.is_empty() {
        None
    } else {
        Some(Overlay::with_objects(tuples, contextual, &absent)?)
    };
    let g = Graph::new(tuples, overlay.as_ref());
    let subj = resolve_subject(model, &g, user)?;
    let mut w = Walk {
        ev: Eval::new(model, g, subj),
        seen: FxHashSet::default(),
        work: Vec::new(),
    };

    // Seeds: tuples naming the user directly or through its type's wildcard, and the user
    // itself when it is a userset.
    let seeds = [
        (
            if subj.is_wild || subj.is_userset() {
                NONE
            } else {
                subj.obj
            },
            Allowed::Type(subj.mtype),
        ),
        (
            if subj.is_wild {
                subj.obj
            } else if subj.is_userset() {
                NONE
            } else {
                subj.wild
            },
            Allowed::Wildcard(subj.mtype),
        ),
    ];
    for (s, want) in seeds {
        if s == NONE {
            continue;
        }
        let (a, b) = g.rev(s, NO_REL);
        for r in a.iter().copied().chain(b.iter().map(|x| x.1)) {
            let ot = w.ev.mtype(r.obj);
            let nm = w.ev.name_of(r.rel);
            let Some(orel) = (ot != NONE && nm != NONE)
                .then(|| model.rel_idx(ot, nm))
                .flatten()
            else {
                continue;
            };
            if model
                .rel(ot, orel)
                .is_some_and(|d| d.allowed.contains(&want))
            {
                w.push(r.obj, ot, orel);
            }
        }
    }
    if subj.is_userset() && subj.obj != NONE {
        if let Some(r) = model.rel_idx(subj.mtype, subj.name) {
            w.push(subj.obj, subj.mtype, r);
        }
    }

    let mut found: Vec<u32> = Vec::new();
    while let Some((x, xt, xr)) = w.work.pop() {
        if xt == mt && xr == ri {
            found.push(x);
        }
        let Some(xd) = model.rel(xt, xr) else {
            continue;
        };
        // Tuples whose user is the userset x#xr.
        let srel = w.ev.grel(xd.name_idx);
        if srel != NONE {
            let (a, b) = g.rev(x, srel);
            for r in a.iter().copied().chain(b.iter().map(|x| x.1)) {
                let ot = w.ev.mtype(r.obj);
                let nm = w.ev.name_of(r.rel);
                let Some(orel) = (ot != NONE && nm != NONE)
                    .then(|| model.rel_idx(ot, nm))
                    .flatten()
                else {
                    continue;
                };
                if model
                    .rel(ot, orel)
                    .is_some_and(|d| d.allowed.contains(&Allowed::Userset(xt, xd.name_idx)))
                {
                    w.push(r.obj, ot, orel);
                }
            }
        }
        let Some(parents) = model
            .parents
            .get(xt as usize)
            .and_then(|p| p.get(xr as usize))
        else {
            continue;
        };
        for &p in &parents.computed {
            w.push(x, xt, p);
        }
        for &(pt, pr, ts) in &parents.ttu {
            let Some(tsd) = model.rel(pt, ts) else {
                continue;
            };
            if !tsd.allowed.contains(&Allowed::Type(xt)) {
                continue;
            }
            let gts = w.ev.grel(tsd.name_idx);
            if gts == NONE {
                continue;
            }
            let (a, b) = g.rev(x, NO_REL);
            let a = range_by(a, gts, |r| r.rel);
            let b = b.iter().filter(|r| r.1.rel == gts).map(|r| r.1);
            for r in a.iter().copied().chain(b) {
                if w.ev.mtype(r.obj) == pt {
                    w.push(r.obj, pt, pr);
                }
            }
        }
    }

    if model.rel(mt, ri).is_some_and(|d| d.non_monotone) {
        let ev = &mut w.ev;
        found.retain(|&o| {
            ev.reset();
            ev.node::<false>(o, mt, ri) == Res::True
        });
    }
    let mut names: Vec<&str> = found.iter().map(|&o| g.obj_name(o)).collect();
    names.sort_unstable();
    names.dedup();
    let start = match after {
        Some(a) => names.partition_point(|n| *n <= a),
        None => 0,
    };
    let rest = names.get(start..).unwrap_or(&[]);
    let take = if page_size == 0 {
        rest.len()
    } else {
        page_size.min(rest.len())
    };
    let objects: Vec<String> = rest.iter().take(take).map(|s| s.to_string()).collect();
    let next = if take < rest.len() {
        objects.last().cloned()
    } else {
        None
    };
    Ok(ObjectPage { objects, next })
}

/// Users with `relation` on `object`, filtered by `user_filter`: a type (`"user"`: its
/// objects, including `user:*` when a wildcard grants it) or a userset type
/// (`"group#member"`: usersets of that form, e.g. `group:3#member`). Sorted.
pub fn list_users(
    model: &AuthorizationModel,
    tuples: &TupleStore,
    object: &str,
    relation: &str,
    user_filter: &str,
    contextual: &[TupleKey],
) -> Result<Vec<String>, CheckError> {
    let (mt, ri) = resolve_target(model, object, relation)?;
    if crate::tuple::parse_object(object).is_none() {
        return Err(CheckError::InvalidObject(object.into()));
    }
    let (fty, frel) = match user_filter.split_once('#') {
        Some((t, r)) => (t, Some(r)),
        None => (user_filter, None),
    };
    let ft = model
        .type_idx(fty)
        .ok_or_else(|| CheckError::UnknownType(fty.into()))?;
    let fname = match frel {
        Some(r) => Some(
            model
                .name_idx(r)
                .filter(|&n| model.rel_idx(ft, n).is_some())
                .ok_or_else(|| CheckError::UnknownRelation {
                    ty: fty.into(),
                    relation: r.into(),
                })?,
        ),
        None => None,
    };
    let absent: Vec<&str> = if tuples.object_id(object).is_none() {
        vec![object]
    } else {
        Vec::new()
    };
    let overlay = if contextual.is_empty() && absent.is_empty() {
        None
    } else {
        Some(Overlay::with_objects(tuples, contextual, &absent)?)
    };
    let g = Graph::new(tuples, overlay.as_ref());
    let Some(start) = g.obj_id(object) else {
        return Ok(Vec::new());
    };
    // The evaluator serves as the id translator; its subject is irrelevant here.
    let dummy_user = format!("{}:_", model.type_name(ft));
    let dummy = resolve_subject(model, &g, &dummy_user)?;
    let mut w = Walk {
        ev: Eval::new(model, g, dummy),
        seen: FxHashSet::default(),
        work: Vec::new(),
    };
    w.push(start, mt, ri);
    // (object, userset name or NONE)
    let mut found: FxHashSet<(u32, u32)> = FxHashSet::default();
    while let Some((x, xt, xr)) = w.work.pop() {
        let Some(xd) = model.rel(xt, xr) else {
            continue;
        };
        if xt == ft && fname == Some(xd.name_idx) {
            found.insert((x, xd.name_idx));
        }
        let mut stack: Vec<&Rewrite> = vec![&xd.rewrite];
        while let Some(rw) = stack.pop() {
            match rw {
                Rewrite::This => {
                    let grel = w.ev.grel(xd.name_idx);
                    if grel == NONE {
                        continue;
                    }
                    let (a, b) = g.fwd(x, grel);
                    for e in a.iter().copied().chain(b.iter().map(|x| x.1)) {
                        let et = w.ev.mtype(e.obj);
                        if et == NONE {
                            continue;
                        }
                        if e.srel == NO_REL {
                            let wild = g.wildcard(g.obj_type(e.obj)) == e.obj;
                            let want = if wild {
                                Allowed::Wildcard(et)
                            } else {
                                Allowed::Type(et)
                            };
                            if fname.is_none() && et == ft && xd.allowed.contains(&want) {
                                found.insert((e.obj, NONE));
                            }
                        } else {
                            let nm = w.ev.name_of(e.srel);
                            if nm == NONE || !xd.allowed.contains(&Allowed::Userset(et, nm)) {
                                continue;
                            }
                            if let Some(er) = model.rel_idx(et, nm) {
                                w.push(e.obj, et, er);
                            }
                        }
                    }
                }
                Rewrite::Computed(r2) => w.push(x, xt, *r2),
                Rewrite::TupleToUserset { tupleset, computed } => {
                    let Some(tsd) = model.rel(xt, *tupleset) else {
                        continue;
                    };
                    let grel = w.ev.grel(tsd.name_idx);
                    if grel == NONE {
                        continue;
                    }
                    let (a, b) = g.fwd(x, grel);
                    for e in a.iter().copied().chain(b.iter().map(|x| x.1)) {
                        let yt = w.ev.mtype(e.obj);
                        if e.srel != NO_REL
                            || yt == NONE
                            || !tsd.allowed.contains(&Allowed::Type(yt))
                        {
                            continue;
                        }
                        if let Some(yr) = model.rel_idx(yt, *computed) {
                            w.push(e.obj, yt, yr);
                        }
                    }
                }
                Rewrite::Union(c) | Rewrite::Intersection(c) => stack.extend(c.iter()),
                Rewrite::Difference(base, _) => stack.push(base),
            }
        }
    }
    let mut out: Vec<String> = found
        .into_iter()
        .map(|(o, n)| {
            let name = g.obj_name(o);
            match model.names.get(n as usize) {
                Some(r) if n != NONE => format!("{name}#{r}"),
                _ => name.to_string(),
            }
        })
        .collect();
    if model.rel(mt, ri).is_some_and(|d| d.non_monotone) {
        out.retain(|u| {
            let req = crate::CheckRequest {
                user: u,
                relation,
                object,
                contextual,
            };
            crate::check_fast(model, tuples, &req) == Ok(true)
        });
    }
    out.sort_unstable();
    Ok(out)
}
