// app.js - lesiond's built-in web viewer: browse lesions, look at one lesion's CT patch
// under different windows and neighbouring slices, its most similar lesions, and a
// patient's lesions tracked across studies. Plain ES module, no framework, no build
// step; served from the binary at / (server/h_www.c). It talks only to the public
// HTTP API (/v1/..., see API.md), so it is also an example client. All state that
// matters lives in the URL hash (#/lesion/12?window=lung&slice=1), so any view can be
// shared. API errors are shown in words, never as a blank page.
'use strict';

const TYPES = { 1: 'bone', 2: 'abdomen', 3: 'mediastinum', 4: 'liver', 5: 'lung', 6: 'kidney',
	7: 'soft_tissue', 8: 'pelvis' };
const SPLITS = { 1: 'train', 2: 'val', 3: 'test' };
// name, label, [lo, hi] in HU (the same presets as the server's renderer)
const WINDOWS = [
	['soft_tissue', 'Soft tissue', [-160, 240]],
	['lung', 'Lung', [-1350, 150]],
	['bone', 'Bone', [-770, 1730]],
	['liver', 'Liver', [15, 165]],
	['dicom', 'DICOM', null],
];
const PAGE_SIZES = [25, 50, 100];
const KS = [6, 12, 24, 48];

const view = document.getElementById('view');
const banner = document.getElementById('banner');
let keyHandler = null;		// the current page's keyboard handler
let renderSeq = 0;		// drops replies of pages the person already left

// ---------------------------------------------------------------- small helpers

// el('a', {href: '#/', class: 'x'}, 'text', child...): a DOM element; never innerHTML,
// so text from the API cannot inject markup.
function el(tag, attrs, ...kids) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k.startsWith('on'))
			e.addEventListener(k.slice(2), v);
		else if (k === 'class')
			e.className = v;
		else if (k === 'dataset')
			Object.assign(e.dataset, v);
		else
			e.setAttribute(k, v === true ? '' : v);
	}
	for (const kid of kids.flat(Infinity)) {
		if (kid === null || kid === undefined || kid === false)
			continue;
		e.append(kid instanceof Node ? kid : String(kid));
	}
	return e;
}

const typeName = (t, name) => name || (t ? TYPES[t] : null) || 'unlabelled';
const pretty = (s) => String(s).replace(/_/g, ' ');
const num = (v, d = 1) => (v === null || v === undefined || Number.isNaN(v)) ? '–' :
	Number(v).toFixed(d);
const mm = (d) => d && d.length >= 2 ? `${num(d[0])} × ${num(d[1])} mm` : '–';
const signed = (v, d = 1, unit = '') => v === null || v === undefined ? '–' :
	(v > 0 ? '+' : v < 0 ? '−' : '±') + Math.abs(v).toFixed(d) + unit;

// An API error, with the server's own words (problem+json detail) when it sent them.
class ApiError extends Error {
	constructor(path, status, title, detail) {
		super(detail || title || `HTTP ${status}`);
		this.path = path;
		this.status = status;
		this.title = title;
		this.detail = detail;
	}
}

// An API key, when the server wants one (admin_keys / read_keys): kept for this browser
// tab only (sessionStorage), never in the URL, sent as "Authorization: Bearer KEY".
const KEY_ITEM = 'lesiond-api-key';
const apiKey = () => sessionStorage.getItem(KEY_ITEM) || '';
const authHeaders = (h = {}) => (apiKey() ? { ...h, Authorization: 'Bearer ' + apiKey() } : h);

async function api(path, body) {
	let res;
	try {
		res = await fetch(path, body === undefined ? { headers: authHeaders({ Accept: 'application/json' }) } :
			{ method: 'POST', body: JSON.stringify(body),
				headers: authHeaders({ Accept: 'application/json', 'Content-Type': 'application/json' }) });
	} catch (e) {
		throw new ApiError(path, 0, 'Network error',
			'the lesiond server could not be reached (is it still running?)');
	}
	if (res.ok)
		return res.json();
	let title = res.statusText, detail = '';
	try {
		const p = await res.json();
		title = p.title || title;
		detail = p.detail || '';
	} catch (e) { /* not problem+json: keep the status line */ }
	throw new ApiError(path, res.status, title, detail);
}

// A sentence for a person: what failed, why (the server's words), and the request.
function errorBox(what, err, hint) {
	const box = el('div', { class: 'error', role: 'alert' });
	box.append(el('strong', {}, what));
	if (err instanceof ApiError) {
		box.append(el('p', {}, err.status ?
			`The server answered ${err.status} ${err.title || ''}: ${err.detail || 'no details given'}.` :
			`${err.detail}.`));
		box.append(el('p', { class: 'req' }, 'Request: GET ', el('code', {}, err.path)));
	} else {
		box.append(el('p', {}, String(err && err.message ? err.message : err)));
	}
	if (hint)
		box.append(el('p', { class: 'hint' }, hint));
	if (err instanceof ApiError && err.status === 401)
		box.append(keyForm());
	return box;
}

function keyForm() {
	const input = el('input', { type: 'password', name: 'key', id: 'api-key', size: 30, autocomplete: 'off',
		placeholder: 'API key' });
	return el('form', { class: 'keyform', onsubmit: (ev) => {
		ev.preventDefault();
		sessionStorage.setItem(KEY_ITEM, input.value.trim());
		statsPromise = null;
		header();
		render();
	} }, el('span', {}, 'This server needs an API key (a read key is enough to view):'), input,
	el('button', { type: 'submit' }, 'Use key'));
}

// Point an <img> at an API image. With an API key the image is fetched with the
// Authorization header and shown from a blob: URL (an <img> cannot send headers).
// data-src keeps the API URL either way.
async function setSrc(im, url) {
	im.dataset.src = url;
	if (!apiKey()) {
		im.src = url;
		return;
	}
	try {
		const r = await fetch(url, { headers: authHeaders() });
		if (im.dataset.src !== url)
			return;	// a newer image was asked for meanwhile
		if (!r.ok)
			throw new Error(`${r.status}`);
		const old = im.src;
		im.src = URL.createObjectURL(await r.blob());
		if (old.startsWith('blob:'))
			URL.revokeObjectURL(old);
	} catch (e) {
		im.dispatchEvent(new Event('error'));
	}
}

function showBanner(msg) {
	banner.textContent = msg;
	banner.hidden = false;
}

// Route parameters: "#/lesion/12?window=lung" -> {parts: ['lesion','12'], q: URLSearchParams}
function route() {
	const h = location.hash.replace(/^#/, '') || '/';
	const qi = h.indexOf('?');
	const path = qi < 0 ? h : h.slice(0, qi);
	return { parts: path.split('/').filter(Boolean).map(decodeURIComponent),
		q: new URLSearchParams(qi < 0 ? '' : h.slice(qi + 1)) };
}

function hashFor(parts, q) {
	const s = q ? new URLSearchParams([...q].filter(([, v]) => v !== '' && v !== null)).toString() : '';
	return '#/' + parts.map(encodeURIComponent).join('/') + (s ? '?' + s : '');
}

// Change the URL without re-rendering (small state changes on the same page).
function replaceQuery(q) {
	const r = route();
	history.replaceState(null, '', hashFor(r.parts, q));
}

// An image that says why when it cannot be shown (fetches the problem+json detail).
function image(src, alt, cls, opts = {}) {
	const wrap = el('div', { class: 'img ' + (cls || '') });
	const im = el('img', { alt, loading: opts.lazy ? 'lazy' : null, decoding: 'async' });
	if (src)
		setSrc(im, src);
	im.addEventListener('load', () => wrap.classList.remove('failed'));
	im.addEventListener('error', async () => {
		wrap.classList.add('failed');
		let msg = 'image unavailable';
		if (opts.explain) {
			try {
				const r = await fetch(im.dataset.src, { headers: authHeaders() });
				const p = await r.json();
				msg = `${r.status} ${p.title || ''}: ${p.detail || ''}`;
			} catch (e) { /* keep the short message */ }
		}
		wrap.dataset.msg = msg;
		wrap.title = msg;
	});
	wrap.append(im);
	return wrap;
}

function patchUrl(id, o = {}) {
	const q = new URLSearchParams();
	q.set('size', o.size || 128);
	if (o.window)
		q.set('window', o.window);
	if (o.overlay && o.overlay !== 'none')
		q.set('overlay', o.overlay);
	if (o.offset)
		q.set('slice_offset', o.offset);
	return `v1/lesions/${id}/patch.png?${q}`;
}

// /v1/stats, fetched once per page load (the header line and the space selector)
let statsPromise = null;
function stats() {
	if (!statsPromise)
		statsPromise = api('v1/stats').catch((e) => { statsPromise = null; throw e; });
	return statsPromise;
}

function select(name, options, value, attrs = {}) {
	return el('select', { name, id: attrs.id || 'f-' + name, ...attrs },
		options.map(([v, label]) => el('option', { value: v, selected: String(v) === String(value ?? '') }, label)));
}

function field(label, control) {
	return el('label', { class: 'field' }, el('span', {}, label), control);
}

const typeOptions = (any) => [['', any], ...Object.entries(TYPES).map(([k, v]) => [v, pretty(v)])];
const splitOptions = (any) => [['', any], ...Object.values(SPLITS).map((v) => [v, v])];

// ---------------------------------------------------------------- browse

// Paging keeps the cursors of the earlier pages in the URL ("back"), so Previous works
// in a shared link too; FIRST stands for the first page, which has no cursor.
const FIRST = 'first';

async function renderBrowse(q, seq) {
	const limit = PAGE_SIZES.includes(Number(q.get('limit'))) ? Number(q.get('limit')) : 25;
	const back = (q.get('back') || '').split(',').filter((s) => s !== '');
	const cursor = q.get('cursor') || '';
	const form = el('form', { class: 'filters', id: 'browse-filters' },
		field('Type', select('type', typeOptions('any type'), q.get('type'))),
		field('Split', select('split', splitOptions('any split'), q.get('split'))),
		field('Patient', el('input', { name: 'patient', id: 'f-patient', inputmode: 'numeric', size: 6,
			value: q.get('patient') || '', placeholder: 'any' })),
		field('Long diameter from', el('input', { name: 'min_diam_mm', id: 'f-min', type: 'number', min: 0,
			step: 'any', value: q.get('min_diam_mm') || '', placeholder: 'mm' })),
		field('to', el('input', { name: 'max_diam_mm', id: 'f-max', type: 'number', min: 0, step: 'any',
			value: q.get('max_diam_mm') || '', placeholder: 'mm' })),
		field('Per page', select('limit', PAGE_SIZES.map((n) => [n, n]), limit)),
		el('button', { type: 'submit' }, 'Search'),
		el('a', { href: '#/', class: 'reset' }, 'Clear'));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		const nq = new URLSearchParams();
		for (const [k, v] of new FormData(form))
			if (String(v).trim() !== '')
				nq.set(k, String(v).trim());
		location.hash = hashFor([], nq);
	});
	form.addEventListener('change', (ev) => {
		if (ev.target.tagName === 'SELECT')
			form.requestSubmit();
	});

	const out = el('section', { class: 'results' }, el('p', { class: 'loading' }, 'Loading lesions…'));
	view.replaceChildren(el('h1', {}, 'Lesions'), form, out);

	const aq = new URLSearchParams();
	for (const k of ['type', 'split', 'patient', 'min_diam_mm', 'max_diam_mm'])
		if (q.get(k))
			aq.set(k, q.get(k));
	aq.set('limit', limit);
	if (cursor)
		aq.set('cursor', cursor);
	let page;
	try {
		page = await api('v1/lesions?' + aq);
	} catch (e) {
		if (seq === renderSeq)
			out.replaceChildren(errorBox('Could not list lesions.', e,
				e.status === 422 ? 'Check the filter values above.' : null));
		return;
	}
	if (seq !== renderSeq)
		return;
	if (!page.lesions.length) {
		out.replaceChildren(el('p', { class: 'empty' }, cursor ?
			'No more lesions on this page.' : 'No lesion matches these filters.'));
		return;
	}
	const first = back.length * limit + 1;
	const rows = page.lesions.map((l) => el('tr', {
		class: 'row', tabindex: 0, dataset: { id: l.id },
		onclick: (ev) => { if (!ev.target.closest('a')) location.hash = `#/lesion/${l.id}`; },
		onkeydown: (ev) => { if (ev.key === 'Enter') location.hash = `#/lesion/${l.id}`; },
	},
	el('td', { class: 'thumb' }, image(patchUrl(l.id, { size: 64 }), `patch of lesion ${l.id}`, 'small', { lazy: true })),
	el('td', {}, el('a', { href: `#/lesion/${l.id}` }, l.id)),
	el('td', {}, el('a', { href: `#/patient/${l.patient}?focus=${l.id}`, title: 'patient timeline' }, l.patient)),
	el('td', {}, l.study), el('td', {}, l.series), el('td', {}, l.key_slice),
	el('td', {}, el('span', { class: 'type t-' + typeName(l.type, l.type_name) }, pretty(typeName(l.type, l.type_name)))),
	el('td', {}, l.split_name || SPLITS[l.split] || '–'),
	el('td', { class: 'n' }, num(l.diameters_mm[0])), el('td', { class: 'n' }, num(l.diameters_mm[1])),
	el('td', {}, l.gender || '–', ' ', l.age !== null ? num(l.age, 0) : ''),
	el('td', {}, l.possibly_noisy ? el('span', { class: 'warn', title: 'DeepLesion marks this annotation as possibly noisy' }, 'noisy') : '')));
	const table = el('table', { class: 'lesions', id: 'lesion-table' },
		el('thead', {}, el('tr', {}, ['Patch', 'Id', 'Patient', 'Study', 'Series', 'Key slice', 'Type', 'Split',
			'Long mm', 'Short mm', 'Sex, age', ''].map((h) => el('th', {}, h)))),
		el('tbody', {}, rows));
	const nav = el('div', { class: 'pager' },
		el('span', { id: 'range' }, `Lesions ${first}–${first + page.count - 1}`),
		back.length ? el('a', { class: 'button', id: 'prev', href: hashFor([], withParams(q, {
			cursor: back[back.length - 1] === FIRST ? '' : back[back.length - 1],
			back: back.slice(0, -1).join(',') })) }, '← Previous') : null,
		page.next_cursor ? el('a', { class: 'button', id: 'next', href: hashFor([], withParams(q, {
			cursor: page.next_cursor, back: [...back, cursor || FIRST].join(',') })) }, 'Next →') : null);
	out.replaceChildren(table, nav);
}

function withParams(q, changes) {
	const n = new URLSearchParams(q);
	for (const [k, v] of Object.entries(changes)) {
		if (v === null || v === undefined || v === '')
			n.delete(k);
		else
			n.set(k, v);
	}
	return n;
}

// ---------------------------------------------------------------- one lesion

function windowRange(name, lesion) {
	if (name === 'dicom')
		return lesion.dicom_window;
	const w = WINDOWS.find((x) => x[0] === name);
	return w ? w[2] : null;
}

async function renderLesion(id, q, seq) {
	view.replaceChildren(el('p', { class: 'loading' }, `Loading lesion ${id}…`));
	let l;
	try {
		l = await api(`v1/lesions/${encodeURIComponent(id)}`);
	} catch (e) {
		if (seq === renderSeq)
			view.replaceChildren(el('h1', {}, `Lesion ${id}`), errorBox(`Could not open lesion ${id}.`, e,
				e.status === 404 ? 'Lesion ids are the row numbers of DL_info.csv; browse the list to find one.' : null),
			el('p', {}, el('a', { href: '#/' }, '← all lesions')));
		return;
	}
	if (seq !== renderSeq)
		return;

	const st = {
		window: WINDOWS.some((w) => w[0] === q.get('window')) ? q.get('window') : 'soft_tissue',
		overlay: ['none', 'bbox', 'recist'].includes(q.get('overlay')) ? q.get('overlay') : 'recist',
		offset: Number.parseInt(q.get('slice') || '0', 10) || 0,
		k: KS.includes(Number(q.get('k'))) ? Number(q.get('k')) : 12,
		space: q.get('space') || '',
		same: ['include', 'exclude', 'only'].includes(q.get('same_patient')) ? q.get('same_patient') : 'exclude',
		stype: q.get('stype') || '',
		ssplit: q.get('ssplit') || '',
		focus: -1,
	};
	const lo = l.slice_range[0] - l.key_slice, hi = l.slice_range[1] - l.key_slice;
	st.offset = Math.max(lo, Math.min(hi, st.offset));

	// the page state as URL parameters (defaults left out); a match opens with the same
	// window, overlay and search settings, at its own key slice
	const stateQuery = (slice) => new URLSearchParams(Object.entries({
		window: st.window === 'soft_tissue' ? '' : st.window,
		overlay: st.overlay === 'recist' ? '' : st.overlay,
		slice: slice || '', k: st.k === 12 ? '' : st.k, space: st.space,
		same_patient: st.same === 'exclude' ? '' : st.same, stype: st.stype, ssplit: st.ssplit,
	}).filter(([, v]) => v !== ''));
	const matchHref = (id) => hashFor(['lesion', String(id)], stateQuery(0));
	const saveUrl = () => {
		replaceQuery(stateQuery(st.offset));
		for (const a of grid.querySelectorAll('a.match'))
			a.href = matchHref(a.dataset.id);
	};

	// the large patch
	const main = image('', `CT patch of lesion ${l.id}`, 'large', { explain: true });
	main.id = 'main-patch';
	const caption = el('p', { class: 'caption', id: 'caption' });
	const winButtons = el('div', { class: 'seg', id: 'windows', role: 'group', 'aria-label': 'CT window' },
		WINDOWS.map(([name, label]) => {
			const r = windowRange(name, l);
			return el('button', { type: 'button', dataset: { window: name },
				title: r ? `${r[0]} … ${r[1]} HU` : '', onclick: () => { st.window = name; update(); } },
			label, name === 'dicom' && r ? el('small', {}, ` ${num(r[0], 0)}…${num(r[1], 0)}`) : null);
		}));
	const ovButtons = el('div', { class: 'seg', id: 'overlays', role: 'group', 'aria-label': 'overlay' },
		[['recist', 'RECIST'], ['bbox', 'Box'], ['none', 'None']].map(([name, label]) =>
			el('button', { type: 'button', dataset: { overlay: name }, onclick: () => { st.overlay = name; update(); } }, label)));
	const slider = el('input', { type: 'range', id: 'slice-range', min: lo, max: hi, step: 1, value: st.offset,
		'aria-label': 'slice offset', disabled: lo === hi ? true : null,
		oninput: () => { st.offset = Number(slider.value); update(); } });
	const sliceLabel = el('span', { id: 'slice-label', class: 'slice-label' });
	const sliceBox = el('div', { class: 'slices' },
		el('button', { type: 'button', id: 'slice-down', title: 'previous slice (↓)',
			onclick: () => moveSlice(-1) }, '−'),
		slider,
		el('button', { type: 'button', id: 'slice-up', title: 'next slice (↑)', onclick: () => moveSlice(1) }, '+'),
		sliceLabel);

	function moveSlice(d) {
		const n = Math.max(lo, Math.min(hi, st.offset + d));
		if (n !== st.offset) {
			st.offset = n;
			update();
		}
	}

	function update() {
		const r = windowRange(st.window, l);
		setSrc(main.querySelector('img'), patchUrl(l.id, { size: 512, window: st.window, overlay: st.overlay,
			offset: st.offset }));
		main.classList.remove('failed');
		for (const b of winButtons.children)
			b.setAttribute('aria-pressed', b.dataset.window === st.window);
		for (const b of ovButtons.children)
			b.setAttribute('aria-pressed', b.dataset.overlay === st.overlay);
		slider.value = st.offset;
		const slice = l.key_slice + st.offset;
		sliceLabel.textContent = `slice ${slice}` + (st.offset ? ` (key ${signed(st.offset, 0)})` : ' (key slice)');
		caption.textContent = `Series ${l.file_name.replace(/_\d+\.png$/, '')}, slice ${slice} (${l.slice_range[0]}–${l.slice_range[1]}) · ` +
			`${pretty(WINDOWS.find((w) => w[0] === st.window)[1])} window` + (r ? ` (${num(r[0], 0)} … ${num(r[1], 0)} HU)` : '');
		for (const c of grid.querySelectorAll('.match img'))
			setSrc(c, patchUrl(c.dataset.id, { size: 160, window: st.window }));
		if (region.open)
			regionSlice();
		saveUrl();
	}

	// metadata
	const sp = l.spacing_mm_px || [];
	const meta = [
		['Patient', el('a', { href: `#/patient/${l.patient}?focus=${l.id}`, id: 'timeline-link' }, `${l.patient} — timeline`)],
		['Study · series', `${l.study} · ${l.series}`],
		['Key slice', `${l.key_slice} (slices ${l.slice_range[0]}–${l.slice_range[1]} available)`],
		['Type', el('span', { class: 'type t-' + typeName(l.type, l.type_name) }, pretty(typeName(l.type, l.type_name)))],
		['Diameters', `${mm(l.diameters_mm)} (${num(l.diameters_px[0])} × ${num(l.diameters_px[1])} px)`],
		['Split', l.split_name || SPLITS[l.split] || '–'],
		['Patient sex, age', `${l.gender || 'unknown'}, ${l.age !== null ? num(l.age, 0) + ' years' : 'age unknown'}`],
		['Location (x, y, z)', (l.normalized_location || []).map((v) => num(v, 3)).join(', ')],
		['Bounding box (px)', (l.bounding_box || []).map((v) => num(v, 1)).join(', ')],
		['RECIST endpoints (px)', (l.measurement_coordinates || []).map((v) => num(v, 1)).join(', ')],
		['Pixel spacing', sp.length ? `${num(sp[0], 3)} × ${num(sp[1], 3)} mm, slice ${num(sp[2], 2)} mm` : '–'],
		['Image size', `${l.image_size[0]} × ${l.image_size[1]} px`],
		['DICOM window', `${num(l.dicom_window[0], 0)} … ${num(l.dicom_window[1], 0)} HU`],
		['Possibly noisy', l.possibly_noisy ? 'yes' : 'no'],
		['File', el('code', {}, l.file_name)],
	];
	const dl = el('dl', { class: 'meta', id: 'meta' }, meta.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));

	// similar lesions
	const grid = el('div', { class: 'grid', id: 'matches' }, el('p', { class: 'loading' }, 'Searching…'));
	const simInfo = el('span', { class: 'took', id: 'sim-info' });
	const spaceSel = el('span', { id: 'space-box' });
	const simForm = el('form', { class: 'filters compact', id: 'sim-filters' },
		spaceSel,
		field('Show', select('k', KS.map((n) => [n, `${n} matches`]), st.k, { id: 'f-k' })),
		field('Same patient', select('same_patient', [['exclude', 'excluded'], ['include', 'included'], ['only', 'only']],
			st.same, { id: 'f-same' })),
		field('Type', select('stype', typeOptions('any type'), st.stype, { id: 'f-stype' })),
		field('Split', select('ssplit', splitOptions('any split'), st.ssplit, { id: 'f-ssplit' })));
	simForm.addEventListener('change', (ev) => {
		const t = ev.target;
		if (t.name === 'k') st.k = Number(t.value);
		if (t.name === 'same_patient') st.same = t.value;
		if (t.name === 'stype') st.stype = t.value;
		if (t.name === 'ssplit') st.ssplit = t.value;
		if (t.name === 'space') st.space = t.value;
		saveUrl();
		loadSimilar();
	});
	simForm.addEventListener('submit', (ev) => ev.preventDefault());

	async function loadSimilar() {
		const my = ++simSeq;
		grid.replaceChildren(el('p', { class: 'loading' }, 'Searching…'));
		simInfo.textContent = '';
		// the space: the URL's, else "builtin" when the server has it, else its first one
		const spaces = await stats().then((x) => x.spaces || [], () => null);
		if (my !== simSeq)
			return;
		if (spaces && !spaces.length) {
			grid.replaceChildren(el('div', { class: 'error' }, el('strong', {}, 'No embedding space on this server yet.'),
				el('p', {}, 'Similar-lesion search needs vectors: run `lesiond embed` for the built-in descriptor, ' +
					'or load your own with `lesiond import-vectors`.')));
			return;
		}
		const space = st.space || (spaces && !spaces.some((x) => x.name === 'builtin') ? spaces[0].name : '');
		const aq = new URLSearchParams({ k: st.k, same_patient: st.same });
		if (space)
			aq.set('space', space);
		if (st.stype)
			aq.set('type', st.stype);
		if (st.ssplit)
			aq.set('split', st.ssplit);
		let res;
		try {
			res = await api(`v1/lesions/${l.id}/similar?${aq}`);
		} catch (e) {
			if (my === simSeq)
				grid.replaceChildren(errorBox('Could not search for similar lesions.', e,
					e.status === 404 && /no route/.test(e.detail || '') ?
						'This lesiond build has no similar-lesion search.' :
						e.status === 503 || e.status === 422 ?
							'Similar-lesion search needs embeddings: run `lesiond embed` (or import vectors) first.' : null));
			return;
		}
		if (my !== simSeq || seq !== renderSeq)
			return;
		st.focus = -1;
		const n = res.results.length;
		simInfo.textContent = `${n} match${n === 1 ? '' : 'es'}` +
			(res.took_ms !== undefined ? ` in ${num(res.took_ms, 1)} ms` : '') + (res.mode ? ` · ${res.mode}` : '');
		if (!n) {
			grid.replaceChildren(el('p', { class: 'empty' }, 'No lesion matches these filters.'));
			return;
		}
		showMatches(res.results);
	}
	function showMatches(results) {
		grid.replaceChildren(...results.map((m) => {
			const s = m.lesion || {};
			const t = typeName(s.type, s.type_name);
			const card = el('a', { class: 'match', href: matchHref(m.lesion_id), dataset: { id: m.lesion_id, rank: m.rank } },
				image(patchUrl(m.lesion_id, { size: 160, window: st.window }), `patch of lesion ${m.lesion_id}`, 'medium'),
				el('div', { class: 'mline' }, el('span', { class: 'rank' }, `#${m.rank}`),
					el('span', { class: 'dist', title: 'distance in the embedding space' }, `d = ${num(m.distance, 3)}`)),
				el('div', { class: 'mline' }, el('span', { class: 'type t-' + t }, pretty(t)),
					el('span', { title: 'long × short diameter' }, s.diameters_mm ?
						`${num(s.diameters_mm[0], 0)} × ${num(s.diameters_mm[1], 0)} mm` : '')),
				el('div', { class: 'mline sub' }, `lesion ${m.lesion_id} · patient ${s.patient ?? '?'}` +
					(s.split_name ? ` · ${s.split_name}` : '')));
			card.querySelector('img').dataset.id = m.lesion_id;
			return card;
		}));
	}
	let simSeq = 0;

	// query by drawing: the whole slice at the current offset; drag a box around anything
	// and search lesions similar to that region (POST /v1/search {"image":...}) in the
	// space chosen above
	const regionImg = el('img', { id: 'region-img', alt: 'the whole CT slice', draggable: 'false' });
	const regionBox = el('div', { class: 'region-box', id: 'region-box', hidden: true });
	const regionWrap = el('div', { class: 'region-wrap', id: 'region-wrap' }, regionImg, regionBox);
	const regionInfo = el('p', { class: 'caption', id: 'region-info' },
		'Drag a box on the slice to search for lesions that look like it.');
	const region = el('details', { class: 'region', id: 'region' },
		el('summary', {}, 'Search by drawing a box on the slice'), regionWrap, regionInfo);
	region.addEventListener('toggle', () => { if (region.open) regionSlice(); });
	function regionSlice() {
		const dir = l.file_name.replace(/_\d+\.png$/, '');
		setSrc(regionImg, `v1/slices/${dir}/${String(l.key_slice + st.offset).padStart(3, '0')}.png?window=${st.window}`);
	}
	let drag = null;
	const toImage = (ev) => {
		const r = regionImg.getBoundingClientRect();
		const sx = (regionImg.naturalWidth || l.image_size[0]) / r.width;
		const sy = (regionImg.naturalHeight || l.image_size[1]) / r.height;
		return [Math.max(0, Math.min(r.width, ev.clientX - r.left)), Math.max(0, Math.min(r.height, ev.clientY - r.top)), sx, sy];
	};
	const drawBox = (a, b) => {
		Object.assign(regionBox.style, { left: `${Math.min(a[0], b[0])}px`, top: `${Math.min(a[1], b[1])}px`,
			width: `${Math.abs(a[0] - b[0])}px`, height: `${Math.abs(a[1] - b[1])}px` });
		regionBox.hidden = false;
	};
	regionWrap.addEventListener('pointerdown', (ev) => {
		ev.preventDefault();
		drag = toImage(ev);
		drawBox(drag, drag);
	});
	regionWrap.addEventListener('pointermove', (ev) => { if (drag) drawBox(drag, toImage(ev)); });
	regionWrap.addEventListener('pointerup', (ev) => {
		if (!drag)
			return;
		const a = drag, b = toImage(ev);
		drag = null;
		const box = [Math.min(a[0], b[0]) * a[2], Math.min(a[1], b[1]) * a[3], Math.max(a[0], b[0]) * a[2], Math.max(a[1], b[1]) * a[3]]
			.map((v) => Math.round(v));
		if (box[2] - box[0] < 4 || box[3] - box[1] < 4) {
			regionInfo.textContent = 'Draw a larger box (at least 4 pixels each way).';
			return;
		}
		searchRegion(box);
	});
	async function searchRegion(box) {
		const my = ++simSeq;
		const sp = l.spacing_mm_px || [];
		const body = { k: st.k, image: { slice: `${l.file_name.replace(/_\d+\.png$/, '')}/${String(l.key_slice + st.offset).padStart(3, '0')}.png`,
			bbox: box, spacing_mm: sp[0], slice_interval_mm: sp[2] || undefined } };
		const space = st.space || (spaceSel.querySelector('select') || {}).value;
		if (space)
			body.space = space;
		const filter = {};
		if (st.stype)
			filter.type = st.stype;
		if (st.ssplit)
			filter.split = st.ssplit;
		if (Object.keys(filter).length)
			body.filter = filter;
		regionInfo.textContent = `Searching for the region [${box.join(', ')}] in ${space || 'the default space'}…`;
		grid.replaceChildren(el('p', { class: 'loading' }, 'Searching…'));
		let res;
		try {
			res = await api('v1/search', body);
		} catch (e) {
			if (my === simSeq) {
				grid.replaceChildren(errorBox('Could not search by region.', e,
					e.status === 422 ? 'Region search needs the built-in descriptor or a space trained from images.' : null));
				regionInfo.textContent = '';
			}
			return;
		}
		if (my !== simSeq)
			return;
		regionInfo.textContent = `Region [${box.join(', ')}] px on slice ${l.key_slice + st.offset}: ` +
			`${res.results.length} matches in space ${res.space}`;
		simInfo.textContent = `${res.results.length} matches for the drawn region`;
		showMatches(res.results);
	}

	const head = el('div', { class: 'lhead' },
		el('h1', {}, `Lesion ${l.id}`, el('small', {}, ` ${pretty(typeName(l.type, l.type_name))}, ${num(l.diameters_mm[0])} mm`)),
		el('a', { href: `#/patient/${l.patient}?focus=${l.id}`, class: 'button' }, `Patient ${l.patient} timeline →`));
	const viewer = el('section', { class: 'viewer' },
		el('div', { class: 'tools' }, el('span', { class: 'lbl' }, 'Window'), winButtons),
		main, caption,
		el('div', { class: 'tools' }, el('span', { class: 'lbl' }, 'Overlay'), ovButtons),
		el('div', { class: 'tools' }, el('span', { class: 'lbl' }, 'Slice'), sliceBox), region);
	// left: the patch, its controls and the metadata; right: the similar lesions
	view.replaceChildren(head,
		el('div', { class: 'lesion' },
			el('div', { class: 'left' }, viewer,
				el('p', { class: 'keys' }, 'Keys: ↑ ↓ move through slices, ← → through the matches, Enter opens one.'),
				el('section', { class: 'side' }, el('h2', {}, 'Metadata'), dl)),
			el('section', { class: 'similar' }, el('h2', {}, 'Similar lesions', simInfo), simForm, grid)));
	update();

	// the space selector: only when the server has several embedding spaces
	stats().then((s) => {
		const spaces = s.spaces || [];
		if (spaces.length > 1) {
			spaceSel.replaceChildren(field('Space', select('space',
				spaces.map((x) => [x.name, `${x.name} (${x.dim}-d, ${x.count} vectors)`]),
				st.space || (spaces.some((x) => x.name === 'builtin') ? 'builtin' : spaces[0].name), { id: 'f-space' })));
		} else if (spaces.length === 1) {
			spaceSel.replaceChildren(field('Space', el('output', { class: 'space1' },
				`${spaces[0].name} (${spaces[0].dim}-d)`)));
		}
	}).catch(() => {});
	loadSimilar();

	keyHandler = (ev) => {
		if (ev.key === 'ArrowUp' || ev.key === 'ArrowDown') {
			ev.preventDefault();
			moveSlice(ev.key === 'ArrowUp' ? 1 : -1);
		} else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight') {
			const cards = [...grid.querySelectorAll('.match')];
			if (!cards.length)
				return;
			ev.preventDefault();
			st.focus = Math.max(0, Math.min(cards.length - 1,
				st.focus + (ev.key === 'ArrowRight' ? 1 : -1) + (st.focus < 0 && ev.key === 'ArrowLeft' ? 1 : 0)));
			cards[st.focus].focus();
		}
	};
}

// ---------------------------------------------------------------- patient timeline

async function renderPatient(pid, q, seq) {
	const focus = Number(q.get('focus') || 0);
	view.replaceChildren(el('p', { class: 'loading' }, `Loading patient ${pid}…`));
	let g;
	try {
		g = await api(`v1/patients/${encodeURIComponent(pid)}/graph`);
	} catch (e) {
		if (seq !== renderSeq)
			return;
		// without the graph, still show the patient's lesions by study
		const box = errorBox(`Could not load the lesion graph of patient ${pid}.`, e,
			e.status === 404 && /no route/.test(e.detail || '') ?
				'This lesiond build has no lesion graph; the lesions are listed by study below, unlinked.' : null);
		view.replaceChildren(el('h1', {}, `Patient ${pid}`), box);
		try {
			const page = await api(`v1/lesions?patient=${encodeURIComponent(pid)}&limit=1000`);
			if (seq === renderSeq && page.lesions.length)
				view.append(plainTimeline(page.lesions, focus));
		} catch (e2) { /* the first error box says enough */ }
		return;
	}
	if (seq !== renderSeq)
		return;
	const studies = [...new Set(g.nodes.map((n) => n.study))].sort((a, b) => a - b);
	const byTrack = new Map();
	for (const n of g.nodes) {
		if (!byTrack.has(n.track))
			byTrack.set(n.track, []);
		byTrack.get(n.track).push(n);
	}
	const tracks = [...byTrack.values()].map((ns) => ns.sort((a, b) => a.study - b.study))
		.sort((a, b) => a[0].study - b[0].study || a[0].lesion_id - b[0].lesion_id);
	// the edge that links each lesion to the same lesion in an earlier study
	const study = new Map(g.nodes.map((n) => [n.lesion_id, n.study]));
	const edgeInto = new Map();
	for (const e of g.edges) {
		const [a, b] = study.get(e.to) >= study.get(e.from) ? [e.from, e.to] : [e.to, e.from];
		const old = edgeInto.get(b);
		if (!old || study.get(a) > study.get(old.earlier))	// the nearest earlier study wins
			edgeInto.set(b, { earlier: a, score: e.score });
	}

	const head = el('div', { class: 'lhead' },
		el('h1', {}, `Patient ${g.patient}`, el('small', {},
			` ${g.nodes.length} lesion${g.nodes.length === 1 ? '' : 's'} in ${studies.length} stud${studies.length === 1 ? 'y' : 'ies'}, ` +
			`${tracks.length} track${tracks.length === 1 ? '' : 's'}`)),
		el('a', { class: 'button', href: hashFor([], new URLSearchParams({ patient: g.patient })) }, 'List this patient’s lesions'));
	const table = el('table', { class: 'timeline', id: 'timeline' },
		el('thead', {}, el('tr', {}, el('th', {}, 'Track'), studies.map((s) => el('th', {}, `Study ${s}`)))));
	const tbody = el('tbody');
	table.append(tbody);
	const rule = el('p', { class: 'rule', id: 'recist-rule' });
	view.replaceChildren(head,
		el('p', { class: 'intro' }, 'Each row is one lesion followed across the patient’s studies (same lesion linked by the lesion graph). ' +
			'Sizes are RECIST long × short diameters; the change is in the sum of diameters.'),
		el('div', { class: 'scroll' }, table), rule);

	const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
	tracks.forEach((ns, i) => {
		const t = typeName(null, ns[0].type);
		const label = el('td', { class: 'tlabel' }, el('div', { class: 'tname' }, `Track ${letters[i] || i + 1}`),
			el('span', { class: 'type t-' + t }, pretty(t)), el('div', { class: 'resp', dataset: { track: i } }, ''));
		const row = el('tr', { class: 'track' + (ns.some((n) => n.lesion_id === focus) ? ' focus' : ''),
			dataset: { ids: ns.map((n) => n.lesion_id).join(',') } }, label);
		for (const s of studies) {
			const here = ns.filter((n) => n.study === s);
			if (!here.length) {
				row.append(el('td', { class: 'absent' }, 'not seen'));
				continue;
			}
			row.append(el('td', { class: 'node' }, here.map((n) => {
				const e = edgeInto.get(n.lesion_id);
				return el('a', { class: 'tnode' + (n.lesion_id === focus ? ' focus' : ''), href: `#/lesion/${n.lesion_id}`,
					dataset: { id: n.lesion_id } },
				image(patchUrl(n.lesion_id, { size: 128, overlay: 'recist' }), `lesion ${n.lesion_id}`, 'medium'),
				el('div', { class: 'mline' }, el('strong', {}, `${num(n.diameters_mm[0])} × ${num(n.diameters_mm[1])} mm`)),
				el('div', { class: 'mline sub' }, `lesion ${n.lesion_id} · slice ${n.slice}`),
				el('div', { class: 'mline sub change', dataset: { id: n.lesion_id } },
					e ? `link score ${num(e.score, 2)}` : ''));
			})));
		}
		tbody.append(row);
	});

	// RECIST per track, from /track (one request per track, in parallel)
	const replies = await Promise.all(tracks.map((ns) =>
		api(`v1/lesions/${ns[ns.length - 1].lesion_id}/track`).catch((e) => e)));
	if (seq !== renderSeq)
		return;
	let ruleText = '';
	replies.forEach((r, i) => {
		const cell = tbody.querySelector(`.resp[data-track="${i}"]`);
		if (r instanceof Error) {
			cell.append(el('span', { class: 'warn', title: r.detail || r.message }, 'no RECIST: ' + (r.detail || r.message)));
			return;
		}
		ruleText = r.rule || ruleText;
		const last = r.track[r.track.length - 1] || {};
		cell.append(el('span', { class: 'recist r-' + String(r.response || '').toLowerCase() }, r.response || '–'),
			last.change_from_baseline_pct !== null && last.change_from_baseline_pct !== undefined ?
				el('span', { class: 'pct' }, ` ${signed(last.change_from_baseline_pct, 0, '%')} vs baseline`) : null);
		for (const p of r.track) {
			if (!p.present || !p.lesion_id)
				continue;
			const c = tbody.querySelector(`.change[data-id="${p.lesion_id}"]`);
			if (!c)
				continue;
			const bits = [`sum ${num(p.sum_mm)} mm`];
			if (p.change_from_baseline_pct !== null && p.change_from_baseline_pct !== undefined &&
			    p !== r.track[0])
				bits.push(`${signed(p.change_from_baseline_pct, 0, '%')}`);
			if (p.recist)
				bits.push(p.recist);
			c.textContent = bits.join(' · ') + (c.textContent ? ' · ' + c.textContent : '');
		}
	});
	if (ruleText)
		rule.textContent = 'RECIST: ' + ruleText;
}

// The patient's lesions by study, when the graph is unavailable.
function plainTimeline(lesions, focus) {
	const studies = [...new Set(lesions.map((l) => l.study))].sort((a, b) => a - b);
	return el('div', { class: 'plain', id: 'timeline-plain' }, studies.map((s) => el('div', { class: 'study' },
		el('h2', {}, `Study ${s}`),
		el('div', { class: 'grid' }, lesions.filter((l) => l.study === s).map((l) =>
			el('a', { class: 'match' + (l.id === focus ? ' focus' : ''), href: `#/lesion/${l.id}` },
				image(patchUrl(l.id, { size: 128, overlay: 'recist' }), `lesion ${l.id}`, 'medium'),
				el('div', { class: 'mline' }, el('span', { class: 'type t-' + typeName(l.type, l.type_name) },
					pretty(typeName(l.type, l.type_name))), `${mm(l.diameters_mm)}`),
				el('div', { class: 'mline sub' }, `lesion ${l.id} · slice ${l.key_slice}`)))))));
}

// ---------------------------------------------------------------- shell

async function render() {
	const seq = ++renderSeq;
	keyHandler = null;
	banner.hidden = true;
	const { parts, q } = route();
	document.getElementById('nav-browse').classList.toggle('active', parts.length === 0);
	try {
		if (parts.length === 0) {
			document.title = 'Lesions · lesiond';
			await renderBrowse(q, seq);
		} else if (parts[0] === 'lesion' && parts[1]) {
			document.title = `Lesion ${parts[1]} · lesiond`;
			await renderLesion(parts[1], q, seq);
		} else if (parts[0] === 'patient' && parts[1]) {
			document.title = `Patient ${parts[1]} · lesiond`;
			await renderPatient(parts[1], q, seq);
		} else {
			view.replaceChildren(el('h1', {}, 'Page not found'), el('p', {}, 'The viewer has no page ',
				el('code', {}, location.hash), '. ', el('a', { href: '#/' }, 'Go to the lesion list.')));
		}
	} catch (e) {
		view.replaceChildren(errorBox('Something went wrong while showing this page.', e));
	}
}

function header() {
	const s = document.getElementById('stats');
	stats().then((x) => {
		const spaces = (x.spaces || []).map((sp) => sp.name).join(', ');
		s.textContent = `${x.lesions} lesions · ${x.patients} patients · ${x.studies} studies` +
			(spaces ? ` · spaces: ${spaces}` : ' · no embedding space');
	}).catch((e) => {
		s.textContent = '';
		if (e.status === 401)
			return;	// the page itself asks for a key
		showBanner(`The server's statistics could not be loaded: ${e.message}. ` +
			'Other pages may fail too; is lesiond running?');
	});
}

document.getElementById('goto').addEventListener('submit', (ev) => {
	ev.preventDefault();
	const v = document.getElementById('goto-id').value.trim();
	if (v)
		location.hash = `#/lesion/${encodeURIComponent(v)}`;
});
document.addEventListener('keydown', (ev) => {
	if (!keyHandler || ev.altKey || ev.ctrlKey || ev.metaKey)
		return;
	const t = ev.target;
	if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA') && t.type !== 'range')
		return;
	keyHandler(ev);
});
window.addEventListener('error', (ev) => showBanner(`The viewer hit a bug: ${ev.message}. Reload the page to continue.`));
window.addEventListener('unhandledrejection', (ev) =>
	showBanner(`The viewer hit an error: ${ev.reason && ev.reason.message ? ev.reason.message : ev.reason}.`));
window.addEventListener('hashchange', render);
header();
render();
