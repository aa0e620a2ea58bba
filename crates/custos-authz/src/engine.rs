//! An optional convenience wrapper: models, tuples and the RBAC index behind read-write locks,
//! with `&self` methods. Writers take the lock for the span of one batch; checks take read
//! locks, so they run in parallel.

use crate::{
    check, check_fast, list_objects, list_users, validate_tuple, AuthorizationModel, CheckError,
    CheckOutcome, CheckRequest, ObjectPage, RbacIndex, TupleError, TupleKey, TupleStore,
};
use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("authorization model {0:?} not found")]
    ModelNotFound(String),
    #[error("no authorization model has been written")]
    NoModel,
    #[error(transparent)]
    Tuple(#[from] TupleError),
    #[error(transparent)]
    Check(#[from] CheckError),
}

#[derive(Default)]
struct Models {
    by_id: HashMap<String, Arc<AuthorizationModel>>,
    latest: Option<String>,
}

/// Models, tuples and RBAC behind locks. Lock poisoning is ignored: no method panics while
/// holding a lock.
#[derive(Default)]
pub struct Engine {
    models: RwLock<Models>,
    tuples: RwLock<TupleStore>,
    rbac: RwLock<RbacIndex>,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}
fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Engine {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a model under `id` and makes it the latest.
    pub fn put_model(&self, id: &str, model: AuthorizationModel) -> Arc<AuthorizationModel> {
        let m = Arc::new(model);
        let mut g = write(&self.models);
        g.by_id.insert(id.to_string(), m.clone());
        g.latest = Some(id.to_string());
        m
    }

    /// The model `id`, or the latest one when `id` is None.
    pub fn model(&self, id: Option<&str>) -> Result<Arc<AuthorizationModel>, EngineError> {
        let g = read(&self.models);
        match id {
            Some(id) => g
                .by_id
                .get(id)
                .cloned()
                .ok_or_else(|| EngineError::ModelNotFound(id.into())),
            None => g
                .latest
                .as_ref()
                .and_then(|l| g.by_id.get(l))
                .cloned()
                .ok_or(EngineError::NoModel),
        }
    }

    /// Validates every write against the model, then applies deletes and writes in one
    /// critical section. Nothing is applied when a write is invalid.
    pub fn write(
        &self,
        model_id: Option<&str>,
        writes: &[TupleKey],
        deletes: &[TupleKey],
    ) -> Result<(), EngineError> {
        let m = self.model(model_id)?;
        for t in writes {
            validate_tuple(&m, t)?;
        }
        let mut s = write(&self.tuples);
        for t in deletes {
            s.remove(t);
        }
        for t in writes {
            s.insert(t);
        }
        Ok(())
    }

    pub fn check(
        &self,
        model_id: Option<&str>,
        req: &CheckRequest<'_>,
    ) -> Result<CheckOutcome, EngineError> {
        let m = self.model(model_id)?;
        for t in req.contextual {
            validate_tuple(&m, t)?;
        }
        Ok(check(&m, &read(&self.tuples), req)?)
    }

    pub fn check_fast(
        &self,
        model_id: Option<&str>,
        req: &CheckRequest<'_>,
    ) -> Result<bool, EngineError> {
        let m = self.model(model_id)?;
        for t in req.contextual {
            validate_tuple(&m, t)?;
        }
        Ok(check_fast(&m, &read(&self.tuples), req)?)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn list_objects(
        &self,
        model_id: Option<&str>,
        user: &str,
        relation: &str,
        object_type: &str,
        contextual: &[TupleKey],
        page_size: usize,
        after: Option<&str>,
    ) -> Result<ObjectPage, EngineError> {
        let m = self.model(model_id)?;
        for t in contextual {
            validate_tuple(&m, t)?;
        }
        Ok(list_objects(
            &m,
            &read(&self.tuples),
            user,
            relation,
            object_type,
            contextual,
            page_size,
            after,
        )?)
    }

    pub fn list_users(
        &self,
        model_id: Option<&str>,
        object: &str,
        relation: &str,
        user_filter: &str,
        contextual: &[TupleKey],
    ) -> Result<Vec<String>, EngineError> {
        let m = self.model(model_id)?;
        for t in contextual {
            validate_tuple(&m, t)?;
        }
        Ok(list_users(
            &m,
            &read(&self.tuples),
            object,
            relation,
            user_filter,
            contextual,
        )?)
    }

    pub fn tuples(&self) -> RwLockReadGuard<'_, TupleStore> {
        read(&self.tuples)
    }
    pub fn tuples_mut(&self) -> RwLockWriteGuard<'_, TupleStore> {
        write(&self.tuples)
    }
    pub fn rbac(&self) -> RwLockReadGuard<'_, RbacIndex> {
        read(&self.rbac)
    }
    pub fn rbac_mut(&self) -> RwLockWriteGuard<'_, RbacIndex> {
        write(&self.rbac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn engine_round_trip() {
        let e = Engine::new();
        assert!(matches!(e.model(None), Err(EngineError::NoModel)));
        let m = AuthorizationModel::from_json(&json!({
            "schema_version": "1.1",
            "type_definitions": [{"type": "user"}, {"type": "doc", "relations": {"viewer": {"this": {}}},
              "metadata": {"relations": {"viewer": {"directly_related_user_types": [{"type": "user"}]}}}}]
        }));
        let Ok(m) = m else { panic!("model") };
        e.put_model("m1", m);
        let t = TupleKey::new("user:a", "viewer", "doc:1");
        assert!(e.write(None, std::slice::from_ref(&t), &[]).is_ok());
        assert!(e
            .write(None, &[TupleKey::new("user:a", "owner", "doc:1")], &[])
            .is_err());
        let req = CheckRequest {
            user: "user:a",
            relation: "viewer",
            object: "doc:1",
            contextual: &[],
        };
        assert_eq!(e.check_fast(Some("m1"), &req), Ok(true));
        assert!(matches!(
            e.check_fast(Some("m2"), &req),
            Err(EngineError::ModelNotFound(_))
        ));
        e.rbac_mut().grant_user("a", "api", "p");
        assert!(e.rbac().check("a", "p", None, None).is_some());
        assert_eq!(e.tuples().len(), 1);
    }
}
