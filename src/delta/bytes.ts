import { DeltaError } from './errors.js';

/** Appends unsigned LEB128 varints and raw bytes; the delta's instruction stream is written with it. */
export class ByteWriter {
  private chunks: Buffer[] = [];
  private pending: number[] = [];

  varint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint out of range: ${value}`);
    let rest = value;
    while (rest >= 0x80) {
      this.pending.push((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.pending.push(rest);
    return this;
  }

  bytes(data: Uint8Array): this {
    this.flushPending();
    this.chunks.push(Buffer.from(data));
    return this;
  }

  toBuffer(): Buffer {
    this.flushPending();
    return Buffer.concat(this.chunks);
  }

  private flushPending(): void {
    if (this.pending.length) this.chunks.push(Buffer.from(this.pending));
    this.pending = [];
  }
}

/** Reads what ByteWriter wrote; running past the end is a CORRUPT delta (its checksum already passed). */
export class ByteReader {
  offset = 0;
  constructor(private readonly data: Buffer) {}

  get done(): boolean {
    return this.offset >= this.data.length;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.offset >= this.data.length) throw corrupt('an instruction runs past the end of its section');
      const byte = this.data[this.offset++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(value)) break;
        return value;
      }
      scale *= 0x80;
    }
    throw corrupt('an instruction holds a number too large');
  }

  bytes(length: number): Buffer {
    if (this.offset + length > this.data.length) throw corrupt('a section runs past its end');
    const slice = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }
}

export function corrupt(detail: string): DeltaError {
  return new DeltaError('CORRUPT', `The delta is corrupted: ${detail}. Download it again`);
}
