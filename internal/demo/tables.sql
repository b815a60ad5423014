-- Taskboard: the demo's multi-tenant project-management application.
--
-- Tables first (primary keys and CHECK constraints only); keys.sql adds the
-- unique constraints, foreign keys and secondary indexes once the data is in,
-- which is how a bulk load is done fast. Together they are the schema.
--
-- Every key is a bigint identity, every time a timestamptz. Tenant data hangs
-- off tenants with ON DELETE CASCADE so deleting a tenant purges it; a user's
-- deletion keeps their work (SET NULL) but drops their memberships.

CREATE TABLE tenants (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug       text        NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    plan       text        NOT NULL DEFAULT 'free'
                           CHECK (plan IN ('free', 'team', 'business', 'enterprise')),
    -- The text search configuration of the tenant's content.
    language   regconfig   NOT NULL DEFAULT 'english',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Users are global: one account can belong to several tenants.
CREATE TABLE users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          text        NOT NULL CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    display_name   text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    created_at     timestamptz NOT NULL DEFAULT now(),
    deactivated_at timestamptz CHECK (deactivated_at >= created_at)
);

CREATE TABLE memberships (
    tenant_id  bigint      NOT NULL,
    user_id    bigint      NOT NULL,
    role       text        NOT NULL DEFAULT 'member'
                           CHECK (role IN ('owner', 'admin', 'member', 'guest')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE projects (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint      NOT NULL,
    key         text        NOT NULL CHECK (key ~ '^[A-Z][A-Z0-9]{1,9}$'),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text        NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    archived_at timestamptz CHECK (archived_at >= created_at)
);

CREATE TABLE labels (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  bigint      NOT NULL,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    color      text        NOT NULL CHECK (color ~ '^#[0-9a-f]{6}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- tenant_id is denormalized from the project so that tenant-wide screens
-- (boards, search, trash, reports) need no join, and language from the
-- tenant so that search can take the configuration from the row itself:
-- to_tsvector(language, ...) is one expression, indexable, for every
-- language (the PostgreSQL manual's mixed-configuration pattern). Deleting
-- a task is a soft delete (deleted_at); the hard delete of old trash
-- cascades.
CREATE TABLE tasks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint      NOT NULL,
    project_id  bigint      NOT NULL,
    number      integer     NOT NULL CHECK (number > 0),
    title       text        NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    body        text        NOT NULL DEFAULT '' CHECK (length(body) <= 100000),
    status      text        NOT NULL DEFAULT 'todo'
                            CHECK (status IN ('backlog', 'todo', 'in_progress', 'in_review', 'done', 'canceled')),
    priority    smallint    NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 4),
    language    regconfig   NOT NULL DEFAULT 'english',
    assignee_id bigint,
    due_date    date,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    CHECK (updated_at >= created_at),
    CHECK (deleted_at >= created_at)
);

CREATE TABLE comments (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id    bigint      NOT NULL,
    author_id  bigint,
    body       text        NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    created_at timestamptz NOT NULL DEFAULT now(),
    edited_at  timestamptz CHECK (edited_at >= created_at)
);

CREATE TABLE task_labels (
    task_id    bigint      NOT NULL,
    label_id   bigint      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, label_id)
);

CREATE TABLE attachments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id      bigint      NOT NULL,
    uploaded_by  bigint,
    file_name    text        NOT NULL
                             CHECK (length(file_name) BETWEEN 1 AND 255 AND strpos(file_name, '/') = 0),
    content_type text        NOT NULL CHECK (content_type ~ '^[a-z]+/[a-z0-9.+-]+$'),
    byte_size    bigint      NOT NULL CHECK (byte_size BETWEEN 1 AND 1073741824),
    storage_key  text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- The audit trail. task_id and actor_id deliberately have no foreign keys:
-- the history must outlive hard-deleted tasks and users, and the hottest
-- insert path should not pay for two key checks.
CREATE TABLE activity_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  bigint      NOT NULL,
    task_id    bigint,
    actor_id   bigint,
    payload    jsonb       NOT NULL CHECK (jsonb_typeof(payload) = 'object' AND payload ? 'type'),
    created_at timestamptz NOT NULL DEFAULT now()
);
