// Opens the Node-RED editor in Debian's Chromium (headless, through playwright-core), waits until it has loaded the
// listed nodes, runs the editor's own validation on each (what marks a node with a red triangle after an import),
// and prints one JSON object: {"<node id>": {"type": "...", "valid": true|false, "errors": [...]}, ...}.
// Exits 1 with a message when the editor does not load them within the timeout.
//
//   node editor_nodes.mjs URL TIMEOUT_MS NODE_ID...
import { chromium } from 'playwright-core';

const [url, timeoutArg, ...ids] = process.argv.slice(2);
const timeout = Number(timeoutArg);
if (!url || !(timeout > 0) || ids.length === 0) {
    console.error('usage: node editor_nodes.mjs URL TIMEOUT_MS NODE_ID...');
    process.exit(2);
}

const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
});
let status = 0;
try {
    const page = await browser.newPage();
    await page.goto(url, { timeout });
    await page.waitForFunction((want) => window.RED && RED.nodes && want.every((id) => RED.nodes.node(id)), ids,
        { timeout, polling: 100 });
    const result = await page.evaluate((want) => Object.fromEntries(want.map((id) => {
        const node = RED.nodes.node(id);
        RED.editor.validateNode(node);
        return [id, { type: node.type, valid: node.valid, errors: node.validationErrors || [] }];
    })), ids);
    console.log(JSON.stringify(result));
} catch (err) {
    console.error(`editor_nodes: ${err.message}`);
    status = 1;
} finally {
    await browser.close();
}
process.exit(status);
