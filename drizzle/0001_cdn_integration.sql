CREATE TYPE "public"."cdn_file_status" AS ENUM('UPLOADING', 'ACTIVE', 'EXPIRED', 'DELETED');--> statement-breakpoint
CREATE TYPE "public"."cdn_invalidation_status" AS ENUM('PENDING', 'COMPLETED', 'FAILED');--> statement-breakpoint
CREATE TYPE "public"."cdn_replica_status" AS ENUM('PENDING', 'AVAILABLE', 'FAILED', 'REMOVING', 'REMOVED');--> statement-breakpoint
CREATE TABLE "cdn_download_stats" (
	"file_id" uuid NOT NULL,
	"day" date NOT NULL,
	"region" text NOT NULL,
	"downloads" bigint DEFAULT 0 NOT NULL,
	"bytes_served" bigint DEFAULT 0 NOT NULL,
	"last_download_at" timestamp with time zone,
	CONSTRAINT "cdn_download_stats_file_id_day_region_pk" PRIMARY KEY("file_id","day","region")
);
--> statement-breakpoint
CREATE TABLE "cdn_file_regions" (
	"file_id" uuid NOT NULL,
	"region" text NOT NULL,
	"status" "cdn_replica_status" DEFAULT 'PENDING' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"next_attempt_at" timestamp with time zone,
	"replicated_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "cdn_file_regions_file_id_region_pk" PRIMARY KEY("file_id","region")
);
--> statement-breakpoint
CREATE TABLE "cdn_invalidations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"file_id" uuid,
	"provider" text NOT NULL,
	"paths" jsonb NOT NULL,
	"reason" text NOT NULL,
	"status" "cdn_invalidation_status" DEFAULT 'PENDING' NOT NULL,
	"reference" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"next_attempt_at" timestamp with time zone,
	"requested_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "cdn_files" ADD COLUMN "status" "cdn_file_status" DEFAULT 'ACTIVE' NOT NULL;--> statement-breakpoint
ALTER TABLE "cdn_files" ADD COLUMN "deleted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "cdn_files" ADD COLUMN "deleted_by" uuid;--> statement-breakpoint
ALTER TABLE "cdn_files" ADD COLUMN "deletion_forced" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "cdn_files" ADD COLUMN "deletion_overrode_packages" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "cdn_download_stats" ADD CONSTRAINT "cdn_download_stats_file_id_cdn_files_id_fk" FOREIGN KEY ("file_id") REFERENCES "public"."cdn_files"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cdn_file_regions" ADD CONSTRAINT "cdn_file_regions_file_id_cdn_files_id_fk" FOREIGN KEY ("file_id") REFERENCES "public"."cdn_files"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cdn_invalidations" ADD CONSTRAINT "cdn_invalidations_file_id_cdn_files_id_fk" FOREIGN KEY ("file_id") REFERENCES "public"."cdn_files"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "cdn_file_regions_due_idx" ON "cdn_file_regions" USING btree ("status","next_attempt_at");--> statement-breakpoint
CREATE INDEX "cdn_invalidations_file_idx" ON "cdn_invalidations" USING btree ("file_id","created_at");--> statement-breakpoint
CREATE INDEX "cdn_invalidations_due_idx" ON "cdn_invalidations" USING btree ("status","next_attempt_at");--> statement-breakpoint
CREATE INDEX "cdn_files_status_uploaded_idx" ON "cdn_files" USING btree ("status","uploaded_at");