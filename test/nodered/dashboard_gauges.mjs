// Opens a Dashboard 2.0 page in Debian's Chromium (headless, through playwright-core), waits until every listed
// ui-gauge shows one of the values given for it, and prints what they show as one JSON object:
// {"<node id>": [value, "unit"], ...}. Exits 1 with a message (and what the gauges showed) when that does not happen
// within the timeout.
//
//   node dashboard_gauges.mjs URL TIMEOUT_MS GAUGE_ID=VALUE[,VALUE...] ...
import { chromium } from 'playwright-core';

const [url, timeoutArg, ...gaugeArgs] = process.argv.slice(2);
const timeout = Number(timeoutArg);
const expected = Object.fromEntries(gaugeArgs.map((a) => {
    const [id, values] = a.split('=');
    return [id, (values || '').split(',').filter((v) => v !== '').map(Number)];
}));
if (!url || !(timeout > 0) || gaugeArgs.length === 0 || Object.values(expected).some((v) => v.length === 0)) {
    console.error('usage: node dashboard_gauges.mjs URL TIMEOUT_MS GAUGE_ID=VALUE[,VALUE...] ...');
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
    // Each widget is a div with id nrdb-ui-widget-<node id>; a gauge shows <span>24</span><label>°C</label>.
    await page.addInitScript(() => {
        window.mothGauges = (ids) => Object.fromEntries(ids.map((id) => {
            const value = document.querySelector(`#nrdb-ui-widget-${id} .nrdb-ui-gauge-value span`);
            const unit = document.querySelector(`#nrdb-ui-widget-${id} .nrdb-ui-gauge-value label`);
            return [id, [value ? value.textContent.trim() : null, unit ? unit.textContent.trim() : null]];
        }));
    });
    await page.goto(url, { timeout });
    // A gauge shows 0 until the dashboard has sent it its last value, so wait for an expected one.
    try {
        const handle = await page.waitForFunction((want) => {
            const shown = window.mothGauges(Object.keys(want));
            for (const [id, [text]] of Object.entries(shown)) {
                if (text === null || !/^-?\d+(\.\d+)?$/.test(text) || !want[id].includes(Number(text))) return null;
            }
            return Object.fromEntries(Object.entries(shown).map(([id, [text, unit]]) => [id, [Number(text), unit]]));
        }, expected, { timeout, polling: 100 });
        console.log(JSON.stringify(await handle.jsonValue()));
    } catch (err) {
        const shown = await page.evaluate((ids) => window.mothGauges(ids), Object.keys(expected)).catch(() => ({}));
        const want = JSON.stringify(expected);
        throw new Error(`${err.message}; the gauges show ${JSON.stringify(shown)}, expected ${want}`);
    }
} catch (err) {
    console.error(`dashboard_gauges: ${err.message}`);
    status = 1;
} finally {
    await browser.close();
}
process.exit(status);
