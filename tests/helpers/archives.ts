import zlib from 'node:zlib';

/**
 * Builds zip and gzip files byte by byte for the delta tests: each choice a real producer makes
 * (compressor and level, data descriptors, extra fields, comments, mtimes, file names in gzip
 * headers) is a parameter, so a test can say exactly what kind of archive it feeds in.
 */
export interface ZipEntrySpec {
  name: string;
  content: Buffer | string;
  /** `store` (method 0) or a deflate function (method 8). Default: Node's zlib level 6. */
  compress?: 'store' | ((content: Buffer) => Buffer);
  /** Sizes and CRC after the data (general-purpose flag bit 3), as streaming writers do. */
  dataDescriptor?: boolean;
  extra?: Buffer;
  /** An extra field in the local header only (zipalign pads this way); default: the same as `extra`. */
  localExtra?: Buffer;
  comment?: string;
  /** DOS time and date fields as written (default: a fixed 2026 date). */
  dosTime?: number;
  dosDate?: number;
}

export function makeZip(entries: ZipEntrySpec[], options: { comment?: string; prefix?: Buffer } = {}): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const push = (part: Buffer) => {
    parts.push(part);
    offset += part.length;
  };
  if (options.prefix) push(options.prefix);
  for (const spec of entries) {
    const content = Buffer.isBuffer(spec.content) ? spec.content : Buffer.from(spec.content);
    const method = spec.compress === 'store' ? 0 : 8;
    const data = spec.compress === 'store' ? content : (spec.compress ?? ((bytes: Buffer) => zlib.deflateRawSync(bytes, { level: 6 })))(content);
    const crc = zlib.crc32(content);
    const name = Buffer.from(spec.name);
    const extra = spec.extra ?? Buffer.alloc(0);
    const localExtra = spec.localExtra ?? extra;
    const flags = (spec.dataDescriptor ? 0x08 : 0) | 0x800;
    const time = spec.dosTime ?? 0x6000;
    const date = spec.dosDate ?? 0x5b7a;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(spec.dataDescriptor ? 0 : crc, 14);
    local.writeUInt32LE(spec.dataDescriptor ? 0 : data.length, 18);
    local.writeUInt32LE(spec.dataDescriptor ? 0 : content.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(localExtra.length, 28);
    const localOffset = offset;
    push(Buffer.concat([local, name, localExtra, data]));
    if (spec.dataDescriptor) {
      const descriptor = Buffer.alloc(16);
      descriptor.writeUInt32LE(0x08074b50, 0);
      descriptor.writeUInt32LE(crc, 4);
      descriptor.writeUInt32LE(data.length, 8);
      descriptor.writeUInt32LE(content.length, 12);
      push(descriptor);
    }
    const comment = Buffer.from(spec.comment ?? '');
    const record = Buffer.alloc(46);
    record.writeUInt32LE(0x02014b50, 0);
    record.writeUInt16LE(0x031e, 4);
    record.writeUInt16LE(20, 6);
    record.writeUInt16LE(flags, 8);
    record.writeUInt16LE(method, 10);
    record.writeUInt16LE(time, 12);
    record.writeUInt16LE(date, 14);
    record.writeUInt32LE(crc, 16);
    record.writeUInt32LE(data.length, 20);
    record.writeUInt32LE(content.length, 24);
    record.writeUInt16LE(name.length, 28);
    record.writeUInt16LE(extra.length, 30);
    record.writeUInt16LE(comment.length, 32);
    record.writeUInt32LE(0o100644 * 0x10000, 38);
    record.writeUInt32LE(localOffset, 42);
    central.push(Buffer.concat([record, name, extra, comment]));
  }
  const centralOffset = offset;
  const directory = Buffer.concat(central);
  const comment = Buffer.from(options.comment ?? '');
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(centralOffset, 16);
  end.writeUInt16LE(comment.length, 20);
  return Buffer.concat([...parts, directory, end, comment]);
}

/** A gzip file with the header fields producers vary: mtime, OS byte, original file name. */
export function makeGzip(content: Buffer, options: { level?: number; mtime?: number; os?: number; fileName?: string } = {}): Buffer {
  const name = options.fileName === undefined ? null : Buffer.from(`${options.fileName}\0`, 'latin1');
  const header = Buffer.from([0x1f, 0x8b, 8, name ? 0x08 : 0, 0, 0, 0, 0, 0, options.os ?? 3]);
  header.writeUInt32LE(options.mtime ?? 0, 4);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(zlib.crc32(content), 0);
  trailer.writeUInt32LE(content.length % 2 ** 32, 4);
  return Buffer.concat([header, ...(name ? [name] : []), zlib.deflateRawSync(content, { level: options.level ?? 9 }), trailer]);
}

/** A minimal ustar archive of the files, in order (enough for tar-shaped test data). */
export function makeTar(files: { name: string; content: Buffer | string }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    const content = Buffer.isBuffer(file.content) ? file.content : Buffer.from(file.content);
    const header = Buffer.alloc(512);
    header.write(file.name, 0, 100);
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124);
    header.write('14712345670\0', 136);
    header.write('        ', 148);
    header.write('0', 156);
    header.write('ustar\0' + '00', 257);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(header, content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** Deterministic pseudo-random text-like content (source files that compress like real ones). */
export function sourceText(seed: number, lines: number): string {
  let state = seed >>> 0 || 1;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
  const words = ['const', 'return', 'function', 'value', 'export', 'import', 'await', 'result', 'options', 'length', 'error', 'throw', 'if', 'else', 'for', 'of'];
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const count = 3 + (next() % 9);
    const line: string[] = [];
    for (let w = 0; w < count; w++) line.push(`${words[next() % words.length]}${next() % 7 === 0 ? next() % 1000 : ''}`);
    out.push(`${'  '.repeat(next() % 4)}${line.join(' ')};`);
  }
  return `${out.join('\n')}\n`;
}
