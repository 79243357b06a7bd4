import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLabelsFile, readClassNames } from './labelsFile.js';

const rows = (text: string, file = 'l.csv') =>
  parseLabelsFile(text, file).map((r) => [r.key, r.labels, r.line] as const);

describe('parseLabelsFile: CSV', () => {
  it('reads rows with or without a header, any separator, quoted fields, comments, BOM and CRLF', () => {
    const text =
      '\ufeffImage , LABELS\r\n' +
      '# a comment\r\n' +
      '\r\n' +
      'a.jpg,dog;person\r\n' +
      'b,cat|dog\r\n' +
      'c.png, 3  7 \r\n' +
      '"dir/with, comma.jpg","dog; cat"\r\n' +
      '"say ""hi"".jpg",dog\r\n' +
      'empty.jpg,\r\n' +
      'nocomma.jpg\r\n' +
      'trailing.jpg,dog,,\r\n';
    expect(rows(text)).toEqual([
      ['a.jpg', ['dog', 'person'], 4],
      ['b', ['cat', 'dog'], 5],
      ['c.png', ['3', '7'], 6],
      ['dir/with, comma.jpg', ['dog', 'cat'], 7],
      ['say "hi".jpg', ['dog'], 8],
      ['empty.jpg', [], 9],
      ['nocomma.jpg', [], 10],
      ['trailing.jpg', ['dog'], 11],
    ]);
    // no header: the first line is a row
    expect(rows('a.jpg,dog\nb.jpg\n')).toEqual([
      ['a.jpg', ['dog'], 1],
      ['b.jpg', [], 2],
    ]);
    // any extension other than .json/.jsonl/.ndjson that does not start with { or [ is CSV
    expect(rows('a,dog\n', 'labels.txt')).toEqual([['a', ['dog'], 1]]);
    expect(parseLabelsFile('', 'l.csv')).toEqual([]);
  });

  it('names the file and the line of malformed rows', () => {
    expect(() => parseLabelsFile('image,labels\na.jpg,dog\n"b.jpg,cat\n', 'l.csv')).toThrow(
      `l.csv: line 3: unterminated quoted field (expected a closing '"' on the same line)`,
    );
    expect(() => parseLabelsFile('a.jpg,dog\n"b.jpg"x,cat\n', 'l.csv')).toThrow(
      `l.csv: line 2: unexpected "x" after a closing quote at column 8`,
    );
    expect(() => parseLabelsFile('a.jpg,dog,cat\n', 'l.csv')).toThrow(
      `l.csv: line 1: 3 fields; expected "image,labels" with the labels separated by ';', '|' or spaces`,
    );
    expect(() => parseLabelsFile('image,labels\n,dog\n', 'l.csv')).toThrow(
      'l.csv: line 2: no image path before the comma',
    );
  });
});

describe('parseLabelsFile: JSON', () => {
  it('reads an object of path → labels with the line of each key, duplicates kept', () => {
    const text =
      '{\n  "a.jpg": ["dog", "person"],\n  "b": [3, " cat "],\n  "c": [],\n  "a.jpg": ["cat"]\n}\n';
    expect(rows(text, 'l.json')).toEqual([
      ['a.jpg', ['dog', 'person'], 2],
      ['b', ['3', 'cat'], 3],
      ['c', [], 4],
      ['a.jpg', ['cat'], 5],
    ]);
    // without a telling extension, the content decides
    expect(rows('{"a": ["dog"]}', 'labels')).toEqual([['a', ['dog'], 1]]);
  });

  it('reads an array of records and JSON lines (.jsonl, .ndjson, or several objects in a .json)', () => {
    const arr = '[\n {"image": "a.jpg", "labels": ["dog"]},\n\n {"image": "b", "labels": [], "note": 1}\n]';
    expect(rows(arr, 'l.json')).toEqual([
      ['a.jpg', ['dog'], 2],
      ['b', [], 4],
    ]);
    const lines = '{"image": "a.jpg", "labels": ["dog"]}\r\n\n{"image": "b", "labels": [2]}\n';
    const want = [
      ['a.jpg', ['dog'], 1],
      ['b', ['2'], 3],
    ];
    expect(rows(lines, 'l.jsonl')).toEqual(want);
    expect(rows(lines, 'l.ndjson')).toEqual(want);
    expect(rows(lines, 'l.json')).toEqual(want);
    expect(rows('{"image": "a.jpg", "labels": ["dog"]}\n', 'l.json')).toEqual([['a.jpg', ['dog'], 1]]);
  });

  it('names the file and the line of malformed JSON and of records of the wrong shape', () => {
    expect(() => parseLabelsFile('{\n  "a": ["dog"],\n  "b": ["cat"]\n  "c": []\n}', 'l.json')).toThrow(
      `l.json: line 4: invalid JSON at column 3: expected ',' or '}' after a property value, found "\\""`,
    );
    expect(() => parseLabelsFile('{\n  "a": ["dog"],\n', 'l.json')).toThrow(
      'l.json: line 3: invalid JSON at column 1: expected a double-quoted property name, found the end of the file',
    );
    expect(() =>
      parseLabelsFile('{"image": "a", "labels": []}\n{"image": "b", labels: []}\n', 'l.jsonl'),
    ).toThrow(
      'l.jsonl: line 2: invalid JSON at column 16: expected a double-quoted property name, found "l"',
    );
    expect(() => parseLabelsFile('{"image": "a", "labels": []} {"image": "b"}\n', 'l.jsonl')).toThrow(
      'l.jsonl: line 1: invalid JSON at column 30: expected nothing after the object (a JSON-lines file holds one object per line)',
    );
    expect(() => parseLabelsFile('{"a": "dog"}', 'l.json')).toThrow(
      'l.json: line 1: the labels of "a" must be an array of class names or 1-based indices, got "dog"',
    );
    expect(() => parseLabelsFile('[\n{"image": "a", "labels": [true]}]', 'l.json')).toThrow(
      'l.json: line 2: label true of "a" is not a class name or a 1-based index',
    );
    expect(() => parseLabelsFile('[1]', 'l.json')).toThrow(
      'l.json: line 1: expected an object {"image": "<path>", "labels": [...]}, got 1',
    );
    expect(() => parseLabelsFile('{"image": "a"}\n', 'l.jsonl')).toThrow(
      'l.jsonl: line 1: the labels of "a" must be an array of class names or 1-based indices, got none',
    );
    expect(() => parseLabelsFile('  \n', 'l.json')).toThrow(
      'l.json: line 1: empty file; expected a JSON object or array',
    );
  });
});

describe('readClassNames', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wsss-classes-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };

  it('reads text (one per line) and JSON, putting background first', async () => {
    expect(await readClassNames(write('a.txt', '\ufeff# my classes\r\ndog\r\n\r\n  person \r\n'))).toEqual([
      'background',
      'dog',
      'person',
    ]);
    expect(await readClassNames(write('b.txt', 'Background\ndog\n'))).toEqual(['background', 'dog']);
    expect(await readClassNames(write('c.json', '["background", "dog", "cat"]'))).toEqual([
      'background',
      'dog',
      'cat',
    ]);
    expect(await readClassNames(write('d.json', '{"classes": ["dog"], "imageExt": ".jpg"}'))).toEqual([
      'background',
      'dog',
    ]);
  });

  it('names the line of a duplicate, empty, numeric or misplaced name', async () => {
    const dup = write('dup.txt', 'dog\ncat\n\ndog\n');
    await expect(readClassNames(dup)).rejects.toThrow(`${dup}: line 4: class name "dog" repeats line 1`);
    const empty = write('empty.json', '[\n"dog",\n""\n]');
    await expect(readClassNames(empty)).rejects.toThrow(`${empty}: line 3: empty class name`);
    const num = write('num.txt', 'dog\n7\n');
    await expect(readClassNames(num)).rejects.toThrow(`${num}: line 2: class name "7" is a number`);
    const bg = write('bg.txt', 'dog\nbackground\n');
    await expect(readClassNames(bg)).rejects.toThrow(
      `${bg}: line 2: "background" must be the first name (class 0), not name 2`,
    );
    const none = write('none.txt', 'background\n');
    await expect(readClassNames(none)).rejects.toThrow(`${none}: names no class besides background`);
    const notStr = write('ns.json', '["dog", 3]');
    await expect(readClassNames(notStr)).rejects.toThrow(`${notStr}: line 1: class name 3 is not a string`);
    const bad = write('bad.json', '["dog",\n"cat"');
    await expect(readClassNames(bad)).rejects.toThrow(`${bad}: line 2: invalid JSON`);
    await expect(readClassNames(join(dir, 'nope.txt'))).rejects.toThrow(
      'nope.txt: unreadable class-name file (ENOENT)',
    );
  });
});
