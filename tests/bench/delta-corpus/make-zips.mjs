// Re-creates the corpus's zips from its .tgz files (run with Node ≥ 22 from this directory;
// needs python3 and Info-ZIP `zip`). Each zip holds a package's files the way a .vsix does
// (extension/…, [Content_Types].xml, extension.vsixmanifest), written by a different producer:
//   lodash-*.vsix     CPython's zipfile (vanilla zlib, level 6)
//   commander-*.vsix  Node's zlib, level 6 (what vsce/yazl produce)
//   semver-*.zip      Info-ZIP `zip -X -9` (its own deflate: no recipe re-creates it)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

const manifest = (name, version) => `<?xml version="1.0" encoding="utf-8"?>\n<PackageManifest Version="2.0.0"><Metadata><Identity Id="${name}" Version="${version}" Publisher="devforge"/></Metadata></PackageManifest>\n`;
const contentTypes = '<?xml version="1.0" encoding="utf-8"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension=".js" ContentType="application/javascript"/><Default Extension=".json" ContentType="application/json"/></Types>\n';

/** The package's files, sorted, from its .tgz: [name inside the zip, bytes]. */
function filesOf(tgz, name, version) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corpus-'));
  execFileSync('tar', ['xzf', tgz, '-C', dir]);
  const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
  const files = walk(path.join(dir, 'package')).sort().map((file) => [`extension/${path.relative(path.join(dir, 'package'), file)}`, fs.readFileSync(file)]);
  return [['[Content_Types].xml', Buffer.from(contentTypes)], ['extension.vsixmanifest', Buffer.from(manifest(name, version))], ...files];
}

function nodeZip(files) {
  const parts = [], central = [];
  let offset = 0;
  for (const [name, content] of files) {
    const data = zlib.deflateRawSync(content, { level: 6 });
    const nameBytes = Buffer.from(name);
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0); header.writeUInt16LE(20, 4); header.writeUInt16LE(0x800, 6); header.writeUInt16LE(8, 8);
    header.writeUInt16LE(0, 10); header.writeUInt16LE(0x21, 12); header.writeUInt32LE(zlib.crc32(content), 14);
    header.writeUInt32LE(data.length, 18); header.writeUInt32LE(content.length, 22); header.writeUInt16LE(nameBytes.length, 26);
    const record = Buffer.alloc(46);
    record.writeUInt32LE(0x02014b50, 0); record.writeUInt16LE(0x031e, 4); header.copy(record, 6, 4, 30);
    record.writeUInt32LE(0o100644 * 0x10000, 38); record.writeUInt32LE(offset, 42);
    central.push(Buffer.concat([record, nameBytes]));
    parts.push(header, nameBytes, data);
    offset += header.length + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(files.length, 8); end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, directory, end]);
}

function pythonZip(files, out) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corpus-'));
  const list = files.map(([name, content], i) => (fs.writeFileSync(path.join(dir, String(i)), content), [name, path.join(dir, String(i))]));
  fs.writeFileSync(path.join(dir, 'list.json'), JSON.stringify(list));
  execFileSync('python3', ['-c', `
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z:
    for name, file in json.load(open(sys.argv[1])):
        info = zipfile.ZipInfo(name, (1985, 10, 26, 8, 15, 0)); info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, open(file, 'rb').read())
`, path.join(dir, 'list.json'), path.resolve(out)]);
}

function infoZip(files, out) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corpus-'));
  for (const [name, content] of files) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
    fs.utimesSync(path.join(dir, name), 499162500, 499162500);
  }
  fs.rmSync(path.resolve(out), { force: true });
  execFileSync('zip', ['-q', '-X', '-9', '-r', path.resolve(out), ...files.map(([name]) => name)], { cwd: dir });
}

for (const version of ['4.17.20', '4.17.21']) pythonZip(filesOf(`lodash-${version}.tgz`, 'lodash', version), `lodash-${version}.vsix`);
for (const version of ['12.0.0', '12.1.0']) fs.writeFileSync(`commander-${version}.vsix`, nodeZip(filesOf(`commander-${version}.tgz`, 'commander', version)));
for (const version of ['7.6.0', '7.6.2']) infoZip(filesOf(`semver-${version}.tgz`, 'semver', version), `semver-${version}.zip`);
