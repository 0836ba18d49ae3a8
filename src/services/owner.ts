import { and, eq, isNull, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';

import { BadInputError } from './errors.js';

/**
 * An owner is what versions, packages and plans belong to: an extension, a product, or
 * an extension within a product. At least one id is required when creating things.
 */
export interface Owner {
  extensionId: string | null;
  productId: string | null;
}

const OWNER_ID = /^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,199}$/;

function ownerId(value: string | null | undefined, field: 'extensionId' | 'productId'): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !OWNER_ID.test(value)) {
    throw new BadInputError(
      `${field} ${JSON.stringify(String(value).slice(0, 60))} is not valid: use 1–200 characters of letters, digits and . _ : @ / + - starting with a letter or digit`,
      { field },
    );
  }
  return value;
}

/** Validates the ids; `required` demands at least one of them. */
export function parseOwner(extensionId: string | null | undefined, productId: string | null | undefined, required = true): Owner {
  const owner = { extensionId: ownerId(extensionId, 'extensionId'), productId: ownerId(productId, 'productId') };
  if (required && owner.extensionId === null && owner.productId === null) {
    throw new BadInputError('Give extensionId or productId (or both): every version, package and plan belongs to one', {
      field: 'extensionId',
    });
  }
  return owner;
}

/** Exact owner match (NULL matches NULL): the owner a thing was created for. */
export function sameOwner(columns: { extensionId: PgColumn; productId: PgColumn }, owner: Owner): SQL {
  return and(
    owner.extensionId === null ? isNull(columns.extensionId) : eq(columns.extensionId, owner.extensionId),
    owner.productId === null ? isNull(columns.productId) : eq(columns.productId, owner.productId),
  )!;
}

/** Filter match: only the ids given narrow the result. */
export function ownerFilter(columns: { extensionId: PgColumn; productId: PgColumn }, owner: Owner): SQL | undefined {
  return and(
    owner.extensionId === null ? undefined : eq(columns.extensionId, owner.extensionId),
    owner.productId === null ? undefined : eq(columns.productId, owner.productId),
  );
}

export function describeOwner(owner: Owner): string {
  return [owner.extensionId && `extension ${owner.extensionId}`, owner.productId && `product ${owner.productId}`]
    .filter(Boolean)
    .join(' / ');
}
