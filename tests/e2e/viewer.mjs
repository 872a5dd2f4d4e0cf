// viewer.mjs - the web viewer end to end, in a real browser. Generates the synthetic
// demo dataset (lesiond demo), imports it, builds embeddings and the lesion graph when
// this build has them, starts lesiond on a free loopback port, and drives Debian's
// Chromium headless through playwright-core: browse, filter, open a lesion, switch the
// CT window, walk slices and matches with the keyboard, click a similar lesion, share
// the URL, open the patient timeline, see an API error in words. Expected counts come
// from DL_info.csv read here, not from the server. Screenshots go to tests/artifacts/.
// Run by tests/run.sh (needs LESIOND and LSD_TEST_TMP); prints "RESULT passed failed".
// VIEWER_DATASET=DIR uses an existing DeepLesion-layout folder (DL_info.csv +
// Images_png/) instead of generating the demo.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const LESIOND = process.env.LESIOND;
const TMP = path.join(process.env.LSD_TEST_TMP || '/tmp', 'viewer');
const ART = path.resolve(here, '..', 'artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_MS = 20000;

let passed = 0, failed = 0, skipped = 0;
const ok = (d) => { passed++; console.log(`ok - ${d}`); };
const notOk = (d) => { failed++; console.log(`not ok - ${d}`); };
const skip = (d) => { skipped++; console.log(`skipped - ${d}`); };
const check = (d, cond, info = '') => (cond ? ok(d) : notOk(info ? `${d} (${info})` : d));
let server = null, browser = null;

function finish() {
	if (server)
		server.kill('SIGTERM');
	if (skipped)
		console.log(`# ${skipped} check(s) skipped because this build lacks the feature (see "skipped -" lines)`);
	console.log(`RESULT ${passed} ${failed}`);
	process.exit(failed ? 1 : 0);
}

// DL_info.csv rows (quoted fields may hold commas) -> array of objects
function readCsv(file) {
	const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/).filter((s) => s.trim());
	const split = (line) => {
		const out = [];
		let cur = '', q = false;
		for (const c of line) {
			if (c === '"') q = !q;
			else if (c === ',' && !q) { out.push(cur); cur = ''; }
			else cur += c;
		}
		out.push(cur);
		return out;
	};
	const head = split(lines[0]);
	return lines.slice(1).map((l, i) => {
		const f = split(l), o = { id: i + 1 };
		head.forEach((h, k) => { o[h] = f[k]; });
		return o;
	});
}

function run(args, what) {
	const r = spawnSync(LESIOND, args, { encoding: 'utf8', timeout: 300000 });
	const out = (r.stdout || '') + (r.stderr || '');
	return { ok: r.status === 0, out: out.trim(), what };
}
const missing = (r) => /not available in this build|unknown command|no such command/i.test(r.out);

async function startServer(db, images, extra = []) {
	const portFile = path.join(TMP, 'port');
	fs.rmSync(portFile, { force: true });
	const log = fs.openSync(path.join(TMP, 'server.log'), 'w');
	server = spawn(LESIOND, ['serve', '--db', db, '--images', images, '--listen', '127.0.0.1',
		'--port', '0', '--port-file', portFile, ...extra], { stdio: ['ignore', log, log] });
	for (let i = 0; i < 300; i++) {
		if (server.exitCode !== null)
			break;
		if (fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').trim()) {
			const base = `http://127.0.0.1:${fs.readFileSync(portFile, 'utf8').trim()}`;
			for (let k = 0; k < 100; k++) {
				try {
					if ((await fetch(base + '/healthz')).ok)
						return base;
				} catch (e) { /* not yet */ }
				await new Promise((r) => setTimeout(r, 100));
			}
		}
		await new Promise((r) => setTimeout(r, 100));
	}
	console.log(fs.readFileSync(path.join(TMP, 'server.log'), 'utf8'));
	return null;
}

// every <img> matching sel finished loading; returns [{w, h, src}] of each
async function images(page, sel) {
	await page.waitForFunction((s) => {
		const im = [...document.querySelectorAll(s)];
		return im.length > 0 && im.every((i) => i.complete);
	}, sel, { timeout: STEP_MS });
	return page.$$eval(sel, (im) => im.map((i) => ({ w: i.naturalWidth, h: i.naturalHeight, src: i.src })));
}
const allLoaded = (ims) => ims.length > 0 && ims.every((i) => i.w > 0 && i.h > 0);

// mean grey level of a loaded <img> (to see that a window change changed the pixels)
const meanGrey = (page, sel) => page.$eval(sel, (i) => {
	const c = document.createElement('canvas');
	c.width = i.naturalWidth;
	c.height = i.naturalHeight;
	const g = c.getContext('2d');
	g.drawImage(i, 0, 0);
	const d = g.getImageData(0, 0, c.width, c.height).data;
	let s = 0;
	for (let k = 0; k < d.length; k += 4)
		s += d[k];
	return s / (d.length / 4);
});

async function shot(page, name, what) {
	const file = path.join(ART, name);
	await page.mouse.move(1, 1);	// no hover highlight from the last click
	await page.screenshot({ path: file, fullPage: true });
	console.log(`# screenshot ${path.relative(path.resolve(here, '..', '..'), file)}: ${what}`);
}

// one step: failures (timeouts, exceptions) count as a failed check and the test goes on
let failPage = null;
async function step(name, fn) {
	try {
		await fn();
	} catch (e) {
		notOk(`${name}: ${String(e.message || e).split('\n')[0]}`);
		if (failPage)
			await shot(failPage, `viewer-failed-${name.replace(/\W+/g, '-')}.png`, `the page when step "${name}" failed`)
				.catch(() => {});
	}
}

async function main() {
	if (!LESIOND) {
		notOk('LESIOND is not set (run through tests/run.sh)');
		finish();
	}
	fs.rmSync(TMP, { recursive: true, force: true });
	fs.mkdirSync(TMP, { recursive: true });
	fs.mkdirSync(ART, { recursive: true });
	for (const f of fs.readdirSync(ART))
		if (f.startsWith('viewer-') && f.endsWith('.png'))	// only this test's own files
			fs.rmSync(path.join(ART, f));

	let chromium;
	try {
		({ chromium } = createRequire(import.meta.url)('playwright-core'));
	} catch (e) {
		notOk('playwright-core is installed in tests/e2e/node_modules (run `make deps`)');
		finish();
	}
	if (!fs.existsSync(CHROMIUM)) {
		notOk(`${CHROMIUM} exists (Debian's chromium package; run \`make deps\`)`);
		finish();
	}

	// the dataset
	let data = process.env.VIEWER_DATASET;
	if (!data) {
		data = path.join(TMP, 'demo');
		const r = run(['demo', '--out', data, '--patients', '6', '--seed', '3'], 'demo');
		check('lesiond demo --patients 6 --seed 3', r.ok, r.out.slice(0, 300));
		if (!r.ok)
			finish();
	}
	const csv = readCsv(path.join(data, 'DL_info.csv'));
	const imagesDir = path.join(data, 'Images_png');
	const db = path.join(TMP, 'lesiond.db');
	let r = run(['ingest', '--csv', path.join(data, 'DL_info.csv'), '--images', imagesDir, '--db', db]);
	check(`ingest ${csv.length} rows`, r.ok, r.out.slice(0, 300));
	r = run(['embed', '--db', db, '--images', imagesDir]);
	if (!r.ok && missing(r))
		skip(`lesiond embed: ${r.out.slice(0, 120)} - no built-in space; the similar checks use the imported one`);
	else
		check('lesiond embed', r.ok, r.out.slice(0, 300));
	// A second space whose neighbours this test can compute itself: each lesion's
	// normalised location and long diameter (dm), imported as float32 .fvecs.
	const vec = (row) => [...row.Normalized_lesion_location.split(',').map(Number),
		Number(row.Lesion_diameters_Pixel_.split(',')[0]) * Number(row.Spacing_mm_px_.split(',')[0]) / 100]
		.map(Math.fround);
	{
		const buf = Buffer.alloc(csv.length * 20);
		csv.forEach((row, i) => {
			buf.writeInt32LE(4, i * 20);
			vec(row).forEach((v, k) => buf.writeFloatLE(v, i * 20 + 4 + 4 * k));
		});
		fs.writeFileSync(path.join(TMP, 'locsize.fvecs'), buf);
		fs.writeFileSync(path.join(TMP, 'locsize.ids'), csv.map((row) => row.id).join('\n') + '\n');
	}
	r = run(['import-vectors', '--db', db, '--space', 'locsize', '--ids', path.join(TMP, 'locsize.ids'),
		'--vectors', path.join(TMP, 'locsize.fvecs')]);
	check('import-vectors: the test\'s own space "locsize"', r.ok, r.out.slice(0, 300));
	const hasEmbed = r.ok;
	// the k nearest lesions in locsize, by brute force, as the viewer should list them
	const nearest = (id, k, keep) => {
		const q = vec(csv[id - 1]);
		return csv.filter((row) => row.id !== id && keep(row))
			.map((row) => [row.id, vec(row).reduce((a, v, i) => a + (v - q[i]) ** 2, 0)])
			.sort((a, b) => a[1] - b[1] || a[0] - b[0]).slice(0, k).map(([i]) => i);
	};
	r = run(['graph', '--db', db]);
	const hasGraph = r.ok;
	if (!r.ok && missing(r))
		skip(`lesiond graph: ${r.out.slice(0, 120)} - timeline track checks skipped`);
	else
		check('lesiond graph', r.ok, r.out.slice(0, 300));

	const base = await startServer(db, imagesDir);
	check('lesiond serve started', !!base);
	if (!base)
		finish();

	// served files: index, assets with ETag, 304 on revalidation
	await step('static files', async () => {
		const res = await fetch(base + '/');
		const html = await res.text();
		check('GET / is the viewer page', res.status === 200 && /text\/html/.test(res.headers.get('content-type')) &&
			html.includes('www/app.js'));
		const js = await fetch(base + '/www/app.js');
		const tag = js.headers.get('etag');
		check('GET /www/app.js with ETag and Cache-Control', js.status === 200 && !!tag &&
			/javascript/.test(js.headers.get('content-type')) && js.headers.get('cache-control') === 'no-cache');
		const again = await fetch(base + '/www/app.js', { headers: { 'If-None-Match': tag } });
		check('If-None-Match -> 304', again.status === 304, `got ${again.status}`);
		const nf = await fetch(base + '/www/nope.js');
		check('unknown asset -> 404 problem+json', nf.status === 404 &&
			/problem\+json/.test(nf.headers.get('content-type')));
	});

	const profile = path.join(TMP, 'chromium-profile');
	browser = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
		viewport: { width: 1400, height: 1000 },
	});
	const page = browser.pages()[0] || await browser.newPage();
	const pageErrors = [];
	page.on('pageerror', (e) => pageErrors.push(String(e.message || e)));
	page.setDefaultTimeout(STEP_MS);
	failPage = page;

	const count = (pred) => csv.filter(pred).length;
	const typeOf = (row) => ({ 1: 'bone', 2: 'abdomen', 3: 'mediastinum', 4: 'liver', 5: 'lung', 6: 'kidney',
		7: 'soft_tissue', 8: 'pelvis' })[Number(row.Coarse_lesion_type)] || 'unlabelled';

	// 1. browse
	await step('browse', async () => {
		await page.goto(base + '/');
		await page.waitForSelector('#lesion-table tbody tr');
		const rows = await page.$$eval('#lesion-table tbody tr', (t) => t.length);
		check(`browse: first page has min(25, ${csv.length}) rows`, rows === Math.min(25, csv.length), `got ${rows}`);
		const ims = await images(page, '#lesion-table img');
		check(`browse: ${ims.length} thumbnails loaded with non-zero size`, allLoaded(ims) && ims.length === rows,
			JSON.stringify(ims.filter((i) => !i.w).slice(0, 2)));
		const st = await page.textContent('#stats');
		check('header shows the lesion count', st.includes(`${csv.length} lesions`), st);
		await shot(page, 'viewer-01-browse.png', 'the lesion table, first page');
		if (csv.length > 25) {
			await page.click('#next');
			await page.waitForFunction(() => /cursor=/.test(location.hash) &&
				/Lesions 26/.test(document.querySelector('#range')?.textContent || ''));
			const n2 = await page.$$eval('#lesion-table tbody tr', (t) => t.length);
			check('browse: next page', n2 === Math.min(25, csv.length - 25), `got ${n2}`);
			await page.click('#prev');
			await page.waitForFunction(() => /Lesions 1–/.test(document.querySelector('#range')?.textContent || ''));
			ok('browse: previous page');
		}
	});

	// 2. search: filter by the commonest type
	const types = {};
	for (const row of csv)
		types[typeOf(row)] = (types[typeOf(row)] || 0) + 1;
	const ftype = Object.entries(types).filter(([t]) => t !== 'unlabelled').sort((a, b) => b[1] - a[1])[0][0];
	const minD = 10;
	await step('filter', async () => {
		await page.fill('#f-min', String(minD));
		await page.selectOption('#f-type', ftype);	// a select change submits the form
		await page.waitForFunction((t) => location.hash.includes(`type=${t}`) &&
			document.querySelector('#lesion-table tbody tr') && !document.querySelector('.results .loading'), ftype);
		await page.waitForFunction(() => [...document.querySelectorAll('#lesion-table img')].every((i) => i.complete));
		const want = count((row) => typeOf(row) === ftype && Number(row.Lesion_diameters_Pixel_.split(',')[0]) *
			Number(row.Spacing_mm_px_.split(',')[0]) >= minD);
		const cells = await page.$$eval('#lesion-table tbody tr td:nth-child(7)', (t) => t.map((x) => x.textContent));
		check(`filter type=${ftype}, long diameter >= ${minD} mm: min(25, ${want}) rows`,
			cells.length === Math.min(25, want), `got ${cells.length}`);
		check('filter: every row has that type', cells.every((c) => c === ftype.replace(/_/g, ' ')), cells.join(','));
		await shot(page, 'viewer-02-filtered.png', `the table filtered to ${ftype} lesions of at least ${minD} mm`);
	});

	// 3. open the first lesion of the filtered list
	let lesionId = 0, lesionRow = null;
	await step('lesion page', async () => {
		lesionId = Number(await page.getAttribute('#lesion-table tbody tr', 'data-id'));
		lesionRow = csv[lesionId - 1];
		await page.click('#lesion-table tbody tr td:nth-child(8)');
		await page.waitForFunction((id) => location.hash.startsWith(`#/lesion/${id}`), lesionId);
		const main = await images(page, '#main-patch img');
		check('lesion: large patch loaded, 512 px', main[0].w === 512 && main[0].h === 512, JSON.stringify(main));
		const h1 = await page.textContent('h1');
		check(`lesion: title names lesion ${lesionId}`, h1.includes(`Lesion ${lesionId}`), h1);
		const meta = await page.textContent('#meta');
		check('lesion: metadata shows patient, file name and DICOM window', meta.includes(lesionRow.File_name) &&
			meta.includes(`${Number(lesionRow.Patient_index)} — timeline`) && meta.includes('DICOM window'), meta.slice(0, 200));
		const pressed = await page.getAttribute('#windows button[data-window=soft_tissue]', 'aria-pressed');
		check('lesion: soft-tissue window selected by default', pressed === 'true');
	});

	// 4. similar lesions
	const pid = lesionRow ? Number(lesionRow.Patient_index) : 0;
	await step('similar', async () => {
		if (!hasEmbed) {
			await page.waitForSelector('#matches .error');
			const t = await page.textContent('#matches .error');
			check('similar: without embeddings the grid says why, in words', t.length > 40 && /server answered/.test(t), t);
			skip('similar: match count, thumbnails and same-patient exclusion (no `lesiond embed`)');
			await shot(page, 'viewer-03-lesion.png', `lesion ${lesionId}: patch, metadata, similar-search error`);
			return;
		}
		await page.waitForFunction(() => document.querySelector('#space-box')?.textContent.trim());
		if (await page.$('#f-space')) {
			// several spaces (lesiond embed ran): first the default one, the built-in descriptor
			const names = await page.$$eval('#f-space option', (o) => o.map((x) => x.value));
			check('similar: space selector lists builtin and locsize', names.includes('builtin') &&
				names.includes('locsize'), names.join(','));
			await page.waitForFunction(() => document.querySelector('#matches .match') &&
				!document.querySelector('#matches .loading'));
			const others = count((row) => Number(row.Patient_index) !== pid);
			const ids = await page.$$eval('#matches .match', (c) => c.map((x) => Number(x.dataset.id)));
			check(`similar (builtin): min(12, ${others}) matches, none of patient ${pid}`, ids.length ===
				Math.min(12, others) && ids.every((i) => Number(csv[i - 1].Patient_index) !== pid), ids.join(','));
			const bi = await images(page, '#matches img');
			check('similar (builtin): match patches loaded with non-zero size', allLoaded(bi));
			await shot(page, 'viewer-03-lesion.png', `lesion ${lesionId}: patch, metadata and its similar lesions ` +
				'in the built-in descriptor space');
			// then the test's own space, whose answer is known
			await page.selectOption('#f-space', 'locsize');
			await page.waitForFunction(() => location.hash.includes('space=locsize'));
		} else {
			skip('similar: built-in space (no `lesiond embed`)');
			const sp = await page.textContent('#space-box');
			check('similar: the only space is named', sp.includes('locsize'), sp);
		}
		await page.waitForFunction(() => document.querySelector('#matches .match') &&
			!document.querySelector('#matches .loading'));
		const want = nearest(lesionId, 12, (row) => Number(row.Patient_index) !== pid);
		const got = await page.$$eval('#matches .match', (c) => c.map((x) => Number(x.dataset.id)));
		check(`similar: the 12 nearest lesions of other patients, in order (${want.join(',')})`,
			JSON.stringify(got) === JSON.stringify(want), `got ${got.join(',')}`);
		const cards = await page.$$eval('#matches .match', (c) => c.map((x) => x.textContent));
		check('similar: same patient excluded by default', cards.every((c) => !c.includes(`patient ${pid} `) &&
			!c.endsWith(`patient ${pid}`)), cards.join(' | '));
		const info = await page.textContent('#sim-info');
		check('similar: count and search time shown', /^12 matches in [\d.]+ ms/.test(info), info);
		const ims = await images(page, '#matches img');
		check('similar: match patches loaded with non-zero size', allLoaded(ims), JSON.stringify(ims.slice(0, 2)));
		await shot(page, 'viewer-03b-lesion-locsize.png', `lesion ${lesionId}: its similar lesions in the test's ` +
			'location-and-size space');
	});

	// 4b. query by drawing: a box drawn on the whole slice searches that region (POST
	// /v1/search {"image":...}) in the chosen space
	await step('draw a box', async () => {
		const names = await page.$$eval('#f-space option', (o) => o.map((x) => x.value)).catch(() => []);
		if (!names.includes('builtin')) {
			skip('draw a box: needs the built-in space (no `lesiond embed`)');
			return;
		}
		await page.selectOption('#f-space', 'builtin');
		await page.waitForFunction(() => location.hash.includes('space=builtin'));
		try {
			await drawBox();
		} finally {
			// back to the space the later steps expect
			await page.selectOption('#f-space', 'locsize');
			await page.waitForFunction(() => location.hash.includes('space=locsize'));
		}
	});
	async function drawBox() {
		await page.click('#region summary');
		await page.waitForFunction(() => document.querySelector('#region-img')?.naturalWidth > 0);
		const nat = await page.$eval('#region-img', (i) => [i.naturalWidth, i.naturalHeight]);
		check('draw a box: the whole slice is shown', nat[0] === 512 && nat[1] === 512, nat.join('x'));
		const box = lesionRow.Bounding_boxes.split(',').map(Number);
		await page.$eval('#region-img', (i) => i.scrollIntoView({ block: 'center' }));
		const rect = await page.$eval('#region-img', (i) => { const r = i.getBoundingClientRect(); return [r.left, r.top, r.width]; });
		const f = rect[2] / nat[0];
		const sent = page.waitForRequest((q) => q.url().endsWith('/v1/search') && q.method() === 'POST');
		await page.mouse.move(rect[0] + box[0] * f, rect[1] + box[1] * f);
		await page.mouse.down();
		await page.mouse.move(rect[0] + box[2] * f, rect[1] + box[3] * f, { steps: 6 });
		await page.mouse.up();
		const body = JSON.parse((await sent).postData());
		const series = lesionRow.File_name.replace(/_\d+\.png$/, '');
		check('draw a box: the request names the slice, the space and the drawn box in image pixels',
			body.space === 'builtin' && body.image.slice === `${series}/${String(Number(lesionRow.Key_slice_index)).padStart(3, '0')}.png` &&
			body.image.bbox.every((v, i) => Math.abs(v - box[i]) <= 2 / f + 1) &&
			Math.abs(body.image.spacing_mm - Number(lesionRow.Spacing_mm_px_.split(',')[0])) < 1e-9, JSON.stringify(body));
		await page.waitForFunction(() => /matches in space builtin/.test(document.querySelector('#region-info')?.textContent || ''));
		const ids = await page.$$eval('#matches .match', (c) => c.map((x) => Number(x.dataset.id)));
		check(`draw a box: 12 matches, the lesion itself (${lesionId}) among them`, ids.length === Math.min(12, csv.length) &&
			ids.includes(lesionId), ids.join(','));
		const bv = await page.$eval('#region-box', (b) => !b.hidden && b.getBoundingClientRect().width > 4);
		check('draw a box: the drawn box stays visible', bv);
		await shot(page, 'viewer-03c-draw-box.png', `lesion ${lesionId}: a box drawn on the slice and its similar lesions`);
		await page.click('#region summary');	// closed again
		await page.$eval('body', () => window.scrollTo(0, 0));
	}

	// 5. window preset
	await step('window', async () => {
		const before = await meanGrey(page, '#main-patch img');
		await page.click('#windows button[data-window=lung]');
		await page.waitForFunction(() => document.querySelector('#main-patch img').dataset.src.includes('window=lung'));
		await images(page, '#main-patch img');
		const after = await meanGrey(page, '#main-patch img');
		check('window: lung preset changes the pixels', Math.abs(after - before) > 5,
			`mean grey ${before.toFixed(1)} -> ${after.toFixed(1)}`);
		check('window: URL carries window=lung', page.url().includes('window=lung'), page.url());
		check('window: lung button pressed', await page.getAttribute('#windows button[data-window=lung]', 'aria-pressed') === 'true');
		if (hasEmbed) {
			await page.waitForFunction(() => [...document.querySelectorAll('#matches img')].every((i) =>
				i.dataset.src.includes('window=lung') && i.complete));
			ok('window: match patches follow the window');
		}
		await shot(page, 'viewer-04-lung-window.png', `lesion ${lesionId} in the lung window`);
	});

	// 6. keyboard: slices and matches
	await step('keyboard', async () => {
		const [lo, hi] = lesionRow.Slice_range.split(',').map(Number);
		const key = Number(lesionRow.Key_slice_index);
		await page.click('h1');	// focus out of the buttons
		if (hi > key) {
			await page.keyboard.press('ArrowUp');
			await page.waitForFunction(() => document.querySelector('#main-patch img').dataset.src.includes('slice_offset=1'));
			const ims = await images(page, '#main-patch img');
			const label = await page.textContent('#slice-label');
			check(`keyboard: ↑ shows slice ${key + 1}`, label.startsWith(`slice ${key + 1}`) && allLoaded(ims), label);
			check('keyboard: URL carries slice=1', page.url().includes('slice=1'), page.url());
			await shot(page, 'viewer-05-next-slice.png', `lesion ${lesionId}, slice ${key + 1} (one above the key slice)`);
			await page.keyboard.press('ArrowDown');
			await page.waitForFunction(() => !document.querySelector('#main-patch img').dataset.src.includes('slice_offset'));
			ok('keyboard: ↓ back to the key slice');
		} else {
			skip(`keyboard: no slice above the key slice (range ${lo}-${hi})`);
		}
		// beyond the slice range: the server's 404 is shown in words on the image
		if (hasEmbed) {
			await page.keyboard.press('ArrowRight');
			const focused = await page.evaluate(() => document.activeElement?.classList.contains('match') &&
				document.activeElement.dataset.rank);
			check('keyboard: → focuses the first match', focused === '1', String(focused));
			await page.keyboard.press('ArrowRight');
			const f2 = await page.evaluate(() => document.activeElement?.dataset.rank);
			check('keyboard: → again focuses the second', f2 === '2', String(f2));
		}
	});

	// 7. click a match
	let matchId = 0;
	await step('click match', async () => {
		if (!hasEmbed) {
			skip('click a match (no matches without `lesiond embed`)');
			return;
		}
		const card = (await page.$$('#matches .match'))[1];
		matchId = Number(await card.getAttribute('data-id'));
		await card.click();
		await page.waitForFunction((id) => location.hash.startsWith(`#/lesion/${id}`), matchId);
		const main = await images(page, '#main-patch img');
		const h1 = await page.textContent('h1');
		check(`match: lesion ${matchId} opens`, h1.includes(`Lesion ${matchId}`) && allLoaded(main), h1);
		check('match: the window preset carries over', await page.getAttribute('#windows button[data-window=lung]', 'aria-pressed') === 'true');
		await page.waitForFunction(() => document.querySelector('#matches .match') &&
			!document.querySelector('#matches .loading'));
		const mrow = csv[matchId - 1], mp = Number(mrow.Patient_index);
		const want = nearest(matchId, 12, (row) => Number(row.Patient_index) !== mp);
		const got = await page.$$eval('#matches .match', (c) => c.map((x) => Number(x.dataset.id)));
		check(`match: its own 12 nearest, in the same space`, JSON.stringify(got) === JSON.stringify(want),
			`got ${got.join(',')} want ${want.join(',')}`);
		await images(page, '#matches img');
		await shot(page, 'viewer-06-match.png', `lesion ${matchId}, opened from the matches of lesion ${lesionId}`);
		// same patient only
		await page.selectOption('#f-same', 'only');
		await page.waitForFunction(() => location.hash.includes('same_patient=only') &&
			!document.querySelector('#matches .loading'));
		const wantSame = nearest(matchId, 12, (row) => Number(row.Patient_index) === mp);
		const gotSame = await page.$$eval('#matches .match', (c) => c.map((x) => Number(x.dataset.id)));
		check(`match: same patient only -> patient ${mp}'s ${wantSame.length} other lesions, nearest first`,
			JSON.stringify(gotSame) === JSON.stringify(wantSame), `got ${gotSame.join(',')} want ${wantSame.join(',')}`);
	});

	// 8. the URL is shareable: a fresh tab with it shows the same state
	await step('share', async () => {
		const url = page.url();
		const p2 = await browser.newPage();
		await p2.goto(url);
		await images(p2, '#main-patch img');
		const pressed = await p2.getAttribute('#windows button[data-window=lung]', 'aria-pressed');
		const h1 = await p2.textContent('h1');
		check('share: a new tab with the URL shows the same lesion and window',
			pressed === 'true' && h1.includes(`Lesion ${matchId || lesionId}`), `${h1} ${pressed}`);
		await p2.close();
	});

	// 9. patient timeline
	await step('timeline', async () => {
		await page.goto(`${base}/#/lesion/${lesionId}`);
		await page.waitForFunction((id) => document.querySelector('h1')?.textContent.includes(`Lesion ${id}`) &&
			document.querySelector('#timeline-link') && !location.hash.includes('window='), lesionId);
		await page.click('#timeline-link');
		await page.waitForFunction((p) => location.hash.startsWith(`#/patient/${p}`), pid);
		const mine = csv.filter((row) => Number(row.Patient_index) === pid);
		const studies = new Set(mine.map((row) => Number(row.Study_index))).size;
		if (!hasGraph) {
			await page.waitForSelector('#timeline-plain .match');
			const n = await page.$$eval('#timeline-plain .match', (c) => c.length);
			check(`timeline (no graph): the patient's ${mine.length} lesions by study`, n === mine.length, `got ${n}`);
			skip('timeline: tracks and RECIST (no `lesiond graph`)');
			await shot(page, 'viewer-07-timeline.png', `patient ${pid}: lesions by study, graph unavailable`);
			return;
		}
		await page.waitForSelector('#timeline .tnode');
		const n = await page.$$eval('#timeline .tnode', (c) => c.length);
		check(`timeline: all ${mine.length} lesions of patient ${pid} placed`, n === mine.length, `got ${n}`);
		const cols = await page.$$eval('#timeline thead th', (c) => c.length);
		check(`timeline: one column per study (${studies})`, cols === studies + 1, `got ${cols - 1}`);
		const ims = await images(page, '#timeline img');
		check('timeline: patches loaded with non-zero size', allLoaded(ims) && ims.length === mine.length);
		await page.waitForFunction(() => [...document.querySelectorAll('#timeline .resp')].every((c) => c.textContent.trim()));
		const resp = await page.$$eval('#timeline .resp', (c) => c.map((x) => x.textContent));
		check('timeline: every track has a RECIST response', resp.every((t) => /\b(CR|PR|SD|PD|NE|baseline)/i.test(t)), resp.join(' | '));
		const focus = await page.$$eval('#timeline .tnode.focus', (c) => c.map((x) => x.dataset.id));
		check(`timeline: lesion ${lesionId} highlighted`, focus.length === 1 && Number(focus[0]) === lesionId, focus.join(','));
		const rule = await page.textContent('#recist-rule');
		check('timeline: the RECIST rule is printed', rule.length > 20, rule);
		await shot(page, 'viewer-07-timeline.png', `patient ${pid}: lesions tracked across ${studies} studies`);
	});

	// 9b. the patient with the most studies, reached from the table's patient column
	await step('timeline from the table', async () => {
		if (!hasGraph) {
			skip('timeline of the patient with the most studies (no `lesiond graph`)');
			return;
		}
		const studies = {};
		for (const row of csv)
			(studies[row.Patient_index] ||= new Set()).add(row.Study_index);
		const [p] = Object.entries(studies).sort((a, b) => b[1].size - a[1].size || a[0] - b[0])[0];
		const mine = csv.filter((row) => row.Patient_index === p);
		await page.goto(`${base}/#/?patient=${p}`);
		await page.waitForFunction((pp) => location.hash.includes(`patient=${pp}`) &&
			document.querySelector('#lesion-table tbody tr td:nth-child(3) a'), p);
		await page.click('#lesion-table tbody tr td:nth-child(3) a');
		await page.waitForFunction((pp) => location.hash.startsWith(`#/patient/${pp}`) &&
			document.querySelector('#timeline .tnode'), p);
		const n = await page.$$eval('#timeline .tnode', (c) => c.length);
		const cols = await page.$$eval('#timeline thead th', (c) => c.length - 1);
		check(`timeline: patient ${p}, ${mine.length} lesions in ${studies[p].size} studies`,
			n === mine.length && cols === studies[p].size, `got ${n} lesions, ${cols} studies`);
		const ims = await images(page, '#timeline img');
		check('timeline: patches loaded with non-zero size', allLoaded(ims));
		await page.waitForFunction(() => [...document.querySelectorAll('#timeline .resp')].every((c) => c.textContent.trim()));
		await shot(page, 'viewer-09-timeline-most-studies.png', `patient ${p}: ${studies[p].size} studies, tracks and RECIST`);
	});

	// 10. errors in words
	await step('errors', async () => {
		await page.goto(`${base}/#/lesion/999999`);
		await page.waitForSelector('.error');
		const t = await page.textContent('.error');
		check('error: an unknown lesion is explained in words', /404/.test(t) && /no lesion 999999/.test(t), t);
		await shot(page, 'viewer-08-error.png', 'an unknown lesion id: the API error in words');
		await page.goto(`${base}/#/?min_diam_mm=abc`);
		await page.waitForSelector('.results .error');
		const t2 = await page.textContent('.results .error');
		check('error: a bad filter value is explained (422)', /422/.test(t2), t2);
	});

	// 11. a server with API keys: the page loads, asks for a key, then works with it
	await step('api key', async () => {
		server.kill('SIGTERM');
		await new Promise((res) => server.once('exit', res));
		const key = 'viewer-e2e-read-key';
		const conf = path.join(TMP, 'keys.conf');
		fs.writeFileSync(conf, `read_keys = ${key}\nadmin_keys = viewer-e2e-admin-key\n`);
		const kbase = await startServer(db, imagesDir, ['--config', conf]);
		check('serve with read_keys started', !!kbase);
		const denied = await fetch(`${kbase}/v1/lesions/${lesionId}`);
		check('API without a key -> 401', denied.status === 401, `got ${denied.status}`);
		await page.goto(`${kbase}/#/lesion/${lesionId}`);
		await page.waitForSelector('#api-key');
		const t = await page.textContent('.error');
		check('viewer: without a key the page explains the 401 and asks for a key', /401/.test(t) && /API key/.test(t), t);
		await shot(page, 'viewer-10-api-key.png', 'a server with API keys: the viewer asks for one');
		await page.fill('#api-key', key);
		await page.click('.keyform button');
		await page.waitForSelector('#main-patch img[src^="blob:"]');
		const main = await images(page, '#main-patch img');
		check('viewer: with the key the patch loads (fetched with Authorization)', allLoaded(main), JSON.stringify(main));
	});

	check('no uncaught JavaScript errors in the page', pageErrors.length === 0, pageErrors.join(' | '));
	await browser.close();
	browser = null;
	finish();
}

main().catch(async (e) => {
	notOk(`viewer test crashed: ${e.stack || e}`);
	if (browser)
		await browser.close().catch(() => {});
	finish();
});
