// Browser test of the HTML report (ctest label `browser`): writes the report of the committed
// fixture study with the real uaqf binary, opens it from disk (file://) in Debian's chromium,
// headless, driven by puppeteer-core (scripts/fetch-browser-test.sh), and fails on any console
// error, page error, dialog or request other than the file itself. It moves a weight slider and
// checks that the ranking changes, checks that an answer holding <script> shows as text, and
// saves a screenshot. Missing chromium or puppeteer-core is a failure, never a skip.
//   node report_browser_test.cjs --uaqf BIN --fixture results.json --modules DIR --out DIR
'use strict';

const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const key of ['uaqf', 'fixture', 'modules', 'out']) {
    if (!out[key]) throw new Error('missing --' + key);
  }
  return out;
}

function findChromium() {
  const candidates = [process.env.UAQF_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) {
    throw new Error('chromium not found (looked for ' + candidates.join(', ') +
      '); install it with scripts/setup-deps.sh (Debian package chromium) or set UAQF_CHROMIUM');
  }
  return found;
}

function loadPuppeteer(modules) {
  const entry = path.join(modules, 'node_modules', 'puppeteer-core');
  if (!fs.existsSync(entry)) {
    throw new Error('puppeteer-core not found in ' + modules + '; run scripts/fetch-browser-test.sh');
  }
  return require(entry);
}

// Bad input to `uaqf report`: exit status 2 and one error line naming the file.
function checkBadInput(uaqf, out) {
  const missing = path.join(out, 'no-such-results.json');
  let r = spawnSync(uaqf, ['report', missing, '--format', 'md'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(r.status, 2, 'exit status for a missing results file');
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^uaqf: error: .*no-such-results\.json: no such results file\n$/);
  const bad = path.join(out, 'not-results.json');
  fs.writeFileSync(bad, '{"schema": "uaqf.bench/1"}');
  r = spawnSync(uaqf, ['report', bad, '--format', 'html', '--output', path.join(out, 'x.html')],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(r.status, 2, 'exit status for a file of another schema');
  assert.match(r.stderr, /^uaqf: error: .*not-results\.json: not a uaqf study results file[^\n]*\n$/);
  assert.ok(!fs.existsSync(path.join(out, 'x.html')), 'no report written on bad input');
}

async function rankingOrder(page) {
  return page.$$eval('#ranking tbody tr td.variant', (cells) => cells.map((c) => c.firstChild.textContent));
}

async function main() {
  const a = args();
  fs.mkdirSync(a.out, { recursive: true });
  const chromium = findChromium();
  const puppeteer = loadPuppeteer(a.modules);
  checkBadInput(a.uaqf, a.out);

  const html = path.join(a.out, 'report.html');
  fs.rmSync(html, { force: true });
  execFileSync(a.uaqf, ['report', a.fixture, '--format', 'html', '--output', html], { stdio: ['ignore', 'pipe', 'inherit'] });
  const fixture = JSON.parse(fs.readFileSync(a.fixture, 'utf8'));
  const expectedOrder = fixture.decision.ranking.map((r) => r.name);
  const pageUrl = pathToFileURL(html).href;

  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    // Root in CI containers has no user namespaces for the sandbox; the page is our own file.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-default-apps',
      '--disable-sync', '--no-default-browser-check', '--allow-file-access-from-files'],
  });
  const problems = [];
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'assert') problems.push('console ' + message.type() + ': ' + message.text());
    });
    page.on('pageerror', (error) => problems.push('page error: ' + error.message));
    page.on('dialog', async (dialog) => {
      problems.push('dialog opened: ' + dialog.message());
      await dialog.dismiss();
    });
    page.on('request', (request) => {
      if (request.url() !== pageUrl) problems.push('request other than the page itself: ' + request.url());
    });
    page.on('requestfailed', (request) => problems.push('request failed: ' + request.url()));

    await page.goto(pageUrl, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });

    // The page's ranking for the profile's weights is the decision's.
    const initial = await rankingOrder(page);
    assert.deepEqual(initial, expectedOrder, 'initial ranking as uaqf decided');
    const topShare = await page.$eval('#ranking tbody tr td:nth-child(6)', (td) => td.textContent);
    const headline = await page.$eval('#win-probability', (b) => b.textContent);
    assert.equal(topShare, headline, 'P(best) in the table as in the recommendation');

    // Charts drew: the Pareto chart and one per weighted or constrained metric.
    const charts = await page.$$eval('canvas', (canvases) => canvases.filter((c) => c.width > 0 && c.height > 0).length);
    assert.ok(charts >= 2, 'charts drawn: ' + charts);

    // Drag the decode_tps weight slider to its left end, as a user would: speed stops counting.
    const selector = '#weights input[data-metric="decode_tps"]';
    const slider = await page.$(selector);
    assert.ok(slider, 'a slider for the weighted decode_tps');
    const box = await slider.boundingBox();
    const start = await page.$eval(selector, (s) => s.valueAsNumber);
    const max = await page.$eval(selector, (s) => Number(s.max));
    await page.mouse.move(box.x + (box.width * start) / max, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x - 20, box.y + box.height / 2, { steps: 8 });
    await page.mouse.up();
    const moved = await page.$eval(selector, (s) => s.valueAsNumber);
    assert.equal(moved, 0, 'slider dragged to 0');
    const after = await rankingOrder(page);
    assert.notDeepEqual(after, initial, 'ranking changes when decode_tps stops counting');
    assert.deepEqual([...after].sort(), [...initial].sort(), 'same variants, another order');
    // Worked out by hand from the fixture's normalized values with the weights of ttft_ms,
    // same_top_rate and gsm8k.exact_match_strict alone (0.2, 0.25, 0.15).
    assert.deepEqual(after, ['Q4_0', 'Q8_0', 'Q4_K_M', 'Q5_K_M', 'F16', 'Q2_K'], 'order without decode_tps');
    const status = await page.$eval('#weights-status', (s) => s.textContent);
    assert.match(status, /Weights changed/);

    // Back to the profile's weights: back to the decision's order.
    await page.click('#reset-weights');
    assert.deepEqual(await rankingOrder(page), expectedOrder, 'reset restores the decision');

    // The fixture's Q4_0 answers "<script>alert(1)</script> ...": shown as text, not run.
    const answer = await page.$$eval('.answer-text', (pres) =>
      pres.map((p) => p.textContent).find((t) => t.includes('alert(1)')));
    assert.ok(answer && answer.startsWith('<script>alert(1)</script> The answer is 71.'), 'answer shown as text: ' + answer);
    const scripts = await page.$$eval('script', (nodes) => nodes.length);
    assert.equal(scripts, 4, 'only the page\'s own script elements');
    const injected = await page.$$eval('.answer-text script, .answer-text b', (nodes) => nodes.length);
    assert.equal(injected, 0, 'no element made from an answer');

    await page.screenshot({ path: path.join(a.out, 'report.png'), fullPage: true });
  } finally {
    await browser.close();
  }
  assert.deepEqual(problems, [], 'console errors, dialogs or network requests');
  console.log('report browser test passed; screenshot ' + path.join(a.out, 'report.png'));
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : error);
  process.exit(1);
});
