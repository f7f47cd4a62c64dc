// node_info.js WASM_EXEC_JS CARTON_WASM CARTON_FILE: runs carton.wasm under
// Node, reads CARTON_FILE through carton.getModelInfo(bytes) and prints
// the info as JSON, misc files as their types and sizes. Exit 1 on error.
"use strict";
const fs = require("fs");
const [wasmExec, wasmPath, cartonPath] = process.argv.slice(2);
require(wasmExec); // defines globalThis.Go

globalThis.onCartonReady = async () => {
  try {
    const info = await carton.getModelInfo(new Uint8Array(fs.readFileSync(cartonPath)));
    const misc = {};
    for (const [name, blob] of Object.entries(info.misc)) misc[name] = { type: blob.type, size: blob.size };
    info.misc = misc;
    let refused = "";
    try {
      await carton.getModelInfo(new Uint8Array([1, 2, 3]));
    } catch (e) {
      refused = e.message;
    }
    console.log(JSON.stringify({ info, refused }));
    process.exit(0);
  } catch (e) {
    console.error("getModelInfo:", e);
    process.exit(1);
  }
};

const go = new Go();
WebAssembly.instantiate(fs.readFileSync(wasmPath), go.importObject)
  .then((r) => go.run(r.instance))
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
