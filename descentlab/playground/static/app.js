// descentlab playground: the page draws, the Python server computes.
// Every path and curve comes from the JSON API (descentlab.optim, descentlab.functions,
// the Trainer); this file only asks for numbers and draws them. No dependencies.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const P = (window.__playground = {
    ready: false, drawVersion: 0, drawn: [], runs: [], errors: [],
    state: null, meta: null, functions: null,
  });

  // ------------------------------------------------------------ small helpers
  function fmt(v, digits = 4) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
    const a = Math.abs(v);
    let s;
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) s = v.toExponential(Math.max(1, digits - 2));
    else s = String(Number(v.toPrecision(digits)));
    return s.replace("e+", "e").replaceAll("-", "−");
  }
  const pretty = (f) => f.replace(/\^2/g, "²").replace(/\^3/g, "³").replace(/ pi /g, " π ").replace(/\bpi\b/g, "π");
  const fmtPt = (p) => `(${fmt(p[0])}, ${fmt(p[1])})`;
  function el(tag, props = {}, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(e.dataset, v);
      else e.setAttribute(k, v);
    }
    for (const c of kids) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  async function getJSON(url, opts = {}) {
    const r = await fetch(url, opts);
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) {
      const err = new Error((body && body.error) || `HTTP ${r.status}`);
      err.status = r.status;
      throw err;
    }
    return body;
  }
  function setupCanvas(c, w, h) {
    const dpr = window.devicePixelRatio || 1;
    c.style.width = w + "px";
    c.style.height = h + "px";
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return ctx;
  }
  const optMeta = (name) => P.meta.optimizers.find((o) => o.name === name);
  const hpMeta = (name) => P.meta.hyperparameters.find((h) => h.name === name);
  const SCHED_LABEL = {
    constant: "constant lr", step: "step decay", multistep: "multi-step", exp: "exponential",
    cosine: "cosine", "cosine-restarts": "cosine restarts", poly: "polynomial",
    "warmup-cosine": "warmup + cosine", onecycle: "one-cycle",
  };
  const HP_SHORT = { lr: "lr", momentum: "μ", beta1: "β1", beta2: "β2", alpha: "α", rho: "ρ",
    eps: "ε", weight_decay: "wd", nesterov: "Nesterov" };

  // ------------------------------------------------------------ state and URL hash
  let uid = 0;
  function newCard(name, overrides = {}) {
    const defaults = { ...optMeta(name).defaults };
    const fn = P.fnByName[P.state ? P.state.f : "book_quadratic"];
    if (fn && fn.suggested_lr[name] !== undefined) defaults.lr = fn.suggested_lr[name];
    const card = { id: ++uid, name, hp: defaults, schedule: "constant", open: false };
    for (const [k, v] of Object.entries(overrides)) {
      if (k === "schedule") card.schedule = v;
      else if (k in card.hp) card.hp[k] = v;
    }
    return card;
  }
  function defaultTrain() {
    return { model: "mlp", optimizer: "adam", lr: 0.001, momentum: 0.9, schedule: "constant",
      batch: 64, epochs: 3, n_train: 2000 };
  }
  function encodeHash(s) {
    const parts = [`tab=${s.tab}`, `f=${s.f}`, `steps=${s.steps}`, `start=${s.start[0]},${s.start[1]}`];
    for (const c of s.cards) {
      const d = optMeta(c.name).defaults;
      const kv = [`lr=${c.hp.lr}`];
      for (const [k, v] of Object.entries(c.hp)) {
        if (k !== "lr" && v !== d[k]) kv.push(`${k}=${v}`);
      }
      if (c.schedule !== "constant") kv.push(`schedule=${c.schedule}`);
      parts.push(`o=${c.name}:${kv.join(",")}`);
    }
    const t = s.train;
    parts.push(`train=${t.model},${t.optimizer},${t.lr},${t.momentum},${t.schedule},${t.batch},${t.epochs},${t.n_train}`);
    return parts.join("&");
  }
  function parseNum(text, fallback) {
    const v = Number(text);
    return Number.isFinite(v) ? v : fallback;
  }
  function decodeHash(hash) {
    const s = { tab: "paths", f: "book_quadratic", steps: null, start: null, cards: [], train: defaultTrain() };
    let text = hash.replace(/^#/, "");
    try { text = decodeURIComponent(text); } catch (e) { /* a malformed %-escape: read it as typed */ }
    if (!text) return null;
    for (const part of text.split("&")) {
      const i = part.indexOf("=");
      if (i < 0) continue;
      const key = part.slice(0, i), val = part.slice(i + 1);
      if (key === "tab" && (val === "paths" || val === "train")) s.tab = val;
      else if (key === "f" && P.fnByName[val]) s.f = val;
      else if (key === "steps") s.steps = Math.max(0, Math.min(P.meta.max_steps, Math.round(parseNum(val, 30))));
      else if (key === "start") {
        const xy = val.split(",").map((v) => Number(v));
        if (xy.length === 2 && xy.every(Number.isFinite)) s.start = xy;
      } else if (key === "o") {
        const j = val.indexOf(":");
        const name = j < 0 ? val : val.slice(0, j);
        if (!optMeta(name)) continue;
        const over = {};
        for (const kv of (j < 0 ? "" : val.slice(j + 1)).split(",")) {
          const [k, v] = kv.split("=");
          if (!k || v === undefined) continue;
          if (k === "schedule") over.schedule = P.meta.schedules.includes(v) ? v : "constant";
          else if (k === "nesterov") over.nesterov = v === "true";
          else if (Number.isFinite(Number(v))) over[k] = Number(v);
        }
        s.cards.push({ name, over });
      } else if (key === "train") {
        const a = val.split(",");
        if (a.length === 8) {
          const t = s.train;
          if (P.meta.train.models.includes(a[0])) t.model = a[0];
          if (optMeta(a[1])) t.optimizer = a[1];
          t.lr = parseNum(a[2], t.lr); t.momentum = parseNum(a[3], t.momentum);
          if (P.meta.train.schedules.includes(a[4])) t.schedule = a[4];
          t.batch = parseNum(a[5], t.batch); t.epochs = parseNum(a[6], t.epochs);
          t.n_train = parseNum(a[7], t.n_train);
        }
      }
    }
    return s;
  }
  function applyDecoded(d) {
    const fn = P.fnByName[d.f];
    P.state = { tab: d.tab, f: d.f, steps: d.steps ?? 30, start: d.start || fn.start.slice(), cards: [], train: d.train };
    P.state.cards = d.cards.map((c) => newCard(c.name, c.over));
  }
  let hashTimer = null;
  function writeHash() {
    clearTimeout(hashTimer);
    hashTimer = setTimeout(() => {
      const h = "#" + encodeHash(P.state);
      if (location.hash !== h) history.replaceState(null, "", h);
      P.hash = h;
    }, 80);
  }

  // ------------------------------------------------------------ paths panel: controls
  function buildFunctionSelect() {
    const sel = $("fn");
    sel.replaceChildren(...P.functions.map((f) => el("option", { value: f.name, text: f.title })));
    sel.addEventListener("change", () => {
      const f = P.fnByName[sel.value];
      P.state.f = f.name;
      P.state.start = f.start.slice();
      // keep the chosen optimizers, at this function's suggested learning rates
      P.state.cards = P.state.cards.map((c) => {
        const n = newCard(c.name);
        for (const k of Object.keys(c.hp)) if (k !== "lr") n.hp[k] = c.hp[k];
        n.schedule = c.schedule;
        return n;
      });
      loadGrid().then(() => { renderControls(); schedule(); });
    });
    const add = $("add-opt");
    add.replaceChildren(...P.meta.optimizers.map((o) => el("option", { value: o.name, text: o.label })));
    $("add-btn").addEventListener("click", () => {
      if (P.state.cards.length >= 6) return showError("At most six optimizers at once; remove one first.");
      P.state.cards.push(newCard(add.value));
      renderCards();
      schedule();
    });
    const steps = $("steps");
    steps.min = "0"; steps.max = String(Math.ceil(Math.log10(P.meta.max_steps) * 100)); steps.step = "1";
    steps.addEventListener("input", () => {
      P.state.steps = Math.round(10 ** (Number(steps.value) / 100)) - (Number(steps.value) === 0 ? 1 : 0);
      P.state.steps = Math.max(0, Math.min(P.meta.max_steps, P.state.steps));
      $("steps-out").value = String(P.state.steps);
      schedule();
    });
    $("steps-out").addEventListener("change", (e) => {
      const v = Math.round(Number(e.target.value));
      if (Number.isFinite(v)) P.state.steps = Math.max(0, Math.min(P.meta.max_steps, v));
      renderControls();
      schedule();
    });
    $("play").addEventListener("click", () => (reveal === null ? play() : stopPlay()));
    $("reset-start").addEventListener("click", () => {
      P.state.start = P.fnByName[P.state.f].start.slice();
      renderControls();
      schedule();
    });
  }
  function renderControls() {
    const fn = P.fnByName[P.state.f];
    $("fn").value = fn.name;
    $("formula").textContent = pretty(fn.formula);
    const steps = $("steps");
    steps.value = String(P.state.steps <= 0 ? 0 : Math.round(Math.log10(P.state.steps + 0) * 100));
    $("steps-out").value = String(P.state.steps);
    $("start-out").textContent = fmtPt(P.state.start);
    $("presets").replaceChildren(...fn.presets.map((p) =>
      el("button", { text: p.label, onclick: () => applyPreset(p) })));
    $("why-title").textContent = fn.title;
    $("why").replaceChildren(el("p", { class: "note", text: fn.note }), ...fn.why.map((t) => el("p", { text: t })));
    renderCards();
  }
  function applyPreset(p) {
    P.state.steps = p.steps;
    P.state.start = P.fnByName[P.state.f].start.slice();
    P.state.cards = p.optimizers.map(({ name, ...over }) => newCard(name, over));
    renderControls();
    schedule();
  }

  function sliderFor(card, name) {
    const h = hpMeta(name);
    const [lo, hi] = h.slider;
    const row = el("div", { class: "field slider-field" });
    const label = el("span", { class: "name", text: h.label });
    const range = el("input", { type: "range", "aria-label": `${h.label} of ${optMeta(card.name).label}` });
    const num = el("input", { type: "number", class: "num", step: "any", "aria-label": `${h.label} value` });
    range.dataset.hp = name;
    num.dataset.hpNum = name;
    if (h.log) {
      range.min = String(Math.log10(Math.max(lo, 1e-12)));
      range.max = String(Math.log10(hi));
      range.step = "0.01";
    } else {
      range.min = String(lo); range.max = String(hi);
      range.step = hi - lo <= 1 ? (hi >= 0.999 ? "0.001" : "0.01") : "0.01";
    }
    const sync = () => {
      const v = card.hp[name];
      range.value = String(h.log ? Math.log10(Math.max(v, 1e-12)) : v);
      num.value = String(v);
    };
    range.addEventListener("input", () => {
      let v = Number(range.value);
      if (h.log) v = Number((10 ** v).toPrecision(3));
      card.hp[name] = v;
      num.value = String(v);
      schedule();
    });
    num.addEventListener("change", () => {
      const v = Number(num.value);
      if (!Number.isFinite(v)) return sync();
      card.hp[name] = v;
      sync();
      schedule();
    });
    sync();
    row.append(label, range, num);
    return row;
  }
  const MAIN_HP = { sgd: ["lr", "momentum"], momentum: ["lr", "momentum"], nesterov: ["lr", "momentum"],
    adagrad: ["lr"], rmsprop: ["lr", "alpha"], adam: ["lr", "beta1"], adamw: ["lr", "weight_decay"],
    nadam: ["lr", "beta1"], lion: ["lr", "beta1"], adadelta: ["lr", "rho"], yogi: ["lr", "beta1"] };
  function renderCards() {
    const box = $("cards");
    box.replaceChildren(...P.state.cards.map((card) => {
      const m = optMeta(card.name);
      const div = el("div", { class: "card" + (card.open ? " open" : ""), dataset: { card: card.id, optimizer: card.name } });
      div.style.setProperty("--c", m.color);
      const sel = el("select", { "aria-label": "optimizer" },
        ...P.meta.optimizers.map((o) => el("option", { value: o.name, text: o.label })));
      sel.value = card.name;
      sel.addEventListener("change", () => {
        const i = P.state.cards.indexOf(card);
        P.state.cards[i] = newCard(sel.value);
        renderCards();
        schedule();
      });
      const more = el("button", { class: "icon-btn", title: "more settings", text: card.open ? "▴" : "▾" });
      more.addEventListener("click", () => { card.open = !card.open; renderCards(); });
      const del = el("button", { class: "icon-btn", title: "remove", text: "×" });
      del.addEventListener("click", () => {
        P.state.cards = P.state.cards.filter((c) => c !== card);
        renderCards();
        schedule();
      });
      div.append(el("div", { class: "card-head" }, el("span", { class: "swatch" }), sel, el("span", { class: "spacer" }), more, del));
      const main = MAIN_HP[card.name].filter((k) => k in card.hp);
      for (const k of main) div.append(sliderFor(card, k));
      const extra = el("div", { class: "more" });
      for (const k of Object.keys(card.hp)) {
        if (main.includes(k)) continue;
        if (hpMeta(k).kind === "bool") {
          const cb = el("input", { type: "checkbox" });
          cb.checked = !!card.hp[k];
          cb.addEventListener("change", () => { card.hp[k] = cb.checked; schedule(); });
          extra.append(el("label", { class: "check" }, cb, hpMeta(k).label));
        } else extra.append(sliderFor(card, k));
      }
      const sched = el("select", { class: "sched", "aria-label": "schedule" },
        ...P.meta.schedules.map((s) => el("option", { value: s, text: SCHED_LABEL[s] || s })));
      sched.value = card.schedule;
      sched.addEventListener("change", () => { card.schedule = sched.value; schedule(); });
      extra.append(el("label", { class: "check" }, "lr schedule ", sched));
      div.append(extra, el("div", { class: "status", dataset: { status: card.id } }));
      return div;
    }));
    $("add-btn").disabled = P.state.cards.length >= 6;
  }

  // ------------------------------------------------------------ paths panel: computing
  const cache = new Map();
  function pathURL(card) {
    const s = P.state;
    const q = [`function=${s.f}`, `optimizer=${card.name}`, `steps=${s.steps}`,
      `x0=${s.start[0]}`, `y0=${s.start[1]}`];
    for (const [k, v] of Object.entries(card.hp)) q.push(`${k}=${v}`);
    if (card.schedule !== "constant") q.push(`schedule=${card.schedule}`);
    return "/api/path?" + q.join("&");
  }
  let timer = null, controller = null, generation = 0;
  function schedule() {
    writeHash();
    clearTimeout(timer);
    timer = setTimeout(compute, 40);
  }
  async function fetchPath(url, signal) {
    if (cache.has(url)) return cache.get(url);
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await getJSON(url, { signal });
        cache.set(url, r);
        if (cache.size > 300) cache.delete(cache.keys().next().value);
        return r;
      } catch (e) {
        if (e.status === 503 && attempt < 5) { await new Promise((ok) => setTimeout(ok, 150)); continue; }
        throw e;
      }
    }
  }
  async function compute() {
    const gen = ++generation;
    if (controller) controller.abort();
    controller = new AbortController();
    const cards = P.state.cards.slice();
    const t0 = performance.now();
    $("busy").classList.remove("hidden");
    try {
      const results = await Promise.all(cards.map((c) => fetchPath(pathURL(c), controller.signal)));
      if (gen !== generation) return;
      showError(null);
      P.drawn = cards.map((c, i) => ({ id: c.id, optimizer: c.name, url: pathURL(c), ...results[i] }));
      if (reveal !== null) { reveal = null; $("play").textContent = "▶ Play"; }
      P.lastComputeMs = performance.now() - t0;
      draw();
    } catch (e) {
      if (e.name === "AbortError" || gen !== generation) return;
      showError(e.message);
    } finally {
      if (gen === generation) $("busy").classList.add("hidden");
    }
  }
  function showError(msg) {
    const e = $("error");
    e.textContent = msg || "";
    e.classList.toggle("hidden", !msg);
    if (msg) P.errors.push(msg);
  }

  // ------------------------------------------------------------ paths panel: drawing
  const M = { l: 46, r: 12, t: 10, b: 30 };
  let view = null;
  async function loadGrid() {
    const fn = P.fnByName[P.state.f];
    const [x0, x1, y0, y1] = fn.box;
    const aspect = (x1 - x0) / (y1 - y0);
    const nx = 220, ny = Math.max(40, Math.min(300, Math.round(nx / aspect)));
    P.grid = await getJSON(`/api/grid?function=${fn.name}&nx=${nx}&ny=${ny}`);
    layout();
  }
  function layout() {
    if (!P.grid) return;
    const fn = P.fnByName[P.state.f];
    const [x0, x1, y0, y1] = fn.box;
    const aspect = (x1 - x0) / (y1 - y0);
    const avail = $("plot-wrap").clientWidth - 16;
    const maxH = Math.max(260, Math.min(480, window.innerHeight * 0.56));
    let iw = avail - M.l - M.r, ih = iw / aspect;
    if (ih > maxH) { ih = maxH; iw = ih * aspect; }
    iw = Math.floor(iw); ih = Math.floor(ih);
    const w = iw + M.l + M.r, h = ih + M.t + M.b;
    view = { fn, box: fn.box, iw, ih, w, h };
    drawContour(setupCanvas($("contour"), w, h));
    setupCanvas($("overlay"), w, h);
    draw();
  }
  function toPx(x, y) {
    const [x0, x1, y0, y1] = view.box;
    return [M.l + ((x - x0) / (x1 - x0)) * view.iw, M.t + ((y1 - y) / (y1 - y0)) * view.ih];
  }
  function fromPx(px, py) {
    const [x0, x1, y0, y1] = view.box;
    return [x0 + ((px - M.l) / view.iw) * (x1 - x0), y1 - ((py - M.t) / view.ih) * (y1 - y0)];
  }
  function niceTicks(lo, hi, n = 6) {
    const span = hi - lo, raw = span / n, mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || mag * 10;
    const out = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * span; v += step) out.push(Math.abs(v) < 1e-12 * span ? 0 : v);
    return out;
  }
  function drawContour(ctx) {
    const g = P.grid, { iw, ih } = view;
    const dpr = window.devicePixelRatio || 1;
    const W = Math.round(iw * dpr), H = Math.round(ih * dpr);
    const img = ctx.createImageData(W, H);
    const nx = g.x.length, ny = g.y.length, L = g.levels;
    const lowC = [255, 255, 255], highC = [186, 202, 221];
    const band = new Int16Array(W * H);
    for (let j = 0; j < H; j++) {
      const fy = (1 - (j + 0.5) / H) * (ny - 1);
      const iy = Math.min(ny - 2, Math.floor(fy)), ty = fy - iy;
      const r0 = g.z[iy], r1 = g.z[iy + 1];
      for (let i = 0; i < W; i++) {
        const fx = ((i + 0.5) / W) * (nx - 1);
        const ix = Math.min(nx - 2, Math.floor(fx)), tx = fx - ix;
        const v = (r0[ix] * (1 - tx) + r0[ix + 1] * tx) * (1 - ty) + (r1[ix] * (1 - tx) + r1[ix + 1] * tx) * ty;
        let a = 0, b = L.length;
        while (a < b) { const m = (a + b) >> 1; if (L[m] < v) a = m + 1; else b = m; }
        band[j * W + i] = a;
      }
    }
    for (let k = 0; k < W * H; k++) {
      const t = Math.pow(band[k] / L.length, 1.3);
      const i = k % W, j = (k / W) | 0;
      const edge = (i + 1 < W && band[k + 1] !== band[k]) || (j + 1 < H && band[k + W] !== band[k]);
      const s = edge ? 0.72 : 1;
      img.data[4 * k] = (lowC[0] + (highC[0] - lowC[0]) * t) * s;
      img.data[4 * k + 1] = (lowC[1] + (highC[1] - lowC[1]) * t) * s;
      img.data[4 * k + 2] = (lowC[2] + (highC[2] - lowC[2]) * t) * s;
      img.data[4 * k + 3] = 255;
    }
    ctx.clearRect(0, 0, view.w, view.h);
    ctx.putImageData(img, Math.round(M.l * dpr), Math.round(M.t * dpr));
    // axes
    ctx.strokeStyle = "#9aa8b6"; ctx.lineWidth = 1;
    ctx.strokeRect(M.l - 0.5, M.t - 0.5, iw + 1, ih + 1);
    ctx.fillStyle = "#5f6d7c"; ctx.font = "12px system-ui, sans-serif";
    const [x0, x1, y0, y1] = view.box;
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const v of niceTicks(x0, x1)) {
      const [px] = toPx(v, y0);
      ctx.fillRect(px, M.t + ih, 1, 4);
      ctx.fillText(fmt(v, 3), px, M.t + ih + 6);
    }
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const v of niceTicks(y0, y1, 5)) {
      const [, py] = toPx(x0, v);
      ctx.fillRect(M.l - 4, py, 4, 1);
      ctx.fillText(fmt(v, 3), M.l - 7, py);
    }
    ctx.font = "italic 13px system-ui, sans-serif"; ctx.fillStyle = "#33414f";
    ctx.textAlign = "right"; ctx.textBaseline = "bottom";
    ctx.fillText("x", M.l + iw, M.t + ih + 28);
    ctx.save(); ctx.translate(12, M.t + 8); ctx.textAlign = "left"; ctx.textBaseline = "middle";
    ctx.fillText("y", 0, 0); ctx.restore();
  }
  function star(ctx, x, y, r) {
    ctx.beginPath();
    for (let k = 0; k < 10; k++) {
      const a = -Math.PI / 2 + (k * Math.PI) / 5, rr = k % 2 ? r * 0.45 : r;
      ctx.lineTo(x + rr * Math.cos(a), y + rr * Math.sin(a));
    }
    ctx.closePath();
    ctx.fillStyle = "#f6c343"; ctx.strokeStyle = "#6b4e00"; ctx.lineWidth = 1.2;
    ctx.fill(); ctx.stroke();
  }
  function dashFor(i) {
    const name = P.drawn[i].optimizer;
    const before = P.drawn.slice(0, i).filter((d) => d.optimizer === name).length;
    return [[], [7, 4], [2, 3], [10, 3, 2, 3]][before % 4];
  }
  function inView(p) {
    const [x0, x1, y0, y1] = view.box;
    return p && p[0] !== null && p[1] !== null && p[0] >= x0 && p[0] <= x1 && p[1] >= y0 && p[1] <= y1;
  }
  // where segment a->b (a inside) crosses the view's edge
  function edgeCross(a, b) {
    const [x0, x1, y0, y1] = view.box;
    let t = 1;
    const dx = b[0] - a[0], dy = b[1] - a[1];
    if (dx > 0) t = Math.min(t, (x1 - a[0]) / dx); if (dx < 0) t = Math.min(t, (x0 - a[0]) / dx);
    if (dy > 0) t = Math.min(t, (y1 - a[1]) / dy); if (dy < 0) t = Math.min(t, (y0 - a[1]) / dy);
    return [a[0] + t * dx, a[1] + t * dy];
  }
  let shown = [], reveal = null;  // reveal: the last step drawn while playing (null: all)
  function draw(hover = null) {
    if (!view) return;
    shown = reveal === null ? P.drawn : P.drawn.map((d) => {
      const n = Math.min(d.path.length, reveal + 1);
      return { ...d, path: d.path.slice(0, n), loss: d.loss.slice(0, n), gap: d.gap && d.gap.slice(0, n),
        diverged: n === d.path.length ? d.diverged : null };
    });
    const ctx = $("overlay").getContext("2d");
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, view.w, view.h);
    ctx.save();
    ctx.beginPath(); ctx.rect(M.l, M.t, view.iw, view.ih); ctx.clip();
    shown.forEach((d, i) => {
      const color = optMeta(d.optimizer).color;
      const pts = d.path;
      ctx.strokeStyle = color; ctx.lineWidth = 2.2; ctx.setLineDash(dashFor(i)); ctx.lineJoin = "round";
      ctx.beginPath();
      let started = false;
      for (const p of pts) {
        if (p[0] === null || p[1] === null) break;
        const [px, py] = toPx(p[0], p[1]);
        if (!started) { ctx.moveTo(px, py); started = true; } else ctx.lineTo(px, py);
      }
      ctx.stroke(); ctx.setLineDash([]);
      if (pts.length <= 250) {
        ctx.fillStyle = color;
        for (const p of pts.slice(1)) {
          if (p[0] === null || p[1] === null) break;
          const [px, py] = toPx(p[0], p[1]);
          ctx.beginPath(); ctx.arc(px, py, 2.4, 0, 2 * Math.PI); ctx.fill();
        }
      }
    });
    ctx.restore();
    for (const m of view.fn.minima) if (inView(m)) { const [px, py] = toPx(m[0], m[1]); star(ctx, px, py, 10); }
    // start, ends, leaving the view, divergence
    const s0 = toPx(P.state.start[0], P.state.start[1]);
    ctx.fillStyle = "#111"; ctx.strokeStyle = "#fff"; ctx.lineWidth = 2;
    ctx.strokeRect(s0[0] - 5, s0[1] - 5, 10, 10); ctx.fillRect(s0[0] - 5, s0[1] - 5, 10, 10);
    shown.forEach((d) => {
      const color = optMeta(d.optimizer).color;
      d.leftView = null;
      for (let k = 1; k < d.path.length; k++) {
        const a = d.path[k - 1], b = d.path[k];
        if (inView(a) && !inView(b)) {
          if (d.leftView === null) d.leftView = k;
          const bb = b[0] === null || b[1] === null ? a : b;
          const c = edgeCross(a, bb);
          const [px, py] = toPx(c[0], c[1]);
          const [qx, qy] = toPx(a[0], a[1]);
          arrow(ctx, qx, qy, px, py, color);
        }
      }
      const last = d.path[d.path.length - 1];
      if (d.diverged) {
        let p = last;
        const prev = d.path.length > 1 ? d.path[d.path.length - 2] : last;
        if (!inView(p)) {
          if (inView(prev)) p = edgeCross(prev, p[0] === null ? prev : p);
          else {  // off the view: mark it on the edge, in the direction it went
            const [x0, x1, y0, y1] = view.box, q = p[0] === null ? prev : p;
            p = q[0] === null ? null : [Math.min(Math.max(q[0], x0), x1), Math.min(Math.max(q[1], y0), y1)];
          }
        }
        if (p) {
          const [px, py] = toPx(p[0], p[1]);
          cross(ctx, Math.min(Math.max(px, M.l + 8), M.l + view.iw - 8), Math.min(Math.max(py, M.t + 8), M.t + view.ih - 8), d.diverged.step);
        }
      } else if (inView(last)) {
        const [px, py] = toPx(last[0], last[1]);
        ctx.beginPath(); ctx.arc(px, py, 5.5, 0, 2 * Math.PI);
        ctx.fillStyle = color; ctx.fill(); ctx.lineWidth = 2; ctx.strokeStyle = "#fff"; ctx.stroke();
      }
    });
    legend(ctx);
    if (hover && !(shown[hover.i] && shown[hover.i].path[hover.k])) hover = null;
    if (hover) {
      const d = shown[hover.i], p = d.path[hover.k];
      const [px, py] = toPx(p[0], p[1]);
      ctx.beginPath(); ctx.arc(px, py, 7, 0, 2 * Math.PI);
      ctx.lineWidth = 2.5; ctx.strokeStyle = "#111"; ctx.stroke();
    }
    drawGapChart(hover);
    updateStatuses();
    updateCaption();
    updateWhyLive();
    P.drawVersion++;
    document.body.dataset.drawVersion = String(P.drawVersion);
  }
  function legend(ctx) {
    if (!shown.length) return;
    ctx.font = "12.5px system-ui, sans-serif";
    const rows = shown.map((d, i) => ({ d, i, text: optMeta(d.optimizer).label + (d.diverged ? "  ✕ diverged" : "") }));
    const w = Math.max(...rows.map((r) => ctx.measureText(r.text).width)) + 44, h = rows.length * 18 + 8;
    // the corner that hides the fewest drawn points
    const corners = [[M.l + view.iw - w - 8, M.t + 8], [M.l + 8, M.t + 8],
      [M.l + view.iw - w - 8, M.t + view.ih - h - 8], [M.l + 8, M.t + view.ih - h - 8]];
    const hidden = corners.map(([cx, cy]) => {
      let n = 0;
      for (const d of shown) for (const p of d.path) {
        if (p[0] === null || p[1] === null) continue;
        const [px, py] = toPx(p[0], p[1]);
        if (px >= cx - 6 && px <= cx + w + 6 && py >= cy - 6 && py <= cy + h + 6) n++;
      }
      for (const m of view.fn.minima) {
        const [px, py] = toPx(m[0], m[1]);
        if (px >= cx - 10 && px <= cx + w + 10 && py >= cy - 10 && py <= cy + h + 10) n += 1000;
      }
      const s0 = toPx(P.state.start[0], P.state.start[1]);
      if (s0[0] >= cx - 10 && s0[0] <= cx + w + 10 && s0[1] >= cy - 10 && s0[1] <= cy + h + 10) n += 1000;
      return n;
    });
    const [x, y] = corners[hidden.indexOf(Math.min(...hidden))];
    ctx.fillStyle = "rgba(255,255,255,.88)"; ctx.strokeStyle = "#cfd8e2"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.roundRect(x, y, w, h, 6); ctx.fill(); ctx.stroke();
    rows.forEach(({ d, i, text }, r) => {
      const yy = y + 13 + r * 18;
      ctx.strokeStyle = optMeta(d.optimizer).color; ctx.lineWidth = 2.5; ctx.setLineDash(dashFor(i));
      ctx.beginPath(); ctx.moveTo(x + 8, yy); ctx.lineTo(x + 32, yy); ctx.stroke(); ctx.setLineDash([]);
      ctx.fillStyle = d.diverged ? "#c0392b" : "#1d2733"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
      ctx.fillText(text, x + 38, yy);
    });
  }
  function play() {
    const total = Math.max(0, ...P.drawn.map((d) => d.path.length - 1));
    if (!total) return;
    const dur = Math.min(8000, Math.max(2000, total * 60)), t0 = performance.now();
    $("play").textContent = "■ Stop";
    const tick = () => {
      if (reveal === null) return;  // stopped
      reveal = Math.min(total, Math.floor(((performance.now() - t0) / dur) * total));
      draw();
      if (reveal < total) requestAnimationFrame(tick);
      else stopPlay();
    };
    reveal = 0;
    requestAnimationFrame(tick);
  }
  function stopPlay() {
    reveal = null;
    $("play").textContent = "▶ Play";
    draw();
  }
  function arrow(ctx, ax, ay, bx, by, color) {
    const a = Math.atan2(by - ay, bx - ax), r = 9;
    ctx.beginPath();
    ctx.moveTo(bx, by);
    ctx.lineTo(bx - r * Math.cos(a - 0.45), by - r * Math.sin(a - 0.45));
    ctx.lineTo(bx - r * Math.cos(a + 0.45), by - r * Math.sin(a + 0.45));
    ctx.closePath(); ctx.fillStyle = color; ctx.fill();
    ctx.lineWidth = 1; ctx.strokeStyle = "#fff"; ctx.stroke();
  }
  function cross(ctx, x, y, step) {
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 6;
    for (const s of [1, -1]) { ctx.beginPath(); ctx.moveTo(x - 7, y - 7 * s); ctx.lineTo(x + 7, y + 7 * s); ctx.stroke(); }
    ctx.strokeStyle = "#c0392b"; ctx.lineWidth = 3;
    for (const s of [1, -1]) { ctx.beginPath(); ctx.moveTo(x - 7, y - 7 * s); ctx.lineTo(x + 7, y + 7 * s); ctx.stroke(); }
    ctx.font = "bold 12px system-ui, sans-serif"; ctx.fillStyle = "#c0392b";
    const text = `diverged at step ${step}`;
    const w = ctx.measureText(text).width;
    const tx = x + 12 + w > M.l + view.iw ? x - 12 - w : x + 12;
    ctx.textAlign = "left"; ctx.textBaseline = "middle";
    ctx.fillStyle = "rgba(255,255,255,.85)"; ctx.fillRect(tx - 3, y - 9, w + 6, 18);
    ctx.fillStyle = "#c0392b"; ctx.fillText(text, tx, y);
  }

  // f(theta_t) - f* against step, log y (f itself, linear, when there is no f*)
  const CM = { l: 58, r: 14, t: 24, b: 28 };
  function chartValues(d) { return d.gap || d.loss; }
  function drawGapChart(hover) {
    const c = $("gapchart");
    const w = c.parentElement.clientWidth - 16, h = 210;
    const ctx = setupCanvas(c, w, h);
    const iw = w - CM.l - CM.r, ih = h - CM.t - CM.b;
    const logY = !!P.fnByName[P.state.f].f_star || P.fnByName[P.state.f].f_star === 0;
    let lo = Infinity, hi = -Infinity;
    for (const d of P.drawn) for (const v of chartValues(d)) {
      if (v === null) continue;
      if (logY) { if (v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); } } else { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    const steps = Math.max(1, P.state.steps);
    ctx.fillStyle = "#33414f"; ctx.font = "13px system-ui, sans-serif"; ctx.textBaseline = "top"; ctx.textAlign = "left";
    ctx.fillText(logY ? "f(θₜ) − f* against step t   (log scale)" : "f(θₜ) against step t   (this function has no minimum)", CM.l, 4);
    if (!Number.isFinite(lo)) { lo = logY ? 1e-3 : -1; hi = 1; }
    if (logY) { lo = Math.max(lo, 1e-300); const a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi)); lo = 10 ** a; hi = 10 ** Math.max(b, a + 1); }
    else if (hi - lo < 1e-12) { hi += 1; lo -= 1; }
    const Y = (v) => {
      if (logY) { const t = (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)); return CM.t + ih * (1 - t); }
      return CM.t + ih * (1 - (v - lo) / (hi - lo));
    };
    const X = (k) => CM.l + (k / steps) * iw;
    ctx.strokeStyle = "#e7ecf1"; ctx.fillStyle = "#5f6d7c"; ctx.font = "11.5px system-ui, sans-serif";
    ctx.textAlign = "right"; ctx.textBaseline = "middle"; ctx.lineWidth = 1;
    const yt = [];
    if (logY) {
      const a = Math.log10(lo), b = Math.log10(hi), every = Math.max(1, Math.ceil((b - a) / 6));
      for (let e = a; e <= b; e += every) yt.push(10 ** e);
    } else yt.push(...niceTicks(lo, hi, 5));
    for (const v of yt) {
      const y = Y(v);
      ctx.beginPath(); ctx.moveTo(CM.l, y); ctx.lineTo(CM.l + iw, y); ctx.stroke();
      ctx.fillText(logY ? "1e" + Math.round(Math.log10(v)) : fmt(v, 3), CM.l - 6, y);
    }
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const k of niceTicks(0, steps, 8)) {
      if (k !== Math.round(k)) continue;
      ctx.fillText(String(k), X(k), CM.t + ih + 6);
    }
    ctx.strokeStyle = "#9aa8b6"; ctx.strokeRect(CM.l - 0.5, CM.t - 0.5, iw + 1, ih + 1);
    ctx.save(); ctx.beginPath(); ctx.rect(CM.l, CM.t - 2, iw, ih + 4); ctx.clip();
    shown.forEach((d, i) => {
      const vals = chartValues(d), color = optMeta(d.optimizer).color;
      ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.setLineDash(dashFor(i));
      ctx.beginPath();
      vals.forEach((v, k) => { if (v === null) return; const x = X(k), y = Y(v); k ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
      ctx.stroke(); ctx.setLineDash([]);
    });
    ctx.restore();
    shown.forEach((d) => {
      if (!d.diverged) return;
      const vals = chartValues(d);
      let k = vals.length - 1; while (k > 0 && vals[k] === null) k--;
      const x = X(d.diverged.step), y = Math.min(Math.max(Y(vals[k] ?? hi), CM.t), CM.t + ih);
      ctx.strokeStyle = "#c0392b"; ctx.lineWidth = 2.5;
      for (const s of [1, -1]) { ctx.beginPath(); ctx.moveTo(x - 5, y - 5 * s); ctx.lineTo(x + 5, y + 5 * s); ctx.stroke(); }
    });
    if (hover) {
      const x = X(hover.k);
      ctx.strokeStyle = "rgba(20,30,42,.5)"; ctx.setLineDash([3, 3]); ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(x, CM.t); ctx.lineTo(x, CM.t + ih); ctx.stroke(); ctx.setLineDash([]);
      const v = chartValues(shown[hover.i])[hover.k];
      if (v !== null) { ctx.beginPath(); ctx.arc(x, Y(v), 4.5, 0, 2 * Math.PI); ctx.fillStyle = optMeta(shown[hover.i].optimizer).color; ctx.fill(); }
    }
    P.chart = { X, Y, steps, iw, ih };
  }

  // ------------------------------------------------------------ hover, click, text
  function nearest(px, py) {
    let best = null, bd = 14 * 14;
    shown.forEach((d, i) => d.path.forEach((p, k) => {
      if (p[0] === null || p[1] === null) return;
      const [x, y] = toPx(p[0], p[1]);
      const dd = (x - px) ** 2 + (y - py) ** 2;
      if (dd < bd) { bd = dd; best = { i, k }; }
    }));
    return best;
  }
  function describePoint(i, k) {
    const d = P.drawn[i], p = d.path[k], g = d.grad[k];
    const lines = [`${optMeta(d.optimizer).label} · step ${k}`, `θ   = ${fmtPt(p)}`, `f   = ${fmt(d.loss[k])}`];
    if (d.gap) lines.push(`f−f* = ${fmt(d.gap[k])}`);
    lines.push(`∇f  = ${fmtPt(g)}`);
    if (k > 0) lines.push(`lr  = ${fmt(d.lr[k - 1])}`);
    if (d.diverged && k === d.path.length - 1) lines.push(`diverged: ${d.diverged.reason}`);
    return lines.join("\n");
  }
  function showTooltip(hit, x, y) {
    const tip = $("tooltip");
    if (!hit) { tip.classList.add("hidden"); return; }
    tip.textContent = describePoint(hit.i, hit.k);
    tip.classList.remove("hidden");
    const wrap = $("plot-wrap").getBoundingClientRect();
    const left = x + 18 + tip.offsetWidth > wrap.width ? x - tip.offsetWidth - 12 : x + 18;
    tip.style.left = left + "px";
    tip.style.top = Math.max(4, y - tip.offsetHeight / 2) + "px";
  }
  function bindPlot() {
    const ov = $("overlay");
    let down = null;
    ov.addEventListener("mousemove", (e) => {
      const r = ov.getBoundingClientRect();
      const hit = nearest(e.clientX - r.left, e.clientY - r.top);
      draw(hit);
      showTooltip(hit, e.clientX - r.left + 8, e.clientY - r.top + 8);
    });
    ov.addEventListener("mouseleave", () => { draw(); showTooltip(null); });
    ov.addEventListener("mousedown", (e) => { down = [e.clientX, e.clientY]; });
    ov.addEventListener("click", (e) => {
      if (down && Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 4) return;
      const r = ov.getBoundingClientRect();
      const px = e.clientX - r.left, py = e.clientY - r.top;
      if (px < M.l || px > M.l + view.iw || py < M.t || py > M.t + view.ih) return;
      const [x, y] = fromPx(px, py);
      const [x0, x1] = view.box, q = 10 ** (Math.floor(Math.log10(x1 - x0)) - 3);
      P.state.start = [Math.round(x / q) * q, Math.round(y / q) * q].map((v) => Number(v.toPrecision(6)));
      $("start-out").textContent = fmtPt(P.state.start);
      schedule();
    });
    const gc = $("gapchart");
    gc.addEventListener("mousemove", (e) => {
      if (!P.chart || !P.drawn.length) return;
      const r = gc.getBoundingClientRect();
      const k = Math.round(((e.clientX - r.left - CM.l) / P.chart.iw) * P.chart.steps);
      const i = 0, d = P.drawn[i];
      if (k < 0 || k >= d.path.length) return draw();
      draw({ i, k });
    });
    gc.addEventListener("mouseleave", () => draw());
  }
  function hpText(d) {
    const m = optMeta(d.optimizer), def = m.defaults;
    const parts = [`lr ${fmt(d.hyperparameters.lr)}`];
    for (const [k, v] of Object.entries(d.hyperparameters)) {
      if (k === "lr" || v === def[k]) continue;
      parts.push(k === "nesterov" ? (v ? "Nesterov" : "no Nesterov") : `${HP_SHORT[k]} ${fmt(v)}`);
    }
    if (["momentum", "nesterov"].includes(d.optimizer) && !parts.some((p) => p.startsWith("μ")))
      parts.push(`μ ${fmt(d.hyperparameters.momentum)}`);
    if (d.schedule !== "constant") parts.push(`${SCHED_LABEL[d.schedule]} schedule`);
    return parts.join(", ");
  }
  function finalText(d) {
    if (d.diverged) return `diverges at step ${d.diverged.step} (${d.diverged.reason})`;
    const k = d.path.length - 1;
    const end = `ends at ${fmtPt(d.path[k])}`;
    return d.gap ? `${end} with f − f* = ${fmt(d.gap[k], 3)}` : `${end} with f = ${fmt(d.loss[k], 3)}`;
  }
  function updateStatuses() {
    for (const d of P.drawn) {
      const s = document.querySelector(`[data-status="${d.id}"]`);
      if (!s) continue;
      s.classList.toggle("bad", !!d.diverged);
      let t = d.diverged ? `✕ diverged at step ${d.diverged.step}` : (d.gap ? `f − f* = ${fmt(d.gap[d.gap.length - 1], 3)} at step ${d.path.length - 1}` : `f = ${fmt(d.loss[d.loss.length - 1], 3)} at step ${d.path.length - 1}`);
      if (d.leftView && !d.diverged) t += ` · leaves the view at step ${d.leftView}`;
      s.textContent = t;
    }
  }
  function updateCaption() {
    const s = P.state, fn = P.fnByName[s.f];
    if (!P.drawn.length) {
      $("caption").textContent = P.state.cards.length ? "" : `${fn.title}: add an optimizer to draw its path.`;
      return;
    }
    const who = P.drawn.map((d) => `${optMeta(d.optimizer).label} (${hpText(d)}) ${finalText(d)}`);
    $("caption").textContent =
      `${pretty(fn.formula)}, from ${fmtPt(s.start)} for ${s.steps} step${s.steps === 1 ? "" : "s"}` +
      (fn.minima.length ? ` (★ ${fn.minima.length > 1 ? "minima" : "minimum"}, f* = ${fmt(fn.f_star)})` : "") +
      `: ${who.join("; ")}.`;
  }
  function updateWhyLive() {
    const fn = P.fnByName[P.state.f], box = $("why-live");
    const lam = fn.curvatures;
    const d = P.drawn.find((x) => ["momentum", "nesterov", "sgd"].includes(x.optimizer) && (x.hyperparameters.momentum || 0) > 0);
    if (!lam || !d) {
      box.textContent = lam && fn.name === "book_quadratic" ? "Add a Momentum card to see its damping here." : "";
      return;
    }
    const lr = d.hyperparameters.lr, mu = d.hyperparameters.momentum;
    const muc = (l) => (lr * l >= 1 ? 0 : (1 - Math.sqrt(lr * l)) ** 2);
    const mucText = (l) => (lr * l >= 1 ? "none (lr·λ ≥ 1: it overshoots at any μ)" : fmt(muc(l), 3));
    const near = fn.name === "book_quadratic" ? "" : " near the minimum";
    const [lo, hi] = lam;
    const state = mu > muc(lo) ? "oscillates (spirals in)" : "approaches without overshoot";
    const stable = lr * hi < 2 * (1 + mu);
    box.textContent = `Your ${optMeta(d.optimizer).label} card: lr = ${fmt(lr)}, μ = ${fmt(mu)}. ` +
      `Critical damping${near}: μ_c = (1 − √(lr·λ))² = ${fmt(muc(lo), 3)} along the flat direction (λ = ${fmt(lo, 3)}) ` +
      `and ${mucText(hi)} along the steep one (λ = ${fmt(hi, 3)}). ` +
      `With μ ${mu > muc(lo) ? ">" : "≤"} ${fmt(muc(lo), 3)} the slow coordinate ${state}; ` +
      (stable ? `it is stable since lr·λmax = ${fmt(lr * hi, 3)} < 2(1 + μ) = ${fmt(2 * (1 + mu), 3)}.`
        : `it is unstable: lr·λmax = ${fmt(lr * hi, 3)} ≥ 2(1 + μ) = ${fmt(2 * (1 + mu), 3)}.`);
  }

  // ------------------------------------------------------------ train panel
  const TM = { l: 52, r: 14, t: 24, b: 28 };
  let source = null;
  function trainControls() {
    const t = P.state.train;
    const opt = $("t-opt");
    opt.replaceChildren(...P.meta.optimizers.map((o) => el("option", { value: o.name, text: o.label })));
    const sched = $("t-sched");
    sched.replaceChildren(...P.meta.train.schedules.map((s) => el("option", { value: s, text: SCHED_LABEL[s] || s })));
    const sync = () => {
      $("t-model").value = t.model; opt.value = t.optimizer; sched.value = t.schedule;
      $("t-lr").value = String(Math.log10(t.lr)); $("t-lr-num").value = String(t.lr);
      $("t-mom").value = String(t.momentum); $("t-mom-out").textContent = fmt(t.momentum);
      $("t-mom-row").classList.toggle("hidden", !["sgd", "momentum", "nesterov", "rmsprop"].includes(t.optimizer));
      $("t-batch").value = String(t.batch);
      $("t-epochs").value = String(t.epochs); $("t-epochs-out").textContent = t.epochs;
      $("t-ntrain").value = String(t.n_train); $("t-ntrain-out").textContent = t.n_train;
      writeHash();
    };
    P.syncTrain = sync;
    $("t-model").addEventListener("change", (e) => { t.model = e.target.value; sync(); });
    opt.addEventListener("change", () => {
      t.optimizer = opt.value;
      t.lr = { sgd: 0.1, momentum: 0.05, nesterov: 0.05, adagrad: 0.05, rmsprop: 1e-3, adam: 1e-3, adamw: 1e-3,
        nadam: 2e-3, lion: 1e-4, adadelta: 1, yogi: 1e-2 }[t.optimizer] ?? 1e-3;
      sync();
    });
    sched.addEventListener("change", () => { t.schedule = sched.value; sync(); });
    $("t-lr").addEventListener("input", (e) => { t.lr = Number((10 ** Number(e.target.value)).toPrecision(3)); sync(); });
    $("t-lr-num").addEventListener("change", (e) => { const v = Number(e.target.value); if (v > 0 && v <= 10) t.lr = v; sync(); });
    $("t-mom").addEventListener("input", (e) => { t.momentum = Number(e.target.value); sync(); });
    $("t-batch").addEventListener("change", (e) => { t.batch = Number(e.target.value); sync(); });
    $("t-epochs").addEventListener("input", (e) => { t.epochs = Number(e.target.value); sync(); });
    $("t-ntrain").addEventListener("input", (e) => { t.n_train = Number(e.target.value); sync(); });
    $("t-start").addEventListener("click", () => startRun());
    $("t-stop").addEventListener("click", () => fetch("/api/train/stop", { method: "POST" }));
    sync();
  }
  function trainQuery(extra = {}) {
    const t = P.state.train;
    const q = { model: t.model, optimizer: t.optimizer, lr: t.lr, schedule: t.schedule,
      batch_size: t.batch, epochs: t.epochs, n_train: t.n_train, n_val: 500, ...extra };
    if (["sgd", "momentum", "nesterov", "rmsprop"].includes(t.optimizer)) q.momentum = t.momentum;
    return Object.entries(q).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
  }
  function trainStatus(text, bad = false) {
    const s = $("t-status");
    s.textContent = text;
    s.classList.toggle("bad", bad);
  }
  async function startRun(extra = {}) {
    let r;
    try {
      r = await getJSON("/api/train?" + trainQuery(extra), { method: "POST" });
    } catch (e) {
      trainStatus(e.message, true);
      if (e.status === 409) attachRunning();
      return null;
    }
    adopt(r.run, r.config);
    return r.run;
  }
  function adopt(id, cfg) {
    if (P.runs.length >= 4) P.runs.shift();
    const run = { id, cfg, steps: [], epochs: [], status: "running", reason: "" };
    run.color = optMeta(cfg.optimizer).color;
    run.dashed = P.runs.some((x) => x.cfg.optimizer === cfg.optimizer);
    P.runs.push(run);
    $("t-start").disabled = true; $("t-stop").disabled = false;
    trainStatus(`run ${run.id}: starting…`);
    listen(run);
    renderRuns();
  }
  // a run still training from an earlier visit (or another tab): show it, so Stop works
  async function attachRunning() {
    const st = await getJSON("/api/train/status");
    if (st.running && !P.runs.some((r) => r.id === st.run.id)) adopt(st.run.id, st.run.config);
  }
  function listen(run) {
    if (source) source.close();
    source = new EventSource(`/api/train/events?run=${run.id}`);
    source.onmessage = (m) => {
      for (const ev of JSON.parse(m.data)) {
        if (ev.type === "step") run.steps.push(ev);
        else if (ev.type === "epoch") run.epochs.push(ev);
        else if (ev.type === "end") {
          run.status = ev.status; run.reason = ev.reason;
          source.close(); source = null;
          $("t-start").disabled = false; $("t-stop").disabled = true;
        }
      }
      const last = run.steps[run.steps.length - 1];
      if (run.status === "running" && last)
        trainStatus(`run ${run.id}: epoch ${last.epoch}/${run.cfg.epochs}, step ${last.step}/${run.cfg.steps_total}`);
      else if (run.status !== "running")
        trainStatus(`run ${run.id}: ${run.reason}`, run.status === "diverged" || run.status === "failed");
      requestDraw();
    };
    source.onerror = () => {
      if (run.status !== "running") return;
      // the server went away or the stream was cut: EventSource retries on its own
      trainStatus(`run ${run.id}: connection lost, retrying…`, true);
    };
  }
  let drawPending = false;
  function requestDraw() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => { drawPending = false; drawTrain(); renderRuns(); });
  }
  function runLabel(r) {
    const c = r.cfg;
    let s = `${optMeta(c.optimizer).label} · lr ${fmt(c.lr)}`;
    if (c.momentum !== null && c.momentum !== undefined) s += ` · μ ${fmt(c.momentum)}`;
    if (c.schedule !== "constant") s += ` · ${SCHED_LABEL[c.schedule]}`;
    return `${s} · ${c.model === "mlp" ? "MLP" : "SimpleConvNet"} · batch ${c.batch_size} · ${c.n_train} digits`;
  }
  function runState(r) {
    const ve = r.epochs.filter((e) => e.val_acc !== null);
    const acc = ve.length ? ` · validation accuracy ${fmt(ve[ve.length - 1].val_acc, 3)}` : "";
    if (r.status === "running") {
      const last = r.steps[r.steps.length - 1];
      return `training: step ${last ? last.step : 0}/${r.cfg.steps_total}${acc}`;
    }
    return `${r.reason}${acc}`;
  }
  function renderRuns() {
    $("t-runs").replaceChildren(...P.runs.map((r) => {
      const sw = el("span", { class: "swatch" + (r.dashed ? " dashed" : "") });
      sw.style.setProperty("--c", r.color);
      const del = el("button", { class: "icon-btn", title: "remove from the plot", text: "×" });
      del.disabled = r.status === "running";
      del.addEventListener("click", () => { P.runs = P.runs.filter((x) => x !== r); requestDraw(); });
      return el("div", { class: "run", dataset: { run: r.id, status: r.status } },
        sw, el("span", { class: "what", text: `#${r.id} ${runLabel(r)}` }),
        el("span", { class: "state" + (r.status === "diverged" || r.status === "failed" ? " bad" : ""), text: runState(r) }), del);
    }));
    const done = P.runs.filter((r) => r.status !== "running" && r.epochs.length);
    $("t-caption").textContent = done.length
      ? done.map((r) => `#${r.id} ${optMeta(r.cfg.optimizer).label} (lr ${fmt(r.cfg.lr)}): ${runState(r)}`).join("; ") + "."
      : (P.runs.length ? "" : "Choose an optimizer and press Train: the curves appear as the network learns.");
  }
  function smooth(vals, beta = 0.9) {
    let m = 0, out = [], n = 0;
    for (const v of vals) {
      if (v === null) { out.push(null); continue; }
      m = beta * m + (1 - beta) * v; n++;
      out.push(m / (1 - beta ** n));
    }
    return out;
  }
  function drawTrain() {
    lineChart($("t-loss"), "cross-entropy loss against step (log scale) · faint: each batch · line: smoothed · dots: validation", true, (r) => ({
      raw: r.steps.map((s) => [s.step, s.loss]),
      line: smooth(r.steps.map((s) => s.loss)).map((v, i) => [r.steps[i].step, v]),
      dots: r.epochs.filter((e) => e.val_loss !== null).map((e) => [e.step, e.val_loss]),
    }));
    lineChart($("t-acc"), "accuracy against step · line: training batches, smoothed · dots: validation", false, (r) => ({
      raw: [],
      line: smooth(r.steps.map((s) => s.batch_acc)).map((v, i) => [r.steps[i].step, v]),
      dots: r.epochs.filter((e) => e.val_acc !== null).map((e) => [e.step, e.val_acc]),
    }));
  }
  function lineChart(c, title, logY, series) {
    const w = c.parentElement.clientWidth - 16, h = 230;
    const ctx = setupCanvas(c, w, h);
    const iw = w - TM.l - TM.r, ih = h - TM.t - TM.b;
    const data = P.runs.map((r) => ({ r, ...series(r) }));
    let xmax = 1, lo = Infinity, hi = -Infinity;
    for (const r of P.runs) xmax = Math.max(xmax, r.cfg.steps_total);
    for (const d of data) for (const [, v] of [...d.raw, ...d.line, ...d.dots]) {
      if (v === null || !Number.isFinite(v) || (logY && v <= 0)) continue;
      lo = Math.min(lo, v); hi = Math.max(hi, v);
    }
    if (!logY) { lo = 0; hi = 1; }
    else if (!Number.isFinite(lo)) { lo = 0.01; hi = 3; }
    else {
      // a diverged run must not squash the others: the axis stops at 10x the first losses
      const first = Math.max(...P.runs.map((r) => (r.steps.length && r.steps[0].loss) || 0));
      if (first > 0) hi = Math.min(hi, 10 * first);
      lo = 10 ** Math.floor(Math.log10(lo)); hi = 10 ** Math.ceil(Math.log10(hi)); if (hi <= lo) hi = lo * 10;
    }
    const Y = (v) => logY
      ? TM.t + ih * (1 - (Math.log10(Math.min(Math.max(v, lo), hi)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)))
      : TM.t + ih * (1 - v);
    const X = (s) => TM.l + (s / xmax) * iw;
    ctx.fillStyle = "#33414f"; ctx.font = "13px system-ui, sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "top";
    ctx.fillText(title, TM.l, 4);
    ctx.strokeStyle = "#e7ecf1"; ctx.fillStyle = "#5f6d7c"; ctx.font = "11.5px system-ui, sans-serif"; ctx.lineWidth = 1;
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    const ticks = [];
    if (logY) for (let e = Math.log10(lo); e <= Math.log10(hi) + 1e-9; e++) { ticks.push(10 ** e); if (e < Math.log10(hi) - 0.5) ticks.push(3 * 10 ** e); }
    else ticks.push(0, 0.2, 0.4, 0.6, 0.8, 1);
    for (const v of ticks) {
      const y = Y(v);
      ctx.beginPath(); ctx.moveTo(TM.l, y); ctx.lineTo(TM.l + iw, y); ctx.stroke();
      ctx.fillText(fmt(v, 2), TM.l - 6, y);
    }
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const k of niceTicks(0, xmax, 8)) if (k === Math.round(k)) ctx.fillText(String(k), X(k), TM.t + ih + 6);
    ctx.strokeStyle = "#9aa8b6"; ctx.strokeRect(TM.l - 0.5, TM.t - 0.5, iw + 1, ih + 1);
    ctx.save(); ctx.beginPath(); ctx.rect(TM.l, TM.t, iw, ih); ctx.clip();
    for (const d of data) {
      const poly = (pts, width, alpha) => {
        ctx.globalAlpha = alpha; ctx.strokeStyle = d.r.color; ctx.lineWidth = width;
        ctx.setLineDash(d.r.dashed ? [7, 4] : []);
        ctx.beginPath(); let on = false;
        for (const [s, v] of pts) { if (v === null || !Number.isFinite(v)) { on = false; continue; } const x = X(s), y = Y(v); on ? ctx.lineTo(x, y) : ctx.moveTo(x, y); on = true; }
        ctx.stroke(); ctx.globalAlpha = 1; ctx.setLineDash([]);
      };
      poly(d.raw, 1, 0.22);
      poly(d.line, 2.2, 1);
    }
    ctx.restore();
    for (const d of data) {
      ctx.fillStyle = d.r.color;
      for (const [s, v] of d.dots) { ctx.beginPath(); ctx.arc(X(s), Y(v), 4.5, 0, 2 * Math.PI); ctx.fill(); ctx.strokeStyle = "#fff"; ctx.lineWidth = 1.5; ctx.stroke(); }
    }
    const longest = P.runs.reduce((a, r) => (!a || r.cfg.steps_total > a.cfg.steps_total ? r : a), null);
    if (longest && longest.cfg.epochs > 1 && longest.cfg.epochs <= 20) {
      const per = longest.cfg.steps_total / longest.cfg.epochs;
      ctx.strokeStyle = "rgba(95,109,124,.35)"; ctx.setLineDash([2, 3]); ctx.lineWidth = 1;
      ctx.fillStyle = "#8593a1"; ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "top";
      for (let e = 1; e < longest.cfg.epochs; e++) {
        const x = X(e * per);
        ctx.beginPath(); ctx.moveTo(x, TM.t); ctx.lineTo(x, TM.t + ih); ctx.stroke();
        ctx.fillText(`epoch ${e + 1}`, x + 3, TM.t + 3);
      }
      ctx.setLineDash([]);
    }
    for (const d of data) if (d.r.status === "diverged") {
      const last = d.r.steps[d.r.steps.length - 1];
      if (!last) continue;
      const x = X(last.step), y = TM.t + 10;
      ctx.strokeStyle = "#c0392b"; ctx.lineWidth = 2.5;
      for (const s of [1, -1]) { ctx.beginPath(); ctx.moveTo(x - 5, y - 5 * s); ctx.lineTo(x + 5, y + 5 * s); ctx.stroke(); }
      ctx.fillStyle = "#c0392b"; ctx.font = "bold 12px system-ui, sans-serif"; ctx.textAlign = x > TM.l + iw - 120 ? "right" : "left"; ctx.textBaseline = "middle";
      ctx.fillText(` diverged at step ${last.step} `, x + (ctx.textAlign === "left" ? 8 : -8), y);
    }
  }
  P.startRun = startRun;

  // ------------------------------------------------------------ tabs and start-up
  function showTab(tab) {
    P.state.tab = tab;
    for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === tab);
    for (const p of document.querySelectorAll(".panel")) p.classList.toggle("hidden", p.dataset.panel !== tab);
    writeHash();
    if (tab === "paths") layout(); else { drawTrain(); renderRuns(); }
  }
  function defaultState() {
    const fn = P.fnByName.book_quadratic;
    const preset = fn.presets[0];
    return { tab: "paths", f: fn.name, steps: preset.steps, start: fn.start.slice(), cards: [], train: defaultTrain(), preset };
  }
  async function init() {
    const [meta, fns] = await Promise.all([getJSON("/api/meta"), getJSON("/api/functions")]);
    P.meta = meta;
    P.functions = fns.functions;
    P.fnByName = Object.fromEntries(P.functions.map((f) => [f.name, f]));
    const decoded = decodeHash(location.hash);
    if (decoded) applyDecoded(decoded);
    else {
      const d = defaultState();
      P.state = d;
      P.state.cards = d.preset.optimizers.map(({ name, ...over }) => newCard(name, over));
      delete P.state.preset;
    }
    buildFunctionSelect();
    for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => showTab(b.dataset.tab));
    bindPlot();
    trainControls();
    attachRunning().catch(() => {});
    await loadGrid();
    renderControls();
    showTab(P.state.tab);
    await compute();
    writeHash();
    window.addEventListener("resize", () => { clearTimeout(P.rt); P.rt = setTimeout(() => (P.state.tab === "paths" ? layout() : drawTrain()), 120); });
    window.addEventListener("hashchange", async () => {
      if (location.hash === P.hash) return;
      const d = decodeHash(location.hash);
      if (!d) return;
      applyDecoded(d);
      await loadGrid();
      renderControls();
      P.syncTrain();
      showTab(P.state.tab);
      compute();
    });
    P.ready = true;
    document.body.dataset.ready = "1";
  }
  init().catch((e) => { showError(`The page could not start: ${e.message}`); });
})();
