import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { DatasetError } from '../io/errors.js';

/** One row of a labels file: an image and its image-level labels, as written. */
export interface LabelRow {
  /** The image as the file names it: a path relative to the image folder, or that path without extension. */
  key: string;
  /** Class names or 1-based class indices (as strings), in file order; empty = a background-only image. */
  labels: string[];
  /** The 1-based line of the row (for JSON, the line where its entry starts), for error messages. */
  line: number;
}

/** The name of class 0. */
const BACKGROUND = 'background';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A strict JSON reader (RFC 8259) that knows the line of every position, so that a syntax error names the line
 * and the entries of a top-level object or array keep the line they start on. `JSON.parse` gives neither (and
 * silently keeps the last of two equal keys, where a labels file has a duplicate row to report).
 */
class JsonReader {
  private pos = 0;
  private line: number;
  private lineStart = 0;

  /** @param firstLine - the line number of `text`'s first line in the file (for one line of a JSON-lines file). */
  constructor(
    private readonly text: string,
    private readonly file: string,
    firstLine = 1,
  ) {
    this.line = firstLine;
  }

  /** The current line (after {@link ws}, the line of the next token). */
  get currentLine(): number {
    return this.line;
  }

  /** The next character, or '' at the end. */
  peek(): string {
    return this.text[this.pos] ?? '';
  }

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  /** Throws a DatasetError naming the file, the line and the column of the current position. */
  fail(expected: string): never {
    const ch = this.text[this.pos];
    const found = ch === undefined ? 'the end of the file' : `${JSON.stringify(ch)}`;
    throw new DatasetError(
      this.file,
      `line ${this.line}: invalid JSON at column ${this.pos - this.lineStart + 1}: expected ${expected}, found ${found}`,
    );
  }

  /** Skips whitespace, counting lines (JSON has line breaks only in whitespace). */
  ws(): void {
    const t = this.text;
    for (;;) {
      const c = t.charCodeAt(this.pos);
      if (c === 0x0a) {
        this.line++;
        this.lineStart = this.pos + 1;
      } else if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return;
      this.pos++;
    }
  }

  /** Reads one value; objects are built without a prototype, so any key is safe. */
  value(): Json {
    this.ws();
    const c = this.peek();
    if (c === '{') {
      const obj: { [key: string]: Json } = Object.create(null);
      this.members((key, v) => {
        obj[key] = v;
      });
      return obj;
    }
    if (c === '[') {
      const arr: Json[] = [];
      this.elements((v) => arr.push(v));
      return arr;
    }
    if (c === '"') return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    return this.fail('a JSON value');
  }

  /**
   * Reads an object, calling `each` per member (duplicates included) with the line its key is on.
   * @param read - reads the value of member `key` (default {@link value}), e.g. to see where array elements start.
   */
  members(
    each: (key: string, value: Json, line: number) => void,
    read: (key: string) => Json = () => this.value(),
  ): void {
    this.ws();
    if (this.peek() !== '{') this.fail("'{'");
    this.pos++;
    this.ws();
    if (this.peek() === '}') {
      this.pos++;
      return;
    }
    for (;;) {
      this.ws();
      if (this.peek() !== '"') this.fail('a double-quoted property name');
      const line = this.line;
      const key = this.string();
      this.ws();
      if (this.peek() !== ':') this.fail("':' after a property name");
      this.pos++;
      each(key, read(key), line);
      this.ws();
      const c = this.peek();
      this.pos++;
      if (c === '}') return;
      if (c !== ',') {
        this.pos--;
        this.fail("',' or '}' after a property value");
      }
    }
  }

  /** Reads an array, calling `each` per element with the line the element starts on. */
  elements(each: (value: Json, line: number) => void): void {
    this.ws();
    if (this.peek() !== '[') this.fail("'['");
    this.pos++;
    this.ws();
    if (this.peek() === ']') {
      this.pos++;
      return;
    }
    for (;;) {
      this.ws();
      const line = this.line;
      each(this.value(), line);
      this.ws();
      const c = this.peek();
      this.pos++;
      if (c === ']') return;
      if (c !== ',') {
        this.pos--;
        this.fail("',' or ']' after an array element");
      }
    }
  }

  /** Requires that nothing but whitespace follows. */
  end(what: string): void {
    this.ws();
    if (!this.atEnd()) this.fail(`nothing after ${what}`);
  }

  private string(): string {
    const t = this.text;
    this.pos++; // opening quote
    let out = '';
    let from = this.pos;
    for (;;) {
      const c = t.charCodeAt(this.pos);
      if (Number.isNaN(c)) this.fail("a closing '\"'");
      if (c === 0x22) {
        out += t.slice(from, this.pos);
        this.pos++;
        return out;
      }
      if (c < 0x20) this.fail("a closing '\"' (strings cannot hold line breaks or control characters)");
      if (c === 0x5c) {
        out += t.slice(from, this.pos);
        const e = t[this.pos + 1];
        const simple: Record<string, string> = {
          '"': '"',
          '\\': '\\',
          '/': '/',
          b: '\b',
          f: '\f',
          n: '\n',
          r: '\r',
          t: '\t',
        };
        if (e !== undefined && e in simple) {
          out += simple[e];
          this.pos += 2;
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(t.slice(this.pos + 2, this.pos + 6))) {
          out += String.fromCharCode(Number.parseInt(t.slice(this.pos + 2, this.pos + 6), 16));
          this.pos += 6;
        } else {
          this.pos++;
          this.fail('a valid escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)');
        }
        from = this.pos;
        continue;
      }
      this.pos++;
    }
  }

  private number(): number {
    const re = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (!m) return this.fail('a number');
    this.pos += m[0].length;
    return Number(m[0]);
  }
}

function isObject(v: Json): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Turns a JSON label list into strings; `what` names the entry in the error. */
function jsonLabels(v: Json | undefined, file: string, line: number, what: string): string[] {
  if (!Array.isArray(v)) {
    throw new DatasetError(
      file,
      `line ${line}: the labels of ${what} must be an array of class names or 1-based indices, got ${v === undefined ? 'none' : JSON.stringify(v)}`,
    );
  }
  return v.map((l) => {
    const s = typeof l === 'string' ? l.trim() : typeof l === 'number' ? String(l) : null;
    if (s === null || s === '') {
      throw new DatasetError(
        file,
        `line ${line}: label ${JSON.stringify(l)} of ${what} is not a class name or a 1-based index`,
      );
    }
    return s;
  });
}

/** An `{ "image": …, "labels": [...] }` record (a JSON array element or a JSON line). */
function recordRow(v: Json, file: string, line: number): LabelRow {
  if (!isObject(v) || typeof v.image !== 'string' || v.image.trim() === '') {
    throw new DatasetError(
      file,
      `line ${line}: expected an object {"image": "<path>", "labels": [...]}, got ${JSON.stringify(v)}`,
    );
  }
  const key = v.image.trim();
  return { key, labels: jsonLabels(v.labels, file, line, `"${key}"`), line };
}

function parseJsonLines(text: string, file: string): LabelRow[] {
  const rows: LabelRow[] = [];
  text.split('\n').forEach((lineText, i) => {
    if (lineText.trim() === '') return;
    const r = new JsonReader(lineText, file, i + 1);
    const v = r.value();
    r.end('the object (a JSON-lines file holds one object per line)');
    rows.push(recordRow(v, file, i + 1));
  });
  return rows;
}

function parseJson(text: string, file: string): LabelRow[] {
  const r = new JsonReader(text, file);
  r.ws();
  if (r.atEnd()) throw new DatasetError(file, 'line 1: empty file; expected a JSON object or array');
  if (r.peek() === '[') {
    const rows: LabelRow[] = [];
    r.elements((v, line) => rows.push(recordRow(v, file, line)));
    r.end('the array');
    return rows;
  }
  if (r.peek() !== '{') r.fail("'{' (an object of image → labels) or '[' (an array of records)");
  const members: [string, Json, number][] = [];
  r.members((key, v, line) => members.push([key, v, line]));
  r.ws();
  // More objects after the first: JSON lines in a .json file.
  if (!r.atEnd()) return parseJsonLines(text, file);
  // A single {"image": "…", …} object is a one-line JSON-lines file, not a map (whose values are arrays).
  if (members.some(([k, v]) => k === 'image' && typeof v === 'string')) {
    const rec: { [key: string]: Json } = Object.create(null);
    for (const [k, v] of members) rec[k] = v;
    return [recordRow(rec, file, members[0]![2])];
  }
  return members.map(([key, v, line]) => ({
    key: key.trim(),
    labels: jsonLabels(v, file, line, `"${key}"`),
    line,
  }));
}

/**
 * Splits one CSV line into fields: comma-separated, a field may be double-quoted (`""` inside quotes is a
 * quote); unquoted fields are trimmed, quoted ones kept as written.
 */
function csvFields(text: string, file: string, line: number): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let j = i;
    while (text[j] === ' ' || text[j] === '\t') j++;
    if (text[j] !== '"') {
      const comma = text.indexOf(',', i);
      out.push(text.slice(i, comma < 0 ? text.length : comma).trim());
      if (comma < 0) return out;
      i = comma + 1;
      continue;
    }
    let value = '';
    j++;
    for (;;) {
      const q = text.indexOf('"', j);
      if (q < 0) {
        throw new DatasetError(
          file,
          `line ${line}: unterminated quoted field (expected a closing '"' on the same line)`,
        );
      }
      value += text.slice(j, q);
      if (text[q + 1] === '"') {
        value += '"';
        j = q + 2;
        continue;
      }
      j = q + 1;
      break;
    }
    while (text[j] === ' ' || text[j] === '\t') j++;
    out.push(value);
    if (j >= text.length) return out;
    if (text[j] !== ',') {
      throw new DatasetError(
        file,
        `line ${line}: unexpected ${JSON.stringify(text[j])} after a closing quote at column ${j + 1} (expected ',' or the end of the line)`,
      );
    }
    i = j + 1;
  }
}

function parseCsv(text: string, file: string): LabelRow[] {
  const rows: LabelRow[] = [];
  let first = true;
  text.split(/\r\n|\n|\r/).forEach((lineText, i) => {
    const line = i + 1;
    const trimmed = lineText.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const fields = csvFields(lineText, file, line);
    if (first) {
      first = false;
      if (fields[0]!.toLowerCase() === 'image' && fields[1]?.toLowerCase() === 'labels') return;
    }
    // trailing empty fields (a spreadsheet's "a.jpg,dog,,") are harmless
    while (fields.length > 2 && fields[fields.length - 1] === '') fields.pop();
    if (fields.length > 2) {
      throw new DatasetError(
        file,
        `line ${line}: ${fields.length} fields; expected "image,labels" with the labels separated by ';', '|' or spaces (quote a path that holds a comma)`,
      );
    }
    const key = fields[0]!;
    if (key === '') throw new DatasetError(file, `line ${line}: no image path before the comma`);
    rows.push({ key, labels: (fields[1] ?? '').split(/[;|\s]+/).filter(Boolean), line });
  });
  return rows;
}

/**
 * Parses a labels file of image-level labels. The format follows the extension of `file`, or the content when
 * the extension says nothing:
 * - CSV (`.csv`, or any other text not starting with `{` or `[`): one row per image, `path,labels`. The labels
 *   field holds class names or 1-based indices separated by `;`, `|` or spaces; an empty field or no comma at all
 *   means a background-only image. Either field may be double-quoted (`""` for a quote). An optional first line
 *   `image,labels` (any case) is a header; blank lines and lines starting with `#` are skipped.
 * - JSON (`.json`): an object `{ "path": ["dog", "person"], … }`, or an array
 *   `[{ "image": "path", "labels": [...] }, …]`, or, when the file holds several objects one per line,
 *   JSON lines.
 * - JSON lines (`.jsonl`, `.ndjson`): one `{ "image": "path", "labels": [...] }` per line.
 *
 * A UTF-8 byte-order mark and CRLF line ends are accepted. Paths are returned as written (relative to the image
 * folder, with or without extension); they are resolved and checked by the dataset that uses them. Rows are
 * returned in file order, duplicates included.
 * @param text - the file's contents.
 * @param file - the file's name, used for the format and in errors.
 * @throws DatasetError naming `file` and the line, for malformed syntax or a record of the wrong shape.
 */
export function parseLabelsFile(text: string, file: string): LabelRow[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const ext = extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return parseJsonLines(text, file);
  const first = /\S/.exec(text)?.[0];
  if (ext === '.json' || (ext !== '.csv' && (first === '{' || first === '['))) return parseJson(text, file);
  return parseCsv(text, file);
}

/**
 * Reads class names: a text file with one name per line (surrounding spaces trimmed; blank lines and lines
 * starting with `#` skipped), a JSON array of strings, or a JSON object whose `classes` is such an array (the
 * `classes.json` the synthetic generator writes). Class 0 is background: the returned list starts with
 * `background`, prepended when the file does not start with it (in any case). A name that is empty, repeats an
 * earlier one, is a plain number (labels files read numbers as class indices), or is `background` anywhere but
 * first is an error naming the line, as is a file with no class besides background.
 */
export async function readClassNames(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new DatasetError(file, `unreadable class-name file (${(err as NodeJS.ErrnoException).code})`, {
      cause: err,
    });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const entries: { name: string; line: number }[] = [];
  const first = /\S/.exec(text)?.[0];
  if (first === '[' || first === '{') {
    const r = new JsonReader(text, file);
    const take = (v: Json, line: number) => {
      if (typeof v !== 'string') {
        throw new DatasetError(file, `line ${line}: class name ${JSON.stringify(v)} is not a string`);
      }
      entries.push({ name: v.trim(), line });
    };
    if (first === '[') r.elements(take);
    else {
      let found = false;
      r.members(
        () => {},
        (key) => {
          if (key !== 'classes') return r.value();
          found = true;
          r.elements(take);
          return null;
        },
      );
      if (!found)
        throw new DatasetError(
          file,
          'expected a JSON array of class names or an object with a "classes" array',
        );
    }
    r.end('the class names');
  } else {
    text.split(/\r\n|\n|\r/).forEach((l, i) => {
      const name = l.trim();
      if (name !== '' && !name.startsWith('#')) entries.push({ name, line: i + 1 });
    });
  }
  const seen = new Map<string, number>();
  const names: string[] = [];
  entries.forEach(({ name, line }, k) => {
    if (name === '') throw new DatasetError(file, `line ${line}: empty class name`);
    if (name.toLowerCase() === BACKGROUND) {
      if (k !== 0) {
        throw new DatasetError(
          file,
          `line ${line}: "${name}" must be the first name (class 0), not name ${k + 1}`,
        );
      }
      return;
    }
    if (/^\d+$/.test(name)) {
      throw new DatasetError(
        file,
        `line ${line}: class name "${name}" is a number (labels files read numbers as 1-based class indices)`,
      );
    }
    const before = seen.get(name);
    if (before !== undefined)
      throw new DatasetError(file, `line ${line}: class name "${name}" repeats line ${before}`);
    seen.set(name, line);
    names.push(name);
  });
  if (names.length === 0) throw new DatasetError(file, 'names no class besides background');
  return [BACKGROUND, ...names];
}
