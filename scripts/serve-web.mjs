// serve-web.mjs - static server for the browser compressor, on 127.0.0.1 only.
//   /          -> web/        (the page, workers)
//   /wasm/     -> build-wasm/dist/ (the built module), then wasm/ (the JS API sources)
// No network beyond loopback, no CDN. Usage: node scripts/serve-web.mjs [port] (0 = any free
// port); prints "serving http://127.0.0.1:PORT/" once listening.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const mounts = [
  ['/wasm/', [process.env.NOVAQ_WASM_DIST || path.join(root, 'build-wasm/dist'), path.join(root, 'wasm')]],
  ['/', [path.join(root, 'web')]],
];
const types = {
  '.html': 'text/html; charset=utf-8', '.mjs': 'text/javascript', '.js': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json', '.svg': 'image/svg+xml',
};

function resolve(urlPath) {
  for (const [prefix, dirs] of mounts) {
    if (!urlPath.startsWith(prefix)) continue;
    const rel = urlPath.slice(prefix.length) || 'index.html';
    for (const dir of dirs) {
      const file = path.resolve(dir, rel);
      if (!file.startsWith(dir + path.sep)) return null; // no escaping the mount
      if (fs.existsSync(file) && fs.statSync(file).isFile()) return file;
    }
    return null;
  }
  return null;
}

const server = http.createServer((req, res) => {
  let p;
  try { p = decodeURIComponent(new URL(req.url, 'http://x').pathname); } catch { p = null; }
  const file = p && resolve(p);
  if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(file ? 405 : 404, { 'content-type': 'text/plain' });
    res.end(file ? 'method not allowed\n' : 'not found\n');
    return;
  }
  res.writeHead(200, {
    'content-type': types[path.extname(file)] || 'application/octet-stream',
    'content-length': fs.statSync(file).size,
    'cache-control': 'no-cache',
  });
  if (req.method === 'HEAD') res.end();
  else fs.createReadStream(file).pipe(res);
});
const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
server.listen(port, '127.0.0.1', () => {
  console.log(`serving http://127.0.0.1:${server.address().port}/`);
});
