/**
 * bsdiff's matching (Colin Percival, "Naïve differences of executable code", 2003), in plain
 * TypeScript: a suffix array of the base (Larsson–Sadakane qsufsort, as in bsdiff 4.3) finds
 * long approximate matches; each match becomes "add these difference bytes to the base at this
 * offset" — mostly zeros where code only moved, so they compress to almost nothing — and the
 * bytes between matches are shipped. This is what makes executables small: a change that shifts
 * addresses alters a few bytes in every instruction, which defeats exact-match diffs (zstd) but
 * leaves bsdiff's differences sparse. Compression of the output is zstd's job (the container).
 *
 * Memory: two Int32Arrays of the base's length + 1 (8 bytes per base byte), so it is only used
 * for bases up to MAX_BSDIFF_BASE_BYTES.
 */
export const MAX_BSDIFF_BASE_BYTES = 64 * 1024 * 1024;

export interface BsdiffBlock {
  /** Base offset the difference bytes apply to. */
  baseOffset: number;
  /** target[i] = base[baseOffset + i] + diff[i] (mod 256) for this many bytes… */
  diff: Uint8Array;
  /** …then these bytes as they are. */
  extra: Uint8Array;
}

function split(I: Int32Array, V: Int32Array, start: number, len: number, h: number): void {
  if (len < 16) {
    for (let k = start; k < start + len; ) {
      let j = 1;
      let x = V[I[k]! + h]!;
      for (let i = 1; k + i < start + len; i++) {
        const value = V[I[k + i]! + h]!;
        if (value < x) {
          x = value;
          j = 0;
        }
        if (value === x) {
          const tmp = I[k + j]!;
          I[k + j] = I[k + i]!;
          I[k + i] = tmp;
          j++;
        }
      }
      for (let i = 0; i < j; i++) V[I[k + i]!] = k + j - 1;
      if (j === 1) I[k] = -1;
      k += j;
    }
    return;
  }
  const x = V[I[start + Math.floor(len / 2)]! + h]!;
  let jj = 0;
  let kk = 0;
  for (let i = start; i < start + len; i++) {
    const value = V[I[i]! + h]!;
    if (value < x) jj++;
    if (value === x) kk++;
  }
  jj += start;
  kk += jj;
  let i = start;
  let j = 0;
  let k = 0;
  while (i < jj) {
    const value = V[I[i]! + h]!;
    if (value < x) i++;
    else if (value === x) {
      const tmp = I[i]!;
      I[i] = I[jj + j]!;
      I[jj + j] = tmp;
      j++;
    } else {
      const tmp = I[i]!;
      I[i] = I[kk + k]!;
      I[kk + k] = tmp;
      k++;
    }
  }
  while (jj + j < kk) {
    if (V[I[jj + j]! + h] === x) j++;
    else {
      const tmp = I[jj + j]!;
      I[jj + j] = I[kk + k]!;
      I[kk + k] = tmp;
      k++;
    }
  }
  if (jj > start) split(I, V, start, jj - start, h);
  for (let n = 0; n < kk - jj; n++) V[I[jj + n]!] = kk - 1;
  if (jj === kk - 1) I[jj] = -1;
  if (start + len > kk) split(I, V, kk, start + len - kk, h);
}

/** The suffix array of `old` (I[0] is the empty suffix), by qsufsort. */
export function suffixArray(old: Uint8Array): Int32Array {
  const size = old.length;
  const I = new Int32Array(size + 1);
  const V = new Int32Array(size + 1);
  const buckets = new Int32Array(256);
  for (let i = 0; i < size; i++) buckets[old[i]!]!++;
  for (let i = 1; i < 256; i++) buckets[i]! += buckets[i - 1]!;
  for (let i = 255; i > 0; i--) buckets[i] = buckets[i - 1]!;
  buckets[0] = 0;
  for (let i = 0; i < size; i++) I[++buckets[old[i]!]!] = i;
  I[0] = size;
  for (let i = 0; i < size; i++) V[i] = buckets[old[i]!]!;
  V[size] = 0;
  for (let i = 1; i < 256; i++) if (buckets[i] === buckets[i - 1]! + 1) I[buckets[i]!] = -1;
  I[0] = -1;
  for (let h = 1; I[0] !== -(size + 1); h += h) {
    let len = 0;
    let i = 0;
    while (i < size + 1) {
      if (I[i]! < 0) {
        len -= I[i]!;
        i -= I[i]!;
      } else {
        if (len) I[i - len] = -len;
        len = V[I[i]!]! + 1 - i;
        split(I, V, i, len, h);
        i += len;
        len = 0;
      }
    }
    if (len) I[i - len] = -len;
  }
  for (let i = 0; i < size + 1; i++) I[V[i]!] = i;
  return I;
}

function matchLength(old: Uint8Array, oldStart: number, next: Uint8Array, newStart: number): number {
  let i = 0;
  const max = Math.min(old.length - oldStart, next.length - newStart);
  while (i < max && old[oldStart + i] === next[newStart + i]) i++;
  return i;
}

function compareSuffix(old: Buffer, oldStart: number, next: Buffer, newStart: number): number {
  const length = Math.min(old.length - oldStart, next.length - newStart);
  return Buffer.compare(old.subarray(oldStart, oldStart + length), next.subarray(newStart, newStart + length));
}

/** Longest match of next[newStart…] among the base's suffixes: [length, base position]. */
function search(I: Int32Array, old: Buffer, next: Buffer, newStart: number, start: number, end: number): [number, number] {
  let st = start;
  let en = end;
  while (en - st >= 2) {
    const x = st + Math.floor((en - st) / 2);
    if (compareSuffix(old, I[x]!, next, newStart) < 0) st = x;
    else en = x;
  }
  const x = matchLength(old, I[st]!, next, newStart);
  const y = matchLength(old, I[en]!, next, newStart);
  return x > y ? [x, I[st]!] : [y, I[en]!];
}

/** bsdiff's blocks for `target` against `base` (their bytes rebuild the target exactly, in order). */
export function bsdiffBlocks(base: Buffer, target: Buffer): BsdiffBlock[] {
  const old = base;
  const next = target;
  const oldSize = old.length;
  const newSize = next.length;
  const I = suffixArray(old);
  const blocks: BsdiffBlock[] = [];
  let scan = 0;
  let len = 0;
  let pos = 0;
  let lastScan = 0;
  let lastPos = 0;
  let lastOffset = 0;
  while (scan < newSize) {
    let oldScore = 0;
    scan += len;
    let scsc = scan;
    for (; scan < newSize; scan++) {
      [len, pos] = search(I, old, next, scan, 0, oldSize);
      for (; scsc < scan + len; scsc++) if (scsc + lastOffset < oldSize && old[scsc + lastOffset] === next[scsc]) oldScore++;
      if ((len === oldScore && len !== 0) || len > oldScore + 8) break;
      if (scan + lastOffset < oldSize && old[scan + lastOffset] === next[scan]) oldScore--;
    }
    if (len !== oldScore || scan === newSize) {
      let s = 0;
      let sf = 0;
      let lenf = 0;
      for (let i = 0; lastScan + i < scan && lastPos + i < oldSize; ) {
        if (old[lastPos + i] === next[lastScan + i]) s++;
        i++;
        if (s * 2 - i > sf * 2 - lenf) {
          sf = s;
          lenf = i;
        }
      }
      let lenb = 0;
      if (scan < newSize) {
        s = 0;
        let sb = 0;
        for (let i = 1; scan >= lastScan + i && pos >= i; i++) {
          if (old[pos - i] === next[scan - i]) s++;
          if (s * 2 - i > sb * 2 - lenb) {
            sb = s;
            lenb = i;
          }
        }
      }
      if (lastScan + lenf > scan - lenb) {
        const overlap = lastScan + lenf - (scan - lenb);
        s = 0;
        let ss = 0;
        let lens = 0;
        for (let i = 0; i < overlap; i++) {
          if (next[lastScan + lenf - overlap + i] === old[lastPos + lenf - overlap + i]) s++;
          if (next[scan - lenb + i] === old[pos - lenb + i]) s--;
          if (s > ss) {
            ss = s;
            lens = i + 1;
          }
        }
        lenf += lens - overlap;
        lenb -= lens;
      }
      const diff = new Uint8Array(lenf);
      for (let i = 0; i < lenf; i++) diff[i] = (next[lastScan + i]! - old[lastPos + i]!) & 0xff;
      const extra = next.subarray(lastScan + lenf, scan - lenb);
      blocks.push({ baseOffset: lastPos, diff, extra });
      lastScan = scan - lenb;
      lastPos = pos - lenb;
      lastOffset = pos - scan;
    }
  }
  return blocks;
}
