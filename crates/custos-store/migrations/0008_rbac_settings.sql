ALTER TABLE resource_servers ADD COLUMN enforce_policies BIGINT NOT NULL DEFAULT 0;
ALTER TABLE resource_servers ADD COLUMN token_dialect TEXT NOT NULL DEFAULT 'access_token'
