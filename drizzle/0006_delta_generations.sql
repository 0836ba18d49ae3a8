CREATE TYPE "public"."delta_generation_status" AS ENUM('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED');--> statement-breakpoint
CREATE TABLE "delta_generations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"extension_id" text,
	"product_id" text,
	"from_version" text NOT NULL,
	"to_version" text NOT NULL,
	"from_version_id" uuid NOT NULL,
	"to_version_id" uuid NOT NULL,
	"attempt" integer DEFAULT 1 NOT NULL,
	"status" "delta_generation_status" DEFAULT 'PENDING' NOT NULL,
	"progress" integer DEFAULT 0 NOT NULL,
	"error" text,
	"package_id" uuid,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "delta_generations_progress_range" CHECK ("delta_generations"."progress" between 0 and 100)
);
--> statement-breakpoint
ALTER TABLE "delta_generations" ADD CONSTRAINT "delta_generations_from_version_id_versions_id_fk" FOREIGN KEY ("from_version_id") REFERENCES "public"."versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "delta_generations" ADD CONSTRAINT "delta_generations_to_version_id_versions_id_fk" FOREIGN KEY ("to_version_id") REFERENCES "public"."versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "delta_generations" ADD CONSTRAINT "delta_generations_package_id_update_packages_id_fk" FOREIGN KEY ("package_id") REFERENCES "public"."update_packages"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "delta_generations_one_active_per_pair" ON "delta_generations" USING btree ("from_version_id","to_version_id") WHERE "delta_generations"."status" in ('PENDING', 'RUNNING');--> statement-breakpoint
CREATE UNIQUE INDEX "delta_generations_pair_attempt" ON "delta_generations" USING btree ("from_version_id","to_version_id","attempt");