-- Least-privilege PostgreSQL roles for Consent Portal.
--
-- Two roles, named by psql variables:
--   owner  (e.g. consent_owner) owns the schema's tables, sequences and the append-only trigger
--          function. Only `manage.py migrate` connects as it.
--   app    (e.g. consent_app) is what the running site, workers and cron jobs connect as. It
--          reads and writes rows but owns nothing, so it cannot ALTER TABLE ... DISABLE TRIGGER,
--          DROP TRIGGER, DROP TABLE or TRUNCATE: the triggers that keep consent evidence and
--          wording append-only hold against the app's own credentials.
--
-- Run it once, as a superuser (or a role with CREATEROLE that may grant on schema public),
-- connected to the app's database, before the first migrate:
--
--   psql "$ADMIN_DATABASE_URL" -v owner=consent_owner -v app=consent_app \
--        -f docs/postgres-roles.sql
--
-- then give both roles passwords interactively, which keeps them out of this file and of
-- shell history:  \password consent_owner   and   \password consent_app
--
-- An existing install whose tables belong to another role hands them over afterwards, in the
-- same database:  REASSIGN OWNED BY <old role> TO consent_owner;
-- and from then on the site uses consent_app, never <old role> or consent_owner.
--
-- Neither role may be a superuser, and the app role must not own the database or schema
-- public either: a schema's owner may drop any table in it.
--
-- Check it as the app role; each of these must fail, and changes nothing either way:
--   psql "$DATABASE_URL" -c 'BEGIN; ALTER TABLE consents_consentevent DISABLE TRIGGER ALL; ROLLBACK;'
--   psql "$DATABASE_URL" -c 'BEGIN; TRUNCATE consents_consentevent; ROLLBACK;'
--
-- Evidence past its period (consents.models.EVIDENCE_KEPT_FOR) is removed by
-- `manage.py purge_evidence`, which calls consents_purge_evidence(): a SECURITY DEFINER function
-- the owner's migration creates, so it runs as the owner. The evidence trigger lets a row go only
-- when the statement runs as the table's owner, with the transaction-local flag
-- consents.evidence_purge on, and the row is past its period by the database's clock. The app
-- role can set the flag but is not the owner, so its own DELETE is refused; it can only call the
-- function, which removes nothing younger. Functions are executable by every role by default;
-- do not revoke EXECUTE on this one from the app, or the purge fails (and keeps everything).
-- As the app role, this must fail too:
--   psql "$DATABASE_URL" -c "BEGIN; SELECT set_config('consents.evidence_purge', 'on', true);
--        DELETE FROM consents_consentevent; ROLLBACK;"
--
-- Do not REVOKE UPDATE on the consent tables from the app: publishing new wording locks the
-- latest version with SELECT ... FOR UPDATE, which needs the UPDATE privilege. The triggers
-- refuse the UPDATE or DELETE itself.

\set ON_ERROR_STOP on

-- The admin's search indexes are trigram indexes (companies/migrations/
-- 0005_search_trigram_indexes.py). The migration creates the pg_trgm extension if it is
-- missing, which needs CREATE on the database; the owner role has none, so create it here.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE ROLE :"owner" LOGIN;
CREATE ROLE :"app" LOGIN;

-- Only the owner creates objects (PostgreSQL before 15 let every role create in public).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"owner";

GRANT CONNECT ON DATABASE :"DBNAME" TO :"app";
GRANT USAGE ON SCHEMA public TO :"app";

-- Rows only: no TRUNCATE, TRIGGER or REFERENCES privilege, and never ownership.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";

-- The same for every table and sequence the owner's migrations create later.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";
