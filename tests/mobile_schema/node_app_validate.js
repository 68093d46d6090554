// Runs the web app's validateData (webapp/js/validate.js) over a batch of form data.
// argv[2]: path of validate.js. stdin: {"schemas": {form: <JSON Schema export>}, "cases": [{"form", "data"}]}
// stdout: [[{field, code, params}, ...], ...]
'use strict';
const fs = require('fs');
const vm = require('vm');

// The app loads it as an ES module; here its two exports become plain functions.
const source = fs.readFileSync(process.argv[2], 'utf8').replace(/^export /gm, '');
const sandbox = {};
vm.runInNewContext(source + '\nthis.validateData = validateData;', sandbox);
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const out = input.cases.map((c) => JSON.parse(JSON.stringify(sandbox.validateData(input.schemas[c.form], c.data))));
  process.stdout.write(JSON.stringify(out));
});
