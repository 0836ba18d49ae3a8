ALTER TABLE "rollback_plans" ADD COLUMN "from_version_id" uuid;--> statement-breakpoint
ALTER TABLE "rollback_plans" ADD COLUMN "to_version_id" uuid;--> statement-breakpoint
ALTER TABLE "rollback_plans" ADD COLUMN "steps" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "rollback_plans" ADD COLUMN "execution_generation" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "rollback_plans" ADD COLUMN "rollback_distribution_id" uuid;--> statement-breakpoint
ALTER TABLE "rollback_plans" ADD COLUMN "approved_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "rollback_plans" ADD COLUMN "cancelled_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "rollback_plans" ADD COLUMN "cancelled_by" uuid;--> statement-breakpoint
ALTER TABLE "rollback_plans" ADD COLUMN "updated_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "rollback_plans" ADD CONSTRAINT "rollback_plans_from_version_id_versions_id_fk" FOREIGN KEY ("from_version_id") REFERENCES "public"."versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rollback_plans" ADD CONSTRAINT "rollback_plans_to_version_id_versions_id_fk" FOREIGN KEY ("to_version_id") REFERENCES "public"."versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rollback_plans" ADD CONSTRAINT "rollback_plans_rollback_distribution_id_distributions_id_fk" FOREIGN KEY ("rollback_distribution_id") REFERENCES "public"."distributions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "rollback_plans_created_idx" ON "rollback_plans" USING btree ("created_at","id");