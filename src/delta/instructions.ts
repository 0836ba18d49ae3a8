/**
 * How the target is rebuilt: a list of instructions, each appending bytes to the output.
 *
 * - COPY_BASE offset length: bytes of the base file (an entry whose compressed bytes are unchanged)
 * - LITERAL length: the next bytes of the literals stream (headers, central directory, gzip header…)
 * - CONTENT length: the next bytes of the content stream as they are (stored entries, raw files,
 *   compressed bytes no recipe re-creates)
 * - DEFLATE length recipe: the next `length` bytes of the content stream, deflated by recipe #recipe
 * - ADD_BASE offset length: base bytes from `offset` plus (mod 256) the next `length` bytes of the
 *   content stream (bsdiff's difference bytes: zeros where the base is unchanged)
 */
export const OP = { END: 0, COPY_BASE: 1, LITERAL: 2, CONTENT: 3, DEFLATE: 4, ADD_BASE: 5 } as const;

export type Instruction =
  | { op: 'COPY_BASE'; offset: number; length: number }
  | { op: 'LITERAL'; length: number }
  | { op: 'CONTENT'; length: number }
  | { op: 'DEFLATE'; length: number; recipe: number }
  | { op: 'ADD_BASE'; offset: number; length: number };
