CREATE TABLE roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE role_permissions (
    role_id TEXT NOT NULL,
    resource_server_identifier TEXT NOT NULL,
    permission_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (role_id, resource_server_identifier, permission_name)
)
