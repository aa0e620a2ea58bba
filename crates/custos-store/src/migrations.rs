//! Embedded schema migrations, applied in order at start-up, recorded in `custos_migrations`.
//! Migrations are append-only: a released one is never edited.

use sqlx::AnyPool;

use crate::{Dialect, Result, StoreError};

/// (version, name, SQL). Statements are separated by `;` at line ends.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "refresh_successor",
        include_str!("../migrations/0002_refresh_successor.sql"),
    ),
    (
        3,
        "audit_chain",
        include_str!("../migrations/0003_audit_chain.sql"),
    ),
    (
        4,
        "audit_retention",
        include_str!("../migrations/0004_audit_retention.sql"),
    ),
    (5, "jobs", include_str!("../migrations/0005_jobs.sql")),
    (
        6,
        "login_failures",
        include_str!("../migrations/0006_login_failures.sql"),
    ),
    (7, "roles", include_str!("../migrations/0007_roles.sql")),
    (
        8,
        "rbac_settings",
        include_str!("../migrations/0008_rbac_settings.sql"),
    ),
    (
        9,
        "organizations",
        include_str!("../migrations/0009_organizations.sql"),
    ),
    (10, "authz", include_str!("../migrations/0010_authz.sql")),
    (
        11,
        "extensibility",
        include_str!("../migrations/0011_extensibility.sql"),
    ),
];

pub(crate) async fn run(pool: &AnyPool, dialect: Dialect) -> Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS custos_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(pool)
    .await?;
    for (version, name, sql) in MIGRATIONS {
        let mut tx = pool.begin().await?;
        let done: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM custos_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_some() {
            continue;
        }
        for stmt in dialect.render_migration(sql).split(";\n") {
            let stmt = stmt.trim();
            if stmt.is_empty() {
                continue;
            }
            sqlx::query(stmt)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::Backend(format!("migration {version} ({name}): {e}")))?;
        }
        sqlx::query("INSERT INTO custos_migrations (version, name, applied_at) VALUES ($1, $2, CURRENT_TIMESTAMP)")
            .bind(*version)
            .bind(*name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, name, "applied migration");
    }
    Ok(())
}
