// Runs a generated validate_doc_update function over a batch of cases.
// stdin: {"src": "<function source>", "cases": [{"doc": {...}, "userCtx": {...}}, ...]}
// stdout: [{"ok": true} | {"forbidden": "..."} | {"error": "..."}, ...]
'use strict';
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  // eslint-disable-next-line no-eval
  const vdu = (0, eval)('(' + input.src + ')');
  const verdicts = input.cases.map((c) => {
    try {
      vdu(c.doc, c.oldDoc || null, c.userCtx, {});
      return { ok: true };
    } catch (e) {
      if (e && typeof e.forbidden === 'string') return { forbidden: e.forbidden };
      return { error: String(e && e.stack || e) };
    }
  });
  process.stdout.write(JSON.stringify(verdicts));
});
