-- Login users for docker-compose.yml, run once by the postgres image when it creates its data folder.
-- The group roles are created here too (the same NOLOGIN roles that Migrations/0002_operations.sql creates
-- when missing), so that membership can be granted before `mailroom migrate` has run; the migration then
-- grants the rights to the group roles. Passwords are development placeholders: change them in production
-- (docs/OPERATIONS.md, "Roles").
CREATE ROLE mailroom_worker NOLOGIN;
CREATE ROLE mailroom_query NOLOGIN;
CREATE ROLE mailroom_dashboard NOLOGIN;
CREATE ROLE worker LOGIN PASSWORD 'worker-dev-only' IN ROLE mailroom_worker;
CREATE ROLE query LOGIN PASSWORD 'query-dev-only' IN ROLE mailroom_query;
CREATE ROLE dashboard LOGIN PASSWORD 'dashboard-dev-only' IN ROLE mailroom_dashboard;
