-- Custom SQL migration file, put your code below! --
-- The audit trail is append-only: an entry, once written, is never changed. Deleting old
-- entries (retention, docs/audit.md) stays possible; rewriting one is refused by the database
-- itself, whatever code or person tries.
CREATE FUNCTION "audit_entries_refuse_update"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit entries are append-only: % cannot be changed', OLD.id USING ERRCODE = 'insufficient_privilege';
END
$$;--> statement-breakpoint
CREATE TRIGGER "audit_entries_append_only" BEFORE UPDATE ON "audit_entries" FOR EACH ROW EXECUTE FUNCTION "audit_entries_refuse_update"();
