// aitest-bdd report: reads the tests embedded as JSON and draws them on demand.
// Every piece of data is set with textContent or as a text node, never as HTML.
(() => {
  "use strict";

  const PAGE = 200;
  const RAN = new Set(["passed", "failed"]);
  const RANK = { failed: 0, skipped: 1, passed: 2 };
  const MARK = { passed: "✓", failed: "✗", skipped: "–", undefined: "?" };
  const TRANSCRIPT = /\n\n(Turn \d+\n {2}user: |\(no turns\)$)/;
  const SCRIPTED = document.body.dataset.scriptedPrefix;
  const state = { entries: [], visible: [], shown: PAGE, byTest: new Map(), sources: [], waiting: [] };
  const DRAW_BUDGET_MS = 40;
  const IMAGE_TYPE = /^image\/[\w.+-]+$/;

  // ---- small helpers ----

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function add(parent, ...children) {
    for (const child of children) if (child !== null && child !== undefined && child !== false) parent.append(child);
    return parent;
  }

  function sum(items, value) {
    return items.reduce((total, item) => total + value(item), 0);
  }

  function count(n) {
    return n.toLocaleString("en-US");
  }

  function plural(n, word) {
    return `${count(n)} ${word}${n === 1 ? "" : "s"}`;
  }

  function ms(value) {
    if (value < 1000) return `${Math.round(value)} ms`;
    if (value < 60000) return `${(value / 1000).toFixed(1)} s`;
    const seconds = Math.round(value / 1000);
    return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  }

  function known(value) {
    return value !== null && value !== undefined;
  }

  function scripted(turn) {
    return turn.model_calls.some((call) => call.model.startsWith(SCRIPTED));
  }

  function price(turn) {
    if (!known(turn.cost_usd)) return "cost n/a";
    return `$${turn.cost_usd.toFixed(4)}${scripted(turn) ? " hypothetical (scripted model)" : ""}`;
  }

  function cost(turns) {
    const priced = turns.filter((item) => known(item.turn.cost_usd));
    if (!priced.length) return "cost n/a";
    const fake = priced.filter((item) => scripted(item.turn));
    const real = priced.filter((item) => !scripted(item.turn));
    const parts = [];
    if (real.length || !fake.length) parts.push(`$${sum(real, (item) => item.turn.cost_usd).toFixed(4)}`);
    if (fake.length) parts.push(`$${sum(fake, (item) => item.turn.cost_usd).toFixed(4)} hypothetical (scripted model)`);
    const text = parts.join(" + ");
    return priced.length === turns.length ? text : `${text} (partial)`;
  }

  function judgeText(turns) {
    const verdicts = turns.flatMap((item) => item.turn.judgements || []);
    if (!verdicts.length) return null;
    const priced = verdicts.filter((verdict) => known(verdict.cost_usd));
    const fake = priced.some((verdict) => verdict.model.startsWith(SCRIPTED)) ? " hypothetical (scripted model)" : "";
    const money = priced.length ? `$${sum(priced, (verdict) => verdict.cost_usd).toFixed(4)}${fake}` : "cost n/a";
    const note = priced.length && priced.length < verdicts.length ? " (partial)" : "";
    return `${plural(verdicts.length, "verdict")} · ${plural(sum(verdicts, (v) => v.usage.total_tokens), "token")} · ${money}${note}`;
  }

  function cut(text, length) {
    const flat = String(text).replace(/\s+/g, " ").trim();
    return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
  }

  function firstLine(text) {
    return (text || "").trim().split("\n")[0];
  }

  function badge(status) {
    const node = el("span", `badge ${status}`, `${MARK[status] || ""} ${status}`);
    node.dataset.status = status;
    return node;
  }

  function chip(text, className) {
    return el("span", `chip ${className || ""}`, text);
  }

  // ---- data ----

  async function decode(block) {
    const text = block.textContent;
    if (block.dataset.encoding !== "deflate-base64") return JSON.parse(text);
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return JSON.parse(await new Response(stream).text());
  }

  async function loadTests() {
    const blocks = [...document.querySelectorAll("script.aitest-tests")];
    const tests = (await Promise.all(blocks.map(decode))).flat();
    applyExtras(tests, JSON.parse(document.getElementById("aitest-extras").textContent));
    const sources = JSON.parse(document.getElementById("aitest-sources").textContent);
    tests.forEach((test, index) => (test.sources = sources.tests[index].map((n) => sources.phrases[n])));
    state.sources = sources.phrases;
    return tests;
  }

  function applyExtras(tests, extras) {
    const fields = { m: ["model_calls", "content"], r: ["tool_calls", "raw_arguments"], s: ["tool_calls", "structured_content"] };
    for (const [key, value] of Object.entries(extras)) {
      const [t, c, u, what] = key.split(".");
      if (what[0] === "i") {
        const [k, b] = what.slice(1).split("-");
        tests[+t].conversations[+c].turns[+u].tool_calls[+k].content[+b].data = value;
        continue;
      }
      const [list, name] = fields[what[0]];
      tests[+t].conversations[+c].turns[+u][list][+what.slice(1)][name] = value;
    }
  }

  function flatTurns(test) {
    return test.conversations.flatMap((conversation) => conversation.turns.map((turn) => ({ conversation, turn })));
  }

  function turnCount(test) {
    return sum(test.conversations, (conversation) => conversation.turns.length);
  }

  function makeEntries(tests) {
    const entries = [];
    const sessions = new Map();
    tests.forEach((test, index) => {
      test.index = index;
      if (test.kind !== "python") {
        entries.push({ kind: "scenario", tests: [test] });
        return;
      }
      const key = test.session || test.nodeid;
      if (!sessions.has(key)) {
        sessions.set(key, { kind: "session", key, tests: [] });
        entries.push(sessions.get(key));
      }
      sessions.get(key).tests.push(test);
    });
    entries.forEach(summarize);
    return entries;
  }

  function summarize(entry, order) {
    const tests = entry.tests;
    const first = tests[0];
    const statuses = new Set(tests.map((test) => test.status));
    entry.order = order;
    entry.id = `t-${first.index}`;
    entry.status = statuses.has("failed") ? "failed" : statuses.has("passed") ? "passed" : "skipped";
    entry.holder = tests.reduce((best, test) => (turnCount(test) >= turnCount(best) ? test : best));
    entry.turns = flatTurns(entry.holder);
    const models = tests.flatMap((test) => test.conversations.map((conversation) => conversation.model));
    const outlineModels = tests.map((test) => test.example.model).filter(Boolean);
    entry.models = [...new Set([...models, ...outlineModels])].sort();
    entry.feature = first.feature || first.file;
    entry.tags = [...new Set(tests.flatMap((test) => test.tags))].sort();
    entry.sources = entry.holder.sources;
    entry.duration = sum(tests, (test) => test.duration_ms);
    entry.tokens = sum(entry.turns, (item) => item.turn.usage.total_tokens);
    entry.toolCalls = sum(entry.turns, (item) => item.turn.tool_calls.length);
    const single = tests.length === 1 && entry.kind === "session" && entry.key === first.nodeid;
    entry.title = entry.kind === "scenario" || single ? first.name : `session ${entry.key}`;
  }

  function searchText(entry) {
    if (entry.search === undefined) {
      const parts = [];
      for (const test of entry.tests) {
        parts.push(test.nodeid, test.name, test.feature, test.file, test.message, ...test.tags);
        parts.push(...Object.values(test.example));
        for (const step of test.steps) parts.push(`${step.keyword} ${step.text}`, step.message);
      }
      for (const { turn } of entry.turns) {
        parts.push(turn.user_message, turn.final_response, turn.error, turn.model);
        for (const call of turn.tool_calls) parts.push(call.name);
      }
      entry.search = parts.filter(Boolean).join("\n").toLowerCase();
    }
    return entry.search;
  }

  // ---- filters, sort, list ----

  const SORTS = {
    failed: (a, b) => RANK[a.status] - RANK[b.status] || a.order - b.order,
    order: (a, b) => a.order - b.order,
    slowest: (a, b) => b.duration - a.duration || a.order - b.order,
    tokens: (a, b) => b.tokens - a.tokens || a.order - b.order,
    name: (a, b) => a.feature.localeCompare(b.feature) || a.title.localeCompare(b.title) || a.order - b.order,
  };

  function field(id) {
    return document.getElementById(id);
  }

  function filters() {
    const statuses = new Set([...document.querySelectorAll("input[name=status]:checked")].map((box) => box.value));
    const words = field("search").value.toLowerCase().split(/\s+/).filter(Boolean);
    return { statuses, words, model: field("model").value, feature: field("feature").value, tag: field("tag").value };
  }

  function matches(entry, f) {
    return (
      f.statuses.has(entry.status) &&
      (!f.model || entry.models.includes(f.model)) &&
      (!f.feature || entry.feature === f.feature) &&
      (!f.tag || entry.tags.includes(f.tag)) &&
      f.words.every((word) => searchText(entry).includes(word))
    );
  }

  function refresh() {
    const f = filters();
    state.visible = state.entries.filter((entry) => matches(entry, f)).sort(SORTS[field("sort").value]);
    state.shown = PAGE;
    draw();
  }

  function draw() {
    const shown = state.visible.slice(0, state.shown);
    field("list").replaceChildren(...shown.map(entryNode));
    const total = state.entries.length;
    field("count").textContent =
      `Showing ${count(shown.length)} of ${count(state.visible.length)} matching (${count(total)} in all).`;
    const more = field("more");
    const left = state.visible.length - shown.length;
    more.hidden = left <= 0;
    more.textContent = `Show ${count(Math.min(PAGE, left))} more (${count(left)} not shown)`;
  }

  function fillSelect(id, values) {
    const select = field(id);
    for (const [value, n] of values) {
      const option = el("option", null, `${value} (${count(n)})`);
      option.value = value;
      select.append(option);
    }
  }

  function tallyBy(values) {
    const counts = new Map();
    for (const value of values) counts.set(value, (counts.get(value) || 0) + 1);
    return [...counts].sort((a, b) => a[0].localeCompare(b[0]));
  }

  function setupFilters() {
    const entries = state.entries;
    fillSelect("model", tallyBy(entries.flatMap((entry) => entry.models)));
    fillSelect("feature", tallyBy(entries.map((entry) => entry.feature)));
    fillSelect("tag", tallyBy(entries.flatMap((entry) => entry.tags)));
    for (const label of document.querySelectorAll("[data-count]")) {
      const n = entries.filter((entry) => entry.status === label.dataset.count).length;
      label.textContent = `(${count(n)})`;
    }
    let timer = null;
    field("search").addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, 150);
    });
    for (const id of ["model", "feature", "tag", "sort"]) field(id).addEventListener("change", refresh);
    for (const box of document.querySelectorAll("input[name=status]")) box.addEventListener("change", refresh);
    field("reset-filters").addEventListener("click", () => setTimeout(refresh));
    field("filters").addEventListener("submit", (event) => event.preventDefault());
    field("more").addEventListener("click", () => {
      state.shown += PAGE;
      draw();
    });
    field("expand").addEventListener("click", () => state.visible.slice(0, state.shown).forEach((e) => toggle(e, true, true)));
    field("collapse").addEventListener("click", () => state.entries.forEach((entry) => entry.node && toggle(entry, false)));
    for (const card of document.querySelectorAll("[data-show]")) card.addEventListener("click", () => showStatus(card));
  }

  function showStatus(card) {
    const wanted = card.dataset.show;
    for (const box of document.querySelectorAll("input[name=status]")) box.checked = wanted === "all" || box.value === wanted;
    refresh();
    field("tests").scrollIntoView();
  }

  // ---- one test in the list ----

  function entryNode(entry) {
    if (entry.node) return entry.node;
    const node = el("article", `entry ${entry.status}`);
    node.id = entry.id;
    node.dataset.status = entry.status;
    const head = el("button", "head");
    head.type = "button";
    head.setAttribute("aria-expanded", "false");
    head.addEventListener("click", () => toggle(entry));
    add(head, badge(entry.status), headline(entry), headStats(entry));
    const body = el("div", "body");
    body.hidden = true;
    node.append(head, body);
    entry.node = node;
    return node;
  }

  function headline(entry) {
    const first = entry.tests[0];
    const box = el("span", "headline");
    add(box, el("span", "feature", entry.feature), el("span", "title", entry.title));
    const chips = el("span", "chips");
    for (const [key, value] of Object.entries(first.example)) chips.append(chip(`${key}: ${value}`, "example"));
    for (const model of entry.models) if (first.example.model !== model) chips.append(chip(model, "model"));
    for (const tag of entry.tags) chips.append(chip(`@${tag}`, "tag"));
    if (state.sources.length > 1) for (const source of entry.sources) chips.append(chip(source, "source"));
    if (entry.kind === "session") chips.append(chip(`${entry.tests.length} tests`, "example"));
    if (first.verdict) chips.append(labelBadge(first.verdict.label), chip(`${first.verdict.passed}/${first.verdict.attempts} attempts passed`, "attempts"));
    box.append(chips);
    const failure = failureLine(entry);
    if (failure) box.append(el("span", "failure", failure));
    return box;
  }

  function failureLine(entry) {
    for (const test of entry.tests) {
      if (test.verdict && test.status === "failed") return cut(test.verdict.summary, 200);
      const step = test.steps.find((item) => item.status === "failed" || item.status === "undefined");
      if (step) return cut(`${step.keyword} ${step.text}: ${firstLine(step.message) || step.status}`, 200);
      if (test.status === "failed") return cut(`${test.name}: ${firstLine(test.message) || "failed"}`, 200);
    }
    return null;
  }

  function headStats(entry) {
    const text = `${plural(entry.turns.length, "turn")} · ${toolCallsText(entry)} · ` +
      `${plural(entry.tokens, "token")} · ${ms(entry.duration)}`;
    return el("span", "stats", text);
  }

  // `later`: mark the flow open now and draw it soon, flows near the viewport first, the rest a few at a time.
  function toggle(entry, open, later) {
    entryNode(entry);
    const wanted = open === undefined ? !entry.open : open;
    const body = entry.node.querySelector(".body");
    entry.open = wanted;
    body.hidden = !wanted;
    entry.node.querySelector(".head").setAttribute("aria-expanded", String(wanted));
    if (!wanted || body.firstChild) return;
    if (!later) {
      drawFlow(entry);
      return;
    }
    owners.set(entry.node, entry);
    nearView.observe(entry.node);
    state.waiting.push(entry);
    drawSoon();
  }

  // ---- flows opened together are drawn without blocking the page ----

  const owners = new WeakMap();
  const nearView = new IntersectionObserver((seen) => {
    const near = seen.filter((item) => item.isIntersecting).map((item) => owners.get(item.target));
    if (!near.length) return;
    state.waiting.unshift(...near);
    drawSoon();
  });
  let drawing = false;

  function drawFlow(entry) {
    const body = entry.node.querySelector(".body");
    nearView.unobserve(entry.node);
    if (!body.firstChild) body.append(entry.kind === "scenario" ? scenarioFlow(entry) : sessionFlow(entry));
  }

  function drawSoon() {
    if (drawing) return;
    drawing = true;
    requestAnimationFrame(() => setTimeout(drawWaiting));
  }

  // Draws waiting flows that are still open until the budget is spent, each laid out at once so that its
  // style and layout count too; then lets a frame be painted and goes on.
  function drawWaiting() {
    drawing = false;
    const until = performance.now() + DRAW_BUDGET_MS;
    while (state.waiting.length && performance.now() < until) {
      const entry = state.waiting.shift();
      if (!entry.open) continue;
      drawFlow(entry);
      void entry.node.offsetHeight;
    }
    if (state.waiting.length) drawSoon();
  }

  // ---- a flow ----

  function facts(rows) {
    const list = el("dl", "facts");
    for (const [name, value] of rows) {
      if (value === null || value === undefined || value === "") continue;
      add(list, el("dt", null, name), add(el("dd"), value));
    }
    return list;
  }

  // "3 tool calls", or what of them could not be seen: an agent run by an app may not expose its tool calls.
  function toolCallsText(entry) {
    const hidden = entry.turns.filter((item) => item.turn.hidden_tool_calls).length;
    if (hidden && hidden === entry.turns.length) return "tool calls not exposed";
    return plural(entry.toolCalls, "tool call") + (hidden ? ` (not exposed in ${plural(hidden, "turn")})` : "");
  }

  function usageText(entry) {
    const prompt = sum(entry.turns, (item) => item.turn.usage.prompt_tokens);
    const completion = sum(entry.turns, (item) => item.turn.usage.completion_tokens);
    return `${plural(entry.turns.length, "turn")} · ${toolCallsText(entry)} · ${plural(entry.tokens, "token")} ` +
      `(${count(prompt)} in, ${count(completion)} out) · ${cost(entry.turns)}`;
  }

  function fold(className, title, ...children) {
    const box = el("details", className);
    return add(box, el("summary", null, title), ...children);
  }

  function givenNode(conversations) {
    const given = conversations.filter((conversation) => conversation.system_prompt || (conversation.tools || []).length);
    if (!given.length) return null;
    const box = fold("given", given.length === 1 ? "What the agent was given" : "What the agents were given");
    for (const conversation of given) {
      const tools = conversation.tools || [];
      const part = add(el("div", "given-agent"), el("h4", null, `Agent ${agentName(conversation)} on ${conversation.model}`));
      if (conversation.system_prompt) add(part, el("h4", null, "System prompt"), el("pre", "system-prompt", conversation.system_prompt));
      if (tools.length) {
        const table = add(el("table", "grid tools-offered"), add(el("tr"), el("th", null, "Tool"), el("th", null, "Server"), el("th", null, "Description")));
        for (const offered of tools) {
          table.append(add(el("tr"), el("td", "tool-name", offered.name), el("td", "muted", offered.server || ""), el("td", "tool-description", offered.description)));
        }
        add(part, el("h4", null, `Tools offered (${tools.length})`), table);
      }
      box.append(part);
    }
    return box;
  }

  function where(test) {
    return test.line === null || test.line === undefined ? test.file : `${test.file}:${test.line}`;
  }

  // The agent's name, with what ran it when aitest-bdd did not: "banking (LangGraph graph)".
  function agentName(conversation) {
    return conversation.app ? `${conversation.agent} (${conversation.app})` : conversation.agent;
  }

  function agentsText(test) {
    const agents = test.conversations.map((conversation) => `${agentName(conversation)} on ${conversation.model}`);
    return (test.verdict ? [...new Set(agents)] : agents).join(", ");
  }

  function scenarioFlow(entry) {
    const test = entry.tests[0];
    const flow = el("div", "flow");
    const example = Object.entries(test.example).map(([key, value]) => `${key} = ${value}`).join(", ");
    flow.append(facts([
      ["Feature", test.feature],
      ["Scenario", test.name],
      ["Outline row", example],
      ["Tags", test.tags.map((tag) => `@${tag}`).join(" ")],
      ["Location", where(test)],
      ["Status", badge(test.status)],
      ["Duration", ms(test.duration_ms)],
      ["Answers", test.sources.join("; ")],
      ["Agents", agentsText(test)],
      ["Usage", usageText(entry)],
      ["Judge", judgeText(entry.turns)],
    ]));
    flow.append(fold("tech", "Technical details", facts([["Test id", test.nodeid]])));
    add(flow, givenNode(test.conversations));
    if (test.feature_description) flow.append(el("p", "description", test.feature_description));
    if (test.verdict) return add(flow, ...repeats(test));
    const stepMessages = new Set(test.steps.map((step) => step.message));
    if (test.message && !stepMessages.has(test.message)) flow.append(message("Test failure", test.message));
    flow.append(timeline(test.steps, entry.turns));
    return flow;
  }

  // ---- a scenario run more than once ----

  const LABEL_MARK = { "stable pass": "✓", flaky: "◐", "stable fail": "✗" };

  function labelBadge(label) {
    return el("span", `badge label ${label.replace(/\s+/g, "-")}`, `${LABEL_MARK[label] || ""} ${label}`.trim());
  }

  function attemptTurns(test, number) {
    return test.conversations
      .filter((conversation) => conversation.attempt === number)
      .flatMap((conversation) => conversation.turns.map((turn) => ({ conversation, turn })));
  }

  function repeats(test) {
    const verdict = test.verdict;
    const nodes = [add(el("p", "verdict-line"), labelBadge(verdict.label), " ", el("span", "summary", verdict.summary))];
    if (verdict.step_failures.length) {
      const table = add(el("table", "grid breaks"), add(el("tr"), el("th", null, "Step"), el("th", null, "Line"), el("th", null, "Failed")));
      for (const step of verdict.step_failures) {
        table.append(add(el("tr"), el("td", null, `${step.keyword} ${step.text}`), el("td", null, step.line),
          el("td", null, `in ${step.failed} of the ${plural(step.ran, "attempt")} that reached it`)));
      }
      nodes.push(el("h4", null, "Where it breaks"), table);
    }
    const list = el("div", "attempts");
    for (const attempt of test.attempts) list.append(attemptNode(test, attempt));
    nodes.push(el("h4", null, `Attempts (${test.attempts.length})`), list);
    return nodes;
  }

  function attemptNode(test, attempt) {
    const box = el("div", `attempt ${attempt.status}`);
    box.dataset.attempt = attempt.number;
    const head = el("button", "attempt-head");
    head.type = "button";
    head.setAttribute("aria-expanded", "false");
    add(head, el("strong", null, `Attempt ${attempt.number}`), badge(attempt.status));
    add(head, el("span", "message", cut(firstLine(attempt.message), 200)), el("span", "dur", ms(attempt.duration_ms)));
    const body = el("div", "attempt-flow");
    body.hidden = true;
    head.addEventListener("click", () => {
      if (!body.firstChild) body.append(timeline(attempt.steps, attemptTurns(test, attempt.number)));
      body.hidden = !body.hidden;
      head.setAttribute("aria-expanded", String(!body.hidden));
    });
    return add(box, head, body);
  }

  function timeline(steps, turns) {
    const box = el("div", "timeline");
    let next = 0;
    steps.forEach((step, i) => {
      box.append(stepNode(step));
      if (!RAN.has(step.status)) return;
      const later = steps.slice(i + 1).find((item) => RAN.has(item.status));
      const end = later ? Math.min(later.turns_before, turns.length) : turns.length;
      for (; next < end; next++) box.append(turnNode(turns[next]));
    });
    for (; next < turns.length; next++) box.append(turnNode(turns[next]));
    return box;
  }

  function stepNode(step) {
    const row = el("div", `step ${step.status}`);
    row.dataset.status = step.status;
    const line = el("div", "step-line");
    add(line, el("span", "mark", MARK[step.status]), el("span", "kw", step.keyword), " ", el("span", "text", step.text));
    add(line, el("span", "step-status", step.status), RAN.has(step.status) ? el("span", "dur", ms(step.duration_ms)) : null);
    row.append(line);
    if (step.docstring) row.append(el("pre", "docstring", step.docstring));
    if (step.datatable) row.append(dataTable(step.datatable));
    if (step.message) row.append(...stepMessage(step));
    return row;
  }

  function stepMessage(step) {
    const at = step.turns_before > 0 ? step.message.search(TRANSCRIPT) : -1;
    if (at <= 0) return [el("pre", "message", step.message)];
    const note = el("pre", "message", step.message.slice(0, at));
    return [note, fold("tech", "Full message, with the turns drawn above", el("pre", "message-full", step.message))];
  }

  function dataTable(rows) {
    const table = el("table", "grid datatable");
    for (const row of rows) table.append(add(el("tr"), ...row.map((cell) => el("td", null, cell))));
    return table;
  }

  function message(title, text) {
    const box = el("div", "message-box");
    return add(box, el("strong", null, title), el("pre", "message", text));
  }

  function sessionFlow(entry) {
    const flow = el("div", "flow");
    const first = entry.tests[0];
    flow.append(facts([
      ["Session", entry.key],
      ["File", first.file],
      ["Status", badge(entry.status)],
      ["Duration", ms(entry.duration)],
      ["Answers", entry.sources.join("; ")],
      ["Agents", agentsText(entry.holder)],
      ["Usage", usageText(entry)],
      ["Judge", judgeText(entry.turns)],
    ]));
    add(flow, givenNode(entry.holder.conversations));
    const box = el("div", "timeline");
    let next = 0;
    for (const test of entry.tests) {
      box.append(sessionTest(test));
      const end = Math.min(turnCount(test), entry.turns.length);
      for (; next < end; next++) box.append(turnNode(entry.turns[next]));
    }
    for (; next < entry.turns.length; next++) box.append(turnNode(entry.turns[next]));
    flow.append(box);
    return flow;
  }

  function sessionTest(test) {
    const row = el("div", `step ${test.status}`);
    row.dataset.status = test.status;
    const line = el("div", "step-line");
    add(line, el("span", "mark", MARK[test.status]), el("span", "kw", "test"), " ", el("span", "text", test.name));
    add(line, el("span", "step-status", test.status), el("span", "dur", `${where(test)} · ${ms(test.duration_ms)}`));
    row.append(line);
    if (test.message) row.append(el("pre", "message", test.message));
    return row;
  }

  // ---- a turn ----

  function turnNode({ conversation, turn }) {
    const box = el("section", `turn${turn.error ? " error" : ""}`);
    const usage = turn.usage;
    const head = el("div", "turn-head");
    const who = [conversation.agent, conversation.app, turn.model].filter(Boolean).join(" · ");
    add(head, el("strong", null, `Turn ${turn.number}`), el("span", "muted", who));
    if (turn.source && turn.source !== "live") head.append(chip(turn.source, "source"));
    const stats = `${count(usage.total_tokens)} tokens (${count(usage.prompt_tokens)} in, ${count(usage.completion_tokens)} out)` +
      ` · ${price(turn)} · ${turnTime(turn)}`;
    head.append(el("span", "stats", stats));
    box.append(head, ...(turn.resources || []).map((resource) => bubble("context", `Resource · ${resource.server}`, resource.text)));
    if (turn.prompt) box.append(el("div", "prompt-used", `Ran prompt ${promptLabel(turn.prompt)} of ${turn.prompt.server}`));
    box.append(bubble("user", turn.simulated ? "Simulated user" : "User", turn.user_message));
    box.append(...activity(turn));
    if (turn.final_response) box.append(bubble("assistant", "Assistant", turn.final_response));
    for (const verdict of turn.judgements || []) box.append(judgement(verdict));
    if (turn.error) box.append(message("Turn error", turn.error));
    if (turn.model_calls.length) box.append(fold("tech", `Model calls (${turn.model_calls.length})`, ...turn.model_calls.map(modelCall)));
    return box;
  }

  function promptLabel(prompt) {
    const args = Object.entries(prompt.arguments || {}).map(([name, value]) => `${name}=${value}`).join(", ");
    return args ? `${prompt.name} (${args})` : prompt.name;
  }

  function turnTime(turn) {
    if (turn.source !== "replayed") return ms(turn.duration_ms);
    const recorded = known(turn.recorded_duration_ms) ? ms(turn.recorded_duration_ms) : "unknown";
    return `${ms(turn.duration_ms)} replayed, ${recorded} when recorded live`;
  }

  function modelCall(call, m) {
    const names = call.tool_calls.length ? ` → ${call.tool_calls.join(", ")}` : "";
    const reasoning = call.usage.reasoning_tokens ? ` (${count(call.usage.reasoning_tokens)} reasoning)` : "";
    const first = call.first_token_ms != null ? ` (first token ${ms(call.first_token_ms)})` : "";
    const line = el("div", "model-call", `model call ${m + 1} · ${call.model} · ${count(call.usage.total_tokens)} tokens${reasoning} · ` +
      `${ms(call.duration_ms)}${first} · ${call.finish_reason || "no finish reason"}${names}`);
    if (!call.reasoning_summary) return line;
    return add(line, fold("reasoning-summary", "Reasoning summary", el("div", "reasoning", call.reasoning_summary)));
  }

  function judgement(verdict) {
    const status = verdict.passed ? "passed" : "failed";
    const box = el("div", `judgement ${status}`);
    const head = el("div", "judgement-head");
    const about = [
      verdict.subject === "conversation" ? "the whole conversation" : "",
      verdict.must ? "must" : (verdict.weight != null ? `weight ${verdict.weight}` : ""),
      verdict.scale != null ? `score ${verdict.score} of ${verdict.scale} (at least ${verdict.minimum})` : "",
    ].filter(Boolean).join(" · ");
    add(head, badge(status), el("span", "criterion", `Judge: ${verdict.criterion}${about ? ` (${about})` : ""}`));
    const fake = verdict.model.startsWith(SCRIPTED) ? " hypothetical (scripted model)" : "";
    const money = known(verdict.cost_usd) ? `$${verdict.cost_usd.toFixed(4)}${fake}` : "cost n/a";
    add(head, el("span", "dur", `judge ${verdict.model} · ${count(verdict.usage.total_tokens)} tokens · ${money} · ${ms(verdict.duration_ms)}`));
    add(box, head, el("div", "reasoning", verdict.reasoning));
    const votes = verdict.votes || [];
    if (!votes.length) return box;
    const split = new Set(votes.map((vote) => `${vote.passed}:${vote.score}`)).size > 1;
    add(box, el("div", "votes", `${split ? "split vote" : "unanimous"}: ${votes.length} votes`));
    votes.forEach((vote, i) => {
      const answer = vote.score != null ? `${vote.score}` : (vote.passed ? "yes" : "no");
      add(box, el("div", "reasoning", `vote ${i + 1}: ${answer}: ${vote.reasoning}`));
    });
    return box;
  }

  function bubble(kind, who, text) {
    return add(el("div", `bubble ${kind}`), el("span", "who", who), el("div", "said", text));
  }

  function activity(turn) {
    const nodes = [];
    let k = 0;
    turn.model_calls.forEach((call) => {
      if (call.content) nodes.push(bubble("interim", "Assistant, before its answer", call.content));
      for (let j = 0; j < call.tool_calls.length && k < turn.tool_calls.length; j++) nodes.push(toolNode(turn.tool_calls[k++]));
    });
    while (k < turn.tool_calls.length) nodes.push(toolNode(turn.tool_calls[k++]));
    if (turn.hidden_tool_calls) {
      const note = el("div", "hidden-tools", "Tool calls not exposed by this agent");
      note.title = turn.hidden_tool_calls;
      nodes.push(note);
    }
    return nodes;
  }

  function toolNode(call) {
    const box = el("div", `tool${call.is_error ? " error" : ""}`);
    const head = el("button", "tool-head");
    head.type = "button";
    head.setAttribute("aria-expanded", "false");
    add(head, el("span", "tool-name", call.name), call.server ? el("span", "muted", call.server) : null);
    add(head, call.stubbed ? el("span", "badge stubbed", "stubbed") : null);
    add(head, el("code", "tool-args", cut(JSON.stringify(call.arguments), 120)));
    add(head, call.is_error ? el("span", "badge failed", "error") : null, el("span", "dur", ms(call.duration_ms)));
    const excerpt = el("div", "tool-excerpt", cut(call.result_text, 200) || "(no text)");
    const body = el("div", "tool-body");
    body.hidden = true;
    head.addEventListener("click", () => {
      if (!body.firstChild) toolDetails(body, call);
      body.hidden = !body.hidden;
      excerpt.hidden = !body.hidden;
      head.setAttribute("aria-expanded", String(!body.hidden));
    });
    return add(box, head, excerpt, serverTimeline(call), body);
  }

  // What the server sent during a call (progress, logs, questions for the user, sampling), by time since its start.
  function serverTimeline(call) {
    const entries = [
      ...(call.progress || []).map((note) => [note.at_ms, `progress ${note.progress}${known(note.total) ? `/${note.total}` : ""}${note.message ? ` ${note.message}` : ""}`]),
      ...(call.logs || []).map((log) => [log.at_ms, `log ${log.level}${log.logger ? ` ${log.logger}` : ""}: ${typeof log.data === "string" ? log.data : JSON.stringify(log.data)}`]),
      ...(call.elicitations || []).map((asked) => [asked.at_ms, `asked the user: ${asked.message} → ${asked.action}${asked.content ? ` ${JSON.stringify(asked.content)}` : ""}${asked.problem ? ` (${asked.problem})` : ""}`]),
      ...(call.samplings || []).map((sampled) => [sampled.at_ms, `sampling: ${sampled.model} · ${count(sampled.total_tokens)} tokens · ${ms(sampled.duration_ms)} → ${sampled.problem || sampled.text}`]),
    ].sort((a, b) => a[0] - b[0]);
    const names = { progress: "progress notifications", logs: "log messages" };
    const dropped = Object.entries(call.left_out || {}).filter(([, n]) => n).map(([what, n]) => `${count(n)} ${names[what] || what}`);
    if (!entries.length && !dropped.length) return null;
    const list = el("ol", "timeline");
    for (const [at, text] of entries) add(list, add(el("li"), el("span", "dur", `+${ms(at)}`), ` ${text}`));
    if (dropped.length) add(list, el("li", "dur", `left out, beyond what a call keeps: ${dropped.join(", ")}`));
    return fold("tech", `During the call: ${entries.length} message${entries.length === 1 ? "" : "s"} from the server`, list);
  }

  function resultTitle(call) {
    const size = `${count(call.result_text.length)} characters`;
    const note = call.truncated_from ? `, cut from ${count(call.truncated_from)} before the model saw it` : "";
    return `${call.is_error ? "Result, an error" : "Result"} (${size}${note})`;
  }

  function toolDetails(body, call) {
    const raw = call.raw_arguments;
    add(body, el("h4", null, raw ? "Arguments, as the model sent them" : "Arguments"));
    add(body, el("pre", "arguments", raw || JSON.stringify(call.arguments, null, 2)));
    add(body, el("h4", null, resultTitle(call)));
    add(body, el("pre", "result", call.result_text || "(no text)"));
    const blocks = (call.content || []).filter((block) => block.type !== "text");
    if (blocks.length) add(body, el("h4", null, "Content besides text"), ...blocks.map(contentBlock));
    if (call.structured_content !== null && call.structured_content !== undefined) {
      add(body, el("h4", null, "Structured content"), el("pre", "structured", JSON.stringify(call.structured_content, null, 2)));
    }
  }

  function contentBlock(block) {
    const kind = block.mime_type || "no MIME type";
    const size = known(block.size) ? `, ${count(block.size)} bytes` : "";
    if (block.type === "resource") {
      const head = el("div", "content-head", `Resource ${block.uri} (${kind})`);
      return add(el("div", "content-block"), head, el("pre", "resource", block.text ?? `binary${size}`));
    }
    if (block.type === "resource_link") {
      const about = block.description ? `: ${block.description}` : "";
      return el("div", "content-block", `Link "${block.name}" to ${block.uri} (${kind})${about}`);
    }
    const box = el("figure", "content-block");
    if (block.type === "image" && block.data && IMAGE_TYPE.test(kind)) {
      const image = el("img", "thumbnail");
      image.src = `data:${kind};base64,${block.data}`;
      image.alt = `an image the tool returned (${kind})`;
      box.append(image);
    }
    const note = block.type === "image" && !block.data ? " · not embedded in this report" : "";
    return add(box, el("figcaption", "muted", `${block.type}: ${kind}${size}${note}`));
  }

  // ---- an Outline row's models side by side ----

  function compare(button) {
    const box = field("compare");
    const entries = button.dataset.tests.trim().split(/\s+/).map((index) => state.byTest.get(Number(index)));
    const close = el("button", "close", "Close");
    close.type = "button";
    close.addEventListener("click", () => (box.hidden = true));
    const title = button.closest("tr").querySelector("th").firstChild.textContent.trim();
    const head = add(el("div", "compare-head"), el("h3", null, `Side by side: ${title}`), close);
    const columns = el("div", "columns");
    columns.style.gridTemplateColumns = `repeat(${entries.length}, minmax(320px, 1fr))`;
    for (const entry of entries) columns.append(column(entry));
    box.replaceChildren(head, add(el("div", "scroll"), columns));
    box.hidden = false;
    box.scrollIntoView();
  }

  function column(entry) {
    const test = entry.tests[0];
    const box = el("div", "column");
    box.dataset.model = test.example.model || entry.models.join(", ");
    const link = el("a", "column-title", box.dataset.model);
    link.href = `#${entry.id}`;
    add(box, add(el("div", "column-head"), badge(test.status), link));
    add(box, el("div", "stats", `${usageText(entry)} · ${ms(entry.duration)}`));
    if (test.sources.length) box.append(el("div", "muted", test.sources.join("; ")));
    if (!test.verdict) return add(box, timeline(test.steps, entry.turns));
    const last = test.attempts[test.attempts.length - 1];
    add(box, add(el("p", "verdict-line"), labelBadge(test.verdict.label), " ", el("span", "summary", test.verdict.summary)));
    add(box, el("h4", null, `Attempt ${last.number} of ${test.attempts.length}`));
    return add(box, timeline(last.steps, attemptTurns(test, last.number)));
  }

  function setupCompare() {
    for (const button of document.querySelectorAll("button.compare")) button.addEventListener("click", () => compare(button));
  }

  // ---- links to a test ----

  function reveal(index) {
    const entry = state.byTest.get(index);
    if (!entry) return;
    if (!state.visible.includes(entry)) {
      field("filters").reset();
      refresh();
    }
    const position = state.visible.indexOf(entry);
    if (position >= state.shown) {
      state.shown = (Math.floor(position / PAGE) + 1) * PAGE;
      draw();
    }
    toggle(entry, true);
    document.querySelectorAll(".entry.target").forEach((node) => node.classList.remove("target"));
    entry.node.classList.add("target");
    const top = entry.node.getBoundingClientRect().top + window.scrollY - field("filters").offsetHeight - 8;
    window.scrollTo({ top });
  }

  function fromHash() {
    const match = /^#t-(\d+)$/.exec(location.hash);
    if (match) reveal(Number(match[1]));
  }

  function setupLinks() {
    document.addEventListener("click", (event) => {
      const link = event.target.closest("a[href^='#t-']");
      if (!link) return;
      event.preventDefault();
      history.pushState(null, "", link.getAttribute("href"));
      fromHash();
    });
    window.addEventListener("hashchange", fromHash);
  }

  async function start() {
    try {
      const tests = await loadTests();
      state.entries = makeEntries(tests);
      for (const entry of state.entries) for (const test of entry.tests) state.byTest.set(test.index, entry);
    } catch (error) {
      field("count").textContent = `Could not read the report's data: ${error}`;
      return;
    }
    setupFilters();
    setupLinks();
    setupCompare();
    refresh();
    fromHash();
    document.body.dataset.ready = "true";
  }

  start();
})();
