"""`report.html`: one self-contained page showing what a run removed and why.

Summary counts, a benchmark x method chart, the score distribution per method with its threshold, the benchmark
side (share of each benchmark's items found) and an evidence browser: each removed row beside the benchmark item it
matched, shared spans highlighted, filtered by benchmark, method and confidence class, paginated.

Safety and size, by construction:
- Nothing is fetched: no URL, font or script is referenced; a Content-Security-Policy allows only this page's own
  script and style (by hash) and no connection, so even a string that escaped escaping could not run or load.
- Dataset strings never become markup: the server-side parts are `html.escape`d, and the evidence reaches the page
  as gzip-compressed JSON (base64) that the page's script decompresses (`DecompressionStream`) and puts into the
  DOM as text nodes only.
- The evidence is rendered a page of cards at a time, so 100k removed rows stay a file a browser opens; items
  matched by many rows are stored once.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from medrl._version import __version__
from medrl.evaluation.page import evaluation_section
from medrl.io.writers import dumps, write_text_atomic
from medrl.progress import Progress
from medrl.reporting.evidence import ItemKey, item_key
from medrl.reporting.runs import Run, load_run, method_thresholds
from medrl.reporting.svg import histogram, method_color, share_bars, stacked_bars

HTML_REPORT = "report.html"


# Rows per compressed block of texts: a page of evidence decompresses one or two blocks, not the whole file.
TEXT_BLOCK_ROWS = 1000


def _packed(value: object) -> str:
    """`value` as JSON, gzip-compressed (fixed mtime: the same run gives the same page), base64 (plain ASCII)."""
    return base64.b64encode(gzip.compress(dumps(value).encode("utf-8"), compresslevel=6, mtime=0)).decode("ascii")


@dataclass
class _Evidence:
    """What one pass over the removed rows gives the page: the compressed evidence and the charts' numbers.

    The evidence is split for size: `index` holds every row's matches (item, method, score, confidence, field,
    spans) and the matched items, small enough to filter 100k rows at once; `blocks` hold the rows' texts and the
    matches' evidence strings, `TEXT_BLOCK_ROWS` rows each, decompressed only when a page shows one of their rows.
    """

    index: str = ""
    blocks: list[str] = field(default_factory=list)
    pairs: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # benchmark -> method -> rows
    scores: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # best score per row
    confidences: Counter = field(default_factory=Counter)  # confidence class -> rows with a match of that class
    review_class: int = 0  # rows every match of which is review class (a reworded case): a person may judge them
    rows: int = 0
    without_item_text: int = 0  # items named only by id (outputs of an older medrl)


def _collect(run: Run, progress: Progress) -> _Evidence:
    """Stream the removed rows once into the compressed evidence, counting for the charts as it goes."""
    found = _Evidence()
    refs: dict[ItemKey, int] = {}
    items: list[list] = []  # each matched item once: benchmark, split, item_id, question, options
    rows: list[list] = []
    texts: list[list] = []
    for row in run.removed_rows():
        best: dict[str, float] = {}
        matches = []
        for match in row.matches:
            key = item_key(match)
            if key not in refs:
                refs[key] = len(refs)
                options = [[option["letter"], option["text"]] for option in match.get("item_options") or []]
                found.without_item_text += match.get("item_question") is None
                items.append([*key, match.get("item_question"), options])
            method, score = match["method"], float(match["score"])
            best[method] = max(best.get(method, score), score)
            spans = [match.get("row_span"), match.get("item_span")]
            matches.append([refs[key], method, score, match.get("confidence"), match["field"], *spans])
        for benchmark, method in {(match["benchmark"], match["method"]) for match in row.matches}:
            found.pairs[benchmark][method] += 1
        for method, score in best.items():
            found.scores[method].append(score)
        classes = {match.get("confidence") for match in row.matches}
        found.confidences.update(classes - {None})
        found.review_class += classes == {"review"}
        rows.append([row.position, matches])
        texts.append([row.texts, [match["evidence"] for match in row.matches]])
        if len(texts) == TEXT_BLOCK_ROWS:
            found.blocks.append(_packed(texts))
            progress.advance(len(texts))
            texts = []
    if texts:
        found.blocks.append(_packed(texts))
        progress.advance(len(texts))
    found.rows = len(rows)
    found.index = _packed({"items": items, "rows": rows, "block_rows": TEXT_BLOCK_ROWS})
    return found


_STYLE = """
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --panel: #f9fafb; --ev: #fde68a; --sh: #dbeafe; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  background: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 32px 0 8px; }
.meta { color: var(--muted); margin: 0; overflow-wrap: anywhere; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 18px; }
.card-count { border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px; min-width: 120px;
  background: var(--panel); }
.card-count b { display: block; font-size: 22px; } .card-count span { color: var(--muted); }
.card-count.removed b { color: #b91c1c; } .card-count.review b { color: #b45309; }
.card-count small { display: block; color: var(--muted); }
.note { color: var(--muted); max-width: 900px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
svg.chart text { font-size: 13px; fill: var(--ink); } svg.chart text.value, svg.chart text.tick { fill: var(--muted); }
svg.chart text.tick { font-size: 11px; } svg.chart text.head { font-weight: 600; }
svg.chart .axis { stroke: #9ca3af; } svg.chart .track { fill: #f3f4f6; }
svg.chart .threshold { stroke: #dc2626; stroke-width: 2; stroke-dasharray: 5 3; }
svg.chart text.threshold-label { fill: #dc2626; font-size: 11px; }
svg.chart .filter { cursor: pointer; } svg.chart .filter:hover { opacity: .75; }
svg.chart .grid { stroke: var(--line); }
table.eval { border-collapse: collapse; margin: 12px 0; }
table.eval td, table.eval th { border: 1px solid var(--line); padding: 4px 8px; text-align: right; }
table.eval td:first-child, table.eval th:first-child { text-align: left; }
.controls { display: flex; flex-wrap: wrap; gap: 12px; align-items: end; padding: 12px; border: 1px solid var(--line);
  border-radius: 8px; background: var(--panel); position: sticky; top: 0; z-index: 1; }
.controls label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
.controls select, .controls input { font: inherit; padding: 4px 6px; min-width: 150px; }
.pager { display: flex; gap: 8px; align-items: center; margin-left: auto; }
.pager button { font: inherit; padding: 4px 10px; }
.evidence { border: 1px solid var(--line); border-radius: 8px; margin: 14px 0; overflow: hidden; }
.evidence > header { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; padding: 8px 12px;
  background: var(--panel); border-bottom: 1px solid var(--line); }
.evidence > header .row-id { font-weight: 600; margin-right: 8px; }
.tab { font: inherit; font-size: 12px; border: 1px solid var(--line); border-radius: 999px; padding: 2px 10px;
  background: #fff; cursor: pointer; } .tab.active { border-color: var(--ink); font-weight: 600; }
.tab.other { opacity: .5; }
.dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; }
.sides { display: grid; grid-template-columns: 1fr 1fr; }
.side { padding: 10px 14px; min-width: 0; } .side + .side { border-left: 1px solid var(--line); }
.side h3 { font-size: 12px; letter-spacing: .02em; color: var(--muted); margin: 0 0 6px; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; max-height: 420px; overflow: auto; }
mark.ev { background: var(--ev); } mark.sh { background: var(--sh); }
.options { margin: 8px 0 0; padding-left: 0; list-style: none; }
.options li { padding: 1px 6px; border-radius: 4px; } .options li.shared { background: var(--sh); }
.options .letter { font-weight: 600; margin-right: 6px; }
.evidence > footer { padding: 6px 12px; border-top: 1px solid var(--line); color: var(--muted); font-size: 13px;
  overflow-wrap: anywhere; }
.badge { display: inline-block; border-radius: 4px; padding: 0 6px; color: #fff; font-size: 12px; }
.conf-certain { background: #b91c1c; } .conf-review { background: #b45309; }
.legend mark { padding: 0 4px; }
@media (max-width: 800px) { .sides { grid-template-columns: 1fr; } .side + .side { border-left: 0; } }
"""

# Everything the evidence browser does. Data strings only ever reach the DOM through text nodes (textContent /
# createTextNode); never through innerHTML.
_SCRIPT = r"""
"use strict";
(async () => {
  const PAGE = 20;
  const OLD = "The item's text is not in these outputs (written by an older medrl); re-run to see it.";
  const $ = (id) => document.getElementById(id);
  const status = $("status"), list = $("evidence-list");
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  // A base64 block of gzip-compressed JSON, decompressed by the browser itself.
  const unpack = async (node) => {
    const raw = atob(node.textContent.trim()), bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  };
  let index;
  try {
    index = await unpack($("evidence-index"));
  } catch (error) {
    status.textContent = "The evidence could not be read in this browser: " + error;
    return;
  }
  const items = index.items, rows = index.rows, blockNodes = document.querySelectorAll("script.evidence-texts");
  const blocks = new Map();
  // [texts by field, evidence per match] of row i; its block is decompressed on first use.
  const textsOf = async (i) => {
    const block = Math.floor(i / index.block_rows);
    if (!blocks.has(block)) blocks.set(block, await unpack(blockNodes[block]));
    return blocks.get(block)[i % index.block_rows];
  };
  const filters = { benchmark: $("f-benchmark"), method: $("f-method"), confidence: $("f-confidence"),
                    search: $("f-search") };
  let shown = [], page = 0, generation = 0;

  const fits = (m) => (!filters.benchmark.value || items[m[0]][0] === filters.benchmark.value) &&
    (!filters.method.value || m[1] === filters.method.value) &&
    (!filters.confidence.value || (m[3] || "none") === filters.confidence.value);

  const apply = async () => {
    const mine = ++generation, needle = filters.search.value.trim().toLowerCase();
    let found = [];
    rows.forEach((row, i) => { if (row[1].some(fits)) found.push(i); });
    if (needle) {
      status.textContent = "searching the rows' texts…";
      const hits = [];
      for (const i of found) {
        const texts = (await textsOf(i))[0];
        if (Object.values(texts).some((text) => String(text).toLowerCase().includes(needle))) hits.push(i);
      }
      found = hits;
    }
    if (mine !== generation) return;  // a newer filter is being applied
    shown = found;
    page = 0;
    await draw();
  };

  const words = (text) => {
    const found = [];
    for (const m of text.matchAll(/[\p{L}\p{N}]+/gu)) found.push([m[0].toLowerCase(), m.index, m.index + m[0].length]);
    return found;
  };
  const gram = (tokens, i) => tokens[i][0] + " " + tokens[i + 1][0] + " " + tokens[i + 2][0];
  // Marks per character: 2 = the match's recorded evidence span, 1 = a word 3-gram both texts share.
  const marked = (text, other, span) => {
    const level = new Uint8Array(text.length), mine = words(text), theirs = new Set(), others = words(other);
    for (let i = 0; i + 2 < others.length; i++) theirs.add(gram(others, i));
    for (let i = 0; i + 2 < mine.length; i++) if (theirs.has(gram(mine, i))) level.fill(1, mine[i][1], mine[i + 2][2]);
    if (span && span.length === 2) level.fill(2, Math.max(0, span[0]), Math.min(text.length, span[1]));
    const out = el("p", "text");
    let start = 0;
    for (let i = 1; i <= text.length; i++) {
      if (i === text.length || level[i] !== level[start]) {
        const piece = text.slice(start, i);
        if (level[start]) out.appendChild(el("mark", level[start] === 2 ? "ev" : "sh", piece));
        else out.appendChild(document.createTextNode(piece));
        start = i;
      }
    }
    return out;
  };

  const card = (row, texts, evidences) => {
    const [position, matches] = row;
    const box = el("article", "evidence"), head = el("header"), body = el("div", "sides"), foot = el("footer");
    head.appendChild(el("span", "row-id", position === null ? "input row ?" : "input row " + position));
    box.append(head, body, foot);
    let chosen = Math.max(0, matches.findIndex(fits));
    const show = () => {
      const m = matches[chosen], item = items[m[0]];
      const [method, score, confidence, field, rowSpan, itemSpan] = m.slice(1);
      const rowText = String(texts[field] ?? ""), question = item[3];
      head.querySelectorAll(".tab").forEach((tab, i) => tab.classList.toggle("active", i === chosen));
      const left = el("section", "side");
      left.append(el("h3", null, "training row · field " + field), marked(rowText, question || "", rowSpan));
      const right = el("section", "side");
      right.appendChild(el("h3", null, item[0] + " · " + item[1] + " · item " + item[2]));
      right.appendChild(question === null ? el("p", "note", OLD) : marked(question, rowText, itemSpan));
      if (item[4].length) {
        const options = el("ul", "options"), lower = rowText.toLowerCase();
        for (const [letter, text] of item[4]) {
          const li = el("li", text && lower.includes(String(text).toLowerCase()) ? "shared" : null);
          li.append(el("span", "letter", letter + "."), document.createTextNode(text));
          options.appendChild(li);
        }
        right.appendChild(options);
      }
      body.replaceChildren(left, right);
      const rounded = Math.round(score * 100) / 100;
      foot.replaceChildren(method + " · score " + rounded + " · evidence: " + evidences[chosen]);
      if (confidence) foot.prepend(el("span", "badge conf-" + confidence, confidence), " ");
    };
    matches.forEach((m, i) => {
      const label = items[m[0]][0] + " #" + items[m[0]][2] + " · " + m[1];
      const tab = el("button", "tab" + (fits(m) ? "" : " other")), dot = el("span", "dot");
      dot.style.background = COLORS[m[1]] || "#6b7280";
      tab.append(dot, document.createTextNode(label));
      tab.addEventListener("click", () => { chosen = i; show(); });
      head.appendChild(tab);
    });
    show();
    return box;
  };

  const draw = async () => {
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    const visible = shown.slice(page * PAGE, (page + 1) * PAGE);
    const cards = [];
    for (const i of visible) {
      const [texts, evidences] = await textsOf(i);
      cards.push(card(rows[i], texts, evidences));
    }
    list.replaceChildren(...cards);
    status.textContent = shown.length.toLocaleString("en") + " of " + rows.length.toLocaleString("en") +
      " removed rows match";
    $("page").textContent = "page " + (page + 1) + " of " + pages;
    $("prev").disabled = page === 0;
    $("next").disabled = page >= pages - 1;
    document.body.dataset.drawn = String(Number(document.body.dataset.drawn || 0) + 1);  // for tests to wait on
  };

  const COLORS = JSON.parse($("method-colors").textContent);
  for (const select of [filters.benchmark, filters.method, filters.confidence]) {
    select.addEventListener("change", apply);
  }
  filters.search.addEventListener("input", apply);
  const turn = async (step) => { page += step; await draw(); $("evidence").scrollIntoView(); };
  $("prev").addEventListener("click", () => turn(-1));
  $("next").addEventListener("click", () => turn(1));
  document.querySelectorAll("svg .filter").forEach((bar) => bar.addEventListener("click", () => {
    filters.benchmark.value = bar.dataset.benchmark || "";
    filters.method.value = bar.dataset.method || "";
    apply();
    $("evidence").scrollIntoView();
  }));
  await apply();
  document.body.dataset.ready = "true";
})();
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _count_cards(run: Run, evidence: _Evidence) -> str:
    """The run's counts, each saying what it counts. Review-class removals (reworded cases) are removed rows, so
    "removed" says how many it holds; "set aside for review" counts only the rows `--review separate` wrote to
    review.<ext>, so it is shown only for such runs."""
    separate = run.detection.get("review_policy") == "separate"
    cards = []
    for name, value in run.counts().items():
        if value is None or (name == "review" and not separate):
            continue
        label = "set aside for review" if name == "review" else name
        shown = name == "removed" and evidence.confidences  # runs that record confidence classes
        detail = f"<small>{evidence.review_class:,} of them review-class</small>" if shown else ""
        cards.append(
            f'<div class="card-count {escape(name)}"><b>{value:,}</b><span>{escape(label)}</span>{detail}</div>'
        )
    note = ""
    if evidence.review_class:
        policies = (
            ": <code>--review separate</code> writes such rows to review.&lt;ext&gt; for a person to decide, "
            "<code>--review keep</code> keeps them"
            if run.kind == "decontaminate"
            else ""
        )
        note = (
            f'<p class="note">{evidence.review_class:,} of the {evidence.rows:,} removed rows were matched only by '
            f"review-class evidence (a reworded benchmark case){policies}.</p>"
        )
    return f'<div class="cards">{"".join(cards)}</div>{note}'


def _options(values: list[str], everything: str) -> str:
    options = [f'<option value="">{escape(everything)}</option>']
    options += [f'<option value="{escape(value)}">{escape(value)}</option>' for value in values]
    return "".join(options)


def _charts(run: Run, evidence: _Evidence) -> str:
    methods = sorted({method for counts in evidence.pairs.values() for method in counts})
    parts = ["<h2>Removed rows by benchmark and method</h2>"]
    if evidence.pairs:
        parts.append(
            '<p class="note">Rows whose evidence names each benchmark and method (a row matched in two ways counts '
            "in both). Click a bar to see its rows.</p>"
        )
        parts.append(stacked_bars("Removed rows by benchmark and method", evidence.pairs, methods))
    else:
        parts.append('<p class="note">No row was removed.</p>')
    thresholds = method_thresholds(run.config)
    if evidence.scores:
        parts.append("<h2>Scores per method</h2>")
        parts.append(
            '<p class="note">Each removed row\'s best score per method; the dashed line is the threshold a match must '
            "reach.</p>"
        )
        charts = []
        for method in sorted(evidence.scores):
            threshold, note = thresholds.get(method, (None, ""))
            charts.append(histogram(f"{method} scores", method, evidence.scores[method], threshold, note))
        parts.append(f'<div class="charts">{"".join(charts)}</div>')
    side = run.benchmark_items
    if side:
        parts.append("<h2>Benchmark side: items found in the training data</h2>")
        parts.append(
            '<p class="note">The share of each benchmark\'s items that some training row matched; '
            "<code>medrl benchmarks clean-subset</code> writes the rest as a clean evaluation subset.</p>"
        )
        shares = sorted(
            ((name, entry["items_found"], entry["items"]) for name, entry in side.items()),
            key=lambda share: (-share[1] / (share[2] or 1), share[0]),
        )
        parts.append(share_bars("Share of each benchmark's items found", shares))
    return "".join(parts)


def _run_notes(run: Run, evidence: _Evidence) -> str:
    notes = []
    if not run.config.get("run_all_stages", True):
        notes.append(
            "Stages ran as a cascade: a row matched by one stage is not checked by the later ones, so its evidence "
            "names the first stage that matched (run with --run-all-stages for every stage's evidence)."
        )
    if evidence.without_item_text:
        notes.append(
            f"{evidence.without_item_text:,} matched items have no stored text: these outputs were written by an "
            "older medrl. Re-run to see the benchmark side of the evidence."
        )
    return "".join(f'<p class="note">{escape(note)}</p>' for note in notes)


def render_html(run: Run, progress: Progress | None = None, eval_sections: Sequence[str] = ()) -> str:
    """The report page of a run (see the module docstring); `progress` is advanced by the removed rows read.
    `eval_sections` are rendered evaluations of this run (`evaluation_section`): each adds its charts and table."""
    evidence = _collect(run, progress or Progress())
    versions = run.summary.get("versions", {})
    pack = run.summary.get("pack", {})
    meta = (
        f"{run.kind} of {run.input_label} · preset {run.preset} · {evidence.rows:,} removed rows · "
        f"pack {pack.get('path', '?')} (manifest sha256 {str(pack.get('manifest_sha256', '?'))[:12]}) · "
        f"run by medrl {versions.get('medrl', '?')}, page by medrl {__version__}"
    )
    benchmarks = sorted(evidence.pairs)
    methods = sorted({method for counts in evidence.pairs.values() for method in counts})
    confidences = sorted(evidence.confidences)
    colors = dumps({method: method_color(method) for method in methods}).replace("<", "\\u003c")
    confidence_filter = (
        f'<label>confidence<select id="f-confidence">{_options(confidences, "any")}</select></label>'
        if confidences
        else '<select id="f-confidence" hidden><option value=""></option></select>'
    )
    policy = (
        f"default-src 'none'; script-src {_csp_hash(_SCRIPT)}; style-src {_csp_hash(_STYLE)}; "
        "img-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'"
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>medrl report: {escape(run.kind)} ({evidence.rows:,} removed rows)</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
<h1>What this run removed, and why</h1>
<p class="meta">{escape(meta)}</p>
{_count_cards(run, evidence)}
{_run_notes(run, evidence)}
{_charts(run, evidence)}
{"".join(eval_sections)}
<h2 id="evidence">Evidence</h2>
<p class="note legend">Each removed row beside the benchmark item it matched. <mark class="ev">Yellow</mark>: the
match's recorded evidence span; <mark class="sh">blue</mark>: word 3-grams both texts share (options the row
repeats are blue too). A row matching several items has one tab per match.</p>
<div class="controls">
<label>benchmark<select id="f-benchmark">{_options(benchmarks, "all benchmarks")}</select></label>
<label>method<select id="f-method">{_options(methods, "all methods")}</select></label>
{confidence_filter}
<label>search the rows<input id="f-search" type="search" placeholder="text in the training row"></label>
<div class="pager"><button id="prev" type="button">&larr; previous</button><span id="page"></span>
<button id="next" type="button">next &rarr;</button></div>
</div>
<p id="status" class="note">Loading the evidence…</p>
<noscript><p class="note">The evidence browser needs JavaScript; the counts and charts above do not.</p></noscript>
<div id="evidence-list"></div>
</main>
<script type="application/json" id="method-colors">{colors}</script>
<script type="application/octet-stream" id="evidence-index">{evidence.index}</script>
{"".join(f'<script type="application/octet-stream" class="evidence-texts">{text}</script>' for text in evidence.blocks)}
<script>{_SCRIPT}</script>
</body>
</html>
"""


def write_html_report(
    directory: str | Path, progress: Progress | None = None, evaluations: Sequence[str | Path] = ()
) -> Path:
    """Render `report.html` into the run's output directory (or its staging directory) from its files, shown as
    a progress stage over the removed rows; with the `medrl eval` output directories of this run in `evaluations`,
    their charts become a section of the page."""
    progress = progress or Progress()
    path = Path(directory) / HTML_REPORT
    run = load_run(directory)
    sections = [evaluation_section(run, Path(where)) for where in evaluations]
    with progress.stage(HTML_REPORT, run.counts()["removed"]):
        write_text_atomic(path, render_html(run, progress, sections))
    return path
