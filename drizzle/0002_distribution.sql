CREATE TYPE "public"."distribution_status" AS ENUM('PENDING', 'ACTIVE', 'PAUSED', 'COMPLETED', 'HALTED', 'CANCELLED');--> statement-breakpoint
CREATE TYPE "public"."distribution_strategy" AS ENUM('IMMEDIATE', 'GRADUAL', 'SCHEDULED');--> statement-breakpoint
CREATE TYPE "public"."update_report_status" AS ENUM('DOWNLOADED', 'INSTALLED', 'FAILED', 'ROLLED_BACK');--> statement-breakpoint
CREATE TABLE "distribution_daily_stats" (
	"distribution_id" uuid NOT NULL,
	"day" date NOT NULL,
	"offered" bigint DEFAULT 0 NOT NULL,
	"downloaded" bigint DEFAULT 0 NOT NULL,
	"installed" bigint DEFAULT 0 NOT NULL,
	"failed" bigint DEFAULT 0 NOT NULL,
	"rolled_back" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "distribution_daily_stats_distribution_id_day_pk" PRIMARY KEY("distribution_id","day")
);
--> statement-breakpoint
CREATE TABLE "distributions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"package_id" uuid NOT NULL,
	"extension_id" text,
	"product_id" text,
	"strategy" "distribution_strategy" NOT NULL,
	"status" "distribution_status" NOT NULL,
	"percentage" numeric(5, 2) NOT NULL,
	"salt" text NOT NULL,
	"mandatory" boolean DEFAULT false NOT NULL,
	"is_rollback" boolean DEFAULT false NOT NULL,
	"steps" jsonb,
	"current_step" integer DEFAULT 0 NOT NULL,
	"next_step_at" timestamp with time zone,
	"generation" integer DEFAULT 0 NOT NULL,
	"scheduled_at" timestamp with time zone,
	"started_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"paused_at" timestamp with time zone,
	"status_reason" text,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "distributions_percentage_range" CHECK ("distributions"."percentage" >= 0 and "distributions"."percentage" <= 100)
);
--> statement-breakpoint
CREATE TABLE "version_adoption_daily" (
	"version_id" uuid NOT NULL,
	"day" date NOT NULL,
	"downloaded" bigint DEFAULT 0 NOT NULL,
	"installed" bigint DEFAULT 0 NOT NULL,
	"failed" bigint DEFAULT 0 NOT NULL,
	"rolled_back" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "version_adoption_daily_version_id_day_pk" PRIMARY KEY("version_id","day")
);
--> statement-breakpoint
DROP INDEX "update_packages_extension_idx";--> statement-breakpoint
DROP INDEX "update_packages_product_idx";--> statement-breakpoint
ALTER TABLE "update_packages" ADD COLUMN "from_version_id" uuid;--> statement-breakpoint
ALTER TABLE "update_packages" ADD COLUMN "to_sort_key" text COLLATE "C";--> statement-breakpoint
ALTER TABLE "update_packages" ADD COLUMN "delta_format" text;--> statement-breakpoint
ALTER TABLE "update_packages" ADD COLUMN "target_checksum" text;--> statement-breakpoint
ALTER TABLE "distribution_daily_stats" ADD CONSTRAINT "distribution_daily_stats_distribution_id_distributions_id_fk" FOREIGN KEY ("distribution_id") REFERENCES "public"."distributions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "distributions" ADD CONSTRAINT "distributions_package_id_update_packages_id_fk" FOREIGN KEY ("package_id") REFERENCES "public"."update_packages"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "version_adoption_daily" ADD CONSTRAINT "version_adoption_daily_version_id_versions_id_fk" FOREIGN KEY ("version_id") REFERENCES "public"."versions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "distributions_one_live_per_package" ON "distributions" USING btree ("package_id") WHERE "distributions"."status" in ('PENDING', 'ACTIVE', 'PAUSED', 'COMPLETED');--> statement-breakpoint
CREATE INDEX "distributions_extension_idx" ON "distributions" USING btree ("extension_id","status");--> statement-breakpoint
CREATE INDEX "distributions_product_idx" ON "distributions" USING btree ("product_id","status");--> statement-breakpoint
CREATE INDEX "distributions_created_idx" ON "distributions" USING btree ("created_at","id");--> statement-breakpoint
ALTER TABLE "update_packages" ADD CONSTRAINT "update_packages_from_version_id_versions_id_fk" FOREIGN KEY ("from_version_id") REFERENCES "public"."versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "update_packages_full_unique" ON "update_packages" USING btree ("to_version_id") WHERE not "update_packages"."is_delta";--> statement-breakpoint
CREATE UNIQUE INDEX "update_packages_delta_unique" ON "update_packages" USING btree ("to_version_id","from_version_id") WHERE "update_packages"."is_delta";--> statement-breakpoint
CREATE INDEX "update_packages_extension_order_idx" ON "update_packages" USING btree ("extension_id","to_sort_key");--> statement-breakpoint
CREATE INDEX "update_packages_product_order_idx" ON "update_packages" USING btree ("product_id","to_sort_key");--> statement-breakpoint
CREATE INDEX "update_packages_to_version_idx" ON "update_packages" USING btree ("to_version_id");--> statement-breakpoint
CREATE INDEX "update_packages_cdn_file_idx" ON "update_packages" USING btree ("cdn_file_id");--> statement-breakpoint
ALTER TABLE "update_packages" ADD CONSTRAINT "update_packages_delta_base" CHECK ("update_packages"."is_delta" = ("update_packages"."from_version_id" IS NOT NULL));