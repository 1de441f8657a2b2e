/**
 * A reproducible tar.gz writer: POSIX ustar entries in the given order, each
 * owned by 0:0 with the given mode and one fixed modification time, so the
 * same inputs give the same bytes on any host. (Bun.Archive writes every
 * file with mode 0644 and the current time.)
 */

export interface TarEntry {
  /** Path inside the archive; a directory's ends with "/". */
  path: string;
  mode: number;
  /** File contents; absent for a directory. */
  data?: Uint8Array;
}

const BLOCK_BYTES = 512;
const encoder = new TextEncoder();

function writeString(header: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = encoder.encode(text);
  if (bytes.length > length) throw new Error(`tar: '${text}' is longer than the ${length} bytes of its field`);
  header.set(bytes, offset);
}

/** Writes a number as zero-padded octal with a NUL terminator, as ustar fields are. */
function writeOctal(header: Uint8Array, offset: number, length: number, value: number): void {
  writeString(header, offset, length, `${value.toString(8).padStart(length - 1, "0")}\0`);
}

/** Splits a path longer than 100 bytes into ustar's prefix (up to 155 bytes) and name. */
function splitPath(path: string): [prefix: string, name: string] {
  if (encoder.encode(path).length <= 100) return ["", path];
  const cut = path.lastIndexOf("/", path.endsWith("/") ? path.length - 2 : path.length - 1);
  if (cut <= 0 || encoder.encode(path.slice(0, cut)).length > 155 || encoder.encode(path.slice(cut + 1)).length > 100) {
    throw new Error(`tar: path too long for ustar: ${path}`);
  }
  return [path.slice(0, cut), path.slice(cut + 1)];
}

function header(entry: TarEntry, mtimeSeconds: number): Uint8Array {
  const block = new Uint8Array(BLOCK_BYTES);
  const directory = entry.path.endsWith("/");
  const [prefix, name] = splitPath(entry.path);
  writeString(block, 0, 100, name);
  writeOctal(block, 100, 8, entry.mode);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, directory ? 0 : (entry.data?.length ?? 0));
  writeOctal(block, 136, 12, mtimeSeconds);
  block.fill(0x20, 148, 156);
  block[156] = directory ? 0x35 : 0x30;
  writeString(block, 257, 6, "ustar\0");
  writeString(block, 263, 2, "00");
  writeString(block, 265, 32, "root");
  writeString(block, 297, 32, "root");
  writeString(block, 345, 155, prefix);

  // The checksum is the sum of the header's bytes with its own field read as spaces.
  let sum = 0;
  for (const byte of block) sum += byte;
  writeString(block, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return block;
}

/** Returns the uncompressed tar archive of the entries. */
export function tar(entries: readonly TarEntry[], mtimeSeconds: number): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const entry of entries) {
    const head = header(entry, mtimeSeconds);
    parts.push(head);
    total += head.length;
    if (entry.data && !entry.path.endsWith("/")) {
      const padded = Math.ceil(entry.data.length / BLOCK_BYTES) * BLOCK_BYTES;
      const body = new Uint8Array(padded);
      body.set(entry.data);
      parts.push(body);
      total += padded;
    }
  }
  // Two zero blocks end the archive.
  total += 2 * BLOCK_BYTES;
  const archive = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    archive.set(part, offset);
    offset += part.length;
  }
  return archive;
}

/** Returns the gzip-compressed tar archive. zlib writes no time or file name into the gzip header, so the bytes depend only on the input. */
export function tarGz(entries: readonly TarEntry[], mtimeSeconds: number): Uint8Array {
  return Bun.gzipSync(tar(entries, mtimeSeconds), { level: 9 });
}
