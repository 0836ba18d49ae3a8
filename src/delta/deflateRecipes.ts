import zlib from 'node:zlib';

import pako from 'pako';

/**
 * A recipe re-creates a compressed stream byte for byte: which deflate implementation and which
 * parameters. Whether one exists depends on the producer: npm's .tgz files come from Node's
 * zlib (Chromium's fork), zips from Python or Java often from vanilla zlib (pako is a faithful
 * port of it), Info-ZIP's own deflate matches neither — so generation tries candidates per
 * stream and ships the compressed bytes when none reproduces them.
 *
 * Caveat of the `node` engine: its output is the Node build's zlib. A client whose Node was built
 * with another zlib (some Linux distributions link the system one) may produce other bytes; the
 * final sha256 check then refuses the result (TARGET_MISMATCH) rather than writing it. `pako` is
 * plain JavaScript and the same everywhere, so it is tried first when both would do.
 */
export interface DeflateRecipe {
  engine: 'pako' | 'node';
  level: number;
  memLevel: number;
  strategy: number;
  /** Always 15 today; stored so the format can grow. */
  windowBits: number;
}

const ENGINES = ['pako', 'node'] as const;

export function encodeRecipe(recipe: DeflateRecipe): Buffer {
  return Buffer.from([ENGINES.indexOf(recipe.engine), recipe.level, recipe.memLevel, recipe.strategy, recipe.windowBits]);
}

export function decodeRecipe(bytes: Buffer): DeflateRecipe | null {
  const engine = ENGINES[bytes[0]!];
  const [, level, memLevel, strategy, windowBits] = bytes;
  if (!engine || level! > 9 || memLevel! < 1 || memLevel! > 9 || strategy! > 4 || windowBits! < 9 || windowBits! > 15) return null;
  return { engine, level: level!, memLevel: memLevel!, strategy: strategy!, windowBits: windowBits! };
}

export function recipeKey(recipe: DeflateRecipe): string {
  return encodeRecipe(recipe).toString('hex');
}

/** Raw deflate (no zlib/gzip wrapper) of `content` by the recipe. Synchronous: the applier's path. */
export function deflateWith(recipe: DeflateRecipe, content: Uint8Array): Buffer {
  const { level, memLevel, strategy, windowBits } = recipe;
  if (recipe.engine === 'node') return zlib.deflateRawSync(content, { level, memLevel, strategy, windowBits });
  const out = pako.deflateRaw(content, { level: level as pako.DeflateFunctionOptions['level'], memLevel: memLevel as pako.DeflateFunctionOptions['memLevel'], strategy, windowBits });
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Candidates in the order producers most often use them: the default level 6 and the maximum 9
 * first, default memLevel 8 before 9, default strategy only (filtered/huffman/rle are rare in
 * archives and would triple the search).
 */
export function candidateRecipes(): DeflateRecipe[] {
  const levels = [6, 9, 1, 2, 3, 4, 5, 7, 8, 0];
  const recipes: DeflateRecipe[] = [];
  for (const engine of ENGINES) {
    for (const memLevel of [8, 9]) {
      for (const level of levels) recipes.push({ engine, level, memLevel, strategy: 0, windowBits: 15 });
    }
  }
  return recipes;
}

/** Above this size a candidate is rejected as soon as its output diverges (streamed), before a full run. */
const STREAM_CHECK_ABOVE = 128 * 1024;

/**
 * True when the recipe re-creates `expected` from `content` exactly. Large inputs are first
 * compressed as a stream compared chunk by chunk, so a wrong candidate costs only the bytes up
 * to its first difference; a candidate that survives is confirmed by the applier's own call.
 */
export async function reproduces(recipe: DeflateRecipe, content: Buffer, expected: Buffer): Promise<boolean> {
  if (content.length > STREAM_CHECK_ABOVE && !(await streamedPrefixMatches(recipe, content, expected))) return false;
  return deflateWith(recipe, content).equals(expected);
}

class Diverged extends Error {}

async function streamedPrefixMatches(recipe: DeflateRecipe, content: Buffer, expected: Buffer): Promise<boolean> {
  const { level, memLevel, strategy, windowBits } = recipe;
  if (recipe.engine === 'pako') {
    // pako's Deflate is synchronous and calls onData per 64 KiB of output: throw at the first difference.
    const deflator = new pako.Deflate({ level: level as pako.DeflateFunctionOptions['level'], memLevel: memLevel as pako.DeflateFunctionOptions['memLevel'], strategy, windowBits, raw: true, chunkSize: 65536 });
    let position = 0;
    deflator.onData = (chunk: Uint8Array) => {
      if (position + chunk.length > expected.length || Buffer.compare(chunk, expected.subarray(position, position + chunk.length)) !== 0) throw new Diverged();
      position += chunk.length;
    };
    try {
      deflator.push(content, true);
    } catch (error) {
      if (error instanceof Diverged) return false;
      throw error;
    }
    await new Promise((resolve) => setImmediate(resolve));
    return position === expected.length;
  }
  return new Promise<boolean>((resolve) => {
    const stream = zlib.createDeflateRaw({ level, memLevel, strategy, windowBits });
    let position = 0;
    let settled = false;
    const settle = (value: boolean) => {
      if (settled) return;
      settled = true;
      resolve(value);
      stream.destroy();
    };
    stream.on('data', (chunk: Buffer) => {
      if (position + chunk.length > expected.length || !chunk.equals(expected.subarray(position, position + chunk.length))) settle(false);
      position += chunk.length;
    });
    stream.on('end', () => settle(position === expected.length));
    stream.on('error', () => settle(false));
    // Streamed output may differ from one-shot output at level 0 (stored block sizes follow the
    // buffers); treat any level-0 divergence as "maybe" and let the one-shot comparison decide.
    if (level === 0) settle(true);
    else stream.end(content);
  });
}

/**
 * Finds a recipe for one stream: the archive's recipes found so far first (entries of one
 * archive share a producer), then every candidate unless `exhaustive` is false.
 */
export async function findRecipe({ content, expected, preferred, exhaustive }: { content: Buffer; expected: Buffer; preferred: DeflateRecipe[]; exhaustive: boolean }): Promise<DeflateRecipe | null> {
  const tried = new Set<string>();
  const queue = exhaustive ? [...preferred, ...candidateRecipes()] : preferred;
  for (const recipe of queue) {
    const key = recipeKey(recipe);
    if (tried.has(key)) continue;
    tried.add(key);
    if (await reproduces(recipe, content, expected)) return recipe;
  }
  return null;
}
