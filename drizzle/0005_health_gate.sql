ALTER TABLE "distributions" ADD COLUMN "health_gate" jsonb;--> statement-breakpoint
ALTER TABLE "distributions" ADD COLUMN "health_tripped_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "distributions" ADD COLUMN "health_trip_note" text;--> statement-breakpoint
ALTER TABLE "distributions" ADD COLUMN "health_rollback_plan_id" uuid;--> statement-breakpoint
ALTER TABLE "distributions" ADD CONSTRAINT "distributions_health_rollback_plan_id_rollback_plans_id_fk" FOREIGN KEY ("health_rollback_plan_id") REFERENCES "public"."rollback_plans"("id") ON DELETE no action ON UPDATE no action;