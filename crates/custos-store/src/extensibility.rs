//! Rules, the rules configuration, Actions, their versions, and trigger bindings. Every
//! statement here marks its transaction, so the commit tells this node's script cache.

use custos_domain::extensibility::{
    Action, ActionSecret, ActionVersion, BoundAction, Rule, RulesConfig, TriggerBinding,
};
use serde_json::{json, Value};
use sqlx::any::AnyRow;

use crate::{
    get_bool, get_i64, get_json, get_opt_i64, get_str, get_strings, to_json, Result, Store,
    StoreError, Tx,
};

fn rule(r: &AnyRow) -> Result<Rule> {
    Ok(Rule {
        id: get_str(r, "id")?,
        name: get_str(r, "name")?,
        script: get_str(r, "script")?,
        order: get_i64(r, "rule_order")?,
        enabled: get_bool(r, "enabled")?,
        created_at: get_i64(r, "created_at")?,
        updated_at: get_i64(r, "updated_at")?,
    })
}

fn secrets_of(v: Value) -> Result<Vec<ActionSecret>> {
    let items = v
        .as_array()
        .ok_or_else(|| StoreError::Corrupt("actions.secrets is not an array".into()))?;
    items
        .iter()
        .map(|s| {
            let text = |k: &str| {
                s.get(k)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| StoreError::Corrupt(format!("actions.secrets[].{k}")))
            };
            Ok(ActionSecret {
                name: text("name")?,
                sealed_value: text("sealed_value")?,
                updated_at: s.get("updated_at").and_then(Value::as_i64).unwrap_or(0),
            })
        })
        .collect()
}

fn secrets_json(secrets: &[ActionSecret]) -> String {
    Value::Array(
        secrets
            .iter()
            .map(|s| json!({"name": s.name, "sealed_value": s.sealed_value, "updated_at": s.updated_at}))
            .collect(),
    )
    .to_string()
}

fn action(r: &AnyRow) -> Result<Action> {
    Ok(Action {
        id: get_str(r, "id")?,
        name: get_str(r, "name")?,
        supported_triggers: get_strings(r, "supported_triggers")?,
        code: get_str(r, "code")?,
        runtime: get_str(r, "runtime")?,
        dependencies: get_json(r, "dependencies")?,
        secrets: secrets_of(get_json(r, "secrets")?)?,
        deployed_version: get_opt_i64(r, "deployed_version")?,
        all_changes_deployed: get_bool(r, "all_changes_deployed")?,
        created_at: get_i64(r, "created_at")?,
        updated_at: get_i64(r, "updated_at")?,
    })
}

fn version(r: &AnyRow, deployed: Option<i64>) -> Result<ActionVersion> {
    let number = get_i64(r, "number")?;
    Ok(ActionVersion {
        id: get_str(r, "id")?,
        action_id: get_str(r, "action_id")?,
        number,
        code: get_str(r, "code")?,
        runtime: get_str(r, "runtime")?,
        supported_triggers: get_strings(r, "supported_triggers")?,
        dependencies: get_json(r, "dependencies")?,
        deployed: deployed == Some(number),
        created_at: get_i64(r, "created_at")?,
    })
}

fn binding(r: &AnyRow) -> Result<TriggerBinding> {
    Ok(TriggerBinding {
        id: get_str(r, "id")?,
        trigger_id: get_str(r, "trigger_id")?,
        action_id: get_str(r, "action_id")?,
        display_name: get_str(r, "display_name")?,
        position: get_i64(r, "position")?,
        created_at: get_i64(r, "created_at")?,
        updated_at: get_i64(r, "updated_at")?,
    })
}

impl Tx {
    pub async fn insert_rule(&mut self, r: &Rule) -> Result<()> {
        self.touched_extensions = true;
        sqlx::query("INSERT INTO rules (id, name, script, rule_order, enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&r.id)
            .bind(&r.name)
            .bind(&r.script)
            .bind(r.order)
            .bind(i64::from(r.enabled))
            .bind(r.created_at)
            .bind(r.updated_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn update_rule(&mut self, r: &Rule) -> Result<()> {
        self.touched_extensions = true;
        let done = sqlx::query("UPDATE rules SET name = $1, script = $2, rule_order = $3, enabled = $4, updated_at = $5 WHERE id = $6")
            .bind(&r.name)
            .bind(&r.script)
            .bind(r.order)
            .bind(i64::from(r.enabled))
            .bind(r.updated_at)
            .bind(&r.id)
            .execute(self.conn())
            .await?;
        crate::expect_one(done)
    }

    pub async fn delete_rule(&mut self, id: &str) -> Result<()> {
        self.delete_extension("DELETE FROM rules WHERE id = $1", id)
            .await
    }

    /// Runs a `DELETE … WHERE key = $1` that must remove exactly one row.
    async fn delete_extension(&mut self, sql: &str, key: &str) -> Result<()> {
        self.touched_extensions = true;
        let done = sqlx::query(sql).bind(key).execute(self.conn()).await?;
        crate::expect_one(done)
    }

    /// Sets (inserts or replaces) a rules configuration value.
    pub async fn put_rules_config(&mut self, c: &RulesConfig) -> Result<()> {
        self.touched_extensions = true;
        sqlx::query("INSERT INTO rules_configs (config_key, sealed_value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (config_key) DO UPDATE SET sealed_value = excluded.sealed_value, updated_at = excluded.updated_at")
            .bind(&c.key)
            .bind(&c.sealed_value)
            .bind(c.updated_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn delete_rules_config(&mut self, key: &str) -> Result<()> {
        self.delete_extension("DELETE FROM rules_configs WHERE config_key = $1", key)
            .await
    }

    pub async fn insert_action(&mut self, a: &Action) -> Result<()> {
        self.touched_extensions = true;
        sqlx::query("INSERT INTO actions (id, name, supported_triggers, code, runtime, dependencies, secrets, deployed_version, all_changes_deployed, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
            .bind(&a.id)
            .bind(&a.name)
            .bind(to_json(&a.supported_triggers))
            .bind(&a.code)
            .bind(&a.runtime)
            .bind(a.dependencies.to_string())
            .bind(secrets_json(&a.secrets))
            .bind(a.deployed_version)
            .bind(i64::from(a.all_changes_deployed))
            .bind(a.created_at)
            .bind(a.updated_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn update_action(&mut self, a: &Action) -> Result<()> {
        self.touched_extensions = true;
        let done = sqlx::query("UPDATE actions SET name = $1, supported_triggers = $2, code = $3, runtime = $4, dependencies = $5, secrets = $6, deployed_version = $7, all_changes_deployed = $8, updated_at = $9 WHERE id = $10")
            .bind(&a.name)
            .bind(to_json(&a.supported_triggers))
            .bind(&a.code)
            .bind(&a.runtime)
            .bind(a.dependencies.to_string())
            .bind(secrets_json(&a.secrets))
            .bind(a.deployed_version)
            .bind(i64::from(a.all_changes_deployed))
            .bind(a.updated_at)
            .bind(&a.id)
            .execute(self.conn())
            .await?;
        crate::expect_one(done)
    }

    /// Deletes an action with its versions and bindings.
    pub async fn delete_action(&mut self, id: &str) -> Result<()> {
        self.touched_extensions = true;
        for table in ["trigger_bindings", "action_versions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE action_id = $1"))
                .bind(id)
                .execute(self.conn())
                .await?;
        }
        self.delete_extension("DELETE FROM actions WHERE id = $1", id)
            .await
    }

    pub async fn insert_action_version(&mut self, v: &ActionVersion) -> Result<()> {
        self.touched_extensions = true;
        sqlx::query("INSERT INTO action_versions (id, action_id, number, code, runtime, supported_triggers, dependencies, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&v.id)
            .bind(&v.action_id)
            .bind(v.number)
            .bind(&v.code)
            .bind(&v.runtime)
            .bind(to_json(&v.supported_triggers))
            .bind(v.dependencies.to_string())
            .bind(v.created_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Replaces a trigger's bindings with `bindings`, in order.
    pub async fn replace_bindings(
        &mut self,
        trigger_id: &str,
        bindings: &[TriggerBinding],
    ) -> Result<()> {
        self.touched_extensions = true;
        sqlx::query("DELETE FROM trigger_bindings WHERE trigger_id = $1")
            .bind(trigger_id)
            .execute(self.conn())
            .await?;
        for b in bindings {
            sqlx::query("INSERT INTO trigger_bindings (id, trigger_id, action_id, display_name, position, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(&b.id)
                .bind(&b.trigger_id)
                .bind(&b.action_id)
                .bind(&b.display_name)
                .bind(b.position)
                .bind(b.created_at)
                .bind(b.updated_at)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }
}

impl Store {
    /// Every rule, by order.
    pub async fn list_rules(&self) -> Result<Vec<Rule>> {
        self.rules_by_order("SELECT * FROM rules ORDER BY rule_order, id")
            .await
    }

    /// The enabled rules, by order: what the pipelines run.
    pub async fn enabled_rules(&self) -> Result<Vec<Rule>> {
        self.rules_by_order("SELECT * FROM rules WHERE enabled = 1 ORDER BY rule_order, id")
            .await
    }

    async fn rules_by_order(&self, sql: &str) -> Result<Vec<Rule>> {
        let rows = sqlx::query(sql).fetch_all(&self.read).await?;
        rows.iter().map(rule).collect()
    }

    pub async fn get_rule(&self, id: &str) -> Result<Rule> {
        let row = sqlx::query("SELECT * FROM rules WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        rule(&row)
    }

    pub async fn rules_configs(&self) -> Result<Vec<RulesConfig>> {
        let rows = sqlx::query("SELECT * FROM rules_configs ORDER BY config_key")
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(RulesConfig {
                    key: get_str(r, "config_key")?,
                    sealed_value: get_str(r, "sealed_value")?,
                    updated_at: get_i64(r, "updated_at")?,
                })
            })
            .collect()
    }

    /// Actions by name; with `trigger`, only those supporting it.
    pub async fn list_actions(&self) -> Result<Vec<Action>> {
        let rows = sqlx::query("SELECT * FROM actions ORDER BY name")
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(action).collect()
    }

    pub async fn get_action(&self, id: &str) -> Result<Action> {
        let row = sqlx::query("SELECT * FROM actions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        action(&row)
    }

    pub async fn get_action_by_name(&self, name: &str) -> Result<Action> {
        let row = sqlx::query("SELECT * FROM actions WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        action(&row)
    }

    /// An action's versions, newest first.
    pub async fn action_versions(&self, action_id: &str) -> Result<Vec<ActionVersion>> {
        let deployed = self.get_action(action_id).await?.deployed_version;
        let rows =
            sqlx::query("SELECT * FROM action_versions WHERE action_id = $1 ORDER BY number DESC")
                .bind(action_id)
                .fetch_all(&self.read)
                .await?;
        rows.iter().map(|r| version(r, deployed)).collect()
    }

    pub async fn get_action_version(&self, action_id: &str, id: &str) -> Result<ActionVersion> {
        let deployed = self.get_action(action_id).await?.deployed_version;
        let row = sqlx::query("SELECT * FROM action_versions WHERE action_id = $1 AND id = $2")
            .bind(action_id)
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        version(&row, deployed)
    }

    /// A trigger's bindings, in order.
    pub async fn trigger_bindings(&self, trigger_id: &str) -> Result<Vec<TriggerBinding>> {
        let rows =
            sqlx::query("SELECT * FROM trigger_bindings WHERE trigger_id = $1 ORDER BY position")
                .bind(trigger_id)
                .fetch_all(&self.read)
                .await?;
        rows.iter().map(binding).collect()
    }

    /// What a trigger runs, in order: each bound action's deployed version, with its secrets.
    /// Bound actions without a deployed version are skipped.
    pub async fn bound_actions(&self, trigger_id: &str) -> Result<Vec<BoundAction>> {
        let rows = sqlx::query("SELECT b.id AS binding_id, a.id AS action_id, a.name AS action_name, a.secrets AS secrets, v.id AS version_id, v.number AS number, v.code AS code FROM trigger_bindings b JOIN actions a ON a.id = b.action_id JOIN action_versions v ON v.action_id = a.id AND v.number = a.deployed_version WHERE b.trigger_id = $1 ORDER BY b.position")
            .bind(trigger_id)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(BoundAction {
                    binding_id: get_str(r, "binding_id")?,
                    action_id: get_str(r, "action_id")?,
                    action_name: get_str(r, "action_name")?,
                    version_id: get_str(r, "version_id")?,
                    version_number: get_i64(r, "number")?,
                    code: get_str(r, "code")?,
                    secrets: secrets_of(get_json(r, "secrets")?)?,
                })
            })
            .collect()
    }
}

/// Lookups the Management API needs besides the ones above.
impl Store {
    /// One version of an action by its number.
    pub async fn action_version_by_number(
        &self,
        action_id: &str,
        number: i64,
    ) -> Result<ActionVersion> {
        let deployed = self.get_action(action_id).await?.deployed_version;
        let row = sqlx::query("SELECT * FROM action_versions WHERE action_id = $1 AND number = $2")
            .bind(action_id)
            .bind(number)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        version(&row, deployed)
    }

    /// The highest version number of an action (0 before its first deployment).
    pub async fn last_action_version_number(&self, action_id: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(number), 0) AS n FROM action_versions WHERE action_id = $1",
        )
        .bind(action_id)
        .fetch_one(&self.read)
        .await?;
        get_i64(&row, "n")
    }

    /// The triggers an action is bound to.
    pub async fn action_bound_triggers(&self, action_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT trigger_id FROM trigger_bindings WHERE action_id = $1 ORDER BY trigger_id",
        )
        .bind(action_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| get_str(r, "trigger_id")).collect()
    }
}
