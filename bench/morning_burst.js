// Morning burst for bench/province.py: N real PouchDB replicators push one report each, at once.
//
//     node bench/morning_burst.js SPEC.json
//
// SPEC.json: {"base": "http://127.0.0.1:PORT/db", "replicators": [{"name", "password", "db", "doc"}, ...]}.
// Each replicator is a device: its own in-memory PouchDB (pouchdb-adapter-memory) holding the
// day's report, and its own account (Basic credentials, as the teacher app sends them). The
// local databases are filled first; then every one-shot push (PouchDB's replicator: info,
// checkpoints, _revs_diff, _bulk_docs with new_edits=false) starts in the same tick.
// Prints one JSON object: {"t0_ms", "results": [{"i", "ok", "docs_written", "start_ms",
// "end_ms", "error"}], "peak_rss_kb"}.
"use strict";

const fs = require("fs");
const PouchDB = require("pouchdb");
PouchDB.plugin(require("pouchdb-adapter-memory"));

async function main() {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const devices = await Promise.all(spec.replicators.map(async (r, i) => {
    const local = new PouchDB(`burst_${i}`, { adapter: "memory" });
    await local.put(r.doc);
    const remote = new PouchDB(`${spec.base}/${r.db}`, {
      auth: { username: r.name, password: r.password },
      skip_setup: true,
    });
    return { i, local, remote };
  }));

  const t0 = Date.now();
  const results = await Promise.all(devices.map(async ({ i, local, remote }) => {
    const start = Date.now();
    try {
      const res = await local.replicate.to(remote);
      const errors = res.errors || [];
      return {
        i, ok: Boolean(res.ok) && res.docs_written === 1 && errors.length === 0,
        docs_written: res.docs_written, start_ms: start, end_ms: Date.now(),
        error: errors.length ? JSON.stringify(errors).slice(0, 300) : (res.docs_written === 1 ? "" : "nothing written"),
      };
    } catch (err) {
      return {
        i, ok: false, docs_written: 0, start_ms: start, end_ms: Date.now(),
        error: `${err.status || ""} ${err.name || ""} ${err.message || err}`.trim().slice(0, 300),
      };
    }
  }));
  await Promise.all(devices.map(({ local }) => local.destroy()));
  process.stdout.write(JSON.stringify({ t0_ms: t0, results, peak_rss_kb: process.resourceUsage().maxRSS }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
