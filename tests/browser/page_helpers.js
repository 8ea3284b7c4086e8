// Page-side helpers of tests/browser/harness.py, evaluated once per page:
// they define window.__bn, which the Python side calls.
() => {
  if (window.__bn) return true;
  const WIDGET_MIME = "application/vnd.jupyter.widget-view+json";
  const bn = {};
  bn.panel = (path) => {
    const app = window.jupyterapp;
    if (!app || !app.shell) return null;
    for (const w of app.shell.widgets("main")) {
      if (w.context && w.context.path === path && w.content && w.sessionContext) return w;
    }
    return null;
  };
  bn.kernelState = (path) => {
    const p = bn.panel(path);
    if (!p) return { panel: false };
    const sc = p.sessionContext;
    const k = sc.session ? sc.session.kernel : null;
    return {
      panel: true,
      contextReady: p.context.isReady,
      sessionReady: sc.isReady,
      kernelName: sc.kernelDisplayName,
      status: k ? k.status : null,
      connection: k ? k.connectionStatus : null,
      hasKernel: !!k,
    };
  };
  bn.cells = (path) => {
    const cells = bn.panel(path).content.model.cells;
    const res = [];
    for (let i = 0; i < cells.length; i++) {
      const c = cells.get(i);
      const item = { index: i, type: c.type, source: c.sharedModel.getSource() };
      if (c.type === "code") {
        item.executionCount = c.executionCount;
        item.executionState = c.executionState === undefined ? null : c.executionState;
        item.outputs = c.outputs.toJSON();
      }
      res.push(item);
    }
    return res;
  };
  bn.runAll = (path) => {
    const app = window.jupyterapp;
    const p = bn.panel(path);
    app.shell.activateById(p.id);
    let cmd = "runmenu:run-all";
    if (!app.commands.hasCommand(cmd) || !app.commands.isEnabled(cmd)) {
      cmd = "notebook:run-all-cells";
    }
    window.__bnRun = { command: cmd, done: false, error: null };
    app.commands.execute(cmd).then(
      () => { window.__bnRun.done = true; },
      (e) => { window.__bnRun.done = true; window.__bnRun.error = String(e); }
    );
    return cmd;
  };
  bn.progress = (path) => {
    const st = bn.kernelState(path);
    let todo = 0, running = 0;
    for (const c of bn.cells(path)) {
      if (c.type !== "code" || c.source.trim() === "") continue;
      if (c.executionCount === null || c.executionCount === undefined) todo++;
      if (c.executionState === "running") running++;
    }
    return { todo, running, status: st.status, run: window.__bnRun || null };
  };
  // Widget outputs of the cells (not those inside an Output widget): the
  // model's outputs and the output area's children come in the same order.
  bn.widgetReport = (path) => {
    const p = bn.panel(path);
    let expected = 0, rendered = 0, loading = 0, failed = 0;
    const notRendered = [];
    p.content.widgets.forEach((cw, i) => {
      if (cw.model.type !== "code") return;
      const outs = cw.model.outputs.toJSON();
      const nodes = cw.node.querySelectorAll(
        ".jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output");
      outs.forEach((o, j) => {
        if (!(o.data && o.data[WIDGET_MIME])) return;
        expected++;
        const n = nodes[j];
        if (!n) { notRendered.push(`cell ${i}: output ${j} is missing from the page`); return; }
        const text = n.textContent || "";
        if (text.includes("Error displaying widget")) {
          failed++; notRendered.push(`cell ${i}: ${text.slice(0, 200)}`); return;
        }
        if (text.includes("Loading widget...")) {
          loading++; notRendered.push(`cell ${i}: still "Loading widget..."`); return;
        }
        const views = n.querySelectorAll(".lm-Widget.jupyter-widgets");
        if (views.length > 0 && n.getBoundingClientRect().height > 0) rendered++;
        else notRendered.push(`cell ${i}: output ${j} shows no widget view`);
      });
    });
    const node = p.content.node;
    const anyLoading = Array.from(node.querySelectorAll(".jp-OutputArea-output"))
      .filter((o) => (o.textContent || "").includes("Loading widget...")).length;
    return {
      expected, rendered, loading, failed, notRendered, anyLoading,
      sliders: node.querySelectorAll(".widget-slider").length,
      views: node.querySelectorAll(".lm-Widget.jupyter-widgets").length,
    };
  };
  bn.problems = (path) => {
    const p = bn.panel(path);
    const problems = [];
    for (const c of bn.cells(path)) {
      if (c.type !== "code") continue;
      for (const o of c.outputs) {
        if (o.output_type === "error") {
          problems.push(`cell ${c.index}: ${o.ename}: ${o.evalue}`);
        } else if (o.output_type === "stream" && o.name === "stderr") {
          const t = Array.isArray(o.text) ? o.text.join("") : o.text;
          problems.push(`cell ${c.index}: stderr: ${t.trim().slice(0, 300)}`);
        }
      }
    }
    const cellsEls = Array.from(p.content.node.querySelectorAll(".jp-Cell"));
    const where = (e) => {
      const cell = e.closest(".jp-Cell");
      const i = cell ? cellsEls.indexOf(cell) : -1;
      return (i >= 0 ? `cell ${i}` : "page") + (e.closest(".widget-output") ? " (in a widget)" : "");
    };
    const sel = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]';
    // On the page: also stderr inside Output widgets, which the cells' model
    // doesn't hold; cells already reported above are not repeated.
    p.content.node.querySelectorAll(sel).forEach((o) => {
      const w = where(o);
      if (!w.includes("widget") && problems.some((x) => x.startsWith(w + ":"))) return;
      problems.push(`${w}: stderr/traceback shown: ${(o.textContent || "").trim().slice(0, 300)}`);
    });
    p.content.node.querySelectorAll(".jp-OutputArea-output").forEach((o) => {
      const t = o.textContent || "";
      if (t.includes("Error displaying widget")) problems.push(`${where(o)}: ${t.trim().slice(0, 200)}`);
    });
    p.content.node.querySelectorAll(".widget-html-content").forEach((o) => {
      const t = o.textContent || "";
      if (t.includes("Error in this panel's update")) problems.push(`${where(o)}: ${t.trim().slice(0, 400)}`);
    });
    return Array.from(new Set(problems));
  };
  // Slider panels: the nearest widget box around a slider that holds an image
  // in an Output widget. Tags them data-bn-panel / data-bn-slider.
  bn.scanPanels = (path) => {
    const p = bn.panel(path);
    const node = p.content.node;
    node.querySelectorAll("[data-bn-panel]").forEach((e) => e.removeAttribute("data-bn-panel"));
    node.querySelectorAll("[data-bn-slider]").forEach((e) => e.removeAttribute("data-bn-slider"));
    node.querySelectorAll("[data-bn-button]").forEach((e) => e.removeAttribute("data-bn-button"));
    const cellsEls = Array.from(node.querySelectorAll(".jp-Cell"));
    const panels = [], sliders = [];
    for (const s of node.querySelectorAll(".widget-slider")) {
      let box = s.parentElement;
      while (box && box !== node) {
        if (box.classList.contains("widget-box") && box.querySelector(".widget-output img")) break;
        box = box.parentElement;
      }
      if (!box || box === node) continue;
      let pi = panels.indexOf(box);
      if (pi < 0) { panels.push(box); pi = panels.length - 1; box.setAttribute("data-bn-panel", String(pi)); }
      // A training panel's action button (not a ToggleButtons option).
      const action = box.querySelector("button.widget-button.mod-primary")
        || box.querySelector("button.widget-button");
      if (action) action.setAttribute("data-bn-button", String(pi));
      const si = sliders.filter((x) => x.panel === pi).length;
      s.setAttribute("data-bn-slider", `${pi}-${si}`);
      const handle = s.querySelector(".noUi-handle");
      const readout = s.querySelector(".widget-readout");
      const label = s.querySelector(".widget-label");
      const num = (a) => (handle && handle.hasAttribute(a) ? Number(handle.getAttribute(a)) : null);
      sliders.push({
        panel: pi, index: si, cell: cellsEls.indexOf(s.closest(".jp-Cell")),
        label: label ? (label.textContent || "").trim() : "",
        readout: readout ? (readout.textContent || "").trim() : "",
        editable: !!readout && readout.isContentEditable,
        min: num("aria-valuemin"), max: num("aria-valuemax"), now: num("aria-valuenow"),
        disabled: s.classList.contains("mod-disabled") || !!s.querySelector("[disabled]"),
        hasButton: !!action,
      });
    }
    return sliders;
  };
  // The images of each Output widget of a panel: [[src, ...], ...].
  bn.panelOutputs = (pi) => {
    const box = document.querySelector(`[data-bn-panel="${pi}"]`);
    if (!box) return null;
    return Array.from(box.querySelectorAll(".widget-output")).map((o) =>
      Array.from(o.querySelectorAll("img")).map((i) => i.getAttribute("src") || ""));
  };
  // Latency of one change, measured in the page: from the last user action in
  // the panel (a key press, a pointer press: Enter in the readout, a click on
  // the track or on the panel's button) to the first image whose src is new.
  bn.armTimer = (pi, oldSrcs) => {
    const box = document.querySelector(`[data-bn-panel="${pi}"]`);
    const old = new Set(oldSrcs);
    const t = { t0: null, t1: null };
    window.__bnTimer = t;
    const start = () => { if (t.t1 === null) t.t0 = performance.now(); };
    box.addEventListener("keydown", start, { capture: true });
    box.addEventListener("pointerdown", start, { capture: true });
    const check = () => {
      if (t.t0 === null || t.t1 !== null) return;
      for (const i of box.querySelectorAll(".widget-output img")) {
        if (!old.has(i.getAttribute("src") || "")) { t.t1 = performance.now(); return; }
      }
    };
    const obs = new MutationObserver(check);
    obs.observe(box, { subtree: true, childList: true, attributes: true, attributeFilter: ["src"] });
    t.stop = () => {
      obs.disconnect();
      box.removeEventListener("keydown", start, { capture: true });
      box.removeEventListener("pointerdown", start, { capture: true });
    };
    return true;
  };
  bn.timer = () => ({ t0: window.__bnTimer.t0, t1: window.__bnTimer.t1 });
  bn.stopTimer = () => { if (window.__bnTimer && window.__bnTimer.stop) window.__bnTimer.stop(); return true; };
  bn.shutdown = async (path) => {
    const p = bn.panel(path);
    if (p && p.sessionContext.session) await p.sessionContext.shutdown();
    return true;
  };
  window.__bn = bn;
  return true;
}
