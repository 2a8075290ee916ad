// ganmetric view: one slider per metric axis over the server's JSON API (see ganmetric/viewer/app.py).
// Plain JavaScript, no build step and no external files, so the page works offline.
"use strict";

(() => {
  const POSITIONS = 1000; // slider positions on each side of 0; a coefficient is position / POSITIONS * t_max
  const $ = (id) => document.getElementById(id);
  const state = {
    info: null,      // the last GET /api/info answer (eigenvalues, ranges for the current d_max, sphere, seed)
    positions: [],   // one slider position per axis, in [-POSITIONS, POSITIONS]
    selected: 0,     // the axis whose strip is shown
    seed: null,      // null: the default reference
    dMax: null,
    sphere: false,
    shownReference: undefined, // the seed whose reference image is on the page
    image: null,     // base64 PNG of the current image (for "download image")
    renders: 0,
  };

  const fmt = (x, digits = 4) => (x === null || x === undefined ? "n/a" : Number(x).toPrecision(digits));
  const signed = (x) => (x > 0 ? "+" : x < 0 ? "-" : " ") + Math.abs(x).toPrecision(3);

  function showStatus(text, isError = false) {
    const el = $("status");
    el.textContent = text;
    el.classList.toggle("error", isError);
  }

  // This page's id: the server keeps at most one strip per page waiting (a newer one replaces it).
  const PAGE = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;

  async function api(path, options = {}) {
    const headers = { ...(options.headers || {}), "X-Ganmetric-Page": PAGE };
    const res = await fetch(path, { ...options, headers });
    if (!res.ok) {
      let message = `${res.status} ${res.statusText}`;
      try {
        const body = await res.json();
        if (body && body.error) message = body.error;
      } catch (ignored) { /* not JSON: keep the status line */ }
      throw new Error(message);
    }
    return res;
  }

  // Run task() one call at a time; calls made while one runs collapse into one more run, which
  // reads the state as it is then (latest wins: newer slider positions replace queued ones).
  function latestWins(task) {
    let running = false;
    let again = false;
    async function pump() {
      running = true;
      while (again) {
        again = false;
        try {
          await task();
        } catch (err) {
          showStatus(err.message, true);
        }
      }
      running = false;
    }
    return () => {
      again = true;
      if (!running) pump();
    };
  }

  function coefficients() {
    const ranges = state.info ? state.info.ranges : [];
    return state.positions.map((p, i) => (p / POSITIONS) * ranges[i]);
  }

  function renderBody(withReference = false) {
    return { seed: state.seed, coefficients: coefficients(), sphere: state.sphere, with_reference: withReference };
  }

  function infoQuery() {
    const q = new URLSearchParams({ sphere: String(state.sphere) });
    if (state.dMax !== null) q.set("d_max", String(state.dMax));
    if (state.seed !== null) q.set("seed", String(state.seed));
    return q;
  }

  async function loadInfo() {
    const info = await (await api(`/api/info?${infoQuery()}`)).json();
    const first = state.info === null;
    state.info = info;
    state.dMax = info.d_max;
    if (first) setUp(info);
    showRanges(info);
    if (first && $("seed").value.trim() !== "") readSeed(); // typed while the page was starting
    requestRender();
    requestStrip();
  }

  async function render() {
    const seed = state.seed;
    const body = renderBody(state.shownReference !== seed);
    const positions = JSON.stringify(state.positions);
    const started = performance.now();
    const res = await api("/api/render", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const out = await res.json();
    const img = $("current");
    img.dataset.coefficients = JSON.stringify(body.coefficients);
    img.dataset.positions = positions; // the slider positions this image shows (tests wait on them)
    img.dataset.seed = seed === null ? "" : String(seed);
    img.dataset.sphere = String(body.sphere);
    img.dataset.distance = out.distance === null ? "" : String(out.distance);
    img.src = `data:image/png;base64,${out.image}`;
    state.image = out.image;
    if (out.reference_image !== null) {
      $("reference").src = `data:image/png;base64,${out.reference_image}`;
      $("reference-label").textContent = `${out.reference.label}, |z0| = ${fmt(out.reference.norm, 4)}`;
      state.shownReference = seed;
    }
    $("distance").textContent = out.distance === null
      ? "no distance loaded"
      : `d = ${fmt(out.distance)} from the reference (${state.info.distance})`;
    $("norm").textContent = `|z| = ${fmt(out.norm, 4)}`;
    state.renders += 1;
    img.dataset.renders = String(state.renders);
    showStatus(`rendered in ${Math.round(performance.now() - started)} ms`);
  }

  let stripUrl = null;
  async function strip() {
    const info = state.info;
    const side = Math.max(...info.image_size);
    const q = infoQuery();
    q.set("axis", String(state.selected));
    q.set("scale", String(Math.max(1, Math.floor(128 / side))));
    const blob = await (await api(`/api/strip?${q}`)).blob();
    if (stripUrl) URL.revokeObjectURL(stripUrl);
    stripUrl = URL.createObjectURL(blob);
    $("strip").src = stripUrl;
    $("strip").dataset.axis = String(state.selected);
    $("strip-title").textContent = `strip along axis ${state.selected}: the reference moved across the slider's `
      + `range (click a slider to choose its axis)`;
  }

  const requestInfo = latestWins(loadInfo);
  const requestRender = latestWins(render);
  const requestStrip = latestWins(strip);

  function select(i) {
    if (i === state.selected) return;
    state.selected = i;
    document.querySelectorAll("#sliders label").forEach((el, j) => el.classList.toggle("selected", j === i));
    requestStrip();
  }

  function showValue(i) {
    const value = (state.positions[i] / POSITIONS) * state.info.ranges[i];
    $(`value-${i}`).textContent = signed(value);
  }

  function showRanges(info) {
    const unit = info.sphere ? "rad" : "";
    info.ranges.forEach((t, i) => {
      $(`axis-${i}`).title = `from -${fmt(t, 3)} to +${fmt(t, 3)} ${unit}`.trim();
      $(`range-${i}`).textContent = `of \u00b1${fmt(t, 3)}`;
      showValue(i);
    });
    $("unit").textContent = info.sphere
      ? `values: angles in radians toward each axis, |z| kept; each slider's end is sqrt(2 dmax / lambda) / |z0| `
        + `(capped at pi): the metric predicts d = ${fmt(info.d_max, 3)} there`
      : `values: latent units along each axis; each slider's end is t_max = sqrt(2 dmax / lambda) (capped at `
        + `${fmt(info.max_step, 3)}): the metric predicts d = ${fmt(info.d_max, 3)} there`;
  }

  function setUp(info) {
    const where = info.source ? ` from ${info.source}` : "";
    $("model").textContent = `${info.model_description} · ${info.axes} axes${where} · distance `
      + `${info.distance === null ? "none" : info.distance}`;
    const [h, w] = info.image_size;
    const side = Math.max(h, w);
    const factor = side >= 384 ? Math.min(1, 512 / side) : Math.floor(384 / side);
    for (const [id, f] of [["current", factor], ["reference", factor / 2]]) {
      $(id).width = Math.round(w * f);
      $(id).height = Math.round(h * f);
    }
    const box = $("sliders");
    box.textContent = "";
    state.positions = info.eigvals.map(() => 0);
    info.eigvals.forEach((lam, i) => {
      const label = document.createElement("label");
      label.htmlFor = `axis-${i}`;
      label.textContent = `axis ${i}  \u03bb = ${fmt(lam, 3)}`;
      if (i === state.selected) label.classList.add("selected");
      const input = document.createElement("input");
      Object.assign(input, { type: "range", id: `axis-${i}`, min: -POSITIONS, max: POSITIONS, step: 1, value: 0 });
      input.addEventListener("input", () => {
        state.positions[i] = Number(input.value);
        showValue(i);
        select(i);
        requestRender();
      });
      input.addEventListener("focus", () => select(i));
      const out = document.createElement("output");
      out.id = `value-${i}`;
      out.htmlFor = input.id;
      const range = document.createElement("span");
      range.id = `range-${i}`;
      range.className = "range";
      box.append(label, input, out, range);
    });
    $("dmax").value = String(info.d_max);
  }

  function readDMax() {
    const v = Number($("dmax").value);
    if (!(Number.isFinite(v) && v > 0)) {
      showStatus("d_max must be a positive number", true);
      return;
    }
    state.dMax = v;
    requestInfo();
  }

  function readSeed() {
    if (state.info === null) return; // still starting: the seed is read again when the page is ready
    const text = $("seed").value.trim();
    if (text === "") {
      state.seed = null;
    } else {
      const v = Number(text);
      if (!(Number.isInteger(v) && v >= 0 && v <= state.info.max_seed)) {
        showStatus(`the seed must be an integer from 0 to ${state.info.max_seed}`, true);
        return;
      }
      state.seed = v;
    }
    requestInfo();
  }

  function download(blob, name) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  const stem = () => `view_${state.seed === null ? "reference" : `seed${state.seed}`}`;

  async function downloadCode() {
    const res = await api("/api/code", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(renderBody()),
    });
    download(await res.blob(), `${stem()}.npy`);
  }

  function downloadImage() {
    if (state.image === null) return;
    const bytes = Uint8Array.from(atob(state.image), (ch) => ch.charCodeAt(0));
    download(new Blob([bytes], { type: "image/png" }), `${stem()}.png`);
  }

  function wire() {
    $("dmax").addEventListener("change", readDMax);
    $("sphere").addEventListener("change", () => {
      state.sphere = $("sphere").checked;
      requestInfo();
    });
    $("seed").addEventListener("change", readSeed);
    $("random").addEventListener("click", () => {
      if (state.info === null) return;
      $("seed").value = String(Math.floor(Math.random() * (state.info.max_seed + 1)));
      readSeed();
    });
    $("reset").addEventListener("click", () => {
      state.positions = state.positions.map(() => 0);
      document.querySelectorAll("#sliders input[type=range]").forEach((el) => { el.value = "0"; });
      state.positions.forEach((_, i) => showValue(i));
      requestRender();
    });
    $("download-code").addEventListener("click", () => downloadCode().catch((err) => showStatus(err.message, true)));
    $("download-image").addEventListener("click", downloadImage);
  }

  wire();
  loadInfo().catch((err) => showStatus(`cannot start: ${err.message}`, true));
})();
