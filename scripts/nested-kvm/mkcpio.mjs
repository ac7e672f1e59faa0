// Write a newc cpio archive (an initramfs) without needing cpio(1).
//   node mkcpio.mjs OUT DEST=SRC... DIR/...
// DEST=SRC adds file SRC as DEST (mode 0755); DIR/ adds an empty directory.
import fs from 'node:fs';

const [out, ...specs] = process.argv.slice(2);
const parts = [];
let inode = 1;
const padTo4 = (n) => Buffer.alloc((4 - (n % 4)) % 4);
const hex8 = (v) => v.toString(16).padStart(8, '0');

function add(name, mode, data) {
  const nameBytes = Buffer.from(`${name}\0`);
  const fields = [inode++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0];
  const header = Buffer.from(`070701${fields.map(hex8).join('')}`);
  parts.push(header, nameBytes, padTo4(header.length + nameBytes.length), data, padTo4(data.length));
}

for (const spec of specs) {
  if (spec.endsWith('/')) add(spec.slice(0, -1), 0o40755, Buffer.alloc(0));
  else {
    const eq = spec.indexOf('=');
    add(spec.slice(0, eq), 0o100755, fs.readFileSync(spec.slice(eq + 1)));
  }
}
add('TRAILER!!!', 0, Buffer.alloc(0));
fs.writeFileSync(out, Buffer.concat(parts));
