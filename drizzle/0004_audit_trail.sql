CREATE TYPE "public"."audit_actor_role" AS ENUM('admin', 'script', 'system');--> statement-breakpoint
CREATE TYPE "public"."audit_outcome" AS ENUM('SUCCEEDED', 'FAILED');--> statement-breakpoint
CREATE TABLE "audit_entries" (
	"id" uuid PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	"actor_id" text NOT NULL,
	"actor_role" "audit_actor_role" NOT NULL,
	"operation" text NOT NULL,
	"target_type" text NOT NULL,
	"target_id" uuid,
	"outcome" "audit_outcome" NOT NULL,
	"error_code" text,
	"error_message" text,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	CONSTRAINT "audit_entries_error_iff_failed" CHECK (("audit_entries"."outcome" = 'FAILED') = ("audit_entries"."error_code" IS NOT NULL))
);
--> statement-breakpoint
CREATE INDEX "audit_entries_at_idx" ON "audit_entries" USING btree ("at","id");--> statement-breakpoint
CREATE INDEX "audit_entries_actor_idx" ON "audit_entries" USING btree ("actor_id","at","id");--> statement-breakpoint
CREATE INDEX "audit_entries_operation_idx" ON "audit_entries" USING btree ("operation","at","id");--> statement-breakpoint
CREATE INDEX "audit_entries_target_idx" ON "audit_entries" USING btree ("target_id","at","id");--> statement-breakpoint
CREATE INDEX "audit_entries_failed_idx" ON "audit_entries" USING btree ("at","id") WHERE "audit_entries"."outcome" = 'FAILED';