import crypto from 'node:crypto';
import zlib from 'node:zlib';

import { applyDelta, baseView, sha256Hex } from './apply.js';
import { bsdiffBlocks, MAX_BSDIFF_BASE_BYTES } from './bsdiff.js';
import { encodeContainer, formatName, type BaseView, type DeltaFormat } from './container.js';
import { findRecipe, type DeflateRecipe } from './deflateRecipes.js';
import { DeltaError } from './errors.js';
import { gunzipWithin, looksLikeGzip, splitGzip } from './gzip.js';
import { withDefaults, type ArchiveLimits } from './limits.js';
import { PlanBuilder } from './plan.js';
import { compressedBytes, entryContent, hasReadableContent, isDeflated, looksLikeZip, readZipEntries, type ZipEntry } from './zip.js';
import { requireZstd, windowLogFor, zstdPatch } from './zstdPatch.js';

export interface GenerateOptions {
  limits?: Partial<ArchiveLimits>;
  /** Called with 0–100 as generation advances (stages: raw, archive, verify). */
  onProgress?: (percent: number) => void;
  /** Only these ways (default: every way that applies; the smallest verified one wins). For tests and benchmarks. */
  formats?: DeltaFormat[];
}

export interface CandidateOutcome {
  format: DeltaFormat;
  /** Size of the verified delta, or null when this way failed. */
  size: number | null;
  /** Why it was not possible (not an archive, no recipe, limits…). */
  reason?: string;
}

export interface GeneratedDelta {
  delta: Buffer;
  format: DeltaFormat;
  /** The update package's `deltaFormat`: `dfd1-raw`, `dfd1-gzip`, `dfd1-zip`, `dfd1-bsdiff`. */
  formatName: string;
  baseSha256: string;
  targetSha256: string;
  targetSize: number;
  /** Every way tried, with its size: the smallest verified one is `delta`. */
  candidates: CandidateOutcome[];
  /**
   * Zip entries by how they are encoded: copied from the base, rebuilt from their content (stored,
   * or deflated by a recipe that re-creates their bytes), shipped as their compressed bytes.
   */
  entries?: { copied: number; rebuilt: number; shipped: number };
}

interface Candidate {
  format: DeltaFormat;
  view: BaseView;
  plan: PlanBuilder;
  entries?: GeneratedDelta['entries'];
}

/**
 * Makes the smallest delta that rebuilds `target` from `base` byte for byte. Tries the whole-file
 * way (zstd with the base as dictionary) and, when the target is a zip or a gzip file, the
 * archive-aware way; each candidate is applied to the base and kept only if the result hashes
 * to the target's sha256. Never resolves with an unverified delta.
 *
 * Throws DeltaError LIMIT_EXCEEDED when an archive is past a limit, UNSUPPORTED_RUNTIME without zstd.
 */
export async function generateDelta(base: Buffer, target: Buffer, options: GenerateOptions = {}): Promise<GeneratedDelta> {
  requireZstd();
  const limits = withDefaults(options.limits);
  if (target.length > limits.maxTargetBytes) throw new DeltaError('LIMIT_EXCEEDED', `The target has ${target.length} bytes, above the limit of ${limits.maxTargetBytes} (maxTargetBytes)`);
  const progress = options.onProgress ?? (() => {});
  const baseSha256 = sha256Hex(base);
  const targetSha256 = sha256Hex(target);
  const outcomes: CandidateOutcome[] = [];
  let best: { delta: Buffer; candidate: Candidate } | null = null;

  const consider = async (candidate: Candidate) => {
    const delta = await encode({ candidate, base, target, baseSha256, targetSha256, limits });
    try {
      applyDelta(base, delta, { limits });
    } catch (error) {
      outcomes.push({ format: candidate.format, size: null, reason: `verification failed: ${(error as Error).message}` });
      return;
    }
    outcomes.push({ format: candidate.format, size: delta.length });
    if (!best || delta.length < best.delta.length) best = { delta, candidate };
  };

  progress(0);
  const allowed = (format: DeltaFormat) => !options.formats || options.formats.includes(format);
  const archive = looksLikeZip(target) ? 'zip' : looksLikeGzip(target) ? 'gzip' : null;
  if (archive && allowed(archive)) {
    try {
      const candidate = archive === 'zip' ? await zipCandidate(base, target, limits, (share) => progress(Math.round(share * 50))) : await gzipCandidate(base, target, limits);
      if (candidate) await consider(candidate);
      else outcomes.push({ format: archive, size: null, reason: 'no compressor setting re-creates the stream exactly' });
    } catch (error) {
      if (error instanceof DeltaError && error.code === 'LIMIT_EXCEEDED') throw error;
      outcomes.push({ format: archive, size: null, reason: (error as Error).message });
    }
  }
  progress(60);
  if (allowed('raw')) {
    const raw = new PlanBuilder();
    raw.content(target);
    await consider({ format: 'raw', view: 'raw', plan: raw });
  }
  progress(75);
  // bsdiff's approximate matches pay off on executables and other uncompressed binaries; on an
  // archive that already has its own way they only cost time.
  if (allowed('bsdiff') && !archive && base.length > 0 && base.length <= MAX_BSDIFF_BASE_BYTES) {
    await new Promise((resolve) => setImmediate(resolve));
    const plan = new PlanBuilder();
    for (const block of bsdiffBlocks(base, target)) {
      plan.addToBase(block.baseOffset, block.diff);
      plan.content(Buffer.from(block.extra));
    }
    await consider({ format: 'bsdiff', view: 'raw', plan });
  }
  progress(100);
  const chosen = best as { delta: Buffer; candidate: Candidate } | null;
  if (!chosen) throw new Error(`No delta could be verified: ${outcomes.map((outcome) => `${outcome.format}: ${outcome.reason}`).join('; ')}`);
  return {
    delta: chosen.delta,
    format: chosen.candidate.format,
    formatName: formatName(chosen.candidate.format),
    baseSha256,
    targetSha256,
    targetSize: target.length,
    candidates: outcomes,
    ...(chosen.candidate.entries ? { entries: chosen.candidate.entries } : {}),
  };
}

async function encode({ candidate, base, target, baseSha256, targetSha256, limits }: { candidate: Candidate; base: Buffer; target: Buffer; baseSha256: string; targetSha256: string; limits: ArchiveLimits }): Promise<Buffer> {
  const { plan, view: viewName, format } = candidate;
  if (plan.written !== target.length) throw new Error(`internal: the ${format} plan covers ${plan.written} of ${target.length} bytes`);
  const sections = plan.finish();
  const view = baseView(base, viewName, limits);
  const windowLog = windowLogFor(Math.max(base.length, view.length), Math.max(sections.literals.length, sections.content.length));
  const [instructions, literals, content] = [
    await zstdPatch(sections.instructions, Buffer.alloc(0), windowLog),
    await zstdPatch(sections.literals, base, windowLog),
    await zstdPatch(sections.content, view, windowLog),
  ];
  return encodeContainer(
    {
      format,
      baseView: viewName,
      windowLog,
      baseSha256,
      targetSha256,
      baseSize: base.length,
      targetSize: target.length,
      contentLength: sections.content.length,
      literalsLength: sections.literals.length,
      instructionsLength: sections.instructions.length,
    },
    { recipes: sections.recipes, instructions, literals, content },
  );
}

/** The base's view for an archive target: its contents when it is the same kind of archive, else its bytes. */
function viewFor(base: Buffer, kind: 'zip' | 'gzip', limits: ArchiveLimits): BaseView {
  try {
    if (kind === 'zip' && looksLikeZip(base)) {
      readZipEntries(base, limits);
      return 'zip';
    }
    if (kind === 'gzip' && looksLikeGzip(base)) {
      gunzipWithin(base, limits, 'base');
      return 'gzip';
    }
  } catch (error) {
    if (error instanceof DeltaError && error.code === 'LIMIT_EXCEEDED') throw error;
  }
  return 'raw';
}

/** gzip: header and trailer as bytes, the inner stream (a tar, usually) diffed and re-deflated. */
async function gzipCandidate(base: Buffer, target: Buffer, limits: ArchiveLimits): Promise<Candidate | null> {
  const parts = splitGzip(target);
  if (!parts) return null;
  const content = gunzipWithin(target, limits, 'target');
  // Only a single-member file has its whole content in this one stream.
  if (parts.trailer.readUInt32LE(4) !== content.length % 2 ** 32) return null;
  let inner: Buffer;
  try {
    inner = zlib.inflateRawSync(parts.deflated, { maxOutputLength: Math.max(1, content.length) });
  } catch {
    return null;
  }
  if (!inner.equals(content)) return null;
  const recipe = await findRecipe({ content, expected: parts.deflated, preferred: [], exhaustive: true });
  if (!recipe) return null;
  const plan = new PlanBuilder();
  plan.literal(Buffer.from(parts.header));
  plan.deflate(content, recipe, parts.deflated.length);
  plan.literal(Buffer.from(parts.trailer));
  return { format: 'gzip', view: viewFor(base, 'gzip', limits), plan };
}

/** After this many entries in a row that no candidate re-creates, only recipes already found are tried. */
const MISSES_BEFORE_NARROWING = 8;

/**
 * zip: walks the target's entries in file order. Everything between compressed data (local
 * headers, data descriptors, central directory, comments) ships as literals, compressed against
 * the base file, where the same headers mostly already are. Per entry: compressed bytes found in
 * the base are copied; a stored entry's bytes go to the content stream; a deflated one's content
 * goes there with the recipe that re-creates its bytes, or its compressed bytes when none does.
 */
async function zipCandidate(base: Buffer, target: Buffer, limits: ArchiveLimits, progress: (share: number) => void): Promise<Candidate | null> {
  const entries = readZipEntries(target, limits).sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  const view = viewFor(base, 'zip', limits);
  const baseData = view === 'zip' ? indexCompressedData(base, readZipEntries(base, limits)) : new Map<string, number>();
  const plan = new PlanBuilder();
  const preferred: DeflateRecipe[] = [];
  const counts = { copied: 0, rebuilt: 0, shipped: 0 };
  let cursor = 0;
  let misses = 0;
  for (const [index, entry] of entries.entries()) {
    if (entry.localHeaderOffset < cursor) return null; // overlapping entries: leave it to the whole-file way
    plan.literal(target.subarray(cursor, entry.dataOffset));
    const compressed = compressedBytes(target, entry);
    cursor = entry.dataOffset + entry.compressedSize;
    if (compressed.length === 0) continue;
    const inBase = baseData.get(digest(compressed));
    if (inBase !== undefined) {
      plan.copyBase(inBase, compressed.length);
      counts.copied++;
    } else if (!isDeflated(entry)) {
      // Stored entries are their content; other methods and encrypted entries ship as they are.
      plan.content(compressed);
      if (hasReadableContent(entry)) counts.rebuilt++;
      else counts.shipped++;
    } else {
      const content = entryContent(target, entry);
      const recipe = await findRecipe({ content, expected: compressed, preferred, exhaustive: misses < MISSES_BEFORE_NARROWING });
      if (recipe) {
        plan.deflate(content, recipe, compressed.length);
        if (!preferred.some((known) => known === recipe)) preferred.unshift(recipe);
        misses = 0;
        counts.rebuilt++;
      } else {
        plan.content(compressed);
        misses++;
        counts.shipped++;
      }
    }
    if (index % 16 === 0) {
      progress(index / entries.length);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  plan.literal(target.subarray(cursor));
  return { format: 'zip', view, plan, entries: counts };
}

function digest(bytes: Buffer): string {
  return crypto.createHash('sha256').update(bytes).digest('base64');
}

/** Where each distinct compressed stream of the base lies, by its hash. */
function indexCompressedData(base: Buffer, entries: ZipEntry[]): Map<string, number> {
  const index = new Map<string, number>();
  for (const entry of entries) if (entry.compressedSize > 0) index.set(digest(compressedBytes(base, entry)), entry.dataOffset);
  return index;
}
