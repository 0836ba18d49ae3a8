CREATE TYPE "public"."rollback_status" AS ENUM('PENDING', 'APPROVED', 'EXECUTING', 'COMPLETED', 'FAILED', 'CANCELLED');--> statement-breakpoint
CREATE TYPE "public"."rollback_strategy" AS ENUM('IMMEDIATE', 'GRADUAL', 'SCHEDULED');--> statement-breakpoint
CREATE TABLE "cdn_files" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"file_name" text NOT NULL,
	"file_path" text NOT NULL,
	"file_size" bigint NOT NULL,
	"mime_type" text NOT NULL,
	"cdn_url" text NOT NULL,
	"checksum" text NOT NULL,
	"storage_key" text NOT NULL,
	"cache_control" text NOT NULL,
	"expires_at" timestamp with time zone,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"uploaded_at" timestamp with time zone DEFAULT now() NOT NULL,
	"uploaded_by" uuid,
	"download_count" bigint DEFAULT 0 NOT NULL,
	"bytes_served" bigint DEFAULT 0 NOT NULL,
	"last_download_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "event_payloads" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rollback_plans" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"from_version" text NOT NULL,
	"to_version" text NOT NULL,
	"extension_id" text,
	"product_id" text,
	"reason" text NOT NULL,
	"safety_checks" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"estimated_downtime" integer DEFAULT 0 NOT NULL,
	"rollback_strategy" "rollback_strategy" DEFAULT 'IMMEDIATE' NOT NULL,
	"scheduled_at" timestamp with time zone,
	"status" "rollback_status" DEFAULT 'PENDING' NOT NULL,
	"created_by" uuid,
	"approved_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"executed_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "update_packages" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"from_version" text NOT NULL,
	"to_version" text NOT NULL,
	"to_version_id" uuid,
	"extension_id" text,
	"product_id" text,
	"cdn_file_id" uuid,
	"package_url" text NOT NULL,
	"package_size" bigint NOT NULL,
	"checksum" text NOT NULL,
	"is_delta" boolean DEFAULT false NOT NULL,
	"delta_from_version" text,
	"release_notes" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_by" uuid,
	"distributed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "versions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"version" text NOT NULL,
	"major" bigint NOT NULL,
	"minor" bigint NOT NULL,
	"patch" bigint NOT NULL,
	"prerelease" text,
	"build" text,
	"sort_key" text COLLATE "C" NOT NULL,
	"extension_id" text,
	"product_id" text,
	"changelog" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"release_notes" text,
	"is_stable" boolean NOT NULL,
	"is_deprecated" boolean DEFAULT false NOT NULL,
	"deprecation_reason" text,
	"deprecated_at" timestamp with time zone,
	"deprecated_by" uuid,
	"released_at" timestamp with time zone DEFAULT now() NOT NULL,
	"released_by" uuid,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	CONSTRAINT "versions_owner_precedence_unique" UNIQUE NULLS NOT DISTINCT("extension_id","product_id","sort_key"),
	CONSTRAINT "versions_owner_required" CHECK ("versions"."extension_id" IS NOT NULL OR "versions"."product_id" IS NOT NULL)
);
--> statement-breakpoint
ALTER TABLE "update_packages" ADD CONSTRAINT "update_packages_to_version_id_versions_id_fk" FOREIGN KEY ("to_version_id") REFERENCES "public"."versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "update_packages" ADD CONSTRAINT "update_packages_cdn_file_id_cdn_files_id_fk" FOREIGN KEY ("cdn_file_id") REFERENCES "public"."cdn_files"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "cdn_files_checksum_idx" ON "cdn_files" USING btree ("checksum");--> statement-breakpoint
CREATE INDEX "cdn_files_expires_idx" ON "cdn_files" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "rollback_plans_status_idx" ON "rollback_plans" USING btree ("status");--> statement-breakpoint
CREATE INDEX "rollback_plans_owner_idx" ON "rollback_plans" USING btree ("extension_id","product_id");--> statement-breakpoint
CREATE INDEX "update_packages_extension_idx" ON "update_packages" USING btree ("extension_id","to_version");--> statement-breakpoint
CREATE INDEX "update_packages_product_idx" ON "update_packages" USING btree ("product_id","to_version");--> statement-breakpoint
CREATE INDEX "versions_extension_order_idx" ON "versions" USING btree ("extension_id","sort_key");--> statement-breakpoint
CREATE INDEX "versions_product_order_idx" ON "versions" USING btree ("product_id","sort_key");