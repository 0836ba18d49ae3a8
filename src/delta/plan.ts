import { ByteWriter } from './bytes.js';
import { encodeRecipe, recipeKey, type DeflateRecipe } from './deflateRecipes.js';
import { OP } from './instructions.js';

/**
 * Collects a delta's instructions and its two streams while generation walks the target.
 * Adjacent LITERAL and CONTENT instructions are merged, so a run of headers costs one instruction.
 */
export class PlanBuilder {
  private readonly instructions = new ByteWriter();
  private readonly literalParts: Buffer[] = [];
  private readonly contentParts: Buffer[] = [];
  private readonly recipeList: DeflateRecipe[] = [];
  private readonly recipeIndex = new Map<string, number>();
  private pending: { op: typeof OP.LITERAL | typeof OP.CONTENT; length: number } | null = null;
  /** Target bytes described so far. */
  written = 0;

  copyBase(offset: number, length: number): void {
    if (length === 0) return;
    this.flush();
    this.instructions.varint(OP.COPY_BASE).varint(offset).varint(length);
    this.written += length;
  }

  /** Base bytes from `offset` plus `diff` (mod 256): bsdiff's approximate matches. */
  addToBase(offset: number, diff: Uint8Array): void {
    if (diff.length === 0) return;
    this.flush();
    this.instructions.varint(OP.ADD_BASE).varint(offset).varint(diff.length);
    this.contentParts.push(Buffer.from(diff.buffer, diff.byteOffset, diff.byteLength));
    this.written += diff.length;
  }

  literal(bytes: Buffer): void {
    this.queue(OP.LITERAL, bytes, this.literalParts);
  }

  content(bytes: Buffer): void {
    this.queue(OP.CONTENT, bytes, this.contentParts);
  }

  /** `content` deflated by `recipe` re-creates `compressedLength` target bytes (verified by the caller). */
  deflate(content: Buffer, recipe: DeflateRecipe, compressedLength: number): void {
    this.flush();
    const key = recipeKey(recipe);
    let index = this.recipeIndex.get(key);
    if (index === undefined) {
      index = this.recipeList.length;
      this.recipeList.push(recipe);
      this.recipeIndex.set(key, index);
    }
    this.instructions.varint(OP.DEFLATE).varint(content.length).varint(index);
    this.contentParts.push(content);
    this.written += compressedLength;
  }

  finish(): { recipes: Buffer; instructions: Buffer; literals: Buffer; content: Buffer } {
    this.flush();
    this.instructions.varint(OP.END);
    return {
      recipes: Buffer.concat(this.recipeList.map(encodeRecipe)),
      instructions: this.instructions.toBuffer(),
      literals: Buffer.concat(this.literalParts),
      content: Buffer.concat(this.contentParts),
    };
  }

  private queue(op: typeof OP.LITERAL | typeof OP.CONTENT, bytes: Buffer, parts: Buffer[]): void {
    if (bytes.length === 0) return;
    if (this.pending && this.pending.op !== op) this.flush();
    this.pending ??= { op, length: 0 };
    this.pending.length += bytes.length;
    parts.push(bytes);
    this.written += bytes.length;
  }

  private flush(): void {
    if (this.pending) this.instructions.varint(this.pending.op).varint(this.pending.length);
    this.pending = null;
  }
}
