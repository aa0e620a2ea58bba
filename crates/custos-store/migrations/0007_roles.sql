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
);
CREATE TABLE user_roles (
    user_id TEXT NOT NULL,
    role_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role ON user_roles (role_id, user_id);
CREATE TABLE user_permissions (
    user_id TEXT NOT NULL,
    resource_server_identifier TEXT NOT NULL,
    permission_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, resource_server_identifier, permission_name)
)
