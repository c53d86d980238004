// kitekit dashboard: the pages, drawn from the server's JSON and kept live by its event stream.
// No framework and no build step: plain DOM, so the file ships in the Python package as it is.
"use strict";
(function () {
  const state = { meta: null, page: null, stream: null, lastBatch: null, receivedAt: 0, ordersVersion: -1,
                  charts: [], timers: [], errors: [], route: 0, arrivals: [] };
  const $ = (sel, root) => (root || document).querySelector(sel);
  const el = (tag, attrs, ...kids) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat(Infinity)) node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    return node;
  };
  const sign = (v) => (v > 0 ? "pos" : v < 0 ? "neg" : "");
  // Profit and loss cells are coloured by sign; prices and values are not.
  const amountCell = (a, cls, plain) => el("td", { class: `${cls || ""} ${a && !plain ? sign(a.value) : ""}`.trim() }, a ? a.text : "");
  const num = (v, digits) => (v === null || v === undefined ? "—" :
    Number(v).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }));

  // ---- talking to the server -------------------------------------------------------------------------------
  async function api(path) {
    const response = await fetch(path, { credentials: "same-origin", headers: { accept: "application/json" } });
    return answer(response);
  }
  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-kitekit-dashboard": "1" },
      body: JSON.stringify(body || {}),
    });
    return answer(response);
  }
  async function answer(response) {
    const data = await response.json().catch(() => ({ error: "bug", message: `HTTP ${response.status}` }));
    if (response.status === 401 && data.error === "session") showSession(data.message);
    if (!response.ok) throw Object.assign(new Error(data.message || `HTTP ${response.status}`), { data });
    return data;
  }
  function showError(err) {
    const banner = $("#error-banner");
    banner.textContent = err ? String(err.message || err) : "";
    banner.hidden = !err || (err.data && err.data.error === "session");
  }
  function showSession(message) {
    const banner = $("#session-banner");
    banner.textContent = message || "The session has expired: log in again, then restart the dashboard.";
    banner.hidden = false;
  }

  // ---- the live stream ---------------------------------------------------------------------------------------
  function openStream(watch, positions, onBatch) {
    if (state.stream) state.stream.close();
    const query = `watch=${(watch || []).join(",")}&positions=${positions ? 1 : 0}`;
    const stream = new EventSource(`api/stream?${query}`);
    stream.onmessage = (event) => {
      const batch = JSON.parse(event.data);
      const previous = state.lastBatch;
      if (previous && batch.feed.ticks !== previous.feed.ticks && batch.feed.last_tick_age !== null) {
        // How old the newest tick was when it reached the page: how far the page is behind the feed.
        state.arrivals.push(batch.feed.last_tick_age * 1000 + (Date.now() - batch.sent_at));
        if (state.arrivals.length > 10000) state.arrivals.shift();
      }
      state.lastBatch = batch;
      state.receivedAt = Date.now();
      feedPill(batch.feed);
      if (batch.session && batch.session.expired) showSession(batch.session.message);
      if (onBatch) onBatch(batch);
    };
    state.stream = stream;
  }
  function tickAge() {
    // Seconds since the newest tick reached the server, as of now on this page.
    const b = state.lastBatch;
    if (!b || b.feed.last_tick_age === null) return null;
    return b.feed.last_tick_age + (Date.now() - b.sent_at) / 1000;
  }
  function feedPill(feed) {
    const age = tickAge();
    $("#feed-pill").textContent = `feed: ${feed.connections} conn · ${num(feed.ticks_per_second, 0)} ticks/s · ` +
      `last tick ${age === null ? "—" : age.toFixed(1) + " s"} ago`;
  }
  window.kitekitDashboard = { tickAge, state, errors: state.errors, arrivals: state.arrivals };

  // ---- confirmation ------------------------------------------------------------------------------------------
  function confirmSend(title, body, fields) {
    const dialog = $("#confirm");
    $("#confirm-title").textContent = title;
    $("#confirm-body").textContent = body;
    const box = $("#confirm-fields");
    box.replaceChildren(...(fields || []).map((f) =>
      el("label", {}, `${f.label} `, el("input", { name: f.name, value: f.value ?? "", inputmode: "decimal" }))));
    return new Promise((resolve) => {
      dialog.onclose = () => {
        const values = {};
        for (const input of box.querySelectorAll("input")) values[input.name] = input.value;
        resolve(dialog.returnValue === "ok" ? values : null);
      };
      dialog.returnValue = "";
      dialog.showModal();
    });
  }

  // ---- pages -------------------------------------------------------------------------------------------------
  const pages = {};

  pages.overview = async (root) => {
    root.append(el("h2", {}, "Overview"), el("div", { class: "cards", id: "overview" }));
    const draw = async () => {
      const o = await api("api/overview");
      const card = (title, id, rows) => el("div", { class: "card", id },
        el("h3", {}, title), el("dl", {}, rows.map(([k, v, name]) =>
          [el("dt", {}, k), el("dd", { "data-field": name, class: v && v.value !== undefined ? sign(v.value) : "" },
            v && v.text !== undefined ? v.text : v ?? "—")])));
      const f = o.funds.equity, p = o.pnl, s = o.session, feed = o.feed;
      const left = s.seconds_left === null ? "—" : s.seconds_left <= 0 ? "expired" :
        `${Math.floor(s.seconds_left / 3600)}h ${Math.floor((s.seconds_left % 3600) / 60)}m`;
      $("#overview", root).replaceChildren(
        card("Funds (equity)", "card-funds", [["Available", f.available, "available"], ["Margin used", f.used, "used"],
          ["Cash", f.cash, "cash"], ["Opening balance", f.opening_balance, "opening_balance"]]),
        card("Day P&L", "card-pnl", [["Total", p.pnl, "pnl"], ["Realised", p.realised, "realised"],
          ["Unrealised", p.unrealised, "unrealised"], ["Marked to market", p.m2m, "m2m"],
          ["Open positions", o.positions, "positions"]]),
        card("Session", "card-session", [["State", s.expired ? "expired" : "active", "state"],
          ["Expires", s.expires_at, "expires_at"], ["Time left", left, "left"]]),
        card("Feed", "card-feed", [["Data from", feed.source, "source"], ["Connections", feed.connections, "connections"],
          ["Subscribed", feed.subscribed, "subscribed"], ["Ticks/s", num(feed.ticks_per_second, 0), "rate"],
          ["Last tick", feed.last_tick_age === null ? "—" : `${feed.last_tick_age.toFixed(1)} s ago`, "age"],
          ["Reconnects", feed.reconnects, "reconnects"], ["Stalls", feed.stalls, "stalls"]]));
    };
    await draw();
    if (!root.isConnected) return;  // the address moved on while this page loaded
    state.timers.push(setInterval(() => draw().catch(showError), 2000));
    if (!root.isConnected) return;  // the address moved on while this page loaded
    openStream([], false);
  };

  function positionRow(r) {
    return el("tr", { "data-id": r.id, "data-token": r.instrument_token },
      el("td", { class: "text" }, el("a", { href: `#/chart?symbol=${encodeURIComponent(r.key)}` }, r.key)),
      el("td", { class: "text" }, r.product), el("td", { class: "qty" }, r.quantity),
      amountCell(r.average_price, "avg", true), amountCell(r.last_price, "ltp", true), amountCell(r.pnl, "pnl"),
      amountCell(r.m2m, "m2m"), amountCell(r.realised, "realised"), amountCell(r.unrealised, "unrealised"),
      el("td", {}, r.quantity ? el("button", { class: "danger square-off", onclick: () => squareOff(r) }, "Square off") : ""));
  }
  async function squareOff(r) {
    const side = r.quantity > 0 ? "SELL" : "BUY";
    const ok = await confirmSend("Square off", `${side} ${Math.abs(r.quantity)} ${r.key}\nproduct ${r.product}, MARKET order`);
    if (!ok) return;
    try { await post("api/positions/square-off", { key: r.key, product: r.product, quantity: r.quantity }); showError(null); }
    catch (err) { showError(err); }
  }
  pages.positions = async (root) => {
    let rows = [];
    const head = el("thead", {}, el("tr", {}, ["Instrument", "Product", "Qty", "Avg", "LTP", "P&L", "M2M", "Realised",
      "Unrealised", ""].map((h, i) => el("th", { class: i < 2 ? "text" : "" }, h))));
    const body = el("tbody", { id: "positions-body" });
    const foot = el("tfoot", { id: "positions-total" });
    const all = el("button", { class: "danger", id: "square-off-all", onclick: async () => {
      const open = rows.filter((r) => r.quantity);
      if (!open.length) return;
      const text = open.map((r) => `${r.quantity > 0 ? "SELL" : "BUY"} ${Math.abs(r.quantity)} ${r.key} (${r.product}) MARKET`).join("\n");
      if (!(await confirmSend("Square off all", text))) return;
      try { await post("api/positions/square-off-all", { positions: open.map((r) => ({ key: r.key, product: r.product, quantity: r.quantity })) }); showError(null); }
      catch (err) { showError(err); }
    } }, "Square off all");
    root.append(el("div", { class: "toolbar" }, el("h2", {}, "Positions"), all), el("table", { id: "positions" }, head, body, foot));
    const draw = (view) => {
      rows = view.rows;
      body.replaceChildren(...(rows.length ? rows.map(positionRow) : [el("tr", {}, el("td", { class: "empty", colspan: 10 }, "No positions today."))]));
      const t = view.totals;
      foot.replaceChildren(el("tr", {}, el("td", { class: "text", colspan: 5 }, "Total"), amountCell(t.pnl, "pnl"),
        amountCell(t.m2m, "m2m"), amountCell(t.realised, "realised"), amountCell(t.unrealised, "unrealised"), el("td")));
    };
    const view = await api("api/positions");
    draw(view);
    if (!root.isConnected) return;  // the address moved on while this page loaded
    openStream(view.rows.map((r) => r.instrument_token), true, (batch) => { if (batch.positions) draw(batch.positions); });
  };

  function orderRow(o) {
    const actions = o.live ? [
      el("button", { class: "cancel", onclick: () => cancelOrder(o) }, "Cancel"),
      el("button", { class: "modify", onclick: () => modifyOrder(o) }, "Modify")] : [];
    return el("tr", { "data-order": o.order_id },
      el("td", { class: "text" }, o.time), el("td", { class: "text" }, o.order_id),
      el("td", { class: "text" }, el("a", { href: `#/chart?symbol=${encodeURIComponent(o.key)}` }, o.key)),
      el("td", { class: "text" }, o.side), el("td", { class: "text" }, o.order_type), el("td", { class: "text" }, o.product),
      el("td", {}, `${o.filled_quantity}/${o.quantity}`), amountCell(o.price, "price", true), amountCell(o.average_price, "avg", true),
      el("td", { class: `text status status-${o.status.replace(/ /g, "-")}`, title: o.status_message }, o.status),
      el("td", {}, actions));
  }
  async function cancelOrder(o) {
    if (!(await confirmSend("Cancel order", `cancel ${o.order_id}: ${o.side} ${o.quantity} ${o.key} ${o.order_type} @ ${o.price.text}`))) return;
    try { await post(`api/orders/${encodeURIComponent(o.order_id)}/cancel`); showError(null); refreshOrders(); }
    catch (err) { showError(err); }
  }
  async function modifyOrder(o) {
    const values = await confirmSend("Modify order", `modify ${o.order_id}: ${o.side} ${o.key} ${o.order_type}`,
      [{ label: "Quantity", name: "quantity", value: o.quantity }, { label: "Price", name: "price", value: o.price.value },
       { label: "Trigger price", name: "trigger_price", value: o.trigger_price.value || "" }]);
    if (!values) return;
    const change = {};
    if (Number(values.quantity) !== o.quantity) change.quantity = values.quantity;
    if (Number(values.price) !== o.price.value) change.price = values.price;
    if (values.trigger_price && Number(values.trigger_price) !== o.trigger_price.value) change.trigger_price = values.trigger_price;
    try { await post(`api/orders/${encodeURIComponent(o.order_id)}/modify`, change); showError(null); refreshOrders(); }
    catch (err) { showError(err); }
  }
  let refreshOrders = () => {};
  pages.orders = async (root) => {
    const ordersBody = el("tbody", { id: "orders-body" }), tradesBody = el("tbody", { id: "trades-body" });
    // A heading sits over its column: left over the text columns (first `texts` of them, and Status), else right.
    const th = (names, texts, also) => el("thead", {}, el("tr", {}, names.map((h, i) =>
      el("th", { class: i < texts || h === also ? "text" : "" }, h))));
    root.append(el("h2", {}, "Orders"), el("table", { id: "orders" }, th(["Time", "Order", "Instrument", "Side", "Type",
      "Product", "Filled", "Price", "Avg", "Status", ""], 6, "Status"), ordersBody),
      el("h2", {}, "Trades"), el("table", { id: "trades" }, th(["Time", "Trade", "Order", "Instrument", "Side", "Qty",
      "Price", "Value", "Charges"], 5), tradesBody));
    refreshOrders = async () => {
      const view = await api("api/orders");
      state.ordersVersion = view.version;
      ordersBody.replaceChildren(...(view.orders.length ? view.orders.map(orderRow) : [el("tr", {}, el("td", { class: "empty", colspan: 11 }, "No orders today."))]));
      tradesBody.replaceChildren(...(view.trades.length ? view.trades.map((t) => el("tr", { "data-trade": t.trade_id },
        el("td", { class: "text" }, t.time), el("td", { class: "text" }, t.trade_id), el("td", { class: "text" }, t.order_id),
        el("td", { class: "text" }, el("a", { href: `#/chart?symbol=${encodeURIComponent(t.key)}` }, t.key)),
        el("td", { class: "text" }, t.side), el("td", {}, t.quantity), amountCell(t.price, "price", true),
        amountCell(t.value, "value", true), el("td", { class: "charges" }, t.charges ? t.charges.text : "—"))) :
        [el("tr", {}, el("td", { class: "empty", colspan: 9 }, "No trades today."))]));
    };
    await refreshOrders();
    if (!root.isConnected) return;  // the address moved on while this page loaded
    openStream([], false, (batch) => {
      if (batch.orders_version !== state.ordersVersion) refreshOrders().catch(showError);
    });
  };

  pages.chart = async (root, params) => {
    const symbols = params.get("symbol") || "NSE:NIFTY 50";
    const symbolInput = el("input", { id: "chart-symbol", value: symbols, size: 40 });
    const intervalSelect = el("select", { id: "chart-interval" },
      state.meta.intervals.map((i) => el("option", { value: i, selected: i === (params.get("interval") || "minute") }, i)));
    const go = () => { location.hash = `#/chart?symbol=${encodeURIComponent(symbolInput.value)}&interval=${intervalSelect.value}`; };
    intervalSelect.addEventListener("change", go);
    root.append(el("div", { class: "toolbar" }, el("h2", {}, "Chart"), symbolInput, intervalSelect,
      el("button", { onclick: go }, "Show"), el("span", { class: "small" }, "several instruments: separate them with commas")));
    const live = new Map();
    for (const symbol of symbols.split(",").map((s) => s.trim()).filter(Boolean)) {
      const box = el("div", { class: "chart", "data-symbol": symbol });
      root.append(el("h3", {}, symbol), box);
      const data = await api(`api/chart?symbol=${encodeURIComponent(symbol)}&interval=${intervalSelect.value}`);
      const chart = LightweightCharts.createChart(box, { autoSize: true,
        layout: { background: { color: "#0f1419" }, textColor: "#d8dee6", attributionLogo: true },
        // Room right of the last candle, so the text of a fill's marker there is not cut by the price scale.
        grid: { vertLines: { color: "#1d242c" }, horzLines: { color: "#1d242c" } }, timeScale: { timeVisible: true, rightOffset: 12 } });
      const series = chart.addSeries(LightweightCharts.CandlestickSeries, {});
      series.setData(data.candles);
      if (data.fills.length) LightweightCharts.createSeriesMarkers(series, data.fills.map((f) => ({
        time: f.time - (f.time % data.seconds), position: f.side === "BUY" ? "belowBar" : "aboveBar",
        color: f.side === "BUY" ? "#26a269" : "#e5534b", shape: f.side === "BUY" ? "arrowUp" : "arrowDown", text: f.text })));
      state.charts.push(chart);
      const last = data.candles.length ? { ...data.candles[data.candles.length - 1] } : null;
      live.set(String(data.instrument_token), { series, seconds: data.seconds, last });
      box.dataset.candles = String(data.candles.length);
    }
    if (!root.isConnected) return;  // the address moved on while this page loaded
    openStream([...live.keys()].map(Number), false, (batch) => {
      for (const [token, tick] of Object.entries(batch.ticks)) {
        const c = live.get(token);
        if (!c || !tick.ltp || !tick.ts) continue;
        // Candles built from ticks: the bucket of the tick's exchange time, in IST as the history's are.
        const time = Math.floor((tick.ts + 19800) / c.seconds) * c.seconds;
        if (c.last && c.last.time === time) {
          c.last = { ...c.last, high: Math.max(c.last.high, tick.ltp), low: Math.min(c.last.low, tick.ltp), close: tick.ltp };
        } else if (!c.last || time > c.last.time) {
          c.last = { time, open: tick.ltp, high: tick.ltp, low: tick.ltp, close: tick.ltp };
        } else continue;
        c.series.update(c.last);
      }
    });
  };

  pages.chain = async (root, params) => {
    const underlying = el("input", { id: "chain-underlying", value: params.get("underlying") || "NIFTY", size: 12 });
    const strikes = el("input", { id: "chain-strikes", value: params.get("strikes") || "10", size: 3 });
    const go = () => { location.hash = `#/chain?underlying=${encodeURIComponent(underlying.value)}&strikes=${strikes.value}`; };
    const head = el("div", { class: "small", id: "chain-head" });
    const body = el("tbody", { id: "chain-body" });
    root.append(el("div", { class: "toolbar" }, el("h2", {}, "Option chain"), underlying, "strikes each side", strikes,
      el("button", { onclick: go }, "Show")), head,
      el("table", { id: "chain" }, el("thead", {}, el("tr", {}, ["CE ΔOI", "CE OI", "CE IV", "CE LTP", "Strike", "PE LTP", "PE IV", "PE OI", "PE ΔOI"].map((h) => el("th", {}, h)))), body));
    const draw = async () => {
      const c = await api(`api/chain?underlying=${encodeURIComponent(underlying.value)}&strikes=${encodeURIComponent(strikes.value)}`);
      if (c.unavailable) {  // a Kite-only extra on another data broker: the page says so, once, in the chain's place
        head.replaceChildren(el("div", { class: "banner warn", id: "chain-unavailable" }, c.unavailable));
        head.classList.remove("small");
        $("#chain", root).hidden = true;
        return false;
      }
      head.textContent = `${c.underlying} ${c.expiry} · forward ${num(c.forward, 2)} · ATM ${num(c.atm_strike, 0)} · ` +
        `PCR (OI) ${num(c.pcr_oi, 2)} · max pain ${num(c.max_pain, 0)} · as of ${c.now}`;
      const pct = (v) => (v === null ? "—" : (v * 100).toFixed(1) + "%");
      body.replaceChildren(...c.rows.map((r) => el("tr", { class: r.atm ? "atm" : "", "data-strike": r.strike },
        el("td", { class: sign(r.ce_oi_change) }, num(r.ce_oi_change, 0)), el("td", {}, num(r.ce_oi, 0)), el("td", {}, pct(r.ce_iv)),
        el("td", { class: "ce-ltp" }, num(r.ce_ltp, 2)), el("th", {}, num(r.strike, 0)), el("td", { class: "pe-ltp" }, num(r.pe_ltp, 2)),
        el("td", {}, pct(r.pe_iv)), el("td", {}, num(r.pe_oi, 0)), el("td", { class: sign(r.pe_oi_change) }, num(r.pe_oi_change, 0)))));
    };
    const shown = await draw();
    if (!root.isConnected) return;  // the address moved on while this page loaded
    if (shown !== false) state.timers.push(setInterval(() => draw().catch(showError), 5000));
    if (!root.isConnected) return;  // the address moved on while this page loaded
    openStream([], false);
  };

  const riskClass = (r) => (r === "active" ? "pos" : r === "reducing" ? "warn-text" : "neg");
  function limitText(l) {
    if (l.share === null) return `${l.name} ${l.value}`;
    return `${l.name} ${num(l.used, 0)} / ${num(l.value, 0)} (${Math.round(l.share * 100)}%)`;
  }
  async function killRun(run, flatten) {
    const what = flatten ? "Kill and flatten" : "Kill";
    const text = `${what} run ${run.name} (${run.mode}): no new orders, its open orders cancelled` +
      (flatten ? ", its positions closed at market." : "; its positions are kept.") + "\nIt stays killed until the flag is cleared (kitekit kill RUN --clear).";
    if (!(await confirmSend(what, text))) return;
    try { await post(`api/runs/${encodeURIComponent(run.name)}/kill`, { flatten }); showError(null); }
    catch (err) { showError(err); }
  }
  pages.strategies = async (root, params) => {
    const body = el("tbody", { id: "runs-body" });
    const detail = el("div", { id: "run-detail" });
    root.append(el("h2", {}, "Strategies"), el("table", { id: "runs" }, el("thead", {}, el("tr", {},
      ["Run", "Mode", "Strategy", "Status", "Risk", "P&L", "Day P&L", "Limits", ""].map((h, i) => el("th", { class: i < 5 || i === 7 ? "text" : "" }, h)))), body), detail);
    let chart = null, series = null;
    const drawList = async () => {
      const data = await api("api/runs");
      body.replaceChildren(...(data.runs.length ? data.runs.map((r) => el("tr", { "data-run": r.name },
        el("td", { class: "text" }, el("a", { href: `#/strategies?run=${encodeURIComponent(r.name)}` }, r.name)),
        el("td", { class: "text" }, r.mode), el("td", { class: "text" }, r.strategy),
        el("td", { class: "text status" }, r.status), el("td", { class: `text risk ${riskClass(r.risk)}`, title: r.risk_reason }, r.risk),
        amountCell(r.pnl, "pnl"), amountCell(r.day_pnl, "day-pnl"),
        el("td", { class: "text small" }, r.limits.map(limitText).join(" · ")),
        el("td", {}, r.report ? el("a", { href: `api/runs/${encodeURIComponent(r.name)}/report`, target: "_blank", rel: "noopener" }, "report") : "",
          r.status === "running" && !r.kill_flag ? [" ", el("button", { class: "danger kill", onclick: () => killRun(r, false) }, "Kill"),
            " ", el("button", { class: "danger kill-flatten", onclick: () => killRun(r, true) }, "Kill and flatten")] : ""))) :
        [el("tr", {}, el("td", { class: "empty", colspan: 9 }, `No runs yet in ${data.root}. Start one: kitekit run STRATEGY.py`))]));
    };
    const name = params.get("run");
    const drawDetail = async () => {
      if (!name) return;
      const d = await api(`api/runs/${encodeURIComponent(name)}`);
      if (!chart) {
        const box = el("div", { class: "chart", id: "equity-chart" });
        const rows = (list, cols) => el("table", {}, el("thead", {}, el("tr", {}, cols.map((c) => el("th", { class: "text" }, c)))),
          el("tbody", {}, list.map((o) => el("tr", {}, cols.map((c) => el("td", { class: "text" },
            typeof o[c] === "number" && !Number.isInteger(o[c]) ? num(o[c], 2) : o[c] ?? ""))))));
        detail.replaceChildren(el("h2", {}, `${d.name}: equity`), box, el("div", { id: "run-tables" }));
        chart = LightweightCharts.createChart(box, { autoSize: true, layout: { background: { color: "#0f1419" }, textColor: "#d8dee6", attributionLogo: true },
          grid: { vertLines: { color: "#1d242c" }, horzLines: { color: "#1d242c" } }, timeScale: { timeVisible: true } });
        state.charts.push(chart);
        series = chart.addSeries(LightweightCharts.LineSeries, { color: "#4c8dff" });
        detail.rows = rows;
      }
      series.setData(d.equity);
      const stats = Object.entries(d.stats || {}).map(([k, v]) => ({ stat: k,
        value: typeof v === "number" ? num(v, Number.isInteger(v) ? 0 : 4) : v === null ? "—" : String(v) }));
      const events = d.events.length ? el("table", { id: "run-events" }, el("thead", {}, el("tr", {}, ["time", "kind", "event"].map((c) => el("th", { class: "text" }, c)))),
        el("tbody", {}, d.events.map((e) => el("tr", { class: `event-${e.kind}`, "data-kind": e.kind, title: e.at },
          el("td", { class: "text" }, e.time), el("td", { class: "text kind" }, e.kind), el("td", { class: "text" }, e.text)))))
        : el("p", { class: "small", id: "run-events" }, "No events recorded (a backtest keeps them in its report).");
      $("#run-tables", detail).replaceChildren(
        el("h3", {}, "Recent events"), events,
        el("h3", {}, "Recent orders"), detail.rows(d.orders, ["time", "intent", "key", "side", "quantity", "order_type", "price", "outcome"]),
        el("h3", {}, "Recent trades"), detail.rows(d.trades, ["time", "key", "side", "quantity", "average_price", "charges"]),
        ...(stats.length ? [el("h3", {}, "Statistics"), detail.rows(stats, ["stat", "value"])] : []));
    };
    await drawList();
    await drawDetail();
    if (!root.isConnected) return;  // the address moved on while this page loaded
    state.timers.push(setInterval(() => { drawList().catch(showError); drawDetail().catch(showError); }, 1000));
    if (!root.isConnected) return;  // the address moved on while this page loaded
    openStream([], false);
  };

  // ---- routing -----------------------------------------------------------------------------------------------
  async function route() {
    const [path, query] = (location.hash.slice(2) || "overview").split("?");
    const name = pages[path] ? path : "overview";
    for (const t of state.timers) clearInterval(t);
    state.timers = [];
    for (const c of state.charts) c.remove();
    state.charts = [];
    for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.dataset.page === name);
    // Each visit draws into a container of its own: a slower visit still running (the first page, while the
    // address already moved on) draws into a container no longer shown, and never marks the new one ready.
    const route = ++state.route;
    const root = $("#page"), box = el("div", { class: "view" });
    root.replaceChildren(box);
    root.dataset.page = name;
    root.dataset.ready = "0";
    state.page = name;
    try { await pages[name](box, new URLSearchParams(query || "")); if (route === state.route) showError(null); }
    catch (err) { if (route === state.route) showError(err); }
    if (route === state.route) root.dataset.ready = "1";
  }

  async function start() {
    try {
      state.meta = await api("api/meta");
    } catch (err) { showError(err); return; }
    const m = state.meta;
    const banner = $("#mode-banner");
    banner.hidden = false;
    banner.textContent = m.simulated
      ? `SIMULATED — prices and accounts come from kitekit's simulator, not the exchange (${m.mode.toUpperCase()} orders).`
      : m.mode === "paper" ? "PAPER — orders fill on kitekit's local engine at live prices; nothing reaches the exchange."
      : "LIVE — this is your Kite account.";
    banner.classList.toggle("danger", !m.simulated && m.mode === "live");
    if (m.session.expired) showSession(m.session.message);
    $("#nav-strategies").hidden = !m.strategies;
    window.addEventListener("hashchange", route);
    await route();
  }
  window.addEventListener("error", (e) => state.errors.push(String(e.message)));
  document.addEventListener("DOMContentLoaded", start);
})();
