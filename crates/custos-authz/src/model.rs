//! OpenFGA authorization models (JSON, schema 1.1): parsing, validation and the compiled form
//! the evaluator walks.
//!
//! A model is compiled once into dense indexes: types are numbered, relations are numbered
//! within their type, and every relation name used anywhere in the model gets a model-wide
//! "name index" so that a relation referenced by name on another type (tuple-to-userset,
//! userset restrictions) resolves through one table lookup instead of a string compare.

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

/// Sentinel for "no such index".
pub(crate) const NONE: u32 = u32::MAX;

/// Deepest nesting of rewrite operators accepted in one relation definition.
const MAX_REWRITE_NESTING: usize = 32;

/// Why a model was rejected. Messages are meant for a 400 response body: each names the type and
/// relation at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("authorization model: schema_version is missing (expected \"1.1\")")]
    MissingSchemaVersion,
    #[error("authorization model: schema_version {0:?} is not supported (only \"1.1\")")]
    UnsupportedSchemaVersion(String),
    #[error("authorization model: {0}")]
    InvalidShape(String),
    #[error("authorization model: invalid {kind} name {name:?}")]
    InvalidName { kind: &'static str, name: String },
    #[error("authorization model: type {0:?} is defined more than once")]
    DuplicateType(String),
    #[error("authorization model: {ty}#{relation} references undefined type {referenced:?}")]
    UnknownType {
        ty: String,
        relation: String,
        referenced: String,
    },
    #[error("authorization model: {ty}#{relation} references undefined relation {referenced}")]
    UndefinedRelation {
        ty: String,
        relation: String,
        referenced: String,
    },
    #[error("authorization model: {ty}#{relation} has an invalid rewrite: {detail}")]
    InvalidRewrite {
        ty: String,
        relation: String,
        detail: String,
    },
    #[error(
        "authorization model: {ty}#{relation} uses {tupleset:?} as a tupleset, but a tupleset \
         relation must be directly assignable only ([type, ...] with plain object types)"
    )]
    TuplesetNotDirect {
        ty: String,
        relation: String,
        tupleset: String,
    },
    #[error(
        "authorization model: {ty}#{relation} uses `this` (direct assignment) but has no \
         directly_related_user_types"
    )]
    ThisWithoutTypes { ty: String, relation: String },
    #[error(
        "authorization model: {ty}#{relation} has directly_related_user_types but its rewrite \
         does not include `this`"
    )]
    TypesWithoutThis { ty: String, relation: String },
    #[error("authorization model: conditions are not supported ({context})")]
    ConditionsNotSupported { context: String },
    #[error(
        "authorization model: {ty}#{relation} can never be satisfied: its definition is a cycle \
         with no base case ({path})"
    )]
    Cycle {
        ty: String,
        relation: String,
        path: String,
    },
}

/// The compiled rewrite of one relation.
#[derive(Debug, Clone)]
pub(crate) enum Rewrite {
    This,
    /// Another relation of the same type (relation index).
    Computed(u32),
    /// For each object in `tupleset` (relation index on this type), the relation named
    /// `computed` (model name index) on that object.
    TupleToUserset {
        tupleset: u32,
        computed: u32,
    },
    Union(Box<[Rewrite]>),
    Intersection(Box<[Rewrite]>),
    Difference(Box<Rewrite>, Box<Rewrite>),
}

/// One entry of `directly_related_user_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Allowed {
    /// `{"type":"user"}`: objects of that type.
    Type(u32),
    /// `{"type":"user","wildcard":{}}`: `user:*`.
    Wildcard(u32),
    /// `{"type":"group","relation":"member"}`: `group:x#member` (type index, name index).
    Userset(u32, u32),
}

#[derive(Debug, Clone)]
pub(crate) struct RelationDef {
    pub(crate) name: Box<str>,
    pub(crate) name_idx: u32,
    pub(crate) rewrite: Rewrite,
    pub(crate) allowed: Box<[Allowed]>,
    /// Any `Allowed::Userset` present (saves scanning edges when none can match).
    pub(crate) has_usersets: bool,
    /// Whether evaluating this relation may reach an intersection or difference (then reverse
    /// expansions over-approximate and are filtered by a check).
    pub(crate) non_monotone: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct TypeDef {
    pub(crate) name: Box<str>,
    pub(crate) relations: Vec<RelationDef>,
}

/// A reverse edge of the model used by list-objects: when node (T, r) contains the user, which
/// other nodes may too.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parents {
    /// Relations of the same type whose rewrite contains `computedUserset: r` (not under a
    /// `subtract`).
    pub(crate) computed: Vec<u32>,
    /// (type, relation, tupleset relation) having `r from tupleset` where the tupleset can hold
    /// objects of type T.
    pub(crate) ttu: Vec<(u32, u32, u32)>,
}

/// A validated, compiled OpenFGA authorization model. Immutable; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct AuthorizationModel {
    pub(crate) types: Vec<TypeDef>,
    type_index: FxHashMap<Box<str>, u32>,
    pub(crate) names: Vec<Box<str>>,
    name_index: FxHashMap<Box<str>, u32>,
    /// `types.len() * names.len()`: relation index of (type, name) or NONE.
    rel_table: Vec<u32>,
    /// Per type, per relation: reverse edges.
    pub(crate) parents: Vec<Vec<Parents>>,
}

impl AuthorizationModel {
    /// Parses and validates an OpenFGA JSON model (`schema_version` "1.1").
    pub fn from_json(v: &Value) -> Result<Self, ModelError> {
        parse(v)
    }

    /// Names of the model's types, in definition order.
    pub fn type_names(&self) -> impl Iterator<Item = &str> {
        self.types.iter().map(|t| &*t.name)
    }

    /// Whether `ty` defines `relation`.
    pub fn has_relation(&self, ty: &str, relation: &str) -> bool {
        self.type_idx(ty)
            .and_then(|t| self.rel_idx_by_str(t, relation))
            .is_some()
    }

    pub(crate) fn type_idx(&self, ty: &str) -> Option<u32> {
        self.type_index.get(ty).copied()
    }

    pub(crate) fn name_idx(&self, name: &str) -> Option<u32> {
        self.name_index.get(name).copied()
    }

    pub(crate) fn rel_idx_by_str(&self, ty: u32, relation: &str) -> Option<u32> {
        let n = self.name_idx(relation)?;
        self.rel_idx(ty, n)
    }

    /// Relation index of name `name` on type `ty`.
    #[inline]
    pub(crate) fn rel_idx(&self, ty: u32, name: u32) -> Option<u32> {
        let i = (ty as usize)
            .checked_mul(self.names.len())?
            .checked_add(name as usize)?;
        self.rel_table.get(i).copied().filter(|&r| r != NONE)
    }

    #[inline]
    pub(crate) fn rel(&self, ty: u32, rel: u32) -> Option<&RelationDef> {
        self.types.get(ty as usize)?.relations.get(rel as usize)
    }

    pub(crate) fn type_name(&self, ty: u32) -> &str {
        self.types.get(ty as usize).map_or("", |t| &t.name)
    }
}

// ---- names -----------------------------------------------------------------------------------

/// Type and relation names: 1-254 bytes, none of `:`, `#`, `@`, `*`, whitespace, control chars.
pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 254
        && !s
            .chars()
            .any(|c| matches!(c, ':' | '#' | '@' | '*') || c.is_whitespace() || c.is_control())
}

// ---- parsing ---------------------------------------------------------------------------------

fn shape(msg: impl Into<String>) -> ModelError {
    ModelError::InvalidShape(msg.into())
}

fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, ModelError> {
    v.as_object()
        .ok_or_else(|| shape(format!("{what} must be an object")))
}

/// An optional object: absent and `null` read as empty.
fn opt_obj<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<&'a Map<String, Value>>, ModelError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => obj(v, what).map(Some),
    }
}

struct RawType<'a> {
    name: &'a str,
    /// (relation name, rewrite JSON, directly related user types JSON)
    relations: Vec<(&'a str, &'a Value, Option<&'a Value>)>,
}

fn parse(v: &Value) -> Result<AuthorizationModel, ModelError> {
    let root = obj(v, "the model")?;
    match root.get("schema_version") {
        None | Some(Value::Null) => return Err(ModelError::MissingSchemaVersion),
        Some(Value::String(s)) if s == "1.1" => {}
        Some(Value::String(s)) => return Err(ModelError::UnsupportedSchemaVersion(s.clone())),
        Some(other) => return Err(ModelError::UnsupportedSchemaVersion(other.to_string())),
    }
    if let Some(c) = root.get("conditions") {
        let empty = c.is_null() || c.as_object().is_some_and(Map::is_empty);
        if !empty {
            return Err(ModelError::ConditionsNotSupported {
                context: "the model defines conditions".into(),
            });
        }
    }
    let defs = root
        .get("type_definitions")
        .and_then(Value::as_array)
        .ok_or_else(|| shape("type_definitions must be an array"))?;
    if defs.is_empty() {
        return Err(shape("type_definitions is empty"));
    }

    // Pass 1: names of types and relations, so references may point forward.
    let mut raw = Vec::with_capacity(defs.len());
    let mut type_index: FxHashMap<Box<str>, u32> = FxHashMap::default();
    let mut names: Vec<Box<str>> = Vec::new();
    let mut name_index: FxHashMap<Box<str>, u32> = FxHashMap::default();
    for d in defs {
        let d = obj(d, "each type definition")?;
        let name = d
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| shape("each type definition needs a string \"type\""))?;
        if !valid_name(name) {
            return Err(ModelError::InvalidName {
                kind: "type",
                name: name.into(),
            });
        }
        let idx = u32::try_from(raw.len()).map_err(|_| shape("too many types"))?;
        if type_index.insert(name.into(), idx).is_some() {
            return Err(ModelError::DuplicateType(name.into()));
        }
        let rels = opt_obj(d, "relations", "relations")?;
        let meta = opt_obj(d, "metadata", "metadata")?;
        let meta_rels = match meta {
            Some(m) => opt_obj(m, "relations", "metadata.relations")?,
            None => None,
        };
        let mut relations = Vec::new();
        if let Some(rels) = rels {
            for (rname, rw) in rels {
                if !valid_name(rname) {
                    return Err(ModelError::InvalidName {
                        kind: "relation",
                        name: rname.clone(),
                    });
                }
                if !name_index.contains_key(rname.as_str()) {
                    let n = u32::try_from(names.len()).map_err(|_| shape("too many relations"))?;
                    name_index.insert(rname.as_str().into(), n);
                    names.push(rname.as_str().into());
                }
                let drut = meta_rels
                    .and_then(|m| m.get(rname))
                    .and_then(|m| m.as_object())
                    .and_then(|m| m.get("directly_related_user_types"))
                    .filter(|v| !v.is_null());
                relations.push((rname.as_str(), rw, drut));
            }
        }
        if let Some(m) = meta_rels {
            for (rname, rm) in m {
                if !rels.is_some_and(|r| r.contains_key(rname)) {
                    return Err(ModelError::UndefinedRelation {
                        ty: name.into(),
                        relation: rname.clone(),
                        referenced: format!("{name}#{rname} (in metadata)"),
                    });
                }
                if rm.get("module").is_some_and(|v| !v.is_null()) {
                    // Modules are a naming aid; nothing to check.
                }
            }
        }
        raw.push(RawType { name, relations });
    }

    let mut model = AuthorizationModel {
        types: Vec::with_capacity(raw.len()),
        type_index,
        rel_table: vec![NONE; raw.len() * names.len()],
        names,
        name_index,
        parents: Vec::new(),
    };
    for (t, rt) in raw.iter().enumerate() {
        for (r, (rname, _, _)) in rt.relations.iter().enumerate() {
            if let Some(n) = model.name_idx(rname) {
                let i = t * model.names.len() + n as usize;
                if let Some(slot) = model.rel_table.get_mut(i) {
                    *slot = r as u32;
                }
            }
        }
    }

    // Pass 2: compile rewrites and type restrictions.
    for (t, rt) in raw.iter().enumerate() {
        let mut relations = Vec::with_capacity(rt.relations.len());
        for (rname, rw, drut) in &rt.relations {
            let ctx = RelCtx {
                model: &model,
                ty: t as u32,
                ty_name: rt.name,
                rel: rname,
            };
            let rewrite = ctx.rewrite(rw, 0)?;
            let allowed = match drut {
                Some(v) => ctx.allowed(v)?,
                None => Vec::new(),
            };
            let uses_this = contains_this(&rewrite);
            if uses_this && allowed.is_empty() {
                return Err(ModelError::ThisWithoutTypes {
                    ty: rt.name.into(),
                    relation: (*rname).into(),
                });
            }
            if !uses_this && !allowed.is_empty() {
                return Err(ModelError::TypesWithoutThis {
                    ty: rt.name.into(),
                    relation: (*rname).into(),
                });
            }
            relations.push(RelationDef {
                name: (*rname).into(),
                name_idx: model.name_idx(rname).unwrap_or(NONE),
                has_usersets: allowed.iter().any(|a| matches!(a, Allowed::Userset(..))),
                allowed: allowed.into(),
                rewrite,
                non_monotone: false,
            });
        }
        model.types.push(TypeDef {
            name: rt.name.into(),
            relations,
        });
    }

    check_tuplesets(&model)?;
    check_base_cases(&model)?;
    mark_non_monotone(&mut model);
    model.parents = build_parents(&model);
    Ok(model)
}

struct RelCtx<'a> {
    model: &'a AuthorizationModel,
    ty: u32,
    ty_name: &'a str,
    rel: &'a str,
}

impl RelCtx<'_> {
    fn invalid(&self, detail: impl Into<String>) -> ModelError {
        ModelError::InvalidRewrite {
            ty: self.ty_name.into(),
            relation: self.rel.into(),
            detail: detail.into(),
        }
    }

    fn undefined(&self, referenced: String) -> ModelError {
        ModelError::UndefinedRelation {
            ty: self.ty_name.into(),
            relation: self.rel.into(),
            referenced,
        }
    }

    /// `{"relation": "x"}` (with an optional empty "object") → relation name.
    fn relation_ref<'v>(&self, v: &'v Value, what: &str) -> Result<&'v str, ModelError> {
        let m = v
            .as_object()
            .ok_or_else(|| self.invalid(format!("{what} must be an object")))?;
        if m.get("object")
            .and_then(Value::as_str)
            .is_some_and(|o| !o.is_empty())
        {
            return Err(self.invalid(format!("{what}.object is not supported")));
        }
        m.get("relation")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.invalid(format!("{what} needs a \"relation\"")))
    }

    fn local_rel(&self, name: &str) -> Result<u32, ModelError> {
        self.model
            .rel_idx_by_str(self.ty, name)
            .ok_or_else(|| self.undefined(format!("{}#{name}", self.ty_name)))
    }

    fn rewrite(&self, v: &Value, depth: usize) -> Result<Rewrite, ModelError> {
        if depth > MAX_REWRITE_NESTING {
            return Err(self.invalid(format!("nested more than {MAX_REWRITE_NESTING} levels")));
        }
        let m = v
            .as_object()
            .ok_or_else(|| self.invalid("a rewrite must be an object"))?;
        let mut keys = m.iter().filter(|(_, v)| !v.is_null());
        let (key, body) = match (keys.next(), keys.next()) {
            (Some(kv), None) => kv,
            (None, _) => return Err(self.invalid("empty rewrite")),
            (Some(_), Some(_)) => {
                return Err(self.invalid("a rewrite must have exactly one operator"))
            }
        };
        match key.as_str() {
            "this" => Ok(Rewrite::This),
            "computedUserset" => {
                let name = self.relation_ref(body, "computedUserset")?;
                Ok(Rewrite::Computed(self.local_rel(name)?))
            }
            "tupleToUserset" => {
                let b = body
                    .as_object()
                    .ok_or_else(|| self.invalid("tupleToUserset must be an object"))?;
                let ts = self.relation_ref(
                    b.get("tupleset").unwrap_or(&Value::Null),
                    "tupleToUserset.tupleset",
                )?;
                let cu = self.relation_ref(
                    b.get("computedUserset").unwrap_or(&Value::Null),
                    "tupleToUserset.computedUserset",
                )?;
                let tupleset = self.local_rel(ts)?;
                let computed = self
                    .model
                    .name_idx(cu)
                    .ok_or_else(|| self.undefined(format!("{cu} (from {ts})")))?;
                Ok(Rewrite::TupleToUserset { tupleset, computed })
            }
            "union" | "intersection" => {
                let children = body
                    .get("child")
                    .and_then(Value::as_array)
                    .ok_or_else(|| self.invalid(format!("{key} needs a \"child\" array")))?;
                if children.is_empty() {
                    return Err(self.invalid(format!("{key} has no children")));
                }
                let c = children
                    .iter()
                    .map(|c| self.rewrite(c, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_boxed_slice();
                Ok(if key == "union" {
                    Rewrite::Union(c)
                } else {
                    Rewrite::Intersection(c)
                })
            }
            "difference" => {
                let base = body
                    .get("base")
                    .ok_or_else(|| self.invalid("difference needs \"base\""))?;
                let sub = body
                    .get("subtract")
                    .ok_or_else(|| self.invalid("difference needs \"subtract\""))?;
                Ok(Rewrite::Difference(
                    Box::new(self.rewrite(base, depth + 1)?),
                    Box::new(self.rewrite(sub, depth + 1)?),
                ))
            }
            other => Err(self.invalid(format!("unknown operator {other:?}"))),
        }
    }

    fn allowed(&self, v: &Value) -> Result<Vec<Allowed>, ModelError> {
        let list = v
            .as_array()
            .ok_or_else(|| self.invalid("directly_related_user_types must be an array"))?;
        let mut out = Vec::with_capacity(list.len());
        for e in list {
            let m = e
                .as_object()
                .ok_or_else(|| self.invalid("each directly related user type must be an object"))?;
            if m.get("condition")
                .and_then(Value::as_str)
                .is_some_and(|c| !c.is_empty())
            {
                return Err(ModelError::ConditionsNotSupported {
                    context: format!(
                        "{}#{} restricts a type with a condition",
                        self.ty_name, self.rel
                    ),
                });
            }
            let tname = m
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| self.invalid("a directly related user type needs a \"type\""))?;
            let t = self
                .model
                .type_idx(tname)
                .ok_or_else(|| ModelError::UnknownType {
                    ty: self.ty_name.into(),
                    relation: self.rel.into(),
                    referenced: tname.into(),
                })?;
            let rel = m
                .get("relation")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let wildcard = m.get("wildcard").is_some_and(|w| !w.is_null());
            let a = match (rel, wildcard) {
                (Some(_), true) => {
                    return Err(self.invalid(format!(
                        "{tname}: a type restriction cannot be both a userset and a wildcard"
                    )))
                }
                (Some(r), false) => {
                    let n = self
                        .model
                        .name_idx(r)
                        .filter(|&n| self.model.rel_idx(t, n).is_some())
                        .ok_or_else(|| self.undefined(format!("{tname}#{r}")))?;
                    Allowed::Userset(t, n)
                }
                (None, true) => Allowed::Wildcard(t),
                (None, false) => Allowed::Type(t),
            };
            if !out.contains(&a) {
                out.push(a);
            }
        }
        Ok(out)
    }
}

fn contains_this(r: &Rewrite) -> bool {
    match r {
        Rewrite::This => true,
        Rewrite::Computed(_) | Rewrite::TupleToUserset { .. } => false,
        Rewrite::Union(c) | Rewrite::Intersection(c) => c.iter().any(contains_this),
        Rewrite::Difference(b, s) => contains_this(b) || contains_this(s),
    }
}

fn for_each_ttu(r: &Rewrite, f: &mut dyn FnMut(u32, u32)) {
    match r {
        Rewrite::TupleToUserset { tupleset, computed } => f(*tupleset, *computed),
        Rewrite::This | Rewrite::Computed(_) => {}
        Rewrite::Union(c) | Rewrite::Intersection(c) => c.iter().for_each(|c| for_each_ttu(c, f)),
        Rewrite::Difference(b, s) => {
            for_each_ttu(b, f);
            for_each_ttu(s, f);
        }
    }
}

/// Tuplesets must be plain `[type, ...]` relations, and the computed relation must exist on at
/// least one type they can hold.
fn check_tuplesets(m: &AuthorizationModel) -> Result<(), ModelError> {
    for (t, td) in m.types.iter().enumerate() {
        for rd in &td.relations {
            let mut err = None;
            for_each_ttu(&rd.rewrite, &mut |ts, computed| {
                if err.is_some() {
                    return;
                }
                let Some(tsd) = m.rel(t as u32, ts) else {
                    return;
                };
                let direct = matches!(tsd.rewrite, Rewrite::This)
                    && tsd.allowed.iter().all(|a| matches!(a, Allowed::Type(_)));
                if !direct {
                    err = Some(ModelError::TuplesetNotDirect {
                        ty: td.name.to_string(),
                        relation: rd.name.to_string(),
                        tupleset: tsd.name.to_string(),
                    });
                    return;
                }
                let found = tsd.allowed.iter().any(|a| match a {
                    Allowed::Type(x) => m.rel_idx(*x, computed).is_some(),
                    _ => false,
                });
                if !found {
                    let cname = m.names.get(computed as usize).map_or("", |s| s);
                    let holds: Vec<&str> = tsd
                        .allowed
                        .iter()
                        .filter_map(|a| match a {
                            Allowed::Type(x) => Some(m.type_name(*x)),
                            _ => None,
                        })
                        .collect();
                    err = Some(ModelError::UndefinedRelation {
                        ty: td.name.to_string(),
                        relation: rd.name.to_string(),
                        referenced: format!(
                            "{cname} (from {}: not defined on {})",
                            tsd.name,
                            holds.join(", ")
                        ),
                    });
                }
            });
            if let Some(e) = err {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Every relation must have a base case: `this`, a tuple-to-userset (recursion over data is
/// legal), or a computed relation that has one. Without, it is a cycle of computed relations.
fn check_base_cases(m: &AuthorizationModel) -> Result<(), ModelError> {
    let mut ok: Vec<Vec<bool>> = m
        .types
        .iter()
        .map(|t| vec![false; t.relations.len()])
        .collect();
    fn grounded(r: &Rewrite, ok: &[bool]) -> bool {
        match r {
            Rewrite::This | Rewrite::TupleToUserset { .. } => true,
            Rewrite::Computed(x) => ok.get(*x as usize).copied().unwrap_or(false),
            Rewrite::Union(c) => c.iter().any(|c| grounded(c, ok)),
            Rewrite::Intersection(c) => c.iter().all(|c| grounded(c, ok)),
            Rewrite::Difference(b, _) => grounded(b, ok),
        }
    }
    for (t, td) in m.types.iter().enumerate() {
        let flags = &mut ok[t];
        loop {
            let mut changed = false;
            for (r, rd) in td.relations.iter().enumerate() {
                if !flags[r] && grounded(&rd.rewrite, flags) {
                    flags[r] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        if let Some(r) = flags.iter().position(|&g| !g) {
            // Follow ungrounded computed references from r until one repeats, for the message.
            let mut path = vec![r as u32];
            let mut cur = r as u32;
            loop {
                let mut next = None;
                fn first_bad(rw: &Rewrite, flags: &[bool], out: &mut Option<u32>) {
                    if out.is_some() {
                        return;
                    }
                    match rw {
                        Rewrite::Computed(x)
                            if !flags.get(*x as usize).copied().unwrap_or(true) =>
                        {
                            *out = Some(*x)
                        }
                        Rewrite::Union(c) | Rewrite::Intersection(c) => {
                            c.iter().for_each(|c| first_bad(c, flags, out))
                        }
                        Rewrite::Difference(b, _) => first_bad(b, flags, out),
                        _ => {}
                    }
                }
                if let Some(rd) = td.relations.get(cur as usize) {
                    first_bad(&rd.rewrite, flags, &mut next);
                }
                match next {
                    Some(n) if !path.contains(&n) => {
                        path.push(n);
                        cur = n;
                    }
                    Some(n) => {
                        path.push(n);
                        break;
                    }
                    None => break,
                }
            }
            let names: Vec<&str> = path
                .iter()
                .filter_map(|&i| td.relations.get(i as usize).map(|r| &*r.name))
                .collect();
            return Err(ModelError::Cycle {
                ty: td.name.to_string(),
                relation: td
                    .relations
                    .get(r)
                    .map_or(String::new(), |r| r.name.to_string()),
                path: names.join(" -> "),
            });
        }
    }
    Ok(())
}

/// Nodes (type, relation) a relation's evaluation can reach in one step.
fn successors(m: &AuthorizationModel, t: u32, rd: &RelationDef, out: &mut Vec<(u32, u32)>) {
    fn walk(m: &AuthorizationModel, t: u32, r: &Rewrite, out: &mut Vec<(u32, u32)>) {
        match r {
            Rewrite::This => {}
            Rewrite::Computed(x) => out.push((t, *x)),
            Rewrite::TupleToUserset { tupleset, computed } => {
                if let Some(ts) = m.rel(t, *tupleset) {
                    for a in ts.allowed.iter() {
                        if let Allowed::Type(y) = a {
                            if let Some(x) = m.rel_idx(*y, *computed) {
                                out.push((*y, x));
                            }
                        }
                    }
                }
            }
            Rewrite::Union(c) | Rewrite::Intersection(c) => {
                c.iter().for_each(|c| walk(m, t, c, out))
            }
            Rewrite::Difference(b, s) => {
                walk(m, t, b, out);
                walk(m, t, s, out);
            }
        }
    }
    walk(m, t, &rd.rewrite, out);
    for a in rd.allowed.iter() {
        if let Allowed::Userset(y, n) = a {
            if let Some(x) = m.rel_idx(*y, *n) {
                out.push((*y, x));
            }
        }
    }
}

fn mark_non_monotone(m: &mut AuthorizationModel) {
    fn has_op(r: &Rewrite) -> bool {
        match r {
            Rewrite::Intersection(_) | Rewrite::Difference(..) => true,
            Rewrite::Union(c) => c.iter().any(has_op),
            _ => false,
        }
    }
    let mut flag: Vec<Vec<bool>> = m
        .types
        .iter()
        .map(|t| t.relations.iter().map(|r| has_op(&r.rewrite)).collect())
        .collect();
    let mut succ: Vec<Vec<Vec<(u32, u32)>>> = Vec::with_capacity(m.types.len());
    for (t, td) in m.types.iter().enumerate() {
        succ.push(
            td.relations
                .iter()
                .map(|rd| {
                    let mut v = Vec::new();
                    successors(m, t as u32, rd, &mut v);
                    v
                })
                .collect(),
        );
    }
    loop {
        let mut changed = false;
        for t in 0..flag.len() {
            for r in 0..flag[t].len() {
                if flag[t][r] {
                    continue;
                }
                let reach = succ[t][r].iter().any(|&(y, x)| {
                    flag.get(y as usize)
                        .and_then(|f| f.get(x as usize))
                        .copied()
                        .unwrap_or(false)
                });
                if reach {
                    flag[t][r] = true;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    for (td, f) in m.types.iter_mut().zip(flag) {
        for (rd, f) in td.relations.iter_mut().zip(f) {
            rd.non_monotone = f;
        }
    }
}

fn build_parents(m: &AuthorizationModel) -> Vec<Vec<Parents>> {
    let mut p: Vec<Vec<Parents>> = m
        .types
        .iter()
        .map(|t| vec![Parents::default(); t.relations.len()])
        .collect();
    // Rewrite positions that can add members: everything except `subtract` branches.
    fn walk(m: &AuthorizationModel, t: u32, r: u32, rw: &Rewrite, p: &mut [Vec<Parents>]) {
        match rw {
            Rewrite::This => {}
            Rewrite::Computed(x) => {
                if let Some(e) = p.get_mut(t as usize).and_then(|v| v.get_mut(*x as usize)) {
                    if !e.computed.contains(&r) {
                        e.computed.push(r);
                    }
                }
            }
            Rewrite::TupleToUserset { tupleset, computed } => {
                let Some(ts) = m.rel(t, *tupleset) else {
                    return;
                };
                for a in ts.allowed.iter() {
                    if let Allowed::Type(y) = a {
                        if let Some(x) = m.rel_idx(*y, *computed) {
                            if let Some(e) =
                                p.get_mut(*y as usize).and_then(|v| v.get_mut(x as usize))
                            {
                                let entry = (t, r, *tupleset);
                                if !e.ttu.contains(&entry) {
                                    e.ttu.push(entry);
                                }
                            }
                        }
                    }
                }
            }
            Rewrite::Union(c) | Rewrite::Intersection(c) => {
                c.iter().for_each(|c| walk(m, t, r, c, p))
            }
            Rewrite::Difference(b, _) => walk(m, t, r, b, p),
        }
    }
    for (t, td) in m.types.iter().enumerate() {
        for (r, rd) in td.relations.iter().enumerate() {
            walk(m, t as u32, r as u32, &rd.rewrite, &mut p);
        }
    }
    p
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
