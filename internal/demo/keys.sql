-- Unique constraints, foreign keys and secondary indexes, added after the
-- bulk load (see tables.sql).
--
-- The indexes are the ones the application was shipped with. The demo's
-- workload has grown past them: what is missing here (a dashboard composite,
-- a soft-delete partial, the indexes behind comments.task_id and
-- task_labels.label_id, GIN indexes for the activity payload and for search)
-- is what the advisor should find. See Statements().

CREATE UNIQUE INDEX users_email_key ON users (lower(email));
ALTER TABLE tenants ADD CONSTRAINT tenants_slug_key UNIQUE (slug);
ALTER TABLE projects ADD CONSTRAINT projects_tenant_id_key_key UNIQUE (tenant_id, key);
ALTER TABLE labels ADD CONSTRAINT labels_tenant_id_name_key UNIQUE (tenant_id, name);
ALTER TABLE tasks ADD CONSTRAINT tasks_project_id_number_key UNIQUE (project_id, number);
ALTER TABLE attachments ADD CONSTRAINT attachments_storage_key_key UNIQUE (storage_key);

CREATE INDEX memberships_user_id_idx ON memberships (user_id);
CREATE INDEX tasks_tenant_id_status_idx ON tasks (tenant_id, status);
CREATE INDEX tasks_assignee_id_idx ON tasks (assignee_id);
CREATE INDEX comments_author_id_idx ON comments (author_id);
CREATE INDEX attachments_task_id_idx ON attachments (task_id);
CREATE INDEX attachments_uploaded_by_idx ON attachments (uploaded_by);
CREATE INDEX activity_log_tenant_id_created_at_idx ON activity_log (tenant_id, created_at DESC);
CREATE INDEX activity_log_task_id_created_at_idx ON activity_log (task_id, created_at);

-- One foreign key per statement: each locks only its two tables, so Load
-- can add them from two sessions without risking a deadlock.
ALTER TABLE memberships ADD CONSTRAINT memberships_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants ON DELETE CASCADE;
ALTER TABLE memberships ADD CONSTRAINT memberships_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users ON DELETE CASCADE;
ALTER TABLE projects ADD CONSTRAINT projects_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants ON DELETE CASCADE;
ALTER TABLE labels ADD CONSTRAINT labels_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants ON DELETE CASCADE;
ALTER TABLE tasks ADD CONSTRAINT tasks_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants ON DELETE CASCADE;
ALTER TABLE tasks ADD CONSTRAINT tasks_project_id_fkey
    FOREIGN KEY (project_id) REFERENCES projects ON DELETE CASCADE;
ALTER TABLE tasks ADD CONSTRAINT tasks_assignee_id_fkey
    FOREIGN KEY (assignee_id) REFERENCES users ON DELETE SET NULL;
ALTER TABLE comments ADD CONSTRAINT comments_task_id_fkey
    FOREIGN KEY (task_id) REFERENCES tasks ON DELETE CASCADE;
ALTER TABLE comments ADD CONSTRAINT comments_author_id_fkey
    FOREIGN KEY (author_id) REFERENCES users ON DELETE SET NULL;
ALTER TABLE task_labels ADD CONSTRAINT task_labels_task_id_fkey
    FOREIGN KEY (task_id) REFERENCES tasks ON DELETE CASCADE;
ALTER TABLE task_labels ADD CONSTRAINT task_labels_label_id_fkey
    FOREIGN KEY (label_id) REFERENCES labels ON DELETE CASCADE;
ALTER TABLE attachments ADD CONSTRAINT attachments_task_id_fkey
    FOREIGN KEY (task_id) REFERENCES tasks ON DELETE CASCADE;
ALTER TABLE attachments ADD CONSTRAINT attachments_uploaded_by_fkey
    FOREIGN KEY (uploaded_by) REFERENCES users ON DELETE SET NULL;
ALTER TABLE activity_log ADD CONSTRAINT activity_log_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants ON DELETE CASCADE;
