import { BadInputError } from './errors.js';
import { storableTextProblem } from './text.js';

/** One page of a list, newest (or highest) first. */
export interface Page<T> {
  nodes: T[];
  totalCount: number;
  hasNextPage: boolean;
  /** Pass as `after` to get the next page; null on the last page. */
  endCursor: string | null;
}

export interface PageRequest {
  /** How many (1–200, default 50). */
  first?: number | null;
  /** The `endCursor` of the previous page. */
  after?: string | null;
}

export const MAX_PAGE_SIZE = 200;
export const DEFAULT_PAGE_SIZE = 50;

export function pageSize(first: number | null | undefined): number {
  if (first === undefined || first === null) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw new BadInputError(`first must be a whole number from 1 to ${MAX_PAGE_SIZE}, got ${first}`, { field: 'first' });
  }
  return first;
}

/** Opaque cursors: base64url JSON of the keyset position. */
export function encodeCursor(position: unknown[]): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** The error for a cursor this list did not hand out (forged, truncated, or from another list). */
export function invalidCursor(): BadInputError {
  return new BadInputError('after is not a cursor returned by this list: pass pageInfo.endCursor unchanged', { field: 'after' });
}

/** Longest cursor any list hands out is well under this; longer ones are refused unread. */
const MAX_CURSOR_LENGTH = 1024;

/**
 * The `arity` strings of a cursor. Only its shape (and that each string is text the database
 * can hold) is checked here: each list checks that the strings are what it put there (a uuid,
 * a sort key) before they reach SQL.
 */
export function decodeCursor(cursor: string, arity: number): string[] {
  if (typeof cursor !== 'string' || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]*$/.test(cursor)) throw invalidCursor();
  try {
    const position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    // Text SQL cannot take (NUL) never leaves here, whatever list the cursor is for.
    if (Array.isArray(position) && position.length === arity && position.every((p) => typeof p === 'string' && storableTextProblem(p) === null)) {
      return position as string[];
    }
  } catch {
    // fall through
  }
  throw invalidCursor();
}

/** Builds a page from `limit + 1` fetched rows. */
export function toPage<T>(rows: T[], limit: number, totalCount: number, position: (row: T) => unknown[]): Page<T> {
  const nodes = rows.slice(0, limit);
  const hasNextPage = rows.length > limit;
  return {
    nodes,
    totalCount,
    hasNextPage,
    endCursor: hasNextPage && nodes.length > 0 ? encodeCursor(position(nodes[nodes.length - 1]!)) : null,
  };
}
